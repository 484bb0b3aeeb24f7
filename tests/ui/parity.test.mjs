// Both transports serve every call the UI makes: each `transport.call('<command>', '<METHOD>',
// '<path>')` in ui/src/api.ts names a Tauri command that the shell registers
// (src-tauri/src/commands.rs `generate_handler!`) and an HTTP route that a real
// `steward serve` answers (anything but the catch-all "no such API route" 404 or a 405).
// Until one route table serves both (issue 11), this is what keeps the three lists in step.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { repo, prepare, apiCall, startSteward, stopSteward } from './support.mjs';

const TOKEN = 'parity-test-token';
let dir, steward, base;

/** `{command, method, path}` of every call in ui/src/api.ts, `${…}` parts as `x`. */
function uiCalls() {
  const source = readFileSync(path.join(repo, 'ui/src/api.ts'), 'utf8');
  const re = /transport\.call<[^(]*?>\(\s*'([a-z_]+)',\s*'(GET|POST)',\s*[`']([^`']+)[`']/gs;
  return [...source.matchAll(re)].map(([, command, method, p]) => ({
    command,
    method,
    path: p.replace(/\$\{[^}]*\}/g, 'x'),
  }));
}

function shellCommands() {
  const source = readFileSync(path.join(repo, 'src-tauri/src/commands.rs'), 'utf8');
  const list = /generate_handler!\[([^\]]*)\]/s.exec(source);
  assert.ok(list, 'commands.rs registers its commands with generate_handler!');
  return new Set(list[1].split(',').map((s) => s.trim()).filter(Boolean));
}

before(async () => {
  dir = prepare('steward-ui-parity-');
  const config = path.join(dir, 'steward.toml');
  writeFileSync(config, '[planner]\nchain = ["rules"]\n');
  ({ child: steward, base } = await startSteward({
    config, dataDir: path.join(dir, 'data'), token: TOKEN, onLog: () => {},
  }));
});

after(async () => {
  await stopSteward(steward);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the UI calls at least the documented views', () => {
  const commands = uiCalls().map((c) => c.command);
  for (const needed of ['get_status', 'list_providers', 'list_proposals', 'approve_proposal', 'get_sessions']) {
    assert.ok(commands.includes(needed), `${needed} is among ${commands.join(', ')}`);
  }
});

test('every command the UI calls is registered by the tray app', () => {
  const registered = shellCommands();
  for (const { command } of uiCalls()) {
    assert.ok(registered.has(command), `src-tauri registers ${command}`);
  }
});

test('every route the UI calls exists on the HTTP server', async () => {
  for (const { command, method, path: route } of uiCalls()) {
    const { status, body } = await apiCall(base, TOKEN, method, route, method === 'POST' ? {} : undefined);
    assert.notEqual(status, 405, `${method} ${route} (${command}) is allowed`);
    assert.ok(
      !(status === 404 && body?.message === 'no such API route'),
      `${method} ${route} (${command}) is a route: ${status} ${JSON.stringify(body)}`,
    );
  }
});
