// Approving and rejecting proposals in a real browser (Debian's Chromium via playwright-core
// from ui/node_modules) against a real `steward serve`: the rules planner, and an executor
// whose `container_restart` is a script written here. The script notes that it ran, then
// waits until this test has brought the "restarted" service back, so the proposal is seen
// running for as long as the test wants and the verification finds the target answering.
// Run: node --test tests/ui/
// Needs: `npm install` and `npm run build` in ui/, the steward binary ($STEWARD_BIN,
// default target/debug/steward) and /usr/bin/chromium. The plumbing is in support.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, existsSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import path from 'node:path';
import {
  shots, prepare, Service, apiCall, startSteward, stopSteward, launchChromium, sleep,
} from './support.mjs';

const TOKEN = 'approval-test-token';
/** Every status a proposal shows, in the only order it may move through them. */
const ORDER = ['pending', 'approved', 'running', 'succeeded', 'resolved'];

let dir, web, cache, steward, browser, base, logs = '';
let marker, back;

const call = (method, route, body) => apiCall(base, TOKEN, method, route, body);

/** Posts a container-killed event for `lab/<service>` and returns the pending proposal's id. */
async function proposalFor(service) {
  const posted = await call('POST', '/api/events', {
    type: 'service_unhealthy', node: 'lab', service, payload: { exit_code: 137 },
  });
  assert.equal(posted.status, 202, JSON.stringify(posted.body));
  for (let i = 0; i < 200; i++) {
    const { body } = await call('GET', '/api/proposals?status=pending');
    const p = body.find((x) => x.node === 'lab' && x.service === service);
    if (p) {
      assert.equal(p.requires_human, true, 'confidence 0.62 is below 0.7: a person decides');
      return p.action_id;
    }
    await sleep(50);
  }
  throw new Error(`no proposal for lab/${service}:\n${logs}`);
}

/** Polls `check` every 25 ms for up to `ms`; the condition, not the time, ends the wait. */
async function until(what, check, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(25);
  }
  throw new Error(`timed out waiting for ${what}\n${logs.slice(-3000)}`);
}

async function openProposals(viewport = { width: 1200, height: 900 }) {
  const page = await browser.newPage({ viewport, colorScheme: 'light' });
  page.on('pageerror', (e) => { logs += `page error: ${e.message}\n`; });
  await page.goto(`${base}/#/proposals&token=${TOKEN}`);
  await page.waitForFunction(() => document.querySelector('#statusbar .conn')?.textContent === 'live');
  await page.evaluate(() => { window.__sameDocument = true; });
  return page;
}

const at = (id) => `article[data-action-id="${id}"]`;

