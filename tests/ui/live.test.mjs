// Live updates without re-rendering, in a real browser (Debian's Chromium via playwright-core
// from ui/node_modules) against a real `steward serve` with the rules planner: relative times
// tick by themselves in their own text only, only where a person can see them, and not at
// all while the page is hidden; a live update of a list keeps focus and open <details>.
// Run: node --test tests/ui/
// Needs: `npm install` and `npm run build` in ui/, the steward binary ($STEWARD_BIN, default
// target/debug/steward) and /usr/bin/chromium. The plumbing is in support.mjs.
//
// Time: the tests that count ticks install Playwright's fake clock in their browser context
// (Date, setTimeout, … in the page), pause it, and move it on with `clock.runFor`: each
// second of page time is then one the test chose, so "nothing happened during 10 s" is a
// fact about those 10 s, not a hope about a sleep.
// Hidden: Chromium has no switch to hide one headless page, so the test does what the
// browser does when a tab goes to the background: `document.hidden` (and `visibilityState`)
// answer true, and `visibilitychange` fires. The page is not frozen (freezing would stop any
// timer, whatever the code does): what stops is the ticker's own doing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, existsSync, chmodSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  prepare, Service, apiCall, startSteward, stopSteward, launchChromium, sleep,
} from './support.mjs';

const TOKEN = 'live-test-token';
/** Every element whose text the ticker keeps (ticker.ts). */
const TICKING = 'time[data-ago],time[data-countdown],time[data-expires],time[data-until],time[data-since]';

let dir, web, steward, browser, base, logs = '';
let marker, release;
/** Action ids of the pending proposals, oldest first. */
const ids = [];

const call = (method, route, body) => apiCall(base, TOKEN, method, route, body);

/** Posts a container-killed event for `lab/<service>` and returns its pending proposal's id. */
async function proposalFor(service) {
  const posted = await call('POST', '/api/events', {
    type: 'service_unhealthy', node: 'lab', service, payload: { exit_code: 137 },
  });
  assert.equal(posted.status, 202, JSON.stringify(posted.body));
  const end = Date.now() + 15000;
  while (Date.now() < end) {
    const { body } = await call('GET', '/api/proposals?status=pending');
    const p = body.find((x) => x.node === 'lab' && x.service === service);
    if (p) return p.action_id;
    await sleep(50);
  }
  throw new Error(`no proposal for lab/${service}:\n${logs}`);
}

before(async () => {
  dir = prepare('steward-ui-live-');
  marker = path.join(dir, 'ran');
  release = path.join(dir, 'release');
  const script = path.join(dir, 'restart.sh');
  // Runs until the test lets it go (bounded, so a broken test cannot hold the executor).
  writeFileSync(script, `#!/bin/sh
echo "restarting $1"
echo "$1" > ${JSON.stringify(marker)}
i=0
while [ ! -f ${JSON.stringify(release)} ]; do
  /bin/sleep 0.05
  i=$((i + 1))
  if [ $i -gt 1200 ]; then exit 3; fi
done
exit 0
`);
  chmodSync(script, 0o755);
  // The one provider: the target that gets approved (the executor runs commands only for
  // services in the config). It answers until the test approves, so nothing plans by itself.
  web = new Service();
  await web.start();
  const config = path.join(dir, 'steward.toml');
  // Probed once at start, then not for an hour: nothing changes by itself, so every DOM
  // change seen is the ticker's or one this test caused.
  writeFileSync(config, `[probe]
interval = "1h"
timeout = "1s"

[[providers]]
id = "web"
kind = "http"
url = "http://127.0.0.1:${web.port}/health"
node = "lab"
service = "websvc"

[planner]
chain = ["rules"]

[executor]
timeout = "120s"
[executor.commands]
container_restart = [${JSON.stringify(script)}, "{service}"]
`);
  ({ child: steward, base } = await startSteward({
    config, dataDir: path.join(dir, 'data'), token: TOKEN, onLog: (d) => { logs += d; },
  }));
  for (const service of ['websvc', 'queuesvc', 'cachesvc']) ids.push(await proposalFor(service));
  browser = await launchChromium();
});

