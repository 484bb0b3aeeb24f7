#!/usr/bin/env node
// The web UI at scale: a release `steward serve` watching N real loopback HTTP endpoints
// (30 s interval, 3 s timeout, all healthy), the UI in Chromium (playwright-core from
// ui/node_modules, /usr/bin/chromium). Measures, inside the page:
// - first rows: navigation start → the first provider row painted (a MutationObserver sees
//   the row, then one animation frame and a task after it: the frame that shows it is done);
// - tab switch: a click on Events → its timeline painted, and on Overview → rows painted;
// - long tasks (PerformanceObserver 'longtask', > 50 ms) during a window of live updates
//   that holds a probe tick (the engine probes every provider once per interval, so the
//   window is placed to start a few seconds before the next tick), with the number of
//   `provider_updated` messages the page received in it.
// Prints a markdown table. A benchmark, not a test: nothing here asserts a time.
//
// Usage:
//   node benches/ui_scale.mjs [N ...]            default sizes: 1000 10000
//   options: --runs K (first-row and tab-switch repetitions, default 3)
//            --window S (seconds of live updates watched for long tasks, default 20; 0: none)
//            --history (seed one hour of samples first, so every sparkline has its 120
//                       points as on a machine that has run for an hour; needs sqlite3)
//            --base URL --token T (measure a Steward that already runs; N is what it has)
// Env: STEWARD_BIN (default target/release/steward); STEWARD_UI_DIR is passed through to
// `steward serve` when set (the UI built in ui/dist rather than the one in the binary).
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');

function parseArgs() {
  const args = process.argv.slice(2);
  const opts = { sizes: [], runs: 3, window: 20, history: false, base: null, token: null };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--runs') opts.runs = Number(args[++i]);
    else if (a === '--window') opts.window = Number(args[++i]);
    else if (a === '--history') opts.history = true;
    else if (a === '--base') opts.base = args[++i].replace(/\/$/, '');
    else if (a === '--token') opts.token = args[++i];
    else if (/^\d+$/.test(a)) opts.sizes.push(Number(a));
    else throw new Error(`unknown argument ${a}`);
  }
  if (!opts.sizes.length) opts.sizes = [1000, 10000];
  return opts;
}

async function main() {
  const opts = parseArgs();
  process.env.STEWARD_BIN ||= path.join(repo, 'target/release/steward');
  // support.mjs reads STEWARD_BIN when it loads.
  const support = await import('../tests/ui/support.mjs');
  const uiDir = process.env.STEWARD_UI_DIR || '';
  const served = opts.base
    ? `whatever ${opts.base} serves`
    : uiDir
      ? `STEWARD_UI_DIR=${uiDir}`
      : `the UI embedded in ${support.stewardBin}`;
  console.log(`steward: ${opts.base ?? support.stewardBin}\nUI: ${served}`);
  const browser = await support.launchChromium();
  const rows = [];
  try {
    if (opts.base) {
      rows.push(await measure(browser, opts.base, opts.token, opts, support));
    } else {
      for (const n of opts.sizes) {
        rows.push(await withSteward(n, opts, support, (base, token) => measure(browser, base, token, opts, support)));
      }
    }
  } finally {
    await browser.close();
  }
  console.log(`\nUI: ${served}; window ${opts.window} s; ${opts.runs} runs (median, [min–max])\n`);
  const columns = ['providers', 'first rows painted', 'tab → Events', 'tab → Overview', 'long tasks in window',
    'blocked', 'longest', 'updates received in window'];
  console.log(`| ${columns.join(' | ')} |\n|${' --- |'.repeat(columns.length)}`);
  for (const r of rows) {
    const updates = `${count(r.updates)}${r.resyncs ? ` (${r.resyncs} resyncs)` : ''}`;
    const cells = [count(r.n), spread(r.firstRow), spread(r.toEvents), spread(r.toOverview), r.longTasks.count,
      ms(r.longTasks.total), ms(r.longTasks.longest), updates];
    console.log(`| ${cells.join(' | ')} |`);
  }
}

