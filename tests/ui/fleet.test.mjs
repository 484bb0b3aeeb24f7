// The overview for a real fleet, in a real browser (Debian's Chromium via playwright-core from
// ui/node_modules) against a real `steward serve` watching real loopback services: providers
// grouped by node (collapsible, each node with its counts), problems first (down, half-open,
// degraded, up, disabled; the node with the worst problem first), ids in natural order (p2
// before p10), counts per state in the header, a filter box (`/` focuses it, Escape clears
// it), and a re-sort that moves nothing under the pointer.
// Run: node --test tests/ui/
// Needs: `npm install` and `npm run build` in ui/, the steward binary ($STEWARD_BIN, default
// target/debug/steward) and /usr/bin/chromium. The plumbing is in support.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  shots, prepare, Service, apiCall, startSteward, stopSteward, launchChromium, sleep,
} from './support.mjs';

const TOKEN = 'fleet-test-token';

let dir, up, web3, refusing, steward, browser, base, logs = '';

/** Each provider's node, service and what it is made to be. The probe interval is an hour,
 *  so after the first probe nothing changes by itself: each state below is stable.
 *  - down: every probe fails and one failure opens the breaker, for an hour;
 *  - half-open: the same, with a 2 s backoff, so it is half-open (waiting for its trial
 *    probe, an hour away) from 2 s after start;
 *  - degraded: the probe failed once, and it takes three to open the breaker;
 *  - disabled: not probed at all. */
const FLEET = [
  ['p20', 'node10', 'nginx', 'up'],
  ['p2', 'node10', 'nginx', 'up'],
  ['p11', 'node10', 'postgres', 'down'],
  ['p10', 'node10', 'redis', 'up'],
  ['p1', 'node10', 'nginx', 'up'],
  ['p30', 'node2', 'backup', 'disabled'],
  ['p3', 'node2', 'postgres', 'up'],
  ['p21', 'node2', 'mqtt', 'degraded'],
  ['p12', 'node2', 'ollama', 'half-open'],
  ['p4', 'node2', 'nginx', 'up'],
  ['web10', 'lab', 'nginx', 'up'],
  ['web3', 'lab', 'grafana', 'up'],
  ['web2', 'lab', 'nginx', 'up'],
  ['web1', 'lab', 'nginx', 'up'],
];

