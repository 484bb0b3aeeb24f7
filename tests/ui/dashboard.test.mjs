// The web UI in a real browser (Debian's Chromium via playwright-core) against a real
// `steward serve` watching real loopback services. Run: node --test tests/ui/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(repo, 'ui/package.json'));
const { chromium } = require('playwright-core');
const BIN = process.env.STEWARD_BIN || path.join(repo, 'target/debug/steward');
const TOKEN = 'ui-test-token-0123456789';
const shots = path.join(repo, 'target/ui-screenshots');

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A real HTTP service that can be killed (with its open connections) and restarted. */
class Service {
  constructor() { this.sockets = new Set(); }
  async start(port = 0) {
    this.server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
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

let dir, web, tcp, steward, browser, base, logs = '';

async function waitForHealth(url) {
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(url + '/api/health');
      if (r.ok) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('steward serve did not come up:\n' + logs);
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'steward-ui-'));
  mkdirSync(shots, { recursive: true });
  web = new Service();
  await web.start();
  tcp = net.createServer((s) => s.destroy()).listen(0, '127.0.0.1');
  await new Promise((r) => tcp.on('listening', r));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  writeFileSync(path.join(dir, 'steward.toml'), `
[probe]
interval = "1s"
timeout = "500ms"
failure_threshold = 2
backoff = "3s"
[http]
listen = "127.0.0.1:${port}"
[[providers]]
id = "web"
kind = "http"
url = "http://127.0.0.1:${web.port}/health"
node = "lab"
service = "nginx"
[[providers]]
id = "mqtt"
kind = "tcp"
address = "127.0.0.1:${tcp.address().port}"
node = "lab"
service = "mosquitto"
`);
  steward = spawn(BIN, ['serve', '--config', path.join(dir, 'steward.toml')], {
    env: {
      ...process.env,
      STEWARD_DATA_DIR: path.join(dir, 'data'),
      STEWARD_TOKEN: TOKEN,
      STEWARD_UI_DIR: path.join(repo, 'ui/dist'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  steward.stdout.on('data', (d) => { logs += d; });
  steward.stderr.on('data', (d) => { logs += d; });
  await waitForHealth(base);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  steward?.kill('SIGTERM');
  await web?.stop().catch(() => {});
  tcp?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('without a token the UI asks for one, and a wrong one is refused', async () => {
  const page = await browser.newPage();
  await page.goto(base + '/');
  await page.waitForSelector('#token-form');
  await page.fill('#token', 'wrong-token');
  await page.click('#token-form button');
  await page.waitForSelector('#token-form');
  assert.match(await page.textContent('#token-form'), /missing or wrong/);
  await page.fill('#token', TOKEN);
  await page.click('#token-form button');
  await page.waitForSelector('tr[data-provider-id="web"]');
  await page.close();
});

test('the dashboard lists providers and a provider going down turns red live', async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
  const reloads = [];
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) reloads.push(f.url()); });
  await page.goto(`${base}/#token=${TOKEN}`);
  assert.ok(!page.url().includes('token='), 'the token is removed from the address bar');
  const row = (id) => page.locator(`tr[data-provider-id="${id}"]`);
  await row('web').waitFor();
  await page.waitForFunction(() => document.querySelector('tr[data-provider-id="web"]')?.dataset.status === 'ok');
  assert.equal(await row('web').getAttribute('data-state'), 'closed');
  assert.equal(await row('mqtt').getAttribute('data-state'), 'closed');
  assert.match(await row('web').textContent(), /OK/, 'the badge says it in text');
  assert.equal(await page.getAttribute('#statusbar', 'data-overall'), 'healthy');
  await page.screenshot({ path: path.join(shots, 'dashboard-healthy.png') });

  const navigations = reloads.length;
  await web.stop();
  await page.waitForFunction(
    () => document.querySelector('tr[data-provider-id="web"]')?.dataset.state === 'open',
    null, { timeout: 15000 });
  assert.match(await row('web').textContent(), /DOWN/);
  assert.match(await page.textContent('#incident'), /1 provider down: web/);
  assert.notEqual(await page.getAttribute('#statusbar', 'data-overall'), 'healthy');
  assert.equal(reloads.length, navigations, 'updated live, without a reload');
  await page.screenshot({ path: path.join(shots, 'dashboard-down.png') });

  await page.click('#tab-events');
  await page.waitForSelector('li[data-event-type="breaker_opened"]');
  assert.match(await page.textContent('li[data-event-type="breaker_opened"]'), /web is down/);
  await page.click('#tab-overview');

  await web.start(web.port);
  await page.waitForFunction(
    () => document.querySelector('tr[data-provider-id="web"]')?.dataset.state === 'closed',
    null, { timeout: 15000 });
  await page.waitForFunction(() => !document.querySelector('#incident') || document.querySelector('#incident').hidden);
  await page.close();
});

test('a row expands into its latency chart and probe-now works', async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 }, colorScheme: 'dark' });
  await page.goto(`${base}/#token=${TOKEN}`);
  const row = page.locator('tr[data-provider-id="mqtt"]');
  await row.waitFor();
  const before = await row.locator('td.ago').getAttribute('data-at');
  await row.locator('button.probe').click();
  await page.waitForFunction(
    (b) => document.querySelector('tr[data-provider-id="mqtt"] td.ago')?.dataset.at !== b, before);
  await row.click();
  await page.waitForSelector('#detail-mqtt .uplot', { timeout: 10000 });
  assert.match(await page.textContent('#detail-mqtt'), /consecutive failure/);
  await page.screenshot({ path: path.join(shots, 'dashboard-dark-detail.png') });
  await page.close();
});