before(async () => {
  dir = prepare('steward-ui-approval-');
  web = new Service();
  await web.start();
  cache = new Service();
  await cache.start();
  marker = path.join(dir, 'restarts.log');
  back = path.join(dir, 'back');
  const script = path.join(dir, 'restart.sh');
  // No shell runs it but its own: argv is [script, service]. It waits for the test to bring
  // the service back (bounded, so a broken test cannot hang the executor for long).
  writeFileSync(script, `#!/bin/sh
echo "restarting $1"
echo "$1" >> ${JSON.stringify(marker)}
i=0
while [ ! -f ${JSON.stringify(back)} ]; do
  /bin/sleep 0.05
  i=$((i + 1))
  if [ $i -gt 600 ]; then echo "gave up waiting for $1" >&2; exit 3; fi
done
echo "$1 is back"
echo "note: restarted by the approval test" >&2
exit 0
`);
  chmodSync(script, 0o755);
  const config = path.join(dir, 'steward.toml');
  // The probe loop ticks once at start (both up) and then not for an hour: the breaker
  // never trips by itself, so only the events posted here plan anything. Approval and
  // verification probe on their own.
  writeFileSync(config, `[probe]
interval = "1h"
timeout = "1s"

[[providers]]
id = "web"
kind = "http"
url = "http://127.0.0.1:${web.port}/health"
node = "lab"
service = "websvc"

[[providers]]
id = "cache"
kind = "http"
url = "http://127.0.0.1:${cache.port}/health"
node = "lab"
service = "cachesvc"

[planner]
chain = ["rules"]

[executor]
timeout = "60s"
[executor.commands]
container_restart = [${JSON.stringify(script)}, "{service}"]
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
  await cache?.stop().catch(() => {});
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('Approve runs the restart live on the card, then the verified result moves to history with its output and audit', async () => {
  await web.stop(); // websvc is down: the click-time re-check will not find it answering
  const webPort = web.port;
  const id = await proposalFor('websvc');
  const page = await openProposals();
  const card = page.locator(`#proposals .cards ${at(id)}`);
  await card.waitFor();
  assert.equal(await card.getAttribute('data-status'), 'pending');
  // Every status the page shows for it, in order, recorded in the page itself.
  await page.evaluate((sel) => {
    window.__seen = [];
    const note = () => {
      const s = document.querySelector(sel)?.dataset.status;
      if (s && window.__seen.at(-1) !== s) window.__seen.push(s);
    };
    note();
    new MutationObserver(note).observe(document.querySelector('#proposals'), {
      subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'],
    });
  }, at(id));

  assert.match(await card.locator('time[data-expires]').textContent(), /^expires in 1[45]:\d\d$/,
    'a pending card counts down to its expiry (15 min by default)');
  const approve = card.locator('button[data-approve]');
  assert.equal(await approve.textContent(), 'Approve');
  assert.equal(await card.locator('button[data-reject]').count(), 1, 'Reject sits beside it');
  await approve.click();

  // The script runs and waits for the service: the card shows it running, live.
  await until('the restart script to run', () => existsSync(marker));
  assert.equal(readFileSync(marker, 'utf8'), 'websvc\n', 'the template got the service name, once');
  await page.waitForFunction((sel) => document.querySelector(`#proposals .cards ${sel}`)?.dataset.status === 'running',
    at(id), { timeout: 10000 });
  assert.match(await card.locator('[data-progress]').textContent(), /^Running/);
  assert.equal(await card.locator('button[data-approve], button[data-reject]').count(), 0,
    'no decision buttons once it is decided');
  assert.match(await card.locator('[data-decided]').textContent(), /^Approved by api at /);
  // The command's output shows while it still runs (the script waits for the test).
  await page.waitForFunction(
    (sel) => document.querySelector(`#proposals .cards ${sel} [data-live-run] pre[data-output="stdout"]`)
      ?.textContent.includes('restarting websvc'),
    at(id), { timeout: 10000 });
  assert.match(await card.locator('[data-run="running"]').textContent(), /restart\.sh websvc — running for [\d.]+ s$/);
  assert.ok(!existsSync(back), 'seen before the script was let go');
  await page.waitForFunction(() => document.querySelector('[data-pending-count]')?.hidden === true);
  assert.equal(await page.locator('#proposals-pending-heading').textContent(), 'Pending · in progress (1)');
  await page.screenshot({ path: path.join(shots, 'approval-running.png') });

  // Bring the service back, then let the script finish.
  await web.start(webPort);
  writeFileSync(back, '');

  const row = page.locator(`#proposals .history ${at(id)}`);
  await page.waitForFunction((sel) => document.querySelector(`#proposals .history ${sel}`)?.dataset.status === 'resolved',
    at(id), { timeout: 20000 });
  assert.ok(await page.evaluate(() => window.__sameDocument === true), 'shown live, without a reload');
  assert.equal(await page.locator(`#proposals .cards ${at(id)}`).count(), 0, 'no longer a card');
  const seen = await page.evaluate(() => window.__seen);
  assert.deepEqual(seen.filter((s) => !ORDER.includes(s)), [], `only the happy path: ${seen}`);
  assert.deepEqual(seen.map((s) => ORDER.indexOf(s)), [...seen].map((s) => ORDER.indexOf(s)).sort(),
    `statuses never go backwards: ${seen}`);
  for (const s of ['pending', 'running', 'resolved']) assert.ok(seen.includes(s), `${s} was shown: ${seen}`);

  // Decided here, so its row opened by itself: the result, the output and who decided.
  assert.ok(await row.locator('details[data-open-key="row"]').evaluate((d) => d.open), 'the row is open');
  assert.equal(await row.locator('summary [data-status-badge]').textContent(), 'RESOLVED');
  assert.equal((await row.locator('[data-status-detail]').textContent()).trim(), 'websvc on lab answers again');
  assert.match(await row.locator('[data-decided]').textContent(), /^Approved by api at \d/);
  const stdout = row.locator('pre[data-output="stdout"]');
  assert.equal(await stdout.textContent(), 'restarting websvc\nwebsvc is back');
  assert.equal(await row.locator('pre[data-output="stderr"]').textContent(), 'note: restarted by the approval test');
  const look = await stdout.evaluate((pre) => {
    const cs = getComputedStyle(pre);
    return { font: cs.fontFamily, overflow: cs.overflowY, max: cs.maxHeight };
  });
  assert.match(look.font, /mono/i, 'output is monospace');
  assert.equal(look.overflow, 'auto', 'long output scrolls');
  assert.notEqual(look.max, 'none', 'and its height is bounded');
  assert.match(await row.locator('[data-run="ok"]').textContent(), /restart\.sh websvc — ok · exit 0 · \d+ ms/);

  // The audit trail, oldest first: who did what, with the run's exit code.
  await page.waitForFunction((sel) => document.querySelectorAll(`${sel} details.audit tr[data-step]`).length >= 4,
    at(id), { timeout: 10000 });
  const steps = await row.locator('details.audit tr[data-step]').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(steps.map((r) => r[2]), ['approve', 'start', 'run', 'verify']);
  assert.deepEqual(steps.map((r) => r[3]),
    ['pending → approved', 'approved → running', 'running → succeeded', 'succeeded → resolved']);
  assert.ok(steps.every((r) => r[1] === 'api'), 'each step names who approved it');
  assert.equal(steps[2][4], '0', 'the run exited 0');
  assert.match(steps[2][5], /^\d+ ms$/);
  assert.match(steps[3][6], /answers again/);
  await page.screenshot({ path: path.join(shots, 'approval-run.png'), fullPage: true });
  await page.close();
});

test('Reject asks for a reason inline, by keyboard, and the proposal moves to history with it', async () => {
  const id = await proposalFor('queuesvc');
  const page = await openProposals();
  const card = page.locator(`#proposals .cards ${at(id)}`);
  await card.waitFor();

  await card.locator('button[data-reject]').focus();
  await page.keyboard.press('Enter');
  const input = card.locator('input[data-focus="reason"]');
  await input.waitFor();
  assert.ok(await input.evaluate((i) => document.activeElement === i), 'the reason field takes focus');
  assert.equal(await card.locator('button[data-approve]').count(), 0, 'one decision at a time');
  // Escape puts the buttons back, focus on Reject.
  await page.keyboard.press('Escape');
  await card.locator('button[data-reject]').waitFor();
  assert.ok(await card.locator('button[data-reject]').evaluate((b) => document.activeElement === b));
  await page.keyboard.press('Enter');
  await page.keyboard.type('queue is drained on purpose');
  await page.keyboard.press('Enter');

  const row = page.locator(`#proposals .history ${at(id)}`);
  await page.waitForFunction((sel) => document.querySelector(`#proposals .history ${sel}`)?.dataset.status === 'rejected',
    at(id), { timeout: 10000 });
  assert.equal(await page.locator(`#proposals .cards ${at(id)}`).count(), 0);
  assert.equal(await row.locator('summary [data-status-badge]').textContent(), 'REJECTED');
  assert.equal(await row.locator('summary .reason').textContent(), 'rejected: queue is drained on purpose',
    'the reason shows on the collapsed line');
  assert.match(await row.locator('[data-decided]').textContent(), /^Rejected by api at \d/);
  assert.ok(await page.evaluate(() => document.activeElement?.matches('summary[data-focus="home"]')),
    'focus follows the proposal to its row');
  await page.waitForFunction((sel) => document.querySelectorAll(`${sel} details.audit tr[data-step]`).length === 1, at(id));
  const audit = await row.locator('details.audit tr[data-step] td').allTextContents();
  assert.deepEqual(audit.slice(1), ['api', 'reject', 'pending → rejected', '—', '—', 'queue is drained on purpose']);

  const stored = await call('GET', `/api/proposals/${id}`);
  assert.equal(stored.body.status, 'rejected');
  assert.equal(stored.body.status_detail, 'rejected: queue is drained on purpose');
  await page.close();
});

test('two windows: approving in one updates the other live; the other one\'s late click is refused in words', async () => {
  const id = await proposalFor('cachesvc'); // cachesvc answers: approving it finds it stale
  const a = await openProposals();
  const b = await openProposals({ width: 1200, height: 1500 });
  for (const page of [a, b]) await page.locator(`#proposals .cards ${at(id)}`).waitFor();

  // B's approval is held on its way to the server until A has approved.
  let hit, release;
  const reached = new Promise((r) => { hit = r; });
  const held = new Promise((r) => { release = r; });
  await b.route('**/api/proposals/*/approve', async (route) => { hit(); await held; await route.continue(); });
  const cardB = b.locator(`#proposals .cards ${at(id)}`);
  await cardB.locator('button[data-approve]').click();
  await reached;
  assert.ok(await cardB.locator('button[data-approve]').isDisabled(), 'Approve is disabled while in flight');
  assert.ok(await cardB.locator('button[data-reject]').isDisabled(), 'so is Reject');
  assert.equal(await cardB.getAttribute('aria-busy'), 'true');

  await a.locator(`#proposals .cards ${at(id)} button[data-approve]`).click();
  const rowA = a.locator(`#proposals .history ${at(id)}`);
  await a.waitForFunction((sel) => document.querySelector(`#proposals .history ${sel}`)?.dataset.status === 'stale',
    at(id), { timeout: 10000 });
  assert.equal((await rowA.locator('[data-status-detail]').textContent()).trim(),
    'cachesvc on lab answered again when approved: nothing ran');
  assert.equal(await rowA.locator('pre[data-output]').count(), 0, 'nothing ran, so no output');

  // B, still waiting for its own answer, already shows it decided: live, no reload.
  await b.waitForFunction((sel) => document.querySelector(`#proposals .history ${sel}`)?.dataset.status === 'stale',
    at(id), { timeout: 10000 });
  assert.equal(await b.locator(`#proposals .cards ${at(id)}`).count(), 0);
  assert.ok(await b.evaluate(() => window.__sameDocument === true), 'B was not reloaded');

  // B's click reaches the server now: 409, said in words on the proposal.
  const answered = b.waitForResponse((r) => r.url().includes('/approve'));
  release();
  assert.equal((await answered).status(), 409);
  const notice = b.locator(`${at(id)} [data-notice]`);
  await notice.waitFor();
  assert.equal(await notice.textContent(),
    'Not approved: someone decided first (a proposal that is stale cannot be approved).');
  assert.equal(await notice.getAttribute('role'), 'alert');
  const audit = await call('GET', `/api/executions?action_id=${id}`);
  assert.deepEqual(audit.body.map((r) => r.step), ['stale', 'approve'], 'approved once, by A; B changed nothing');

  // A fresh window's history: the resolved restart expands into its output and audit,
  // which is fetched only then.
  const resolved = b.locator('#proposals .history article[data-status="resolved"]');
  const rid = await resolved.getAttribute('data-action-id');
  const asked = b.waitForRequest((r) => r.url().includes(`/api/executions?`) && r.url().includes(encodeURIComponent(rid)));
  assert.ok(await resolved.locator('pre[data-output="stdout"]').isHidden(), 'collapsed at first');
  await resolved.locator('summary[data-focus="home"]').focus();
  await b.keyboard.press('Enter');
  await asked;
  await b.waitForFunction((sel) => document.querySelectorAll(`${sel} details.audit tr[data-step]`).length === 4,
    `article[data-action-id="${rid}"]`);
  assert.ok(await resolved.locator('pre[data-output="stdout"]').isVisible());
  await b.screenshot({ path: path.join(shots, 'approval.png'), fullPage: true });
  await a.close();
  await b.close();
});
