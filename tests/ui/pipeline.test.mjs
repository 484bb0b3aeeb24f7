// The Pipeline view in a real browser (Debian's Chromium via playwright-core from
// ui/node_modules) against a real `steward serve` watching a real session root: the files
// are written here, the `usage` processor is the built-in one and `slow` is a real script
// the engine runs for each file. Run: node --test tests/ui/
// Needs: `npm install` and `npm run build` in ui/, the steward binary ($STEWARD_BIN,
// default target/debug/steward) and /usr/bin/chromium. The plumbing is in support.mjs.
//
// The script behind `slow` waits while <dir>/hold exists, and refuses files named *stuck*
// (exit 3, with a reason on stderr) while <dir>/fail exists. So the test decides when a run
// ends and whether the old file is processed, without sleeping.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync, utimesSync, rmSync, chmodSync } from 'node:fs';
import path from 'node:path';
import {
  shots, prepare, startSteward, stopSteward, launchChromium,
} from './support.mjs';

const TOKEN = 'pipeline-test-token';
const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;

let dir, root, steward, browser, base, logs = '';

/** One Claude Code assistant line: a message with its token usage, on the day of `at`. */
const claudeLine = (id, model, input, output, at) => JSON.stringify({
  type: 'assistant', requestId: `r-${id}`, timestamp: new Date(at).toISOString(),
  message: { id: `m-${id}`, model, usage: { input_tokens: input, output_tokens: output } },
});

/** Writes `<root>/<rel>` with `lines`; `ageMs` back-dates its modification time. */
function writeSession(rel, lines, ageMs = 0) {
  const file = path.join(root, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, lines.join('\n') + '\n');
  if (ageMs) {
    const t = new Date(Date.now() - ageMs);
    utimesSync(file, t, t);
  }
}

/** Starts another steward on `configText` (on a port of its own), for its own test. */
async function extraSteward(name, configText) {
  const d = path.join(dir, name);
  mkdirSync(d, { recursive: true });
  const config = path.join(d, 'steward.toml');
  writeFileSync(config, configText);
  const { child, base: url } = await startSteward({
    config, dataDir: path.join(d, 'data'), token: TOKEN, onLog: () => {},
  });
  return { child, url };
}

