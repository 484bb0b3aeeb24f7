// What a proposal says, shared by cards and history rows: the status badge, the risk tag,
// the outcome (who decided and when, where it stands and why, the command and its output,
// live while it runs), and the body (reason, which models answered, policy overrides,
// dependents, and the source event as evidence).

import { html, keyed, nothing } from '../../dom';
import { clock, elapsed, fullTime, millisExact } from '../../format';
import type { LiveRun, LlmAttempt, Proposal, RunResult } from '../../types';
import { isActive, liveRuns, words } from './state';

/** The status in words (colour second): good ends green, bad ones red, the rest neutral. */
export function statusBadge(status: string) {
  const tone =
    status === 'pending' || status === 'approved' || status === 'running' || status === 'succeeded'
      ? 'info'
      : status === 'resolved'
        ? 'ok'
        : /^(failed|timed_out|unresolved|interrupted|error)$/.test(status)
          ? 'error'
          : 'disabled';
  return html`<span class="badge ${tone} status" data-status-badge=${status}>${words(status).toUpperCase()}</span>`;
}

export function riskTag(risk: string) {
  const tone = risk === 'guarded' ? 'warning' : risk === 'low' ? 'ok' : 'disabled';
  return html`<span class="tag ${tone}">risk ${risk}</span>`;
}

const trimEnd = (s: string | null | undefined) => (s ?? '').replace(/\s+$/, '');

/** Who decided and when, where it stands and why, the command and its output. The output
 *  block is the same template live and after the run, so its <pre> elements (and how far
 *  they are scrolled) stay when the run ends. */
export function outcome(p: Proposal) {
  const live = p.status === 'running' || p.status === 'approved' ? liveRuns.get(p.action_id) : undefined;
  const run = !live && p.run && !('live' in p.run) ? (p.run as RunResult) : null;
  return html`<section class="outcome" aria-label="Outcome">
    <dl class="facts outcome">
      ${decided(p)}${statusLine(p)}${live ? liveCommand(live) : run ? runCommand(run) : nothing}
    </dl>
    ${live ? output(liveStreams(live), true) : run ? output(runStreams(run), false) : nothing}
  </section>`;
}

function decided(p: Proposal) {
  if (!p.decided_by && !p.decided_at) return nothing;
  const verb = p.status === 'rejected' ? 'Rejected' : p.decided_by === 'auto' ? 'Run automatically' : 'Approved';
  const by = p.decided_by ? ` by ${p.decided_by}` : '';
  const at = p.decided_at
    ? html` at <time datetime=${p.decided_at} title=${fullTime(p.decided_at)}>${clock(p.decided_at)}</time>`
    : nothing;
  return html`<dt>Decided</dt>
    <dd data-decided>${verb}${by}${at}</dd>`;
}

/** A card in progress has its status in its header already: here only the why, if any. */
function statusLine(p: Proposal) {
  if (isActive(p) && !p.status_detail) return nothing;
  const verified = p.status === 'resolved' || p.status === 'unresolved';
  const detail = p.status_detail
    ? html`<span class="status-detail" data-status-detail> ${p.status_detail}</span>`
    : nothing;
  return html`<dt>${verified ? 'Verification' : 'Status'}</dt>
    <dd class="status-line">${statusBadge(p.status)}${detail}</dd>`;
}

function liveCommand(live: LiveRun) {
  return html`<dt>Command</dt>
    <dd data-run="running"><code class="argv">${live.argv.join(' ')}</code> — running for <span data-elapsed
        >${elapsed(live.elapsed_ms)}</span
      ></dd>`;
}

function runCommand(run: RunResult) {
  const bits = [
    run.end === 'ok' ? 'ok' : run.end === 'timedout' ? 'timed out' : 'failed',
    run.exit_code !== null && run.exit_code !== undefined ? `exit ${run.exit_code}` : '',
    run.duration_ms !== null && run.duration_ms !== undefined ? millisExact(run.duration_ms) : '',
  ].filter(Boolean);
  return html`<dt>Command</dt>
    <dd data-run=${run.end}><code class="argv">${(run.argv ?? []).join(' ')}</code> — ${bits.join(' · ')}</dd>`;
}

type Stream = readonly ['stdout' | 'stderr', string];