before(async () => {
  dir = prepare('steward-ui-fleet-');
  up = new Service();
  await up.start();
  // web3 has a service of its own, to be stopped by a test; it is probed every second.
  web3 = new Service();
  await web3.start();
  // Accepts connections and drops them at once: every HTTP probe of it fails.
  refusing = net.createServer((s) => s.destroy()).listen(0, '127.0.0.1');
  await new Promise((r) => refusing.on('listening', r));
  const dead = `http://127.0.0.1:${refusing.address().port}/health`;
  const provider = ([id, node, service, kind]) => {
    const lines = [`[[providers]]`, `id = "${id}"`, `kind = "http"`, `node = "${node}"`, `service = "${service}"`];
    if (id === 'web3') {
      lines.push(`url = "http://127.0.0.1:${web3.port}/health"`, 'interval = "1s"', 'failure_threshold = 1',
        'backoff = "5s"');
    }
    else if (kind === 'up') lines.push(`url = "http://127.0.0.1:${up.port}/health"`);
    else if (kind === 'down') lines.push(`url = "${dead}"`, 'failure_threshold = 1', 'backoff = "1h"');
    else if (kind === 'half-open') lines.push(`url = "${dead}"`, 'failure_threshold = 1', 'backoff = "2s"');
    else if (kind === 'degraded') lines.push(`url = "${dead}"`, 'failure_threshold = 3');
    else if (kind === 'disabled') lines.push(`url = "${dead}"`, 'enabled = false');
    return lines.join('\n');
  };
  const config = path.join(dir, 'steward.toml');
  writeFileSync(config, `[probe]\ninterval = "1h"\ntimeout = "1s"\n\n${FLEET.map(provider).join('\n\n')}\n`);
  ({ child: steward, base } = await startSteward({
    config, dataDir: path.join(dir, 'data'), token: TOKEN, onLog: (d) => { logs += d; },
  }));
  // Every provider in its state (the half-open one once its 2 s backoff has passed).
  const want = { up: 'ok', down: 'error', 'half-open': 'warning', degraded: 'warning', disabled: 'disabled' };
  const end = Date.now() + 20000;
  for (;;) {
    const { body } = await apiCall(base, TOKEN, 'GET', '/api/providers');
    const wrong = FLEET.filter(([id, , , kind]) => {
      const p = body.find((x) => x.id === id);
      const state = { 'half-open': 'half_open', down: 'open' }[kind] ?? (kind === 'disabled' ? p?.state : 'closed');
      return !p || p.status !== want[kind] || p.state !== state || (kind !== 'disabled' && !p.last_checked_at);
    });
    if (!wrong.length) break;
    assert.ok(Date.now() < end, `not every provider reached its state: ${wrong.map(([id]) => id).join(', ')}\n${logs}`);
    await sleep(200);
  }
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stopSteward(steward);
  await up?.stop().catch(() => {});
  await web3?.stop().catch(() => {});
  refusing?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function openOverview({ height = 1000, width = 1280 } = {}) {
  const page = await browser.newPage({ viewport: { width, height }, colorScheme: 'light' });
  page.on('pageerror', (e) => { logs += `page error: ${e.message}\n`; });
  await page.goto(`${base}/#/overview&token=${TOKEN}`);
  await page.waitForSelector('tr[data-provider-id="web1"]');
  await page.waitForFunction(() => document.querySelector('#statusbar .conn')?.textContent === 'live');
  return page;
}

/** The table's rows from the top: `node:<name>` for a node's header, else the provider's id. */
const listed = (page) => page.$$eval('.providers tbody tr[data-key]', (trs) =>
  trs.map((tr) => (tr.dataset.node ? `node:${tr.dataset.node}` : tr.dataset.providerId)));

/** The header's counts while every provider is in the state FLEET gives it. */
const ALL_COUNTS = '14 providers: 10 up · 1 down · 1 half-open · 1 degraded · 1 disabled';

const text = async (page, sel) => (await page.textContent(sel)).replace(/\s+/g, ' ').trim();

/** Waits (up to 5 s: the rows follow a change on the next frame) until the table lists
 *  `expected`, and asserts it. */
async function expectRows(page, expected, message) {
  await page.waitForFunction((want) => JSON.stringify([...document.querySelectorAll('.providers tbody tr[data-key]')]
    .map((tr) => (tr.dataset.node ? `node:${tr.dataset.node}` : tr.dataset.providerId))) === JSON.stringify(want),
  expected, { timeout: 5000 }).catch(() => {});
  assert.deepEqual(await listed(page), expected, message);
}

/** Waits (up to 5 s) until `sel`'s text is `expected`, and asserts it. */
async function expectText(page, sel, expected, message) {
  await page.waitForFunction(([s, want]) => document.querySelector(s)?.textContent.replace(/\s+/g, ' ').trim() === want,
    [sel, expected], { timeout: 5000 }).catch(() => {});
  assert.equal(await text(page, sel), expected, message);
}

test('providers are grouped by node, problems first, ids in natural order; counts per state in the header and per node', async () => {
  const page = await openOverview();
  assert.deepEqual(await listed(page), [
    // node10 has the worst problem (a provider down), node2 the next (half-open), lab none.
    'node:node10', 'p11', 'p1', 'p2', 'p10', 'p20',
    // In a node: down, half-open, degraded, up, disabled; ids naturally (p3 before p4, p2
    // before p10, web2 before web10), not as text (which would put p10 before p2).
    'node:node2', 'p12', 'p21', 'p3', 'p4', 'p30',
    'node:lab', 'web1', 'web2', 'web3', 'web10',
  ]);
  const states = [['p11', 'open', 'error'], ['p12', 'half_open', 'warning'], ['p21', 'closed', 'warning']];
  for (const [id, state, status] of states) {
    assert.equal(await page.getAttribute(`tr[data-provider-id="${id}"]`, 'data-state'), state, id);
    assert.equal(await page.getAttribute(`tr[data-provider-id="${id}"]`, 'data-status'), status, id);
  }
  assert.equal(await text(page, '#fleet-counts'), ALL_COUNTS,
    'the whole fleet by state, up first, then the problems worst first');
  assert.equal(await text(page, 'tr[data-node="node10"] .group-summary'), '5 providers: 4 up · 1 down');
  assert.equal(await text(page, 'tr[data-node="node2"] .group-summary'),
    '5 providers: 2 up · 1 half-open · 1 degraded · 1 disabled');
  assert.equal(await text(page, 'tr[data-node="lab"] .group-summary'), '4 providers: 4 up', 'a calm node says so');
  await page.screenshot({ path: path.join(shots, 'fleet.png') });
  await page.close();
});

test('a node collapses and expands by click and by keyboard; its header and counts stay', async () => {
  const page = await openOverview();
  const toggle = page.locator('tr[data-node="node10"] button.group-toggle');
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');

  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
  assert.deepEqual(await listed(page), [
    'node:node10',
    'node:node2', 'p12', 'p21', 'p3', 'p4', 'p30',
    'node:lab', 'web1', 'web2', 'web3', 'web10',
  ], 'node10\'s rows are gone, the other nodes\' stay');
  assert.equal(await text(page, 'tr[data-node="node10"] .group-summary'), '5 providers: 4 up · 1 down',
    'a collapsed node still says what it holds');
  assert.equal(await text(page, '#fleet-counts'), ALL_COUNTS, 'collapsing hides rows, it does not change the fleet');

  // From the keyboard: the header's button has focus after the click; Enter expands it again.
  await toggle.focus();
  await page.keyboard.press('Enter');
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  assert.deepEqual((await listed(page)).slice(0, 6), ['node:node10', 'p11', 'p1', 'p2', 'p10', 'p20']);
  // The arrow keys go from row to row: down from the header to its first provider, and on.
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.providerId), 'p11');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.providerId), 'p1');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowUp');
  assert.ok(await toggle.evaluate((b) => document.activeElement === b), 'and back up to the node\'s header');

  await page.click('#collapse-all');
  assert.deepEqual(await listed(page), ['node:node10', 'node:node2', 'node:lab'], 'collapse all leaves the headers');
  assert.equal(await text(page, '#collapse-all'), 'Expand all nodes');
  await page.click('#collapse-all');
  assert.equal((await listed(page)).length, 17, 'expand all brings every row back');
  await page.close();
});

