// The web UI in a real browser (Debian's Chromium via playwright-core from ui/node_modules)
// against a real `steward serve` watching real loopback services. Run: node --test tests/ui/
// Needs: `npm install` in ui/, `npm run build` (ui/dist), the steward binary ($STEWARD_BIN,
// default target/debug/steward) and /usr/bin/chromium. The plumbing is in support.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  shots, prepare, Service, startSteward, stopSteward, launchChromium,
} from './support.mjs';

const TOKEN = 'test-token';

let dir, config, web, tcp, steward, browser, base, logs = '';

/** Starts steward: on a free port, or on `listen` (the first run's address, for a restart). */
const serve = async (listen) => {
  ({ child: steward, base } = await startSteward({
    config, dataDir: path.join(dir, 'data'), token: TOKEN, onLog: (d) => { logs += d; }, listen,
  }));
};

before(async () => {
  dir = prepare('steward-ui-');
  web = new Service();
  await web.start();
  tcp = net.createServer((s) => s.destroy()).listen(0, '127.0.0.1');
  await new Promise((r) => tcp.on('listening', r));
  config = path.join(dir, 'steward.toml');
  writeFileSync(config, `[probe]
interval = "1s"
timeout = "500ms"
failure_threshold = 2
backoff = "3s"

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
  await serve();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stopSteward(steward);
  await web?.stop().catch(() => {});
  tcp?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const rowAttr = (page, id, attr) =>
  page.evaluate(([i, a]) => document.querySelector(`tr[data-provider-id="${i}"]`)?.getAttribute(a) ?? null, [id, attr]);

function waitForRow(page, id, attr, value, timeout = 15000) {
  return page.waitForFunction(
    ([i, a, v]) => document.querySelector(`tr[data-provider-id="${i}"]`)?.getAttribute(a) === v,
    [id, attr, value], { timeout });
}

test('without a token the UI asks for one; a wrong one is refused (401); the right one connects', async () => {
  const page = await browser.newPage();
  await page.goto(base + '/');
  await page.waitForSelector('#token-form');
  assert.match(await page.textContent('#token-form'), /No API token given/);
  assert.equal(await page.locator('tr[data-provider-id]').count(), 0, 'nothing is shown without a token');

  const refused = page.waitForResponse((r) => r.url().endsWith('/api/status') && r.status() === 401);
  await page.fill('#token', 'wrong-token');
  await page.press('#token', 'Enter');
  await refused;
  await page.waitForFunction(() => /refused/.test(document.querySelector('#token-form .why')?.textContent ?? ''));
  assert.equal(await page.textContent('#statusbar .conn'), 'unauthorized');

  await page.fill('#token', TOKEN);
  await page.click('#token-form button');
  await page.waitForSelector('tr[data-provider-id="web"]');
  assert.equal(await page.evaluate(() => localStorage.getItem('steward.token')), TOKEN, 'the token is kept');
  await page.close();
});

test('providers are listed; a provider going down turns DOWN live, with banner and event; it recovers', async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 640 }, colorScheme: 'light' });
  await page.goto(`${base}/#token=${TOKEN}`);
  assert.ok(!page.url().includes('token='), 'the token is removed from the address bar');

  // Both providers are up: closed breakers, OK in text.
  await waitForRow(page, 'web', 'data-status', 'ok');
  await waitForRow(page, 'mqtt', 'data-status', 'ok');
  for (const id of ['web', 'mqtt']) {
    assert.equal(await rowAttr(page, id, 'data-state'), 'closed');
    assert.equal(await page.textContent(`tr[data-provider-id="${id}"] .badge`), 'OK', 'the badge says it in text');
    assert.equal(await page.locator(`tr[data-provider-id="${id}"] button`, { hasText: 'Probe now' }).count(), 1);
  }
  assert.match(await page.textContent('tr[data-provider-id="web"]'), /lab \/ nginx/);
  assert.equal(await page.getAttribute('#statusbar', 'data-overall'), 'healthy');
  assert.match(await page.textContent('#statusbar'), /2 providers · 2 ok/);
  await page.waitForFunction(() => document.querySelector('#statusbar .conn')?.textContent === 'live');
  assert.ok(await page.isHidden('#incident'), 'no incident banner while all is well');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-provider-id="web"] svg.spark path').length === 1);
  await page.screenshot({ path: path.join(shots, 'dashboard-healthy.png') });

  // The service dies: the row turns DOWN without a reload, the banner names it.
  // A marker that a reload would wipe.
  await page.evaluate(() => { window.__sameDocument = true; });
  const notReloaded = () => page.evaluate(() => window.__sameDocument === true);
  await web.stop();
  await waitForRow(page, 'web', 'data-state', 'open');
  assert.equal(await page.textContent('tr[data-provider-id="web"] .badge'), 'DOWN');
  assert.equal(await rowAttr(page, 'web', 'data-status'), 'error');
  assert.match(await page.textContent('tr[data-provider-id="web"] .state-sub'), /retry in \d:\d\d/);
  assert.ok((await page.getAttribute('tr[data-provider-id="web"] td.error', 'title')).length > 0,
    'the full error is in the title');
  assert.match(await page.textContent('#incident'), /1 provider down: web \(.+\)/);
  assert.equal(await rowAttr(page, 'mqtt', 'data-state'), 'closed', 'the other row is untouched');
  assert.equal(await page.getAttribute('#statusbar', 'data-overall'), 'down');
  assert.match(await page.textContent('#statusbar'), /1 down/);
  assert.ok(await notReloaded(), 'updated live, without a reload');
  await page.screenshot({ path: path.join(shots, 'dashboard.png') });

  // The Events view has the trip; filters narrow it.
  await page.click('#tab-events');
  const opened = page.locator('li[data-event-type="breaker_opened"]').first();
  await opened.waitFor();
  assert.match(await opened.textContent(), /ERROR/);
  assert.match(await opened.textContent(), /web/);
  await page.selectOption('select[data-filter="severity"]', 'info');
  assert.equal(await page.locator('li[data-event-type="breaker_opened"]').count(), 0, 'severity filter');
  await page.selectOption('select[data-filter="severity"]', '');
  await page.selectOption('select[data-filter="type"]', 'breaker_opened');
  assert.ok(await page.locator('li[data-event-type="breaker_opened"]').count() >= 1, 'type filter');
  assert.equal(await page.locator('ol.timeline li:not([data-event-type="breaker_opened"])').count(), 0);
  await page.screenshot({ path: path.join(shots, 'events.png') });
  await page.click('#tab-overview');

  // It comes back on the same port: closed again, banner gone, still no reload.
  await web.start(web.port);
  await waitForRow(page, 'web', 'data-state', 'closed', 20000);
  await page.waitForFunction(() => document.querySelector('#incident')?.hidden === true);
  assert.equal(await page.textContent('tr[data-provider-id="web"] .badge'), 'OK');
  assert.ok(await notReloaded(), 'recovered live, without a reload');
  await page.close();
});

