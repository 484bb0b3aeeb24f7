// The Gateway view in a real browser (Debian's Chromium via playwright-core from
// ui/node_modules) against a real `steward serve` whose LLM gateway is in front of a small
// OpenAI-wire upstream run here ("up") and a model on a closed port ("down"), routed as
// "chat" = down, then up. Chat requests go through the gateway with fetch; the view shows
// the base URL, the route's targets in order with their counters, the per-target table, the
// requests per app and the totals, and takes new numbers while it is shown (every 5 s),
// with no fetching while another view is shown or the page is hidden. Without [gateway] it
// explains how to configure it.
// Run: node --test tests/ui/
// Needs: `npm install` and `npm run build` in ui/, the steward binary ($STEWARD_BIN, default
// target/debug/steward) and /usr/bin/chromium. The plumbing is in support.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import {
  shots, prepare, sleep, startSteward, stopSteward, launchChromium,
} from './support.mjs';

const TOKEN = 'gateway-test-token';
const KEY = 'gateway-test-key';

let dir, upstream, upstreamCalls = 0, gatewayPort, steward, browser, base, logs = '';

/** A port nothing listens on now (taken and released at once). */
async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/** A tiny OpenAI-wire upstream: every POST …/chat/completions answers "hi". */
async function startUpstream() {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      if (req.method !== 'POST' || !req.url.endsWith('/chat/completions')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"not found"}}');
        return;
      }
      upstreamCalls++;
      let model = 'm';
      try { model = JSON.parse(body).model ?? model; } catch { /* keep m */ }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        id: 'c1', object: 'chat.completion', created: 0, model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      }));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

/** One chat request through the gateway's "chat" route. */
async function chat() {
  const resp = await fetch(`http://127.0.0.1:${gatewayPort}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
  });
  const body = await resp.json().catch(() => null);
  assert.equal(resp.status, 200, `the gateway answered ${resp.status} ${JSON.stringify(body)}\n${logs}`);
  assert.equal(body.choices[0].message.content, 'hi');
}

/** Waits for the gateway's listener (it starts with the engine, after /api/health may answer). */
async function gatewayUp() {
  for (let i = 0; i < 100; i++) {
    try {
      const resp = await fetch(`http://127.0.0.1:${gatewayPort}/v1/models`, { headers: { Authorization: `Bearer ${KEY}` } });
      if (resp.ok) return;
    } catch { /* not listening yet */ }
    await sleep(100);
  }
  assert.fail(`the gateway on port ${gatewayPort} did not come up:\n${logs}`);
}

