// Plumbing shared by the browser tests in tests/ui/ (not a test file itself: its name matches
// none of node --test's patterns). It starts and stops a real `steward serve` ($STEWARD_BIN,
// default target/debug/steward, serving the UI embedded in it, or the built UI in
// $STEWARD_TEST_UI_DIR when that is set), runs small real loopback services for it to watch,
// and launches Debian's Chromium (/usr/bin/chromium) through playwright-core from
// ui/node_modules.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(repo, 'ui/package.json'));
const { chromium } = require('playwright-core');
export const stewardBin = process.env.STEWARD_BIN || path.join(repo, 'target/debug/steward');
export const chromiumPath = '/usr/bin/chromium';
export const shots = path.join(repo, 'target/ui-screenshots');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** An API call with the bearer token, as a script or another node would make it. Resolves to
 *  `{status, body}` (body: the parsed JSON, or null). */
export async function apiCall(base, token, method, route, body) {
  const resp = await fetch(base + route, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: resp.status, body: await resp.json().catch(() => null) };
}

/**
 * Checks that the steward binary and ui/dist are built, makes the screenshot directory and
 * returns a fresh temporary directory named after `prefix`.
 */
export function prepare(prefix) {
  assert.ok(existsSync(stewardBin), `the steward binary is missing: ${stewardBin}`);
  assert.ok(existsSync(path.join(repo, 'ui/dist/index.html')), 'ui/dist is missing: run npm run build in ui/');
  mkdirSync(shots, { recursive: true });
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** A real HTTP service that can be killed (with its open connections) and restarted. */
export class Service {
  constructor() { this.sockets = new Set(); }
  async start(port = 0) {
    this.server = http.createServer((req, res) => {
      const ok = req.url === '/health';
      res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' });
      res.end(ok ? '{"status":"ok"}' : '{}');
    });
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise((r) => this.server.listen(port, '127.0.0.1', r));
    this.port = this.server.address().port;
  }
  async stop() {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

// Whatever happens, no steward outlives the test run.
const running = new Set();
process.on('exit', () => { for (const child of running) child.kill('SIGKILL'); });

/**
 * Spawns `steward serve --config <config>` with its data in `dataDir`, the API token `token`
 * and the UI from ui/dist; `env` adds or replaces environment variables. Its stdout and stderr
 * go to `onLog`. Steward binds the port itself (`--listen 127.0.0.1:0`, whatever the config's
 * `[http] listen`) and writes the address to an `--address-file`: nothing here picks a port and
 * releases it for the child to take. `listen` binds a given address instead (e.g. an earlier
 * run's, for a restart the open pages reconnect to). Resolves to `{ child, base }` (base:
 * `http://127.0.0.1:PORT`) once it answers /api/health; rejects with its output when it exits
 * first or is not up within 30 s.
 */
export async function startSteward({ config, dataDir, token, onLog, env = {}, listen = '127.0.0.1:0' }) {
  const addressDir = mkdtempSync(path.join(tmpdir(), 'steward-address-'));
  const addressFile = path.join(addressDir, 'address');
  const child = spawn(stewardBin, ['serve', '--config', config, '--listen', listen, '--address-file', addressFile], {
    env: {
      ...process.env,
      STEWARD_DATA_DIR: dataDir,
      STEWARD_TOKEN: token,
      // The UI embedded in the binary (built after ui/dist): what an installed Steward serves.
      // STEWARD_TEST_UI_DIR serves a directory instead (a UI built after the binary, when
      // working on the UI without rebuilding steward); CI leaves it unset.
      STEWARD_UI_DIR: process.env.STEWARD_TEST_UI_DIR || '',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => {
    running.delete(child);
    rmSync(addressDir, { recursive: true, force: true });
  });
  let out = '';
  const log = (d) => { out += d; onLog(d); };
  child.stdout.on('data', log);
  child.stderr.on('data', log);
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    let address = '';
    try { address = readFileSync(addressFile, 'utf8'); } catch { /* not written yet */ }
    // Written atomically once the engine runs, so a whole line is the whole address.
    if (address.endsWith('\n')) {
      const base = `http://${address.trim()}`;
      try {
        if ((await fetch(base + '/api/health')).ok) return { child, base };
      } catch { /* answers in a moment */ }
    }
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error('steward serve did not come up:\n' + out);
}

/** SIGTERM, up to 5 s for it to exit, then SIGKILL. Nothing to do if it is gone already. */
export async function stopSteward(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(5000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

export async function waitForChromium() {
  for (let i = 0; i < 120 && !existsSync(chromiumPath); i++) await sleep(1000);
  assert.ok(existsSync(chromiumPath), `${chromiumPath} is missing (apt-get install chromium)`);
}

/** Waits for /usr/bin/chromium to exist, then launches it headless. */
export async function launchChromium() {
  await waitForChromium();
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