test('the filter narrows the rows by id, node, service or state; / focuses it; Escape clears it', async () => {
  const page = await openOverview();
  const box = page.locator('#provider-filter');

  // `/` anywhere but in a text field focuses the filter, and is not typed into it.
  await page.locator('tr[data-provider-id="p1"]').focus();
  await page.keyboard.press('/');
  assert.ok(await box.evaluate((b) => document.activeElement === b), '/ focuses the filter');
  assert.equal(await box.inputValue(), '');

  const filterBy = async (words, expected, message) => {
    await box.fill(words);
    await expectRows(page, expected, message);
  };
  await filterBy('down', ['node:node10', 'p11'], 'by state');
  assert.equal(await text(page, '.fleet-shown'), '1 of 14 shown');
  await filterBy('half-open', ['node:node2', 'p12'], 'by state, as the count names it');
  await filterBy('degraded', ['node:node2', 'p12', 'p21'], 'half-open counts as degraded too: its badge says DEGRADED');
  await filterBy('postgres', ['node:node10', 'p11', 'node:node2', 'p3'], 'by service');
  await filterBy('node2', ['node:node2', 'p12', 'p21', 'p3', 'p4', 'p30'], 'by node');
  await filterBy('WEB1', ['node:lab', 'web1', 'web10'], 'by id, in any case');
  await filterBy('nginx up',
    ['node:node10', 'p1', 'p2', 'p20', 'node:node2', 'p4', 'node:lab', 'web1', 'web2', 'web10'],
    'every word must match');
  assert.equal(await text(page, 'tr[data-node="lab"] .group-matching'), '3 shown');
  await filterBy('nothing-like-this', []);
  assert.equal(await text(page, '.providers td.empty'), 'No provider matches “nothing-like-this”.');

  // A `/` typed in the filter is a character like any other.
  await box.fill('');
  await box.pressSequentially('a/b');
  assert.equal(await box.inputValue(), 'a/b');

  await box.fill('postgres');
  await expectRows(page, ['node:node10', 'p11', 'node:node2', 'p3']);
  await page.keyboard.press('Escape');
  assert.equal(await box.inputValue(), '', 'Escape clears the filter');
  await expectRows(page, [
    'node:node10', 'p11', 'p1', 'p2', 'p10', 'p20',
    'node:node2', 'p12', 'p21', 'p3', 'p4', 'p30',
    'node:lab', 'web1', 'web2', 'web3', 'web10',
  ], 'every row is back');
  assert.ok(await page.isHidden('.fleet-shown'));
  await page.close();
});

