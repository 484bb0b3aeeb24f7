// Pipeline: the session files and what the processors made of them. A status header (the
// level in words, its detail, the stuck file and its age, how the root is watched, the last
// scan), the processors (state, last run and outcome, backlog, next run, Run now), the usage
// totals with a small chart of tokens per day and a by-model table, and the newest files
// with where each processor stands with them.
// Live: `pipeline` updates (status and processors, pushed at most every 250 ms) are applied
// in place (each processor's row and its Run now button are kept, so focus survives); the
// files and the usage are fetched again (at most every 500 ms) when an update or a pipeline
// event arrives while the view is shown.
// Run now is marked unavailable (aria-disabled) while the processor runs but stays focusable:
// the page's idea of "running" can lag the engine, so pressing it still asks, and a refusal
// (409: it is running) is shown in words next to the button until that run ends.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api, ApiError } from '../api';
import { busy, el } from '../dom';
import { ago, clock, countdown } from '../format';
import type {
  EventRecord,
  PipelineLevel,
  PipelineStatus,
  PipelineUpdate,
  ProcessorState,
  SessionFile,
  SessionsView,
  StatusView,
  TokenCounts,
} from '../types';

/** The last full answer of `/api/sessions`, with the pushed status and processors applied. */
let data: SessionsView | null = null;
/** Why the last fetch failed (shown above the last good data). */
let loadError: string | null = null;
let configPath: string | null = null;
/** What went wrong with the last Run now of a processor, shown next to its button. */
const notices = new Map<string, string>();
/** Counts pushed updates: a fetch answered after one is older than it for what it pushes. */
let updateSeq = 0;
/** Counts pushed levels (status views and updates), for the same reason, for the nav marker. */
let levelSeq = 0;
let fetchTimer = 0;
let fetching = false;
let fetchAgain = false;

/** One processor's row: built once, its cells refilled, its button kept. */
interface ProcRow {
  tr: HTMLTableRowElement;
  kind: HTMLTableCellElement;
  cadence: HTMLTableCellElement;
  state: HTMLSpanElement;
  last: HTMLTableCellElement;
  files: HTMLTableCellElement;
  backlog: HTMLTableCellElement;
  next: HTMLTableCellElement;
  button: HTMLButtonElement;
  notice: HTMLSpanElement;
}

/** The mounted view. `content` holds either the configured sections or the explanation. */
let parts: {
  root: HTMLDivElement;
  status: HTMLElement;
  badge: HTMLSpanElement;
  detail: HTMLSpanElement;
  stuck: HTMLParagraphElement;
  facts: HTMLDListElement;
  error: HTMLParagraphElement;
  content: HTMLDivElement;
  live: HTMLDivElement;
} | null = null;

let sections: {
  procBody: HTMLTableSectionElement;
  totals: HTMLDivElement;
  chartHost: HTMLDivElement;
  models: HTMLTableSectionElement;
  filesHeading: HTMLHeadingElement;
  filesHead: HTMLTableRowElement;
  filesBody: HTMLTableSectionElement;
} | null = null;
const rows = new Map<string, ProcRow>();
let chart: uPlot | null = null;
let chartKey = '';

// ---- the nav marker -----------------------------------------------------------------------

/** "!" next to the nav link while the pipeline is in warning; the link's name says it too. */
const mark = el('span', { class: 'count pipeline-mark', 'data-pipeline-mark': '', hidden: '', 'aria-hidden': 'true' }, '!');

export function pipelineMark(): HTMLSpanElement {
  return mark;
}

function setLevel(level: PipelineLevel | null | undefined, detail?: string): void {
  const warn = level === 'warning';
  mark.hidden = !warn;
  const link = mark.parentElement;
  if (!link) return;
  if (warn) {
    link.setAttribute('aria-label', 'Pipeline, warning');
    link.title = `The session pipeline needs attention${detail ? `: ${detail}` : ''}`;
  } else {
    link.removeAttribute('aria-label');
    link.removeAttribute('title');
  }
}