before(async () => {
  dir = prepare('steward-ui-pipeline-');
  root = path.join(dir, 'sessions');
  const script = path.join(dir, 'slow.sh');
  writeFileSync(script, `#!/bin/sh
while [ -e '${dir}/hold' ]; do sleep 0.05; done
case "$1" in
  *stuck*) if [ -e '${dir}/fail' ]; then echo "cannot read $1: truncated record" >&2; exit 3; fi ;;
esac
exit 0
`);
  chmodSync(script, 0o755);
  writeFileSync(path.join(dir, 'fail'), '');
  // An old file `slow` refuses (5 h old: past the stuck-file grace of 1 h set below), and a
  // fresh one it takes: `slow` has processed newer files, so the old one counts as skipped.
  writeSession('bob/stuck_old.jsonl', [claudeLine('old', 'claude-y', 40, 8, Date.now() - 2 * DAY)], 5 * HOUR);
  writeSession('alice/a1.jsonl', [claudeLine('a1', 'claude-x', 100, 20, Date.now() - DAY)]);

  const config = path.join(dir, 'steward.toml');
  writeFileSync(config, `[sessions]
root = ${JSON.stringify(root)}

[[sessions.processors]]
name = "usage"
kind = "usage"
cadence = "15m"

[[sessions.processors]]
name = "slow"
kind = "command"
command = [${JSON.stringify(script)}, "{file}"]
cadence = "1h"
`);
  ({ child: steward, base } = await startSteward({
    config, dataDir: path.join(dir, 'data'), token: TOKEN, onLog: (d) => { logs += d; },
    // The stuck-file grace (default 4 × 2 × cadence = 8 h for `slow`) down to 1 h.
    env: { SESSION_PIPELINE_STUCK_FILE_GRACE_SECONDS: '3600' },
  }));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stopSteward(steward);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The text a person reads at `sel` (cells apart, spaces collapsed). */
const text = async (page, sel) => (await page.locator(sel).first().innerText()).replace(/\s+/g, ' ').trim();
const proc = (name) => `tr[data-processor="${name}"]`;
const fileCell = (file, processor) => `tr[data-file="${file}"] td[data-processor="${processor}"]`;
const total = (page, key) => page.getAttribute(`#usage-totals [data-total="${key}"]`, 'data-value').then(Number);

/** Waits until the element at `sel` has attribute `attr` = `value` (`null`: absent). */
const waitAttr = (page, sel, attr, value, timeout = 15000) => page.waitForFunction(
  ([s, a, v]) => { const e = document.querySelector(s); return Boolean(e) && e.getAttribute(a) === v; },
  [sel, attr, value], { timeout });

test('the view shows the status in words with the skipped file and its age, the processors, the files and the usage', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, colorScheme: 'light' });
  await page.goto(`${base}/#/pipeline&token=${TOKEN}`);
  assert.ok(page.url().endsWith('#/pipeline'), `the route stays, without the token: ${page.url()}`);
  assert.equal(await page.getAttribute('#tab-pipeline', 'aria-current'), 'page', 'the nav link says which view this is');
  assert.equal(await text(page, '#tab-pipeline'), 'Pipeline');

  // slow's first run refused the old file and took the new one: INFO, naming the file and its age.
  await waitAttr(page, '#pipeline-status', 'data-status', 'info');
  await waitAttr(page, proc('slow'), 'data-outcome', 'failed');
  await waitAttr(page, proc('slow'), 'data-state', 'idle');
  await waitAttr(page, fileCell('alice/a1.jsonl', 'slow'), 'data-state', 'processed');
  assert.equal(await text(page, '#pipeline-badge'), 'INFO', 'the level is in words, not colour alone');
  assert.match(await text(page, '#pipeline-detail'),
    /the slow processor skipped session bob\/stuck_old\.jsonl: 5 h old .*its last attempt failed: exited with code 3: cannot read .*stuck_old\.jsonl: truncated record/,
    'the engine\'s detail is shown as it is');
  assert.equal(await text(page, '#pipeline-stuck'), 'Stuck file bob/stuck_old.jsonl, skipped for 5 h (processor slow)',
    'the stuck file and its age in words');
  assert.ok(await page.isHidden('#tab-pipeline [data-pipeline-mark]'), 'INFO is not a warning: no marker in the nav');
  assert.ok(await page.isHidden('#pipeline-state'), 'nor in the status bar');

  // How the root is watched, where it is, what is in it, the last scan.
  assert.match(await text(page, '[data-fact="watch"]'), /^(native file events|polling \(native watch failed: .+\))$/,
    'the watch mode in words (polling carries its reason)');
  assert.equal(await text(page, '[data-fact="root"]'), root);
  assert.match(await text(page, '[data-fact="files"]'), /^2 files, \d+ B; newest modified \d+[sm] ago$/);
  assert.match(await text(page, '[data-fact="last-scan"]'), /^\d+[sm] ago in \d+ ms: 2 seen, 2 new, 0 changed, 0 removed$/);

  // The processors, in config order, with their last run.
  assert.deepEqual(await page.$$eval('#pipeline-processors tbody tr', (trs) => trs.map((t) => t.dataset.processor)),
    ['usage', 'slow'], 'one row per configured processor, in config order');
  const usage = proc('usage');
  assert.equal(await text(page, `${usage} td.kind`), 'usage');
  assert.equal(await text(page, `${usage} td:nth-child(3)`), 'every 15 min');
  assert.equal(await text(page, `${usage} .p-state`), 'IDLE');
  assert.equal(await text(page, `${usage} .p-last .outcome`), 'OK');
  assert.equal(await text(page, `${usage} .p-backlog`), '0', 'usage read every file');
  assert.match(await text(page, `${usage} .p-next`), /^in 1[45]:\d\d$/, 'the next cadence run, as a countdown');
  const slow = proc('slow');
  assert.equal(await text(page, `${slow} td.kind`), 'command');
  assert.equal(await text(page, `${slow} td:nth-child(3)`), 'every 1 h');
  assert.equal(await text(page, `${slow} .p-state`), 'IDLE');
  assert.equal(await text(page, `${slow} .p-last .outcome`), 'FAILED');
  assert.match(await text(page, `${slow} .p-last .p-error`), /exited with code 3/, 'the run\'s error is on its row');
  // Files of the last run: it refused the old file. Whether a1 was in the same run depends on
  // whether the watcher's start-up report made slow go again right after (then a1 was done).
  assert.match(await text(page, `${slow} .p-files`), /^[01] ok · 1 failed$/, 'files of the last run');
  assert.equal(await text(page, `${slow} .p-backlog`), '1', 'the refused file is still due');
  assert.match(await text(page, `${slow} .p-next`), /^in (59:\d\d|1 h)$/);

  // The newest files first, with where each processor stands.
  assert.deepEqual(await page.$$eval('#pipeline-files tbody tr', (trs) => trs.map((t) => t.dataset.file)),
    ['alice/a1.jsonl', 'bob/stuck_old.jsonl'], 'newest first');
  assert.match(await text(page, 'tr[data-file="bob/stuck_old.jsonl"]'), /^bob\/stuck_old\.jsonl bob \d+ B 5h ago/);
  assert.equal(await page.getAttribute(fileCell('bob/stuck_old.jsonl', 'usage'), 'data-state'), 'processed');
  assert.equal(await text(page, fileCell('bob/stuck_old.jsonl', 'usage')), '✓');
  assert.equal(await page.getAttribute(fileCell('bob/stuck_old.jsonl', 'slow'), 'data-state'), 'failed');
  assert.match(await text(page, fileCell('bob/stuck_old.jsonl', 'slow')), /^✗ exited with code 3: cannot read/,
    'a refused file shows why, in words');

  // Usage: totals, the per-day chart and the by-model table.
  assert.equal(await total(page, 'records'), 2);
  assert.equal(await total(page, 'malformed'), 0);
  assert.equal(await total(page, 'input'), 140, '100 + 40 input tokens');
  assert.equal(await total(page, 'output'), 28, '20 + 8 output tokens');
  assert.equal(await text(page, '#usage-totals [data-total="records"]'), '2 records', 'in words, not just numbers');
  assert.equal(await text(page, '#usage-totals [data-total="input"]'), '140 input tokens');
  await page.waitForSelector('#usage-chart .uplot canvas');
  assert.match(await text(page, '#usage-chart .u-legend'), /input.*output/, 'the chart tells input from output in words');
  assert.match(await text(page, 'tr[data-model="claude-x"]'), /^claude-x 100 20 0 0 1$/);
  assert.match(await text(page, 'tr[data-model="claude-y"]'), /^claude-y 40 8 0 0 1$/);

  // Relative times tick by themselves: the countdown moves without any update.
  const before = await text(page, `${usage} .p-next`);
  await page.waitForFunction(([s, b]) => document.querySelector(s)?.textContent !== b, [`${usage} .p-next time`, before]);
  await page.screenshot({ path: path.join(shots, 'pipeline-info.png'), fullPage: true });
  await page.close();
});