after(async () => {
  if (release) writeFileSync(release, '');
  await browser?.close();
  await stopSteward(steward);
  await web?.stop().catch(() => {});
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A page on the Proposals view in its own context; `clock`: with Playwright's fake clock. */
async function openProposals({ clock = false, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width: 1200, height }, colorScheme: 'light' });
  if (clock) await context.clock.install();
  const page = await context.newPage();
  page.on('pageerror', (e) => { logs += `page error: ${e.message}\n`; });
  await page.goto(`${base}/#/proposals&token=${TOKEN}`);
  await page.waitForFunction((n) => document.querySelectorAll('#proposals .cards > article').length === n, ids.length);
  await page.waitForFunction(() => document.querySelector('#statusbar .conn')?.textContent === 'live');
  return { context, page };
}

const card = (id) => `#proposals .cards article[data-action-id="${id}"]`;

/** Records, in the page, every DOM change under `#proposals`: a count of those inside a
 *  ticking <time>, and a short description of any other. */
function recordChanges(page) {
  return page.evaluate((ticking) => {
    window.__recorder?.disconnect();
    const changes = { ticking: 0, other: [] };
    const note = (records) => {
      for (const r of records) {
        const at = r.target.nodeType === Node.ELEMENT_NODE ? r.target : r.target.parentElement;
        if (at?.closest(ticking)) changes.ticking++;
        else changes.other.push(`${r.type} on <${at?.tagName.toLowerCase()} class="${at?.className}">`);
      }
    };
    const recorder = new MutationObserver(note);
    recorder.observe(document.querySelector('#proposals'), {
      subtree: true, childList: true, characterData: true, attributes: true,
    });
    window.__recorder = recorder;
    window.__changes = () => {
      note(recorder.takeRecords());
      return changes;
    };
  }, TICKING);
}

/** The changes recorded so far (with those still queued in the observer). */
const changes = (page) => page.evaluate(() => window.__changes());

/** Hides or shows the page as the browser does for a background tab (see the top). */
const setHidden = (page, hidden) => page.evaluate((h) => {
  Object.defineProperty(document, 'hidden', { configurable: true, get: () => h });
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (h ? 'hidden' : 'visible') });
  document.dispatchEvent(new Event('visibilitychange'));
}, hidden);

const agoOf = (page, id) => page.locator(`${card(id)} .when time[data-ago]`).textContent();

test('a relative time updates by itself, in its own text only: no element of the list is made again', async () => {
  const { context, page } = await openProposals();
  // Every element of the list carries a mark that a re-created element would not have.
  const marked = await page.evaluate(() => {
    const all = document.querySelectorAll('#proposals .cards *');
    for (const e of all) e.__mark = true;
    return all.length;
  });
  assert.ok(marked > 50, `the cards have their elements: ${marked}`);
  await recordChanges(page);
  const first = await agoOf(page, ids[0]);
  assert.match(first, /^\d+s ago$/);

  // Real time: the seconds go by, the text follows without any data update.
  await page.waitForFunction(([sel, was]) => document.querySelector(sel)?.textContent !== was,
    [`${card(ids[0])} .when time[data-ago]`, first], { timeout: 5000 });
  assert.match(await agoOf(page, ids[0]), /^\d+s ago$/);

  const unmarked = await page.evaluate(() =>
    [...document.querySelectorAll('#proposals .cards *')].filter((e) => !e.__mark).map((e) => e.outerHTML.slice(0, 80)));
  assert.deepEqual(unmarked, [], 'every element of the list is the one it was');
  const seen = await changes(page);
  assert.ok(seen.ticking > 0, 'the ticking text changed');
  assert.deepEqual(seen.other, [], 'nothing but the ticking text changed');
  await context.close();
});

