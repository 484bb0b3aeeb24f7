// Pipeline: the session files and what the processors made of them. A status header (the
// level in words, its detail, the stuck file and its age, how the root is watched, the last
// scan), the processors (state, last run and outcome, backlog, next run, Run now), the usage
// totals with a small chart of tokens per day and a by-model table, and the newest files
// with where each processor stands with them.
// Live: `pipeline` updates (status and processors, pushed at most every 250 ms) are shown at
// once; the files and the usage are fetched again (at most every 500 ms) when an update or a
// pipeline event arrives while the view is shown. Every change renders the view again; rows
// are kept by processor name and file path, so a focused Run now button keeps focus.
// This module holds the view's entry points; the parts: pipeline/state.ts (what is known,
// fetching, the nav marker), status.ts, processors.ts, usage.ts, files.ts.

import { el, html, nothing, render } from '../dom';
import type { EventRecord, PipelineUpdate, StatusView } from '../types';
import { filesSection } from './pipeline/files';
import { processorsTable } from './pipeline/processors';
import { applyUpdate, fetchNow, mark, noteStatus, scheduleRefetch, state, whenChanged } from './pipeline/state';
import { explanation, head } from './pipeline/status';
import { destroyChart, syncChart, usageSection } from './pipeline/usage';

/** The view's element, kept across visits (lit-html keeps its state on it). */
const mount = el('div', { id: 'pipeline' });
const shown = () => mount.isConnected;

whenChanged(update, shown);

export function pipelineMark(): HTMLSpanElement {
  return mark;
}

/** From every status: the level for the nav marker, the config path for the explanation. */
export function setPipelineFromStatus(s: StatusView): void {
  noteStatus(s);
}

/** A `pipeline` update: status and processors at once, then the rest fetched again. */
export function applyPipelineUpdate(u: PipelineUpdate): void {
  applyUpdate(u);
}

/** Pipeline events (status changed, watch mode changed) make the view fetch again. */
export function pipelineEvent(e: EventRecord): void {
  if (e.type === 'pipeline_status_changed' || e.type === 'session_watch_changed') scheduleRefetch();
}

/** After a reconnect: fetch again if the view is shown (it always fetches when shown). */
export function refreshPipeline(): void {
  if (shown()) void fetchNow();
}

export function renderPipeline(host: HTMLElement): void {
  host.replaceChildren(mount);
  update();
  void fetchNow();
}

function update(): void {
  if (!shown()) return;
  const d = state.data;
  render(
    html`<section
        class="pipeline-head"
        id="pipeline-status"
        aria-labelledby="pipeline-title"
        ?hidden=${!d}
        data-status=${d ? (d.configured ? d.status.status : 'off') : nothing}
      >
        <h2 id="pipeline-title" class="visually-hidden">Session pipeline status</h2>
        ${d ? head(d) : nothing}
      </section>
      <p class="load-error" role="alert" ?hidden=${!state.loadError}>
        ${state.loadError
          ? html`Could not load the session pipeline: ${state.loadError}
              <button type="button" @click=${() => void fetchNow()}>Try again</button>`
          : nothing}
      </p>
      <div class="pipeline-content">${content()}</div>
      <div class="visually-hidden" role="status" aria-live="polite">${state.said}</div>`,
    mount,
  );
  if (d?.configured) syncChart(d.usage.by_day);
  else destroyChart();
}

function content() {
  const d = state.data;
  if (!d) return state.loadError ? nothing : html`<p class="loading">Loading the session pipeline…</p>`;
  if (!d.configured) return explanation(state.configPath);
  return html`${processorsTable(d.processors)} ${usageSection(d.usage)} ${filesSection(d)}`;
}