before(async () => {
  dir = prepare('steward-ui-gateway-');
  upstream = await startUpstream();
  const closed = await freePort();
  gatewayPort = await freePort();
  const config = path.join(dir, 'steward.toml');
  writeFileSync(config, `[[models]]
id = "up"
api = "openai"
url = "http://127.0.0.1:${upstream.address().port}/v1"
model = "m"

[[models]]
id = "down"
api = "openai"
url = "http://127.0.0.1:${closed}/v1"
model = "m"

[planner]
chain = ["rules"]
actions_dir = ${JSON.stringify(path.join(dir, 'actions'))}
events_dir = ${JSON.stringify(path.join(dir, 'events'))}

[gateway]
listen = "127.0.0.1:${gatewayPort}"
api_key_env = "STEWARD_TEST_GATEWAY_KEY"

[[gateway.routes]]
model = "chat"
targets = ["down", "up"]
`);
  ({ child: steward, base } = await startSteward({
    config, dataDir: path.join(dir, 'data'), token: TOKEN, onLog: (d) => { logs += d; },
    env: { STEWARD_TEST_GATEWAY_KEY: KEY },
  }));
  await gatewayUp();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stopSteward(steward);
  if (upstream) await new Promise((r) => upstream.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Whether `check()` holds within `ms` (asked every 50 ms). */
async function until(check, ms) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (check()) return true;
  return check();
}

const text = async (page, sel) => (await page.textContent(sel)).replace(/\s+/g, ' ').trim();
const value = (page, sel) => page.getAttribute(sel, 'data-value');
const target = (id, col) => `#gateway-targets tr[data-gateway-target="${id}"] [data-col="${col}"]`;

/** Opens the Gateway view; `gatewayCalls` counts the page's calls of /api/gateway. */
async function openGateway(url = base) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
  page.on('pageerror', (e) => { logs += `page error: ${e.message}\n`; });
  const calls = { n: 0 };
  page.on('request', (r) => { if (new URL(r.url()).pathname === '/api/gateway') calls.n++; });
  await page.goto(`${url}/#/gateway&token=${TOKEN}`);
  await page.waitForFunction(() => document.querySelector('#statusbar .conn')?.textContent === 'live');
  return { page, calls };
}

test('the view shows the base URL, the route\'s targets in order, the targets\' counters, the apps and the totals', async () => {
  for (let i = 0; i < 3; i++) await chat();
  assert.equal(upstreamCalls, 3, 'each request reached "up" once');

  const { page } = await openGateway();
  try {
    await page.waitForSelector('#gateway-routes tr[data-gateway-route="chat"]');
    assert.equal(await page.getAttribute('#tab-gateway', 'aria-current'), 'page');
    assert.equal(await text(page, '#tab-gateway'), 'Gateway');
    assert.equal(await text(page, '#gateway-base-url'), `http://127.0.0.1:${gatewayPort}/v1`,
      'the base URL apps point at');

    // The route: down first, then up, each with its counters.
    assert.deepEqual(
      await page.$$eval('tr[data-gateway-route="chat"] [data-route-target]', (lis) => lis.map((li) => li.dataset.routeTarget)),
      ['down', 'up'],
    );
    assert.match(await text(page, 'tr[data-gateway-route="chat"] [data-route-target="up"]'), /up 3 requests · 3 ok · 0 failed/);
    assert.match(await text(page, 'tr[data-gateway-route="chat"] [data-route-target="down"]'), /down 3 requests · 0 ok · 3 failed/);

    // The targets table, in the route's order.
    assert.deepEqual(
      await page.$$eval('#gateway-targets tbody tr[data-gateway-target]', (trs) => trs.map((tr) => tr.dataset.gatewayTarget)),
      ['down', 'up'],
    );
    assert.equal(await value(page, target('up', 'requests')), '3');
    assert.equal(await value(page, target('up', 'ok')), '3');
    assert.equal(await value(page, target('up', 'failed')), '0');
    assert.equal(await text(page, target('up', 'requests')), '3');
    assert.equal(await text(page, target('up', 'ok')), '3');
    assert.equal(await value(page, target('down', 'failed')), '3');
    assert.equal(await text(page, target('down', 'failed')), '3');
    assert.equal(await value(page, target('down', 'ok')), '0');
    assert.match(await text(page, target('up', 'p50_ms')), /^[\d.,]+ ms$/, 'up answered: its latency is known');
    assert.match(await text(page, target('up', 'p99_ms')), /^[\d.,]+ ms$/);
    assert.equal(await text(page, target('up', 'first_chunk_p50_ms')), '–', 'nothing streamed: no first chunk time');
    assert.equal(await text(page, target('up', 'first_chunk_p99_ms')), '–');
    assert.equal(await text(page, target('down', 'p50_ms')), '–', 'down never answered');

    // Apps and totals.
    assert.equal(await value(page, '#gateway-apps tr[data-gateway-app="default"] [data-col="requests"]'), '3');
    assert.equal(await text(page, '#gateway-apps tr[data-gateway-app="default"] [data-col="requests"]'), '3');
    assert.equal(await value(page, '#gateway-totals [data-total="failovers"]'), '3');
    assert.match(await text(page, '#gateway-totals [data-total="failovers"]'), /^3 failovers$/);
    assert.equal(await value(page, '#gateway-totals [data-total="unavailable"]'), '0');
    assert.equal(await value(page, '#gateway-totals [data-total="unauthorized"]'), '0');
    assert.ok(await page.isHidden('#gateway .load-error'));
    assert.equal(await page.locator('#gateway-unconfigured').count(), 0);
    await page.screenshot({ path: path.join(shots, 'gateway.png'), fullPage: true });
  } finally {
    await page.close();
  }
  assert.ok(!logs.includes('page error'), logs);
});

test('the numbers are fetched again every 5 s while the view is shown and the page visible, and not otherwise', async () => {
  const { page, calls } = await openGateway();
  try {
    await page.waitForSelector(target('up', 'requests'));
    const before = Number(await value(page, target('up', 'requests')));
    const unauthorized = Number(await value(page, '#gateway-totals [data-total="unauthorized"]'));

    // New traffic shows without any action on the page (the next 5 s poll, or sooner: a
    // failover is an event on the timeline).
    await chat();
    const wrong = await fetch(`http://127.0.0.1:${gatewayPort}/v1/chat/completions`, {
      method: 'POST',
      headers: { Authorization: 'Bearer wrong', 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(wrong.status, 401);
    await page.waitForFunction(
      ([sel, n, u]) => document.querySelector(sel)?.getAttribute('data-value') === String(n)
        && document.querySelector('#gateway-totals [data-total="unauthorized"]')?.getAttribute('data-value') === String(u),
      [target('up', 'requests'), before + 1, unauthorized + 1],
      { timeout: 12000 },
    );

    // The page hidden: no fetching; shown again: at once, then every 5 s.
    await page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await sleep(300); // a fetch already under way ends
    let n = calls.n;
    await sleep(6000);
    assert.equal(calls.n, n, 'no /api/gateway call while the page is hidden');
    await page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    assert.ok(await until(() => calls.n > n, 2000), 'shown again: fetched at once');

    // Another view shown: no fetching.
    await page.click('#tab-overview');
    await page.waitForSelector('#gateway', { state: 'detached' });
    await sleep(300);
    n = calls.n;
    await sleep(6000);
    assert.equal(calls.n, n, 'no /api/gateway call while another view is shown');

    // Back: fetched at once.
    await page.click('#tab-gateway');
    await page.waitForSelector(target('up', 'requests'));
    assert.ok(await until(() => calls.n > n, 2000), 'shown again: fetched at once');
  } finally {
    await page.close();
  }
});

test('without [gateway] the view explains how to configure it', async () => {
  const d = path.join(dir, 'plain');
  mkdirSync(d, { recursive: true });
  const config = path.join(d, 'steward.toml');
  writeFileSync(config, `[planner]
chain = ["rules"]
actions_dir = ${JSON.stringify(path.join(d, 'actions'))}
events_dir = ${JSON.stringify(path.join(d, 'events'))}
`);
  const { child, base: url } = await startSteward({
    config, dataDir: path.join(d, 'data'), token: TOKEN, onLog: (s) => { logs += s; },
  });
  const { page } = await openGateway(url).catch(async (e) => { await stopSteward(child); throw e; });
  try {
    await page.waitForSelector('#gateway-unconfigured');
    assert.equal(await text(page, '#gateway-unconfigured h2'), 'The LLM gateway is not configured');
    assert.match(await text(page, '#gateway-unconfigured'), /steward\.toml, set the key's environment variable, and restart Steward/,
      'it names this config file and what to do');
    const snippet = await page.textContent('#gateway-unconfigured pre');
    for (const line of ['[gateway]', 'listen = "127.0.0.1:7879"', 'api_key_env = "STEWARD_GATEWAY_KEY"',
      '[[gateway.routes]]', 'model = "chat"', 'targets = ["openai-main", "local-llama"]']) {
      assert.ok(snippet.includes(line), `the example has ${line}`);
    }
    assert.ok(await page.isHidden('#gateway .load-error'), 'not configured is not an error');
    assert.equal(await page.locator('#gateway-targets').count(), 0, 'no empty tables');
    await page.screenshot({ path: path.join(shots, 'gateway-unconfigured.png') });
  } finally {
    await page.close();
    await stopSteward(child);
  }
});