test('a new session file shows up live with its usage; Run now is refused in words while the run is held, then the run ends OK', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, colorScheme: 'light' });
  await page.goto(`${base}/#/pipeline&token=${TOKEN}`);
  await page.waitForSelector('tr[data-file="alice/a1.jsonl"]');
  await page.waitForFunction(() => document.querySelector('#statusbar .conn')?.textContent === 'live');
  // A marker a reload would wipe.
  await page.evaluate(() => { window.__sameDocument = true; });
  const records = await total(page, 'records');

  // A new log with two messages: the files table and the usage follow, without a reload.
  writeSession('alice/new.jsonl', [
    claudeLine('n1', 'claude-x', 100, 20, Date.now()),
    claudeLine('n2', 'claude-x', 50, 10, Date.now()),
  ]);
  await page.waitForSelector('tr[data-file="alice/new.jsonl"]', { timeout: 15000 });
  assert.equal(await page.$eval('#pipeline-files tbody tr', (t) => t.dataset.file), 'alice/new.jsonl', 'on top: the newest');
  await page.waitForFunction((r) => Number(document.querySelector('#usage-totals [data-total="records"]')?.dataset.value) === r + 2,
    records, { timeout: 15000 });
  assert.equal(await total(page, 'input'), 290, '140 + 100 + 50');
  assert.equal(await total(page, 'output'), 58, '28 + 20 + 10');
  assert.match(await text(page, 'tr[data-model="claude-x"]'), /^claude-x 250 50 0 0 3$/);
  assert.match(await text(page, '[data-fact="files"]'), /^3 files/);
  assert.ok(await page.evaluate(() => window.__sameDocument === true), 'updated live, without a reload');

  // slow took the new file by itself (and refused the old one again): wait for that run to end.
  await waitAttr(page, fileCell('alice/new.jsonl', 'slow'), 'data-state', 'processed');
  await waitAttr(page, proc('slow'), 'data-state', 'idle');

  // From now on slow's runs wait for the hold, and the old file is no longer refused.
  writeFileSync(path.join(dir, 'hold'), '');
  rmSync(path.join(dir, 'fail'));

  // Keyboard: Tab goes from usage's Run now to slow's; both are named for their processor.
  const runUsage = page.getByRole('button', { name: 'Run usage now' });
  const runSlow = page.getByRole('button', { name: 'Run slow now' });
  assert.equal(await runSlow.count(), 1, 'Run now has an accessible name with the processor');
  assert.equal(await runSlow.getAttribute('aria-disabled'), 'false', 'slow is idle: Run now is available');
  await runUsage.focus();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Run slow now',
    'the next stop after usage\'s button is slow\'s');

  const isRunCall = (r) => r.url().endsWith('/api/sessions/processors/slow/run') && r.request().method() === 'POST';
  const started = page.waitForResponse(isRunCall);
  await page.keyboard.press('Enter');
  assert.equal((await started).status(), 202, 'the engine started the run');
  await waitAttr(page, proc('slow'), 'data-state', 'running');
  assert.equal(await text(page, `${proc('slow')} .p-state`), 'RUNNING');
  assert.equal(await runSlow.getAttribute('aria-disabled'), 'true', 'marked unavailable while it runs');
  assert.match(await text(page, `${proc('slow')} .p-last`), /^running, started \d+s ago$/);

  // Pressed again while the run is held: the engine refuses (409) and the page says why.
  const refused = page.waitForResponse(isRunCall);
  await page.keyboard.press('Enter');
  assert.equal((await refused).status(), 409, 'the engine refused a second run');
  await page.waitForFunction(() => document.querySelector('[data-run-notice="slow"]')?.textContent !== '');
  assert.equal(await text(page, '[data-run-notice="slow"]'), 'Not started: processor "slow" is already running.',
    'the refusal is shown in words, next to the button');
  assert.equal(await text(page, '[data-run-notice="usage"]'), '', 'only on the processor it concerns');
  assert.equal(await page.getAttribute(proc('slow'), 'data-state'), 'running');
  await page.screenshot({ path: path.join(shots, 'pipeline-running.png'), fullPage: true });

  // Released: the held run processes the old file, ends OK, and everything says so.
  rmSync(path.join(dir, 'hold'));
  await waitAttr(page, proc('slow'), 'data-state', 'idle');
  await waitAttr(page, proc('slow'), 'data-outcome', 'ok');
  assert.equal(await text(page, `${proc('slow')} .p-state`), 'IDLE');
  assert.equal(await text(page, `${proc('slow')} .p-last .outcome`), 'OK');
  assert.equal(await text(page, `${proc('slow')} .p-files`), '1 ok · 0 failed', 'the run took the one due file');
  assert.equal(await text(page, `${proc('slow')} .p-backlog`), '0');
  assert.equal(await runSlow.getAttribute('aria-disabled'), 'false', 'Run now is available again');
  assert.ok(await page.isHidden('[data-run-notice="slow"]'), 'the refusal is gone with the run it was about');
  await waitAttr(page, '#pipeline-status', 'data-status', 'ok');
  assert.equal(await text(page, '#pipeline-badge'), 'OK');
  assert.equal(await text(page, '#pipeline-detail'), '3 session files, all processed');
  assert.ok(await page.isHidden('#pipeline-stuck'), 'no stuck file any more');
  await waitAttr(page, fileCell('bob/stuck_old.jsonl', 'slow'), 'data-state', 'processed');
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Run slow now',
    'the rows were updated in place: focus stayed on the button');
  assert.ok(await page.evaluate(() => window.__sameDocument === true), 'all of it live, without a reload');

  await page.screenshot({ path: path.join(shots, 'pipeline.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.waitForSelector('#usage-chart .uplot canvas');
  await page.screenshot({ path: path.join(shots, 'pipeline-dark.png'), fullPage: true });
  await page.close();
});

test('a processor that never succeeds on a 2 h old file: WARNING with the detail, in the view, the nav and the status bar', async () => {
  const sessions = path.join(dir, 'warn-sessions');
  mkdirSync(path.join(sessions, 'carol'), { recursive: true });
  const late = path.join(sessions, 'carol/late.jsonl');
  writeFileSync(late, claudeLine('c1', 'claude-x', 1, 1, Date.now()) + '\n');
  const t = new Date(Date.now() - 2 * HOUR);
  utimesSync(late, t, t);
  const { child, url } = await extraSteward('warn', `
[sessions]
root = ${JSON.stringify(sessions)}

[[sessions.processors]]
name = "check"
kind = "command"
command = ["/bin/false", "{file}"]
cadence = "15m"
`);
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 }, colorScheme: 'dark' });
  try {
    // From another view, the status bar points at the pipeline.
    await page.goto(`${url}/#/overview&token=${TOKEN}`);
    await page.waitForSelector('#pipeline-state:not([hidden])', { timeout: 15000 });
    assert.equal(await text(page, '#pipeline-state'), 'pipeline: warning');
    assert.ok(await page.isVisible('#tab-pipeline [data-pipeline-mark]'), 'the nav marks the view');
    assert.equal(await text(page, '#tab-pipeline [data-pipeline-mark]'), '!');
    assert.equal(await page.getAttribute('#tab-pipeline', 'aria-label'), 'Pipeline, warning',
      'the link says it in words to a screen reader');
    await page.click('#pipeline-state');
    assert.ok(page.url().endsWith('#/pipeline'), 'the status bar link leads to the view');

    await waitAttr(page, '#pipeline-status', 'data-status', 'warning');
    assert.equal(await text(page, '#pipeline-badge'), 'WARNING');
    assert.equal(await text(page, '#pipeline-detail'),
      'the check processor has never processed a session file; session carol/late.jsonl has waited 2 h — check the check job');
    assert.equal(await text(page, '#pipeline-stuck'), 'Processor: check', 'which processor it is about');
    await waitAttr(page, proc('check'), 'data-outcome', 'failed');
    assert.match(await text(page, `${proc('check')} .p-last`), /^\d+s ago FAILED 1 of 1 files failed; first: carol\/late\.jsonl: exited with code 1$/);
    assert.equal(await page.getAttribute(fileCell('carol/late.jsonl', 'check'), 'data-state'), 'failed');
    assert.equal(await page.getAttribute('#statusbar', 'data-overall'), 'degraded', 'a warning degrades the overall state');
    await page.screenshot({ path: path.join(shots, 'pipeline-warning-dark.png'), fullPage: true });
  } finally {
    await page.close();
    await stopSteward(child);
  }
});