test('while the page is hidden the ticker does nothing; shown again, it catches up at once', async () => {
  const { context, page } = await openProposals({ clock: true });
  await page.clock.pauseAt(Date.now() + 2000);
  await recordChanges(page);

  // Shown: each second of page time moves the visible times on.
  const before = await agoOf(page, ids[0]);
  await page.clock.runFor(3000);
  const after = await agoOf(page, ids[0]);
  assert.notEqual(after, before, 'ticks while shown');
  assert.ok((await changes(page)).ticking > 0);

  // Hidden: ten seconds of page time, in which the ticker writes nothing at all.
  await setHidden(page, true);
  await recordChanges(page);
  const texts = () => page.$$eval(TICKING, (ts) => ts.map((t) => t.textContent));
  const frozen = await texts();
  await page.clock.runFor(10_000);
  assert.deepEqual(await changes(page), { ticking: 0, other: [] }, 'no ticker work while hidden');
  assert.deepEqual(await texts(), frozen, 'the times were left as they were');

  // Shown again: every visible time is brought up to date at once, before any timer runs.
  const expected = await page.evaluate((sel) => {
    const t = document.querySelector(sel);
    return Math.round((Date.now() - Date.parse(t.dateTime)) / 1000);
  }, `${card(ids[0])} .when time[data-ago]`);
  await setHidden(page, false);
  assert.equal(await agoOf(page, ids[0]), expected < 60 ? `${expected}s ago` : `${Math.floor(expected / 60)}m ago`,
    'up to date as soon as the page is shown');
  const resumed = await agoOf(page, ids[0]);
  await page.clock.runFor(2000);
  assert.notEqual(await agoOf(page, ids[0]), resumed, 'and it ticks on');
  await context.close();
});

test('only the times a person can see tick; one scrolled into view is brought up to date at once', async () => {
  const { context, page } = await openProposals({ clock: true, height: 520 });
  await page.clock.pauseAt(Date.now() + 2000);
  const last = `${card(ids.at(-1))} .when time[data-ago]`;
  const below = await page.$eval(last, (t) => t.getBoundingClientRect().top > window.innerHeight);
  assert.ok(below, 'the last card\'s time is below the fold');
  const firstBefore = await agoOf(page, ids[0]);
  const lastBefore = await page.textContent(last);

  await page.clock.runFor(5000);
  assert.notEqual(await agoOf(page, ids[0]), firstBefore, 'the visible time ticked');
  assert.equal(await page.textContent(last), lastBefore, 'the one out of view was left alone');

  // Scrolled into view: written at once (no page time passes).
  await page.$eval(last, (t) => t.scrollIntoView());
  await page.waitForFunction(([sel, was]) => document.querySelector(sel)?.textContent !== was, [last, lastBefore],
    { timeout: 5000 });
  await context.close();
});

test('focus and an open <details> survive live updates of the same card (pending → approved → running)', async () => {
  const { context, page } = await openProposals();
  const id = ids[0];
  const sel = card(id);
  // The person opens the evidence of the first card with the keyboard and stays there.
  const summary = page.locator(`${sel} details.evidence summary`);
  await summary.focus();
  await page.keyboard.press('Enter');
  assert.ok(await page.locator(`${sel} details.evidence`).evaluate((d) => d.open));
  await page.evaluate((s) => {
    document.querySelector(s).__same = true;
    document.querySelector(`${s} details.evidence`).__same = true;
  }, sel);

  // Approved elsewhere (another window, a script) while websvc is down (the click-time
  // re-check finds it down, so the command runs): the card changes live, twice.
  await web.stop();
  const approved = await call('POST', `/api/proposals/${encodeURIComponent(id)}/approve`);
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  await page.waitForFunction((s) => document.querySelector(s)?.dataset.status === 'running', sel, { timeout: 15000 });
  await page.waitForFunction((s) => document.querySelector(`${s} pre[data-output="stdout"]`)?.textContent.includes('restarting websvc'),
    sel, { timeout: 15000 });
  assert.ok(existsSync(marker), 'the command runs');

  assert.ok(await page.evaluate((s) => document.querySelector(s).__same === true, sel), 'the card is the same element');
  const details = page.locator(`${sel} details.evidence`);
  assert.ok(await details.evaluate((d) => d.__same === true && d.open), 'its evidence is still open');
  assert.ok(await summary.evaluate((s) => document.activeElement === s), 'focus is still on its summary');
  assert.match(await page.locator(`${sel} [data-progress]`).textContent(), /^Running/);
  writeFileSync(release, '');
  await page.waitForFunction((i) => document.querySelector(`#proposals .history article[data-action-id="${i}"]`), id,
    { timeout: 15000 });
  await context.close();
});
