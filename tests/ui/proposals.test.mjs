// The Proposals view in a real browser (Debian's Chromium via playwright-core from
// ui/node_modules) against a real `steward serve` whose planner is the built-in rules
// planner (no LLM). Events are posted from here, as another node would; the page must show
// the proposal live. Run: node --test tests/ui/
// Needs: `npm install` and `npm run build` in ui/, the steward binary ($STEWARD_BIN,
// default target/debug/steward) and /usr/bin/chromium. The plumbing is in support.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  shots, prepare, Service, startSteward, stopSteward, launchChromium,
} from './support.mjs';

const TOKEN = 'proposals-test-token';

const EMPTY = 'No proposals. When something breaks, Steward plans a fix here.';
const OVERRIDE = 'requires_human forced: confidence 0.62 is below 0.70';
const CARD = 'article[data-status="pending"][data-requires-human="true"]';

let dir, web, steward, browser, base, logs = '';

/** POSTs a raw body to /api/events with the bearer token, as another node would. */
async function postEvent(body) {
  const resp = await fetch(base + '/api/events', {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: resp.status, body: await resp.json().catch(() => null) };
}

before(async () => {
  dir = prepare('steward-ui-proposals-');
  // One healthy provider, so the overall state is calm and only the planner speaks.
  web = new Service();
  await web.start();
  const config = path.join(dir, 'steward.toml');
  writeFileSync(config, `[probe]
interval = "2s"
timeout = "1s"

[[providers]]
id = "web"
kind = "http"
url = "http://127.0.0.1:${web.port}/health"
node = "lab"
service = "nginx"

[planner]
chain = ["rules"]
actions_dir = ${JSON.stringify(path.join(dir, 'actions'))}
events_dir = ${JSON.stringify(path.join(dir, 'events'))}
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
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const text = (page, sel) => page.locator(sel).first().textContent();

test('a proposal from a posted event appears live as a card; refused input shows in the status bar', async () => {
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 }, colorScheme: 'light' });
  await page.goto(`${base}/#/proposals&token=${TOKEN}`);
  assert.ok(!page.url().includes('token='), 'the token is removed from the address bar');
  assert.ok(page.url().endsWith('#/proposals'), `the route stays: ${page.url()}`);

  // Empty at first, with the view's link current and no count on it.
  await page.waitForSelector('#proposals .cards p.empty');
  assert.equal((await text(page, '#proposals .cards p.empty')).trim(), EMPTY);
  const link = page.locator('a[href="#/proposals"]');
  assert.equal(await link.getAttribute('aria-current'), 'page');
  assert.ok(await page.locator('[data-pending-count]').isHidden(), 'no count while nothing is pending');
  assert.ok(await page.locator('#rejected-count').isHidden(), 'nothing refused yet');
  assert.ok(await page.locator('#bus-state').isHidden(), 'no bus configured: no bus state');
  await page.waitForFunction(() => document.querySelector('#statusbar .conn')?.textContent === 'live');
  await page.evaluate(() => { window.__sameDocument = true; });

  // Another node reports a container killed with exit 137.
  const accepted = await postEvent({
    type: 'service_unhealthy', node: 'piha', service: 'mosquitto',
    payload: { exit_code: 137, status: 'exited' },
  });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  assert.equal(accepted.body.status, 'accepted');

  const card = page.locator(CARD);
  await card.waitFor({ timeout: 10000 });
  assert.equal(await card.count(), 1);
  const body = await card.textContent();
  for (const want of [/restart/i, /mosquitto/, /piha/, /62%/, /NEEDS YOUR APPROVAL/, /rules ok \d+ ms/, /exited with 137/]) {
    assert.match(body, want);
  }
  assert.equal((await card.locator('ul.overrides li').allTextContents()).join('|'), OVERRIDE,
    'the policy override is listed as the code wrote it');
  assert.equal(await card.locator('.title').textContent(), 'Restart mosquitto on piha');
  assert.match(await card.getAttribute('data-action-id'), /^plan-piha-mosquitto-\d+$/);
  assert.equal(await page.locator('#proposals .cards p.empty').count(), 0, 'the empty text is gone');
  await page.waitForFunction(() => {
    const b = document.querySelector('[data-pending-count]');
    return b?.textContent === '1' && !b.hidden;
  });
  assert.equal(await link.getAttribute('aria-label'), 'Proposals, 1 pending');
  assert.ok(await page.evaluate(() => window.__sameDocument === true), 'shown live, without a reload');

  // The source event is collapsed; the keyboard opens it, and it keeps focus while a
  // second proposal is inserted (no re-render of the view).
  const summary = card.locator('details.evidence summary');
  assert.match(await summary.textContent(), /service_unhealthy · via api/);
  assert.ok(await card.locator('details.evidence pre').isHidden(), 'collapsed at first');
  await summary.focus();
  await page.keyboard.press('Enter');
  assert.equal(await card.locator('details.evidence pre').textContent(), '{"exit_code":137,"status":"exited"}');
  await page.evaluate((sel) => { document.querySelector(sel).__first = true; }, CARD);

  const second = await postEvent({
    type: 'service_unhealthy', node: 'nas', service: 'postgres',
    payload: { exit_code: 137, status: 'exited' },
  });
  assert.equal(second.status, 202, JSON.stringify(second.body));
  await page.waitForFunction(() => document.querySelectorAll('#proposals .cards > article').length === 2,
    null, { timeout: 10000 });
  await page.waitForFunction(() => document.querySelector('[data-pending-count]')?.textContent === '2');
  const ids = await page.locator('#proposals .cards > article').evaluateAll((a) => a.map((x) => x.dataset.actionId));
  assert.match(ids[0], /^plan-piha-mosquitto-/, 'pending ones are oldest first');
  assert.match(ids[1], /^plan-nas-postgres-/);
  assert.ok(await page.evaluate((sel) => document.querySelector(sel).__first === true,
    `article[data-action-id="${ids[0]}"]`), 'the first card is the same element');
  assert.ok(await page.evaluate(() => document.activeElement?.matches('details.evidence summary')),
    'focus stays where it was');
  assert.equal(await text(page, '#proposals-pending-heading'), 'Pending (2)');

  // The same proposal through the API: the fields the card shows.
  const listed = await (await fetch(`${base}/api/proposals?status=pending`, {
    headers: { Authorization: `Bearer ${TOKEN}` },
  })).json();
  assert.equal(listed.length, 2);
  assert.ok(readdirSync(path.join(dir, 'actions')).some((f) => f.startsWith(ids[0])), 'the action file is written');

  // Garbage input is refused (400) and counted in the status bar, pushed without a reload.
  const refused = await postEvent('{not json');
  assert.equal(refused.status, 400);
  await page.waitForFunction(() => {
    const r = document.querySelector('#rejected-count');
    return r && !r.hidden && /^1 event refused$/.test(r.textContent ?? '');
  }, null, { timeout: 5000 });
  assert.match(await page.getAttribute('#rejected-count', 'title'), /GET \/api\/intake/);
  // It is a button: the keyboard asks the intake for the reasons.
  await page.locator('#rejected-count').focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /^Refused input: .+ 1 \(details: GET \/api\/intake\)$/
    .test(document.querySelector('#statusbar .notice')?.textContent ?? ''));
  assert.ok(await page.evaluate(() => window.__sameDocument === true), 'still the same document');
  await page.screenshot({ path: path.join(shots, 'proposals.png'), fullPage: true });

  // The Events view has the planner's events, grouped in the type filter.
  await page.click('#tab-events');
  const created = page.locator('li[data-event-type="proposal_created"]').first();
  await created.waitFor();
  assert.match(await created.textContent(), /see proposal/);
  await page.screenshot({ path: path.join(shots, 'proposals-events.png') });
  assert.ok(await page.locator('select[data-filter="type"] optgroup[label="Planner"] option[value="proposal_created"]').count() === 1);
  await page.selectOption('select[data-filter="type"]', 'proposal_created');
  assert.equal(await page.locator('ol.timeline li:not([data-event-type="proposal_created"])').count(), 0);
  await created.locator('a', { hasText: 'see proposal' }).click();
  await page.waitForSelector(`#proposals ${CARD}`);
  await page.close();
});

test('the proposals view in a dark color scheme, after a fresh load', async () => {
  const page = await browser.newPage({ viewport: { width: 1000, height: 760 }, colorScheme: 'dark' });
  await page.goto(`${base}/#/proposals&token=${TOKEN}`);
  await page.waitForFunction(() => document.querySelectorAll('#proposals .cards > article').length === 2);
  assert.equal(await text(page, '[data-pending-count]'), '2');
  assert.equal(await text(page, '#rejected-count'), '1 event refused');
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(bg, 'rgb(21, 24, 27)', 'the dark palette applies');
  await page.locator('#proposals .cards > article details.evidence summary').first().click();
  await page.screenshot({ path: path.join(shots, 'proposals-dark.png'), fullPage: true });
  await page.close();
});
