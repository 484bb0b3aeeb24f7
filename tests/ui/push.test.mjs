// The push channels in the status bar, in a real browser against a real `steward serve`:
// a webhook receiver on loopback that refuses (503) until told otherwise. A breaker trip
// makes a notice; the channel's failure shows in the status bar with its error, and once the
// receiver takes a retry the warning goes away; a click on it sends a test notice. Run: node --test tests/ui/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {
  shots, prepare, Service, startSteward, stopSteward, launchChromium,
} from './support.mjs';

const TOKEN = 'push-test-token';

let dir, web, steward, browser, base, receiver, logs = '';
let answer = 503;
const received = [];
const text = async (page, sel) => (await page.locator(sel).first().textContent()).trim();

before(async () => {
  dir = prepare('steward-ui-push-');
  web = new Service();
  await web.start();
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      received.push({ status: answer, body });
      res.writeHead(answer, { 'content-type': 'text/plain' });
      res.end(answer === 200 ? 'ok' : 'receiver down for maintenance');
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  const config = path.join(dir, 'steward.toml');
  writeFileSync(config, `[probe]
interval = "300ms"
timeout = "300ms"
failure_threshold = 2
backoff = "30s"

[[providers]]
id = "web"
kind = "http"
url = "http://127.0.0.1:${web.port}/health"
node = "lab"
service = "nginx"

[[providers]]
id = "canary"
kind = "tcp"
address = "127.0.0.1:${receiver.address().port}"
node = "lab"
service = "canary"

[[notifications.channels]]
name = "pager"
kind = "webhook"
url = "http://127.0.0.1:${receiver.address().port}/hook"
kinds = ["incident"]
`);
  ({ child: steward, base } = await startSteward({
    config, dataDir: path.join(dir, 'data'), token: TOKEN, onLog: (d) => { logs += d; },
  }));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stopSteward(steward);
  await web?.stop().catch(() => {});
  await new Promise((r) => receiver?.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a failing push channel shows in the status bar until a retry gets through', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 800 }, colorScheme: 'light' });
  await page.goto(`${base}/#/overview&token=${TOKEN}`);
  const state = page.locator('#push-state');
  await page.waitForFunction(() => document.querySelector('#push-state')?.textContent === 'push: 1 channel');
  assert.ok(!(await state.getAttribute('class')).includes('warn'), 'calm while nothing failed');

  await web.stop();
  await page.waitForFunction(
    () => document.querySelector('#push-state')?.dataset.failing === 'pager',
    null,
    { timeout: 15000 },
  );
  const shown = await state.textContent();
  assert.match(shown, /^push: pager failing \(503 Service Unavailable: receiver down for maintenance\)$/);
  assert.ok((await state.getAttribute('class')).includes('warn'));
  const title = await state.getAttribute('title');
  assert.match(title, /pager \(webhook\): failing, 0 sent, 1 waiting/);
  assert.match(title, /next try /);
  await page.screenshot({ path: path.join(shots, 'push-failing.png') });

  answer = 200;
  await page.waitForFunction(
    () => document.querySelector('#push-state')?.textContent === 'push: 1 channel',
    null,
    { timeout: 15000 },
  );
  assert.ok(!(await state.getAttribute('class')).includes('warn'));
  assert.match(await state.getAttribute('title'), /pager \(webhook\): ok, 1 sent/);
  const taken = received.filter((r) => r.status === 200);
  assert.equal(taken.length, 1, logs);
  assert.equal(JSON.parse(taken[0].body).title, 'web is down');
  assert.ok(received.length >= 2, 'at least one refused try before');

  // A click sends a test notice and says how it went.
  await state.click();
  await page.waitForFunction(() => document.querySelector('#statusbar .notice')?.textContent.startsWith('Test notification'));
  assert.equal(await text(page, '#statusbar .notice'), 'Test notification: pager ok');
  assert.equal(JSON.parse(received.at(-1).body).title, 'Steward: test notification');
  assert.equal(JSON.parse(received.at(-1).body).kind, 'test');
  answer = 500;
  await state.click();
  await page.waitForFunction(() => document.querySelector('#statusbar .notice')?.textContent.includes('failed'));
  assert.equal(await text(page, '#statusbar .notice'), 'Test notification: pager failed (500 Internal Server Error: receiver down for maintenance)');
  await page.close();
});