/** While it runs: stdout always, stderr once it has something. */
const liveStreams = (live: LiveRun): Stream[] =>
  (['stdout', 'stderr'] as const)
    .map((s) => [s, trimEnd(live[`${s}_tail`])] as const)
    .filter(([s, text]) => text || s === 'stdout');

/** After the run: what it wrote. */
const runStreams = (run: RunResult): Stream[] =>
  (['stdout', 'stderr'] as const).map((s) => [s, trimEnd(run[`${s}_tail`])] as const).filter(([, text]) => text);

function output(streams: Stream[], live: boolean) {
  const figure = ([s, text]: Stream) =>
    html`<figure class="output ${s}">
      <figcaption>${s} (${live ? 'live' : 'tail'})</figcaption>
      <pre tabindex="0" data-output=${s} ?data-follow=${live} aria-live=${live ? 'off' : nothing}
        aria-label=${live ? `${s} of the running command` : `${s} of the command`}>${text}</pre>
    </figure>`;
  return html`<div class="run-output" ?data-live-run=${live}>
    ${streams.length ? keyed(streams, ([s]) => s, figure) : html`<p class="sub">The command wrote no output.</p>`}
  </div>`;
}

/** The reason, the facts and the evidence, shared by cards and history rows. */
export function body(p: Proposal) {
  const reason = p.payload?.reason ?? '';
  // The description often repeats the reason ("restart x on y: <reason>"): shown only when it adds.
  const description =
    p.description && !p.description.includes(reason) ? html`<p class="description">${p.description}</p>` : nothing;
  return html`<p class="reason">${reason}</p>
    ${description}
    <dl class="facts">
      <dt>Answered by</dt>
      <dd>${p.llm_model === 'rules' ? 'rules (the built-in rules planner)' : p.llm_model}</dd>
      ${p.llm_attempts?.length ? html`<dt>Tried</dt><dd>${attempts(p.llm_attempts)}</dd>` : nothing}
      <dt>Executor</dt>
      <dd>${p.type}</dd>
      ${p.overrides?.length
        ? html`<dt>Policy overrides</dt>
            <dd><ul class="overrides">${p.overrides.map((o) => html`<li>${o}</li>`)}</ul></dd>`
        : nothing}
      ${p.dependents?.length ? html`<dt>Also failing because of it</dt><dd>${p.dependents.join(', ')}</dd>` : nothing}
    </dl>
    ${evidence(p)}`;
}

/** "local failed 502 ms (HTTP 500) → rules ok 0 ms", one list item per model tried. */
function attempts(list: LlmAttempt[]) {
  const item = (a: LlmAttempt, i: number) => {
    const short = a.error && a.error.length > 80 ? `${a.error.slice(0, 79)}…` : a.error;
    return html`<li data-outcome=${a.outcome} class="attempt ${a.outcome}">${i > 0
        ? html`<span class="arrow" aria-hidden="true">→ </span>`
        : nothing}${a.model} ${a.outcome === 'success' ? 'ok' : a.outcome} ${a.latency_ms} ms${a.error
        ? html`<span class="attempt-error" title=${a.error}> (${short})</span>`
        : nothing}</li>`;
  };
  return html`<ol class="attempts" aria-label="Models tried, in order">${list.map(item)}</ol>`;
}

/** The source event, collapsed: type, channel and severity in the summary, payload inside. */
function evidence(p: Proposal) {
  const e = p.source_event ?? ({} as Proposal['source_event']);
  const bits = [e.type, e.channel && `via ${e.channel}`, e.severity && `severity ${e.severity}`].filter(Boolean);
  const at = eventTime(e.timestamp);
  return html`<details class="evidence">
    <summary>Source event: ${bits.join(' · ')}</summary>
    <div class="evidence-body">
      <span class="sub">${e.node ?? '?'} / ${e.service ?? '?'}${at ? ` at ${clock(at)}` : ''}</span>
      <pre>${e.payload === undefined ? '(no payload)' : JSON.stringify(e.payload)}</pre>
    </div>
  </details>`;
}

function eventTime(t: number | string | undefined): string | null {
  if (t === undefined || t === null || t === '') return null;
  const d = typeof t === 'number' ? new Date(t * 1000) : new Date(t);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}