/** From every status: the level for the nav marker, the config path for the explanation. */
export function setPipelineFromStatus(s: StatusView): void {
  configPath = s.config_path;
  levelSeq++;
  // The pushed pipeline status carries the detail; the status view only the level.
  setLevel(s.pipeline, s.pipeline === data?.status.status ? data?.status.detail : undefined);
}

// ---- live updates ---------------------------------------------------------------------------

/** A `pipeline` update: status and processors in place, then the rest fetched again. */
export function applyPipelineUpdate(u: PipelineUpdate): void {
  updateSeq++;
  levelSeq++;
  setLevel(u.status.status, u.status.detail);
  if (data?.configured) {
    for (const p of u.processors) {
      const before = data.processors.find((b) => b.name === p.name);
      // The refusal said "it is running": once that run ended, it no longer holds.
      if (before && (before.last_run_finished_at !== p.last_run_finished_at || (before.running && !p.running))) {
        notices.delete(p.name);
      }
    }
    const levelBefore = data.status.status;
    data.status = u.status;
    data.processors = u.processors;
    data.files.count = u.files;
    if (shown()) {
      fillStatus(data);
      fillFacts(data);
      fillProcessors(data.processors);
      if (levelBefore !== u.status.status) announce(`Pipeline ${u.status.status}: ${u.status.detail ?? ''}`);
    }
  }
  scheduleRefetch();
}

/** Pipeline events (status changed, watch mode changed) make the view fetch again. */
export function pipelineEvent(e: EventRecord): void {
  if (e.type === 'pipeline_status_changed' || e.type === 'session_watch_changed') scheduleRefetch();
}

/** After a reconnect: fetch again if the view is shown (it always fetches when shown). */
export function refreshPipeline(): void {
  if (shown()) void fetchNow();
}

const shown = () => Boolean(parts?.root.isConnected);

/** At most one fetch per 500 ms, never two at once; nothing while the view is hidden. */
function scheduleRefetch(): void {
  if (!shown() || fetchTimer) return;
  fetchTimer = window.setTimeout(() => {
    fetchTimer = 0;
    void fetchNow();
  }, 500);
}

async function fetchNow(): Promise<void> {
  if (fetching) {
    fetchAgain = true;
    return;
  }
  fetching = true;
  const seq = updateSeq;
  const levels = levelSeq;
  try {
    const fresh = await api.sessions();
    // A push that arrived meanwhile is newer than this answer for what it carries.
    if (seq !== updateSeq && data?.configured && fresh.configured) {
      fresh.status = data.status;
      fresh.processors = data.processors;
      fresh.files.count = Math.max(fresh.files.count, data.files.count);
    }
    data = fresh;
    loadError = null;
    if (levels === levelSeq) setLevel(data.configured ? data.status.status : null, data.status.detail);
  } catch (e) {
    loadError = (e as Error).message;
  } finally {
    fetching = false;
  }
  if (shown()) fill();
  if (fetchAgain) {
    fetchAgain = false;
    scheduleRefetch();
  }
}

// ---- the view --------------------------------------------------------------------------------