test('without [sessions] the view explains calmly how to configure it', async () => {
  const { child, url } = await extraSteward('plain', '');
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 }, colorScheme: 'light' });
  try {
    await page.goto(`${url}/#/pipeline&token=${TOKEN}`);
    await page.waitForSelector('#pipeline-unconfigured');
    assert.equal(await text(page, '#pipeline-badge'), 'OFF', 'not configured is neither OK nor a problem');
    assert.match(await text(page, '#pipeline-detail'), /No \[sessions\] section in the config/);
    assert.equal(await text(page, '#pipeline-unconfigured h2'), 'The session pipeline is not configured');
    assert.match(await text(page, '#pipeline-unconfigured'), /steward\.toml and restart Steward/,
      'it names this config file and what to do');
    const snippet = await page.textContent('#pipeline-unconfigured pre');
    for (const line of ['[sessions]', 'root = "/data/user_sessions"', '[[sessions.processors]]', 'name = "usage"',
      'kind = "usage"', 'cadence = "15m"']) {
      assert.ok(snippet.includes(line), `the example has ${line}`);
    }
    assert.equal(await page.locator('#pipeline-processors').count(), 0, 'no empty tables');
    assert.ok(await page.isHidden('#tab-pipeline [data-pipeline-mark]'), 'nothing to warn about');
    assert.ok(await page.isHidden('#pipeline-state'));
    await page.screenshot({ path: path.join(shots, 'pipeline-unconfigured.png') });
  } finally {
    await page.close();
    await stopSteward(child);
  }
});