test('keyboard: a row expands with Enter into its latency chart; Probe now, Pause and Snooze work', async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 760 }, colorScheme: 'dark' });
  await page.goto(`${base}/#token=${TOKEN}`);
  const row = page.locator('tr[data-provider-id="mqtt"]');
  await row.waitFor();

  await row.focus();
  await page.keyboard.press('Enter');
  assert.equal(await row.getAttribute('aria-expanded'), 'true');
  await page.waitForSelector('#detail-mqtt .uplot', { timeout: 10000 });
  assert.match(await page.textContent('#detail-mqtt'), /consecutive failure/);

  // Probe now, from the keyboard; the button keeps focus through the row's update.
  const before = await row.locator('td.ago').getAttribute('data-at');
  await row.locator('button.probe').focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(
    (b) => document.querySelector('tr[data-provider-id="mqtt"] td.ago')?.dataset.at !== b, before);
  assert.ok(await page.evaluate(() => document.activeElement?.classList.contains('probe')), 'focus stays on the button');
  await page.screenshot({ path: path.join(shots, 'dashboard-dark.png') });

  await page.click('#statusbar button:has-text("Pause probing")');
  await page.waitForFunction(() => document.querySelector('#statusbar')?.dataset.paused === 'true');
  assert.match(await page.textContent('#statusbar'), /probing paused/);
  await page.click('#statusbar button:has-text("Resume probing")');
  await page.waitForFunction(() => document.querySelector('#statusbar')?.dataset.paused === 'false');

  await page.click('#statusbar button:has-text("Snooze 1 h")');
  await page.waitForFunction(() => /notifications snoozed until/.test(document.querySelector('#statusbar')?.textContent ?? ''));
  await page.click('#statusbar button:has-text("Unsnooze")');
  await page.waitForFunction(() => /notifications on/.test(document.querySelector('#statusbar')?.textContent ?? ''));

  await row.focus();
  await page.keyboard.press('Enter');
  assert.equal(await page.locator('#detail-mqtt').count(), 0, 'Enter again collapses');
  await page.close();
});

test('the live stream says reconnecting while steward is away, then catches up', async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/#token=${TOKEN}`);
  await page.waitForFunction(() => document.querySelector('#statusbar .conn')?.textContent === 'live');
  await stopSteward(steward);
  await page.waitForFunction(() => document.querySelector('#statusbar .conn')?.textContent === 'reconnecting');
  // Updates may have been missed meanwhile: on reconnect the UI fetches everything again.
  const refetched = page.waitForRequest((r) => r.url().endsWith('/api/providers'), { timeout: 20000 });
  // The same address again: the open page reconnects to it.
  await serve(new URL(base).host);
  await page.waitForFunction(() => document.querySelector('#statusbar .conn')?.textContent === 'live',
    null, { timeout: 20000 });
  await refetched;
  await waitForRow(page, 'web', 'data-state', 'closed');
  await page.close();
});
