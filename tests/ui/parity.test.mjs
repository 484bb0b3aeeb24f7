// Both transports serve every call the UI makes: each `transport.call('<command>', …)` in
// ui/src/api.ts names a command of the route table (src/http/table.rs, generated into
// ui/src/generated/commands.ts), the tray app registers exactly the table's commands
// (src-tauri/src/commands.rs `generate_handler!`), and a real `steward serve` answers each
// call's method and path from the table (anything but the catch-all "no such API route" 404
// or a 405). tests/routes.rs checks that the server answers nothing under /api but the table.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { repo, prepare, apiCall, startSteward, stopSteward } from './support.mjs';

const TOKEN = 'parity-test-token';
let dir, steward, base;

/** The commands ui/src/api.ts calls. */
function uiCalls() {
  const source = readFileSync(path.join(repo, 'ui/src/api.ts'), 'utf8');
  const re = /(?:transport|this)\.call(?:<[^(]*?>)?\(\s*'([a-z_]+)'/gs;
  return [...source.matchAll(re)].map(([, command]) => command);
}

/** The route table as the UI reads it: command → `{method, path}`, `{…}` parameters as `x`. */
function table() {
  const source = readFileSync(path.join(repo, 'ui/src/generated/commands.ts'), 'utf8');
  const re = /^\s*([a-z_]+): \{ method: '(GET|POST|PUT|PATCH|DELETE)', path: '([^']+)' \},$/gm;
  const rows = [...source.matchAll(re)].map(([, command, method, p]) => [
    command,
    { method, path: p.replace(/\{[^}]*\}/g, 'x') },
  ]);
  assert.ok(rows.length > 0, 'ui/src/generated/commands.ts lists the commands');
  // A row this pattern does not read (a new method) would drop out of every check below.
  const listed = source.match(/^\s*[a-z_]+: \{ method: /gm)?.length ?? 0;
  assert.equal(rows.length, listed, 'every command row of ui/src/generated/commands.ts is read');
  return new Map(rows);
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
  const commands = uiCalls();
  for (const needed of ['get_status', 'list_providers', 'list_proposals', 'approve_proposal', 'get_sessions']) {
    assert.ok(commands.includes(needed), `${needed} is among ${commands.join(', ')}`);
  }
});

test('every command the UI calls is in the route table', () => {
  const commands = table();
  for (const command of uiCalls()) {
    assert.ok(commands.has(command), `${command} is in src/http/table.rs`);
  }
});

test('the tray app registers exactly the commands of the route table', () => {
  const registered = shellCommands();
  const commands = table();
  for (const command of commands.keys()) {
    assert.ok(registered.has(command), `src-tauri registers ${command}`);
  }
  for (const command of registered) {
    assert.ok(commands.has(command), `${command} (src-tauri) is in src/http/table.rs`);
  }
});

test('every command the UI calls is registered by the tray app', () => {
  const registered = shellCommands();
  for (const command of uiCalls()) {
    assert.ok(registered.has(command), `src-tauri registers ${command}`);
  }
});

test('every route the UI calls exists on the HTTP server', async () => {
  const commands = table();
  for (const command of new Set(uiCalls())) {
    const { method, path: route } = commands.get(command);
    const { status, body } = await apiCall(base, TOKEN, method, route, method === 'POST' ? {} : undefined);
    assert.notEqual(status, 405, `${method} ${route} (${command}) is allowed`);
    assert.ok(
      !(status === 404 && body?.message === 'no such API route'),
      `${method} ${route} (${command}) is a route: ${status} ${JSON.stringify(body)}`,
    );
  }
});