const ms = (v) => {
  if (v === null || v === undefined) return '–';
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`;
};
const count = (n) => n.toLocaleString('en-US');

function spread(values) {
  if (values.includes(null)) return '> 2 min';
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return '–';
  const median = s[Math.floor((s.length - 1) / 2)];
  return s.length === 1 ? ms(median) : `${ms(median)} [${ms(s[0])}–${ms(s.at(-1))}]`;
}

/** Starts the endpoints and a steward for `n` providers, waits until every provider was
 *  probed once, runs `work(base, token)`, and stops everything. */
async function withSteward(n, opts, support, work) {
  const dir = mkdtempSync(path.join(tmpdir(), 'steward-ui-scale-'));
  const token = 'ui-scale-token';
  // One port per 1,000 providers, served by a child process (the endpoints' work is not the
  // page's nor this script's).
  const portCount = String(Math.max(1, Math.ceil(n / 1000)));
  const endpoints = spawn(process.execPath, [fileURLToPath(import.meta.url), '--endpoints', portCount], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let child = null;
  let base = null;
  try {
    const ports = await new Promise((resolve, reject) => {
      let out = '';
      endpoints.stdout.on('data', (d) => {
        out += d;
        if (out.endsWith('\n')) resolve(out.trim().split(',').map(Number));
      });
      endpoints.once('exit', () => reject(new Error('the endpoints exited')));
    });
    const config = path.join(dir, 'steward.toml');
    let toml = '[probe]\ninterval = "30s"\ntimeout = "3s"\n\n';
    for (let i = 0; i < n; i++) {
      const url = `http://127.0.0.1:${ports[i % ports.length]}/health/${i}`;
      toml += `[[providers]]\nid = "p${i}"\nkind = "http"\nurl = "${url}"\n`;
      toml += `node = "node${i % 20}"\nservice = "svc${i % 7}"\n\n`;
    }
    writeFileSync(config, toml);
    const dataDir = path.join(dir, 'data');
    const start = () => support.startSteward({
      config, dataDir, token, onLog: () => {}, env: { STEWARD_UI_DIR: process.env.STEWARD_UI_DIR || '' },
    });
    let started = Date.now();
    ({ child, base } = await start());
    if (opts.history) {
      // The store exists now; an hour of samples (every 30 s, all up) goes in while steward
      // is stopped, and seeds every sparkline when it starts again.
      await support.stopSteward(child);
      const now = Date.now();
      execFileSync('sqlite3', [path.join(dataDir, 'steward.db'), `
        WITH RECURSIVE k(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM k WHERE k < 118),
                       i(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM i WHERE i < ${n - 1})
        INSERT INTO probe_samples (provider_id, at, ok, latency_ms, outcome, error)
        SELECT 'p' || i, ${now - 3_600_000} + k * 30000 + i % 1000, 1, 0.3 + (abs(random()) % 900) / 100.0,
               'up', NULL
        FROM k, i;`]);
      started = Date.now();
      ({ child, base } = await start());
    }
    await waitProbed(base, token, n, started, support);
    console.log(`${n} providers: up and all probed ${((Date.now() - started) / 1000).toFixed(1)} s after start`);
    return await work(base, token);
  } finally {
    await support.stopSteward(child);
    endpoints.stdin.end();
    endpoints.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits until every one of the `n` providers was probed since `since` (epoch ms): the
 *  first probe tick is over. */
async function waitProbed(base, token, n, since, support) {
  for (let i = 0; i < 600; i++) {
    const { status, body } = await support.apiCall(base, token, 'GET', '/api/providers');
    if (status === 200 && body.length === n && body.every((p) => Date.parse(p.last_checked_at) >= since)) return body;
    await support.sleep(1000);
  }
  throw new Error(`not every provider was probed within 10 min`);
}

/** When the probe ticks start (epoch ms: one of them, the interval), from the providers'
 *  last check times: the earliest check of the latest tick. */
async function tickPhase(base, token, support) {
  const { body } = await support.apiCall(base, token, 'GET', '/api/providers');
  const checked = body.map((p) => Date.parse(p.last_checked_at)).filter(Number.isFinite);
  const latest = Math.max(...checked);
  return { at: Math.min(...checked.filter((t) => t > latest - 15_000)), every: 30_000 };
}

/** The next tick's start after `after` (epoch ms). */
function nextTick(tick, after) {
  return tick.at + Math.ceil((after - tick.at) / tick.every) * tick.every;
}

/** Waits, if a tick starts within 20 s, until 5 s after its start: page loads and tab
 *  switches are measured between ticks, the same for every run (the UI before issue 13
 *  needs ~15 s for them at 10,000 providers, and a tick then keeps it busy for minutes). */
async function betweenTicks(tick, support) {
  const next = nextTick(tick, Date.now() - 5000);
  if (next - Date.now() < 20_000) await support.sleep(next + 5000 - Date.now());
}

/** Installed in every page before its scripts: the first-row mark, the long tasks and a
 *  count of the live messages, by type. */
function instrument() {
  const bench = { firstRow: null, longTasks: [], messages: {} };
  window.__bench = bench;
  const note = (entries) => {
    for (const e of entries) bench.longTasks.push([e.startTime, e.duration]);
  };
  const tasks = new PerformanceObserver((list) => note(list.getEntries()));
  tasks.observe({ type: 'longtask', buffered: true });
  // The observer's callback waits for an idle moment, which a busy page may not have.
  bench.flush = () => note(tasks.takeRecords());
  const seen = new MutationObserver(() => {
    if (!document.querySelector('[data-provider-id]')) return;
    seen.disconnect();
    requestAnimationFrame(() => setTimeout(() => { bench.firstRow = performance.now(); }));
  });
  seen.observe(document, { childList: true, subtree: true });
  // The live messages, by type: seen through EventSource (the UI before issue 13) or in the
  // body of a fetch of /api/stream (after), as they reach the page's code.
  const count = (type) => { bench.messages[type] = (bench.messages[type] ?? 0) + 1; };
  const Native = window.EventSource;
  window.EventSource = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (m) => count(/^\{"type":"([a-z_]+)"/.exec(m.data)?.[1] ?? 'other'));
    }
  };
  const nativeFetch = window.fetch;
  window.fetch = async (...args) => {
    const resp = await nativeFetch(...args);
    if (!String(args[0]).startsWith('/api/stream') || !resp.body) return resp;
    const text = new TextDecoder();
    let tail = '';
    const counted = resp.body.pipeThrough(new TransformStream({
      transform(chunk, out) {
        const s = tail + text.decode(chunk, { stream: true });
        for (const m of s.matchAll(/data: ?\{"type":"([a-z_]+)"/g)) count(m[1]);
        tail = s.slice(-40);
        // A match wholly inside the kept tail was counted already: keep only what cannot be one.
        const cut = tail.lastIndexOf('data:');
        tail = cut >= 0 && !/\{"type":"[a-z_]+"/.test(tail.slice(cut)) ? tail.slice(cut) : '';
        out.enqueue(chunk);
      },
    }));
    return new Response(counted, { status: resp.status, statusText: resp.statusText, headers: resp.headers });
  };
}

/** In the page: clicks the tab of `view` and resolves with the time until `selector` is in
 *  the view and painted (null after two minutes without). */
function switchTab([view, selector]) {
  return new Promise((resolve) => {
    setTimeout(() => resolve(null), 120_000);
    const t0 = performance.now();
    const done = () => requestAnimationFrame(() => setTimeout(() => resolve(performance.now() - t0)));
    const root = document.getElementById('view');
    const watch = new MutationObserver(() => {
      if (!root.querySelector(selector)) return;
      watch.disconnect();
      done();
    });
    watch.observe(root, { childList: true, subtree: true });
    document.getElementById(`tab-${view}`).click();
  });
}

async function measure(browser, base, token, opts, support) {
  const out = {
    n: 0, firstRow: [], fetches: [], toEvents: [], toOverview: [], longTasks: { count: '–' }, updates: 0, resyncs: 0,
  };
  const { body: providers } = await support.apiCall(base, token, 'GET', '/api/providers');
  out.n = providers.length;
  const tick = await tickPhase(base, token, support);
  for (let run = 0; run < opts.runs; run++) {
    await betweenTicks(tick, support);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.addInitScript(instrument);
    const page = await context.newPage();
    await page.goto(`${base}/#/overview&token=${token}`);
    await page.waitForFunction(() => window.__bench.firstRow !== null, null, { timeout: 120_000, polling: 100 });
    out.firstRow.push(await page.evaluate(() => window.__bench.firstRow));
    // Where the first paint's time went: the provider list's request, from the page's own
    // resource timing (UI_SCALE_DEBUG=1: every request's).
    if (process.env.UI_SCALE_DEBUG) {
      console.log(await page.evaluate(() => [
        ...performance.getEntriesByType('navigation'),
        ...performance.getEntriesByType('resource'),
      ].map((e) => `${e.name.replace(location.origin, '')} ${Math.round(e.startTime)}–${Math.round(e.responseEnd)}`)
        .join('\n')));
    }
    out.fetches.push(await page.evaluate(() => {
      const r = performance.getEntriesByType('resource').find((e) => new URL(e.name).pathname === '/api/providers');
      return r ? { start: r.startTime, first: r.responseStart, end: r.responseEnd, bytes: r.decodedBodySize } : null;
    }));
    await page.waitForFunction(() => document.querySelector('#statusbar .conn')?.textContent === 'live', null,
      { timeout: 120_000 });
    await support.sleep(1000);
    out.toEvents.push(await page.evaluate(switchTab, ['events', 'ol.timeline']));
    await support.sleep(500);
    out.toOverview.push(await page.evaluate(switchTab, ['overview', '[data-provider-id]']));
    if (run === opts.runs - 1 && opts.window > 0) Object.assign(out, await watchUpdates(page, tick, opts, support));
    await context.close();
  }
  const fetched = out.fetches.map((f) => (f
    ? `sent at ${ms(f.start)}, first byte ${ms(f.first)}, last ${ms(f.end)} (${(f.bytes / 1e6).toFixed(1)} MB)`
    : '?'));
  const all = (values) => values.map(ms).join(', ');
  console.log(`${out.n} providers: GET /api/providers ${fetched.join('; ')}`);
  console.log(`${out.n} providers: first rows ${all(out.firstRow)}; → Events ${all(out.toEvents)}; `
    + `→ Overview ${all(out.toOverview)}`);
  return out;
}

/** The long tasks while live updates stream in: a window that starts 3 s before the next
 *  probe tick. */
async function watchUpdates(page, tick, opts, support) {
  await support.sleep(nextTick(tick, Date.now() + 3000) - 3000 - Date.now());
  const from = await page.evaluate(() => ({ at: performance.now(), messages: { ...window.__bench.messages } }));
  await support.sleep(opts.window * 1000);
  return page.evaluate((from) => {
    const to = performance.now();
    window.__bench.flush();
    const tasks = window.__bench.longTasks.filter(([start]) => start >= from.at && start < to).map(([, d]) => d);
    const count = (type) => (window.__bench.messages[type] ?? 0) - (from.messages[type] ?? 0);
    return {
      longTasks: {
        count: tasks.length,
        total: tasks.reduce((a, b) => a + b, 0),
        longest: tasks.length ? Math.max(...tasks) : 0,
      },
      updates: count('provider_updated'),
      resyncs: count('resync'),
    };
  }, from);
}

// ---- the endpoints: a child process serving 200 {"status":"ok"} on several ports ----------
async function serveEndpoints(count) {
  const ports = [];
  for (let i = 0; i < count; i++) {
    const server = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    ports.push(server.address().port);
  }
  process.stdout.write(`${ports.join(',')}\n`);
  process.stdin.resume(); // until the parent goes
  process.stdin.on('end', () => process.exit(0));
}

if (process.argv[2] === '--endpoints') await serveEndpoints(Number(process.argv[3]));
else await main();
