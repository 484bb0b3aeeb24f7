// A proposal's audit trail: fetched when a person can see it (its <details> open, and the
// history row around it open too), and again when the proposal changed since; shown oldest
// first. An answer overtaken by a newer request is dropped.

import { api } from '../../api';
import { html, nothing } from '../../dom';
import { clock, fullTime, millisExact } from '../../format';
import type { Execution, Proposal } from '../../types';
import { changed, proposals, words } from './state';

/** Audit rows per proposal, with the key (status and update time) they were fetched for. */
const audits = new Map<string, { key: string; rows: Execution[]; error?: string }>();
/** The latest audit request per proposal: an older answer arriving late is dropped. */
const asked = new Map<string, { key: string; seq: number }>();
let seq = 0;

const keyOf = (p: Proposal) => `${p.status}|${p.updated_at ?? ''}`;

/** The collapsible audit list of `p`; `open` at first (inside history rows) or closed. */
export function auditSection(p: Proposal, open: boolean) {
  return html`<details class="audit" data-open-key="audit" data-audit-for=${p.action_id} ?open=${open}
    @toggle=${(e: Event) => syncAudits((e.currentTarget as HTMLElement).closest('article') ?? document.body)}>
    <summary data-focus="audit">Audit trail</summary>
    <div class="audit-body">${auditBody(p.action_id)}</div>
  </details>`;
}

/** Loads the audit of every audit list in `scope` that a person can see. */
export function syncAudits(scope: Element): void {
  for (const d of scope.querySelectorAll<HTMLDetailsElement>('details.audit')) {
    const outer = d.parentElement?.closest('details');
    if (d.isConnected && d.open && (!outer || outer.open)) load(d.dataset.auditFor!);
  }
}

/** Forgets what is known about proposals no longer listed. */
export function forgetAudits(keep: (id: string) => boolean): void {
  for (const id of [...audits.keys()]) if (!keep(id)) audits.delete(id);
}

function load(id: string): void {
  const p = proposals.get(id);
  if (!p) return;
  const key = keyOf(p);
  if (audits.get(id)?.key === key || asked.get(id)?.key === key) return;
  const mine = ++seq;
  asked.set(id, { key, seq: mine });
  const had = audits.get(id);
  api.executions(id).then(
    (rows) => settle({ key, rows }),
    // An error is kept with no key, so opening the list again retries.
    (e: unknown) => settle({ key: '', rows: had?.rows ?? [], error: e instanceof Error ? e.message : String(e) }),
  );
  function settle(entry: { key: string; rows: Execution[]; error?: string }): void {
    if (asked.get(id)?.seq !== mine) return; // a newer request is under way
    asked.delete(id);
    audits.set(id, entry);
    changed();
  }
}

function auditBody(id: string) {
  const got = audits.get(id);
  if (!got) return html`<p class="sub">Loading…</p>`;
  return html`${got.error ? html`<p class="notice">Cannot load the audit trail: ${got.error}</p>` : nothing}
  ${got.rows.length === 0 && !got.error ? html`<p class="sub">No steps recorded yet.</p>` : nothing}
  ${got.rows.length ? table(got.rows) : nothing}`;
}

const dash = '—';
const exit = (r: Execution) =>
  r.timed_out ? 'timed out' : r.exit_code !== null ? String(r.exit_code) : r.signal !== null ? `signal ${r.signal}` : dash;

function table(rows: Execution[]) {
  const heads = ['Time', 'Actor', 'Step', 'Status', 'Exit', 'Duration', 'Detail'];
  return html`<table class="audit-table">
    <caption class="visually-hidden">Audit trail, oldest first</caption>
    <thead>
      <tr>${heads.map((h) => html`<th scope="col">${h}</th>`)}</tr>
    </thead>
    <tbody>
      ${[...rows].reverse().map(
        (r) => html`<tr data-step=${r.step}>
          <td><time datetime=${r.at} title=${fullTime(r.at)}>${clock(r.at)}</time></td>
          <td>${r.actor}</td>
          <td class="step">${r.step}</td>
          <td class="transition">${words(r.status_before)} → ${words(r.status_after)}</td>
          <td class="num">${exit(r)}</td>
          <td class="num">${r.duration_ms !== null ? millisExact(r.duration_ms) : dash}</td>
          <td class="audit-detail">${r.detail ?? ''}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}
