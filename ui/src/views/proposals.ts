// Proposals: what the planner wants done, and what became of it. Pending and in-progress
// ones (approved, running, succeeded and waiting for verification) come first, as cards in
// the API's queue order (oldest first); then the history as compact rows, newest first,
// that expand into the same facts plus the outcome (proposals/row.ts).
// Every change (the live stream, a decision's answer, run output, an audit loaded) renders
// the two keyed lists again: each proposal keeps its element while it stays in its list, so
// what a person opened, focused, typed or scrolled stays as it was. A card that becomes a
// history row takes focus with it (dom.ts).
// This module holds the view's entry points; the parts: proposals/state.ts (what is known),
// card.ts (cards and decisions), row.ts, facts.ts (what both show), audit.ts.

import { api } from '../api';
import { el, html, keyed, nothing, renderKeepingFocus } from '../dom';
import type { LiveRun, Proposal } from '../types';
import { forgetAudits, syncAudits } from './proposals/audit';
import { card } from './proposals/card';
import { forgetRows, row } from './proposals/row';
import { accept, isActive, isPending, liveRuns, proposals, said, settings, whenChanged } from './proposals/state';

const EMPTY = 'No proposals. When something breaks, Steward plans a fix here.';

let loaded = false;
let refetchTimer = 0;
/** The view's element, kept across visits (lit-html keeps its state on it). */
const mount = el('div', { id: 'proposals' });

/** The count in the nav link; it lives outside the view, so it is built once here. */
const badge = el('span', { class: 'count', 'data-pending-count': '', hidden: '' }, '0');

export function pendingBadge(): HTMLSpanElement {
  return badge;
}

/** The number of pending proposals, from the status (pushed on every change). When it
 *  disagrees with the cards (a proposal decided elsewhere), the list is fetched again. */
export function setPendingCount(n: number): void {
  badge.textContent = String(n);
  badge.hidden = n === 0;
  badge.parentElement?.setAttribute('aria-label', n ? `Proposals, ${n} pending` : 'Proposals');
  const known = [...proposals.values()].filter(isPending).length;
  if (loaded && n !== known && !refetchTimer) {
    refetchTimer = window.setTimeout(() => {
      api.proposals().then(setProposals, () => {});
      refetchTimer = 0;
    }, 250);
  }
}

/** The proposal lifetime from the status, for the expiry countdown on pending cards. */
export function setProposalTtl(secs: number | undefined): void {
  if (typeof secs === 'number' && secs > 0 && secs !== settings.ttlSecs) {
    settings.ttlSecs = secs;
    update();
  }
}

/** A running command's output so far, shown on its card as it comes. */
export function setRunOutput(o: LiveRun): void {
  const p = proposals.get(o.action_id);
  if (p && p.status !== 'running' && p.status !== 'approved') return; // it ended already
  liveRuns.set(o.action_id, o);
  update();
}

/** The whole list (first load, resync): proposals no longer in it are dropped. */
export function setProposals(list: Proposal[]): void {
  loaded = true;
  const ids = new Set(list.map((p) => p.action_id));
  for (const id of [...proposals.keys()]) if (!ids.has(id)) proposals.delete(id);
  forgetAudits((id) => ids.has(id));
  forgetRows((id) => ids.has(id));
  for (const p of list) accept(p);
  update();
}

/** One proposal, new or changed (the live stream, or the answer to a decision). */
export function addProposal(p: Proposal): void {
  if (accept(p)) update();
}

export function renderProposals(host: HTMLElement): void {
  host.replaceChildren(mount);
  update();
}

whenChanged(() => update());

function update(): void {
  if (!mount.isConnected) return;
  // A live output scrolled to its end follows the new lines.
  const following = [...mount.querySelectorAll<HTMLElement>('pre[data-follow]')].filter(
    (pre) => pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4,
  );
  renderKeepingFocus(view(), mount, 'data-action-id');
  for (const pre of following) pre.scrollTop = pre.scrollHeight;
  syncAudits(mount);
}

const byTime = (a: Proposal, b: Proposal) => a.timestamp - b.timestamp;
const byId = (p: Proposal) => p.action_id;

function view() {
  const all = [...proposals.values()];
  const active = all.filter(isActive).sort(byTime);
  const history = all.filter((p) => !isActive(p)).sort((a, b) => byTime(b, a));
  const waiting = active.filter(isPending).length;
  const busy = active.length - waiting;
  const heading = (waiting ? `Pending (${waiting})` : 'Pending') + (busy ? ` · in progress (${busy})` : '');
  const empty = proposals.size === 0 ? EMPTY : 'Nothing waiting for you.';
  return html`<section class="proposal-pending" aria-labelledby="proposals-pending-heading">
      <h2 id="proposals-pending-heading">${heading}</h2>
      <div class="cards">${keyed(active, byId, card)}${active.length ? nothing : html`<p class="empty">${empty}</p>`}</div>
    </section>
    <section class="proposal-history" aria-labelledby="proposals-history-heading" ?hidden=${history.length === 0}>
      <h2 id="proposals-history-heading">History</h2>
      <div class="history">${keyed(history, byId, row)}</div>
    </section>
    <div class="visually-hidden" role="status" aria-live="polite">${said.text}</div>`;
}