export function renderPipeline(host: HTMLElement): void {
  destroyChart();
  rows.clear();
  sections = null;
  const badge = el('span', { class: 'badge', id: 'pipeline-badge' });
  const detail = el('span', { class: 'pipeline-detail', id: 'pipeline-detail' });
  const stuck = el('p', { class: 'stuck', id: 'pipeline-stuck', hidden: '' });
  const facts = el('dl', { class: 'facts pipeline-facts', id: 'pipeline-facts' });
  const status = el(
    'section',
    { class: 'pipeline-head', id: 'pipeline-status', 'aria-labelledby': 'pipeline-title' },
    el('h2', { id: 'pipeline-title', class: 'visually-hidden' }, 'Session pipeline status'),
    el('div', { class: 'headline' }, badge, detail),
    stuck,
    facts,
  );
  const error = el('p', { class: 'load-error', role: 'alert', hidden: '' });
  const content = el('div', { class: 'pipeline-content' }, el('p', { class: 'loading' }, 'Loading the session pipeline…'));
  const live = el('div', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
  const root = el('div', { id: 'pipeline' }, status, error, content, live);
  parts = { root, status, badge, detail, stuck, facts, error, content, live };
  host.replaceChildren(root);
  if (data) fill();
  void fetchNow();
}

function fill(): void {
  if (!parts || !shown()) return;
  parts.error.hidden = !loadError;
  parts.error.replaceChildren();
  if (loadError) {
    const retry = el('button', { type: 'button' }, 'Try again');
    retry.addEventListener('click', () => void fetchNow());
    parts.error.append(`Could not load the session pipeline: ${loadError} `, retry);
  }
  if (!data) {
    parts.status.hidden = true;
    if (loadError) parts.content.replaceChildren();
    return;
  }
  parts.status.hidden = false;
  fillStatus(data);
  fillFacts(data);
  if (!data.configured) {
    destroyChart();
    sections = null;
    rows.clear();
    if (!parts.content.querySelector('#pipeline-unconfigured')) parts.content.replaceChildren(explanation());
    return;
  }
  if (!sections) buildSections();
  fillProcessors(data.processors);
  fillUsage(data.usage);
  fillFiles(data);
}

// ---- status and facts ---------------------------------------------------------------------------

const LEVEL_WORDS: Record<PipelineLevel, string> = { ok: 'OK', warning: 'WARNING', info: 'INFO' };

function fillStatus(d: SessionsView): void {
  if (!parts) return;
  const s: PipelineStatus = d.status;
  const level = d.configured ? s.status : 'off';
  parts.status.dataset.status = level;
  parts.badge.className = `badge ${d.configured ? s.status : 'disabled'}`;
  parts.badge.textContent = d.configured ? LEVEL_WORDS[s.status] : 'OFF';
  parts.detail.textContent = d.configured ? (s.detail ?? '') : 'No [sessions] section in the config: session logs are not watched.';
  const showStuck = s.status !== 'ok' && (s.stuck_file || s.processor);
  parts.stuck.hidden = !showStuck;
  if (!showStuck) {
    parts.stuck.replaceChildren();
    return;
  }
  const bits: (Node | string)[] = [];
  if (s.stuck_file) {
    const age = s.stuck_file_age_seconds ?? 0;
    const since = String(Date.now() - age * 1000);
    bits.push(
      'Stuck file ',
      el('code', { 'data-stuck-file': '' }, s.stuck_file),
      ', skipped for ',
      el('span', { 'data-since': since }, duration(age)),
    );
  }
  if (s.processor) {
    const several = s.processor.includes(',');
    bits.push(s.stuck_file ? ` (processor ${s.processor})` : `Processor${several ? 's' : ''}: ${s.processor}`);
  }
  parts.stuck.replaceChildren(...bits);
}

function fillFacts(d: SessionsView): void {
  if (!parts) return;
  if (!d.configured) {
    parts.facts.hidden = true;
    return;
  }
  parts.facts.hidden = false;
  const items: [string, (Node | string)[]][] = [];
  const w = d.watch;
  const watch =
    !w
      ? ['—']
      : w.mode === 'native'
        ? ['native file events']
        : w.mode === 'polling'
          ? [el('span', { class: 'warn-text' }, 'polling'), w.detail ? ` (native watch failed: ${w.detail})` : '']
          : [el('span', { class: 'warn-text' }, 'waiting'), w.detail ? ` — ${w.detail}` : ''];
  items.push(['Watch', watch]);
  items.push(['Root', [el('code', {}, d.root ?? '—')]]);
  const f = d.files;
  const files: (Node | string)[] = [`${plural(f.count, 'file')}, ${bytes(f.total_bytes)}`];
  if (f.newest_mtime) files.push('; newest modified ', since(f.newest_mtime));
  items.push(['Files', files]);
  const scan = d.last_scan;
  const scanned: (Node | string)[] = !d.scanned || !scan
    ? ['first scan in progress']
    : [
        since(scan.at),
        ` in ${scan.duration_ms} ms: ${scan.seen} seen, ${scan.new} new, ${scan.changed} changed, ${scan.removed} removed`,
        ...(scan.error ? [el('span', { class: 'error-text' }, ` — failed: ${scan.error}`)] : []),
      ];
  items.push(['Last scan', scanned]);
  parts.facts.replaceChildren(
    ...items.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-fact': k.toLowerCase().replace(/ /g, '-') }, ...v)]),
  );
}

/** Shown instead of the sections when `[sessions]` is not configured. */
function explanation(): HTMLElement {
  const snippet = `[sessions]
root = "/data/user_sessions"      # <root>/<user>/*.jsonl

[[sessions.processors]]
name = "usage"
kind = "usage"                    # built in: tokens by model and day
cadence = "15m"

[[sessions.processors]]
name = "verification"
kind = "command"                  # once per new or changed file; exit 0 = processed
command = ["verify-session", "{file}"]
cadence = "15m"`;
  return el(
    'section',
    { class: 'unconfigured', id: 'pipeline-unconfigured', 'aria-labelledby': 'pipeline-unconfigured-title' },
    el('h2', { id: 'pipeline-unconfigured-title' }, 'The session pipeline is not configured'),
    el(
      'p',
      {},
      'Steward can watch session logs (one folder per user, .jsonl files), hand new and changed files to ' +
        'processors, count token usage, and tell you when processing falls behind or a file is skipped.',
    ),
    el(
      'p',
      {},
      'To turn it on, add a [sessions] section to the config file',
      configPath ? el('code', {}, ` ${configPath}`) : '',
      ' and restart Steward (this section is read at start):',
    ),
    el('pre', { class: 'snippet' }, snippet),
    el(
      'p',
      { class: 'muted' },
      'A processor is stale after 2 × its cadence; a file it has not processed for longer than 4 × that is reported as skipped.',
    ),
  );
}

// ---- processors -------------------------------------------------------------------------------

const PROC_COLUMNS = ['Processor', 'Kind', 'Cadence', 'State', 'Last run', 'Files (last run)', 'Backlog', 'Next run', ''];

function buildSections(): void {
  if (!parts) return;
  const procBody = el('tbody');
  const totals = el('div', { class: 'usage-totals', id: 'usage-totals' });
  const chartHost = el('div', { class: 'usage-chart', id: 'usage-chart' });
  const models = el('tbody');
  const filesHeading = el('h2', { id: 'pipeline-files-title' }, 'Newest files');
  const filesHead = el('tr');
  const filesBody = el('tbody');
  const head = (cols: string[]) => el('thead', {}, el('tr', {}, ...cols.map((h) => el('th', { scope: 'col' }, h))));
  parts.content.replaceChildren(
    el(
      'section',
      { 'aria-labelledby': 'pipeline-processors-title' },
      el('h2', { id: 'pipeline-processors-title' }, 'Processors'),
      el(
        'div',
        { class: 'table-wrap' },
        el('table', { class: 'grid processors', id: 'pipeline-processors', 'aria-labelledby': 'pipeline-processors-title' }, head(PROC_COLUMNS), procBody),
      ),
    ),
    el(
      'section',
      { class: 'usage', 'aria-labelledby': 'pipeline-usage-title' },
      el('h2', { id: 'pipeline-usage-title' }, 'Usage'),
      totals,
      el(
        'div',
        { class: 'usage-row' },
        el('figure', { class: 'usage-figure' }, el('figcaption', {}, 'Tokens per day (UTC), last 30 days'), chartHost),
        el(
          'div',
          { class: 'table-wrap by-model' },
          el(
            'table',
            { class: 'grid', id: 'usage-by-model', 'aria-label': 'Tokens by model' },
            head(['Model', 'Input', 'Output', 'Cache read', 'Cache write', 'Messages']),
            models,
          ),
        ),
      ),
    ),
    el(
      'section',
      { 'aria-labelledby': 'pipeline-files-title' },
      filesHeading,
      el(
        'div',
        { class: 'table-wrap' },
        el('table', { class: 'grid files', id: 'pipeline-files', 'aria-labelledby': 'pipeline-files-title' }, el('thead', {}, filesHead), filesBody),
      ),
    ),
  );
  sections = { procBody, totals, chartHost, models, filesHeading, filesHead, filesBody };
}

function fillProcessors(list: ProcessorState[]): void {
  if (!sections) return;
  const names = list.map((p) => p.name);
  if (names.join('\n') !== [...rows.keys()].join('\n')) {
    // Another set of processors (first fill): new rows; a focused Run now button comes back.
    const focused = (document.activeElement as HTMLElement | null)?.dataset?.run;
    rows.clear();
    for (const p of list) rows.set(p.name, makeRow(p.name));
    sections.procBody.replaceChildren(...[...rows.values()].map((r) => r.tr));
    if (list.length === 0) {
      const hint = 'No [[sessions.processors]] configured: files are indexed but nothing reads them.';
      sections.procBody.append(el('tr', {}, el('td', { colspan: String(PROC_COLUMNS.length), class: 'empty' }, hint)));
    }
    if (focused) rows.get(focused)?.button.focus();
  }
  for (const p of list) fillRow(rows.get(p.name)!, p);
}

function makeRow(name: string): ProcRow {
  const td = (cls = '') => el('td', cls ? { class: cls } : {});
  const button = el('button', { type: 'button', class: 'run', 'aria-label': `Run ${name} now`, 'data-run': name }, 'Run now');
  const notice = el('span', { class: 'run-notice', role: 'status', 'data-run-notice': name });
  const r: ProcRow = {
    tr: el('tr', { 'data-processor': name }),
    kind: td('kind'),
    cadence: td('num'),
    state: el('span', { class: 'badge' }),
    last: td('p-last'),
    files: td('num p-files'),
    backlog: td('num p-backlog'),
    next: td('p-next'),
    button,
    notice,
  };
  button.addEventListener('click', () => void runNow(name, button));
  r.tr.append(
    el('td', { class: 'name' }, el('strong', {}, name)),
    r.kind,
    r.cadence,
    el('td', { class: 'p-state' }, r.state),
    r.last,
    r.files,
    r.backlog,
    r.next,
    el('td', { class: 'actions' }, button, notice),
  );
  return r;
}

function fillRow(r: ProcRow, p: ProcessorState): void {
  const state = p.running ? 'running' : p.enabled ? 'idle' : 'disabled';
  r.tr.dataset.state = state;
  r.tr.dataset.outcome = p.last_outcome ?? '';
  r.kind.textContent = p.kind;
  r.cadence.textContent = cadence(p.cadence_secs);
  r.state.className = `badge ${state === 'running' ? 'info' : state === 'idle' ? 'idle' : 'disabled'}`;
  r.state.textContent = state.toUpperCase();
  if (p.running) {
    r.last.replaceChildren('running, started ', p.last_run_started_at ? since(p.last_run_started_at) : 'just now');
  } else if (p.last_run_finished_at) {
    const bits: (Node | string)[] = [since(p.last_run_finished_at), ' ', outcomeBadge(p.last_outcome)];
    if (p.last_error) bits.push(' ', el('span', { class: 'error-text p-error', title: p.last_error }, p.last_error));
    r.last.replaceChildren(...bits);
  } else {
    r.last.replaceChildren(el('span', { class: 'muted' }, 'never run'));
  }
  r.files.textContent = p.last_run_finished_at ? `${p.files_processed} ok · ${p.files_failed} failed` : '—';
  r.files.classList.toggle('error-text', p.files_failed > 0);
  r.backlog.textContent = String(p.backlog);
  r.backlog.title = p.backlog ? `${plural(p.backlog, 'file')} due now` : 'nothing due';
  if (!p.enabled) {
    r.next.replaceChildren(el('span', { class: 'muted' }, 'only when asked'));
  } else if (p.next_run_at) {
    r.next.replaceChildren(
      el('time', { datetime: p.next_run_at, 'data-until': '', title: new Date(p.next_run_at).toLocaleString() }, until(p.next_run_at)),
    );
  } else {
    r.next.replaceChildren('—');
  }
  r.button.setAttribute('aria-disabled', String(p.running));
  r.button.title = p.running ? `${p.name} is running; it can run again once this run ends` : `Process ${p.name}'s due files now`;
  const notice = notices.get(p.name) ?? '';
  r.notice.textContent = notice;
  r.notice.hidden = !notice;
}

function outcomeBadge(o: ProcessorState['last_outcome']): HTMLElement {
  if (!o) return el('span', { class: 'muted' }, 'no outcome');
  const tone = o === 'ok' ? 'ok' : o === 'cancelled' ? 'disabled' : 'error';
  return el('span', { class: `badge ${tone} outcome`, 'data-outcome': o }, o.toUpperCase());
}

async function runNow(name: string, button: HTMLButtonElement): Promise<void> {
  await busy(button, async () => {
    notices.delete(name);
    const seq = updateSeq;
    try {
      await api.runProcessor(name);
      // Shown as running at once, unless a push already said how the run stands.
      const p = data?.processors.find((x) => x.name === name);
      if (p && seq === updateSeq && !p.running) p.running = true;
      announce(`${name}: run started`);
      scheduleRefetch();
    } catch (e) {
      const conflict = e instanceof ApiError && (e.code === 'conflict' || e.status === 409);
      const message = (e as Error).message;
      notices.set(name, conflict ? `Not started: ${message}.` : `Could not start ${name}: ${message}`);
    }
    const p = data?.processors.find((x) => x.name === name);
    const r = rows.get(name);
    if (p && r) fillRow(r, p);
  });
}

// ---- usage --------------------------------------------------------------------------------------

function fillUsage(u: SessionsView['usage']): void {
  if (!sections) return;
  const t = u.tokens;
  const total = (key: string, value: number, label: string, title = '') =>
    el('span', { class: 'total', 'data-total': key, 'data-value': String(value), ...(title ? { title } : {}) }, el('b', {}, num(value)), ` ${label}`);
  sections.totals.replaceChildren(
    total('records', u.records, 'records', 'Usage records counted (a message logged twice counts once)'),
    total('malformed', u.malformed, 'malformed', 'Lines that were not valid JSON records'),
    total('input', t.input, 'input tokens'),
    total('output', t.output, 'output tokens'),
    total('cache_read', t.cache_read, 'cache read'),
    total('cache_creation', t.cache_creation, 'cache write'),
    total('files', u.files, u.files === 1 ? 'file' : 'files', 'Files the usage processors have read'),
  );
  sections.totals.querySelector('[data-total="malformed"]')?.classList.toggle('warn-text', u.malformed > 0);
  fillChart(u.by_day);
  const models = u.by_model.map((m) =>
    el(
      'tr',
      { 'data-model': m.key },
      el('td', {}, m.key || '(unknown)'),
      ...[m.tokens.input, m.tokens.output, m.tokens.cache_read, m.tokens.cache_creation, m.tokens.messages].map((v) =>
        el('td', { class: 'num' }, num(v)),
      ),
    ),
  );
  if (models.length === 0) models.push(el('tr', {}, el('td', { colspan: '6', class: 'empty' }, 'No usage recorded yet.')));
  sections.models.replaceChildren(...models);
}

function dayColumns(days: { key: string; tokens: TokenCounts }[]): uPlot.AlignedData {
  return [
    days.map((d) => Date.parse(`${d.key}T00:00:00Z`) / 1000),
    days.map((d) => d.tokens.input),
    days.map((d) => d.tokens.output),
  ];
}

function fillChart(days: { key: string; tokens: TokenCounts }[]): void {
  if (!sections) return;
  const host = sections.chartHost;
  const key = JSON.stringify(days);
  if (key === chartKey && (chart || days.length === 0)) return;
  chartKey = key;
  if (days.length === 0) {
    destroyChart();
    host.replaceChildren(el('p', { class: 'muted chart-empty' }, 'No usage recorded in the last 30 days.'));
    return;
  }
  if (chart) {
    chart.setData(dayColumns(days));
    return;
  }
  host.replaceChildren();
  chart = makeChart(host, days);
}

const CHART_HEIGHT = 150;
let chartResize: ResizeObserver | null = null;

function makeChart(host: HTMLElement, days: { key: string; tokens: TokenCounts }[]): uPlot {
  const css = getComputedStyle(document.documentElement);
  const color = (name: string) => css.getPropertyValue(name).trim();
  const axis = { stroke: color('--muted'), grid: { stroke: color('--line') }, ticks: { stroke: color('--line') } };
  const bars = (align: -1 | 1) => uPlot.paths.bars!({ size: [0.4, 24], align });
  const day = (v: number | null) => (v === null ? '' : new Date(v * 1000).toISOString().slice(0, 10));
  const opts: uPlot.Options = {
    width: Math.max(280, host.clientWidth),
    height: CHART_HEIGHT,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    cursor: { points: { show: false } },
    scales: {
      // Half a day either side, so the first and last days' bars are not cut off.
      x: { time: true, range: (_u, min, max) => [min - 43200 * 1.2, max + 43200 * 1.2] },
      y: { range: (_u, _min, max) => [0, Math.max(1, (max ?? 1) * 1.15)] },
    },
    axes: [
      // One tick per day (or every few days), labelled with the date only.
      { ...axis, space: 50, incrs: [86400, 2 * 86400, 7 * 86400, 14 * 86400], values: (_u, ticks) => ticks.map(shortDay) },
      { ...axis, size: 56, values: (_u, ticks) => ticks.map((v) => compact(v)) },
    ],
    series: [
      { label: 'day', value: (_u, v) => day(v) },
      { label: 'input', stroke: color('--accent'), fill: color('--accent'), width: 0, paths: bars(-1), points: { show: false } },
      { label: 'output', stroke: color('--warn'), fill: color('--warn'), width: 0, paths: bars(1), points: { show: false } },
    ],
  };
  const plot = new uPlot(opts, dayColumns(days), host);
  chartResize = new ResizeObserver(() => {
    const width = Math.max(280, host.clientWidth);
    if (width !== plot.width) plot.setSize({ width, height: CHART_HEIGHT });
  });
  chartResize.observe(host);
  return plot;
}

/** "Nov 30": a UTC day (the usage is counted by UTC day). */
function shortDay(secs: number): string {
  return new Date(secs * 1000).toLocaleDateString([], { month: 'short', day: 'numeric', timeZone: 'UTC' });
}

function destroyChart(): void {
  chartResize?.disconnect();
  chartResize = null;
  chart?.destroy();
  chart = null;
  chartKey = '';
}

// The chart's colours are read when it is made: a light/dark switch makes it again.
window.matchMedia?.('(prefers-color-scheme: dark)').addEventListener?.('change', () => {
  if (!chart || !sections || !data?.configured) return;
  destroyChart();
  fillChart(data.usage.by_day);
});

// ---- files ----------------------------------------------------------------------------------------

function fillFiles(d: SessionsView): void {
  if (!sections) return;
  const f = d.files;
  sections.filesHeading.textContent = f.truncated
    ? `Newest files (${f.list.length} of ${f.count})`
    : `Newest files (${f.list.length})`;
  const names = d.processors.map((p) => p.name);
  sections.filesHead.replaceChildren(
    ...['Path', 'User', 'Size', 'Modified', ...names].map((h) => el('th', { scope: 'col' }, h)),
  );
  const out = f.list.map((file) => fileRow(file, names));
  if (out.length === 0) {
    const hint = d.scanned
      ? 'No session files yet: they appear here as <root>/<user>/<name>.jsonl is written.'
      : 'Scanning the session root…';
    out.push(el('tr', {}, el('td', { colspan: String(4 + names.length), class: 'empty' }, hint)));
  }
  sections.filesBody.replaceChildren(...out);
}

function fileRow(f: SessionFile, names: string[]): HTMLTableRowElement {
  const cells = names.map((name) => {
    const s = f.processors.find((p) => p.processor === name);
    if (s?.last_error) {
      return el(
        'td',
        { class: 'f-proc error-text', 'data-processor': name, 'data-state': 'failed', title: s.last_error },
        `✗ ${s.last_error}`,
      );
    }
    if (s?.processed_at) {
      const items = s.items_extracted ? `, ${plural(s.items_extracted, 'item')}` : '';
      return el(
        'td',
        {
          class: 'f-proc ok-text',
          'data-processor': name,
          'data-state': 'processed',
          title: `processed ${clock(s.processed_at)}${items}`,
          'aria-label': `processed ${ago(s.processed_at)}${items}`,
        },
        '✓',
      );
    }
    return el('td', { class: 'f-proc muted', 'data-processor': name, 'data-state': 'pending' }, 'pending');
  });
  return el(
    'tr',
    { 'data-file': f.path },
    el('td', { class: 'path' }, el('code', { title: f.file_hash ? `sha ${f.file_hash}` : '' }, f.path)),
    el('td', {}, f.username),
    el('td', { class: 'num' }, bytes(f.size)),
    el('td', { class: 'ago' }, since(f.mtime)),
    ...cells,
  );
}

// ---- ticking and words -----------------------------------------------------------------------------

/** Re-renders the relative times, countdowns and the stuck file's age once a second. */
export function tickPipeline(now = Date.now()): void {
  if (!parts || !shown()) return;
  for (const t of parts.root.querySelectorAll<HTMLTimeElement>('time[data-ago]')) t.textContent = ago(t.dateTime, now);
  for (const t of parts.root.querySelectorAll<HTMLTimeElement>('time[data-until]')) t.textContent = until(t.dateTime, now);
  for (const s of parts.root.querySelectorAll<HTMLElement>('[data-since]')) {
    s.textContent = duration(Math.max(0, Math.round((now - Number(s.dataset.since)) / 1000)));
  }
}

function announce(text: string): void {
  if (parts) parts.live.textContent = text;
}

function since(iso: string): HTMLTimeElement {
  return el('time', { datetime: iso, 'data-ago': '', title: new Date(iso).toLocaleString() }, ago(iso));
}

/** "in 4:59", "in 2 h 5 min", "due now". */
function until(iso: string, now = Date.now()): string {
  const s = Math.round((Date.parse(iso) - now) / 1000);
  if (s <= 0) return 'due now';
  if (s < 3600) return `in ${countdown(iso, now)}`;
  const m = Math.floor((s % 3600) / 60);
  return `in ${Math.floor(s / 3600)} h${m ? ` ${m} min` : ''}`;
}

/** A duration as a person says it, rounded down to its largest unit (as the engine words it). */
function duration(secs: number): string {
  if (secs < 60) return `${secs} s`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min`;
  if (secs < 172800) return `${Math.floor(secs / 3600)} h`;
  return `${Math.floor(secs / 86400)} d`;
}

/** "every 15 min", "every 1 h 30 min": exact. */
function cadence(secs: number): string {
  const parts = [
    [Math.floor(secs / 86400), 'd'],
    [Math.floor((secs % 86400) / 3600), 'h'],
    [Math.floor((secs % 3600) / 60), 'min'],
    [secs % 60, 's'],
  ] as const;
  const text = parts.filter(([n]) => n > 0).map(([n, u]) => `${n} ${u}`).join(' ');
  return `every ${text || '0 s'}`;
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

const num = (n: number) => n.toLocaleString();

function compact(n: number): string {
  if (n >= 1e9) return `${+(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(n);
}

const plural = (n: number, word: string) => `${num(n)} ${word}${n === 1 ? '' : 's'}`;