test('a provider going down moves to the top of its node and its node to the top, but the row under the pointer stays where it is', async () => {
  // A short window: the list scrolls, so the row under the pointer can be kept in place.
  const page = await openOverview({ height: 460 });
  const scroller = page.locator('.fleet-scroll');
  await scroller.evaluate((s) => { s.scrollTop = 120; });
  const hovered = page.locator('tr[data-provider-id="p10"]');
  await hovered.hover();
  // Measured from the list's own top: the banner above it may grow when a provider goes down.
  const place = () => hovered.evaluate((r) => r.getBoundingClientRect().top
    - document.querySelector('.fleet-scroll').getBoundingClientRect().top);
  const before = await place();

  await web3.stop();
  await page.waitForFunction(() => document.querySelector('tr[data-provider-id="web3"]')?.dataset.state === 'open',
    null, { timeout: 15000 });
  await expectText(page, '#fleet-counts', '14 providers: 9 up · 2 down · 1 half-open · 1 degraded · 1 disabled');
  assert.equal(await text(page, 'tr[data-node="lab"] .group-summary'), '4 providers: 3 up · 1 down');
  const now = await place();
  assert.ok(Math.abs(now - before) < 1,
    `the row under the pointer stayed put (${before} → ${now} px from the list's top)`);
  assert.ok(await scroller.evaluate((s) => s.scrollTop) > 120 + 4 * 40,
    'the list scrolled instead: the five rows of lab now come before it');

  // Away from the list, its new order shows from the top: lab (now with a provider down)
  // comes before node10 (same worst state, name in natural order), web3 first in it.
  await page.mouse.move(5, 5);
  await scroller.evaluate((s) => { s.scrollTop = 0; });
  await page.waitForFunction(() => document.querySelector('.providers tbody tr[data-key]')?.dataset.node === 'lab');
  assert.deepEqual((await listed(page)).slice(0, 8),
    ['node:lab', 'web3', 'web1', 'web2', 'web10', 'node:node10', 'p11', 'p1']);
  await page.screenshot({ path: path.join(shots, 'fleet-down.png') });

  // Back up (after its 5 s backoff): lab has no problem left and goes back to the end.
  await web3.start(web3.port);
  await page.waitForFunction(
    () => document.querySelector('#fleet-counts [data-count="down"]')?.textContent === '1 down',
    null, { timeout: 15000 });
  await page.waitForFunction(() => document.querySelector('.providers tbody tr[data-key]')?.dataset.node === 'node10');
  await page.close();
});
