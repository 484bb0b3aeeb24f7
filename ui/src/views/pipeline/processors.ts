// The processors table: one row per `[[sessions.processors]]` (kept by name), with its state,
// last run and outcome, the files of that run, its backlog, the next run, and Run now.
// Run now is marked unavailable (aria-disabled) while the processor runs but stays focusable:
// the page's idea of "running" can lag the engine, so pressing it still asks, and a refusal
// (409: it is running) is shown in words next to the button until that run ends.

import { api, ApiError } from '../../api';
import { busy, html, keyed, nothing } from '../../dom';
import { exactDuration, plural } from '../../format';
import { timeAgo, timeUntil } from '../../ticker';
import type { ProcessorState } from '../../types';
import { changed, notices, pushes, scheduleRefetch, state } from './state';

const COLUMNS = ['Processor', 'Kind', 'Cadence', 'State', 'Last run', 'Files (last run)', 'Backlog', 'Next run', ''];
const NONE = 'No [[sessions.processors]] configured: files are indexed but nothing reads them.';

export function processorsTable(list: ProcessorState[]) {
  return html`<section aria-labelledby="pipeline-processors-title">
    <h2 id="pipeline-processors-title">Processors</h2>
    <div class="table-wrap">
      <table class="grid processors" id="pipeline-processors" aria-labelledby="pipeline-processors-title">
        <thead>
          <tr>${COLUMNS.map((h) => html`<th scope="col">${h}</th>`)}</tr>
        </thead>
        <tbody>
          ${keyed(list, (p) => p.name, row)}
          ${list.length ? nothing : html`<tr><td colspan=${COLUMNS.length} class="empty">${NONE}</td></tr>`}
        </tbody>
      </table>
    </div>
  </section>`;
}

function row(p: ProcessorState) {
  const s = p.running ? 'running' : p.enabled ? 'idle' : 'disabled';
  const notice = notices.get(p.name) ?? '';
  return html`<tr data-processor=${p.name} data-state=${s} data-outcome=${p.last_outcome ?? ''}>
    <td class="name"><strong>${p.name}</strong></td>
    <td class="kind">${p.kind}</td>
    <td class="num">every ${exactDuration(p.cadence_secs)}</td>
    <td class="p-state"><span class="badge ${s === 'running' ? 'info' : s}">${s.toUpperCase()}</span></td>
    <td class="p-last">${lastRun(p)}</td>
    <td class="num p-files ${p.files_failed > 0 ? 'error-text' : ''}"
      >${p.last_run_finished_at ? `${p.files_processed} ok · ${p.files_failed} failed` : '—'}</td
    >
    <td class="num p-backlog" title=${p.backlog ? `${plural(p.backlog, 'file')} due now` : 'nothing due'}>${p.backlog}</td>
    <td class="p-next">${nextRun(p)}</td>
    <td class="actions">
      <button
        type="button"
        class="run"
        aria-label="Run ${p.name} now"
        data-run=${p.name}
        aria-disabled=${String(p.running)}
        title=${p.running ? `${p.name} is running; it can run again once this run ends` : `Process ${p.name}'s due files now`}
        @click=${(e: Event) => runNow(p.name, e.currentTarget as HTMLButtonElement)}
      >Run now</button
      ><span class="run-notice" role="status" data-run-notice=${p.name} ?hidden=${!notice}>${notice}</span>
    </td>
  </tr>`;
}

function lastRun(p: ProcessorState) {
  if (p.running) return html`running, started ${p.last_run_started_at ? timeAgo(p.last_run_started_at) : 'just now'}`;
  if (!p.last_run_finished_at) return html`<span class="muted">never run</span>`;
  const error = p.last_error
    ? html` <span class="error-text p-error" title=${p.last_error}>${p.last_error}</span>`
    : nothing;
  return html`${timeAgo(p.last_run_finished_at)} ${outcomeBadge(p.last_outcome)}${error}`;
}

function nextRun(p: ProcessorState) {
  if (!p.enabled) return html`<span class="muted">only when asked</span>`;
  return p.next_run_at ? timeUntil(p.next_run_at) : '—';
}

function outcomeBadge(o: ProcessorState['last_outcome']) {
  if (!o) return html`<span class="muted">no outcome</span>`;
  const tone = o === 'ok' ? 'ok' : o === 'cancelled' ? 'disabled' : 'error';
  return html`<span class="badge ${tone} outcome" data-outcome=${o}>${o.toUpperCase()}</span>`;
}

async function runNow(name: string, button: HTMLButtonElement): Promise<void> {
  await busy(button, async () => {
    notices.delete(name);
    const seq = pushes();
    try {
      await api.runProcessor(name);
      // Shown as running at once, unless a push already said how the run stands.
      const p = state.data?.processors.find((x) => x.name === name);
      if (p && seq === pushes() && !p.running) p.running = true;
      state.said = `${name}: run started`;
      scheduleRefetch();
    } catch (e) {
      const conflict = e instanceof ApiError && (e.code === 'conflict' || e.status === 409);
      const message = (e as Error).message;
      notices.set(name, conflict ? `Not started: ${message}.` : `Could not start ${name}: ${message}`);
    }
    changed();
  });
}
