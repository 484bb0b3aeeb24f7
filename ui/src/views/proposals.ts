// Proposals: what the planner wants done. Pending ones first, as cards in the API's queue
// order (oldest first), then the history as compact rows that expand into the same facts.
// A proposal from the live stream is placed by its `data-action-id` (inserted, or its own
// element replaced), never by re-rendering the view, so focus elsewhere survives.
// Each card ends in a footer that holds its id now and the Approve / Reject buttons later.

import { api } from '../api';
import { ago, clock, el } from '../format';
import type { LlmAttempt, Proposal } from '../types';

const EMPTY = 'No proposals. When something breaks, Steward plans a fix here.';

const proposals = new Map<string, Proposal>();
let loaded = false;
let refetchTimer = 0;

/** The mounted view's parts; `null` before the first mount. */
let parts: {
  root: HTMLDivElement;
  pendingHeading: HTMLHeadingElement;
  pending: HTMLDivElement;
  historySection: HTMLElement;
  history: HTMLDivElement;
} | null = null;

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

/** The whole list (first load, resync): elements are kept, replaced or removed one by one. */
export function setProposals(list: Proposal[]): void {
  loaded = true;
  const ids = new Set(list.map((p) => p.action_id));
  for (const id of [...proposals.keys()]) {
    if (ids.has(id)) continue;
    proposals.delete(id);
    elementOf(id)?.remove();
  }
  for (const p of list) addProposal(p);
  refreshHeadings();
}

/** One proposal, new or changed (the live stream). */
export function addProposal(p: Proposal): void {
  const before = proposals.get(p.action_id);
  proposals.set(p.action_id, p);
  if (!parts?.pending.isConnected) return;
  if (before && elementOf(p.action_id) && JSON.stringify(before) === JSON.stringify(p)) return;
  place(p);
  refreshHeadings();
}

export function renderProposals(host: HTMLElement): void {
  const pendingHeading = el('h2', { id: 'proposals-pending-heading' }, 'Pending');
  const pending = el('div', { class: 'cards' });
  const history = el('div', { class: 'history' });
  const historySection = el(
    'section',
    { class: 'proposal-history', 'aria-labelledby': 'proposals-history-heading' },
    el('h2', { id: 'proposals-history-heading' }, 'History'),
    history,
  );
  const root = el(
    'div',
    { id: 'proposals' },
    el('section', { class: 'proposal-pending', 'aria-labelledby': 'proposals-pending-heading' }, pendingHeading, pending),
    historySection,
  );
  parts = { root, pendingHeading, pending, historySection, history };
  host.replaceChildren(root);
  renderLists();
}

/** Re-renders the relative times once a second. */
export function tickProposals(now = Date.now()): void {
  if (!parts?.pending.isConnected) return;
  for (const t of parts.root.querySelectorAll<HTMLTimeElement>('time[data-ago]')) {
    t.textContent = ago(t.dateTime, now);
  }
}

function renderLists(): void {
  if (!parts?.pending.isConnected) return;
  const all = [...proposals.values()];
  parts.pending.replaceChildren(...all.filter(isPending).sort(byTime).map(card));
  parts.history.replaceChildren(...all.filter((p) => !isPending(p)).sort((a, b) => byTime(b, a)).map(row));
  refreshHeadings();
}

const isPending = (p: Proposal) => p.status === 'pending';
const elementOf = (id: string) => parts?.root.querySelector(`[data-action-id="${CSS.escape(id)}"]`);
const byTime = (a: Proposal, b: Proposal) => a.timestamp - b.timestamp;

/** Puts `p`'s element where it belongs, replacing its old one (which may be in the other list). */
function place(p: Proposal): void {
  if (!parts) return;
  const fresh = isPending(p) ? card(p) : row(p);
  const list = isPending(p) ? parts.pending : parts.history;
  const old = elementOf(p.action_id);
  if (old?.parentElement === list) {
    old.replaceWith(fresh);
    return;
  }
  old?.remove();
  // Pending: oldest first. History: newest first.
  const after = (ts: number) => (isPending(p) ? ts > p.timestamp : ts < p.timestamp);
  const next = [...list.children].find((c) => after(Number((c as HTMLElement).dataset.ts)));
  list.insertBefore(fresh, next ?? null);
}

function refreshHeadings(): void {
  if (!parts?.pending.isConnected) return;
  const shown = parts.pending.querySelectorAll(':scope > article').length;
  parts.pendingHeading.textContent = shown ? `Pending (${shown})` : 'Pending';
  const empty = parts.pending.querySelector(':scope > p.empty');
  if (shown === 0) {
    const text = proposals.size === 0 ? EMPTY : 'Nothing waiting for you.';
    if (empty) empty.textContent = text;
    else parts.pending.append(el('p', { class: 'empty' }, text));
  } else {
    empty?.remove();
  }
  parts.historySection.hidden = parts.history.children.length === 0;
}

/** "Restart mosquitto on piha". */
function title(p: Proposal): string {
  const action = p.payload?.action || p.type;
  const verb = action === 'notify' ? 'Notify about' : action.charAt(0).toUpperCase() + action.slice(1);
  return `${verb} ${p.service} on ${p.node}`;
}

function percentOf(confidence: number): string {
  return `${Math.round(confidence * 100)}%`;
}

function since(iso: string): HTMLTimeElement {
  return el('time', { datetime: iso, 'data-ago': '', title: new Date(iso).toLocaleString() }, ago(iso));
}

function statusBadge(status: string): HTMLSpanElement {
  const tone =
    status === 'pending'
      ? 'info'
      : /^(approved|executed|done|succeeded|completed)$/.test(status)
        ? 'ok'
        : /^(failed|error)$/.test(status)
          ? 'error'
          : 'disabled';
  return el('span', { class: `badge ${tone}` }, status.toUpperCase());
}

function riskTag(risk: string): HTMLSpanElement {
  const tone = risk === 'guarded' ? 'warning' : risk === 'low' ? 'ok' : 'disabled';
  return el('span', { class: `tag ${tone}` }, `risk ${risk}`);
}

function card(p: Proposal): HTMLElement {
  const id = `proposal-${p.action_id.replace(/\s/g, '_')}`;
  const head = el(
    'header',
    {},
    el('h3', { id: `${id}-title`, class: 'title' }, title(p)),
    p.requires_human ? el('span', { class: 'badge warning needs-human' }, 'NEEDS YOUR APPROVAL') : '',
    el('span', { class: 'tag confidence', title: 'How sure the planner is' }, `confidence ${percentOf(p.confidence)}`),
    riskTag(p.risk_level),
    el('span', { class: 'when' }, 'proposed ', since(p.created_at)),
  );
  return el(
    'article',
    {
      class: 'proposal card',
      id,
      'aria-labelledby': `${id}-title`,
      'data-action-id': p.action_id,
      'data-status': p.status,
      'data-requires-human': String(p.requires_human),
      'data-ts': String(p.timestamp),
    },
    head,
    ...body(p),
    // The footer takes the Approve / Reject buttons when they come.
    el('footer', { class: 'card-actions' }, el('code', { class: 'action-id' }, p.action_id)),
  );
}

/** A history row: one summary line that expands into the card's facts. */
function row(p: Proposal): HTMLElement {
  const summary = el(
    'summary',
    {},
    el('time', { datetime: p.created_at, title: new Date(p.created_at).toLocaleString() }, clock(p.created_at)),
    statusBadge(p.status),
    el('span', { class: 'title' }, title(p)),
    el('span', { class: 'conf' }, percentOf(p.confidence)),
    el('span', { class: 'model' }, p.llm_model),
    el('span', { class: 'reason' }, p.payload?.reason ?? ''),
  );
  return el(
    'article',
    {
      class: 'proposal row',
      'data-action-id': p.action_id,
      'data-status': p.status,
      'data-requires-human': String(p.requires_human),
      'data-ts': String(p.timestamp),
    },
    el('details', {}, summary, el('div', { class: 'row-body' }, ...body(p), el('code', { class: 'action-id' }, p.action_id))),
  );
}

/** The reason, the facts and the evidence, shared by cards and history rows. */
function body(p: Proposal): HTMLElement[] {
  const reason = p.payload?.reason ?? '';
  const out: HTMLElement[] = [el('p', { class: 'reason' }, reason)];
  // The description often repeats the reason ("restart x on y: <reason>"): shown only when it adds.
  if (p.description && !p.description.includes(reason)) out.push(el('p', { class: 'description' }, p.description));
  const facts = el(
    'dl',
    { class: 'facts' },
    el('dt', {}, 'Answered by'),
    el('dd', {}, p.llm_model === 'rules' ? 'rules (the built-in rules planner)' : p.llm_model),
  );
  if (p.llm_attempts?.length) facts.append(el('dt', {}, 'Tried'), el('dd', {}, attempts(p.llm_attempts)));
  facts.append(el('dt', {}, 'Executor'), el('dd', {}, p.type));
  if (p.overrides?.length) {
    facts.append(
      el('dt', {}, 'Policy overrides'),
      el('dd', {}, el('ul', { class: 'overrides' }, ...p.overrides.map((o) => el('li', {}, o)))),
    );
  }
  if (p.dependents?.length) {
    facts.append(el('dt', {}, 'Also failing because of it'), el('dd', {}, p.dependents.join(', ')));
  }
  out.push(facts, evidence(p));
  return out;
}

/** "local failed 502 ms (HTTP 500) → rules ok 0 ms", one list item per model tried. */
function attempts(list: LlmAttempt[]): HTMLOListElement {
  return el(
    'ol',
    { class: 'attempts', 'aria-label': 'Models tried, in order' },
    ...list.map((a, i) => {
      const li = el('li', { 'data-outcome': a.outcome, class: `attempt ${a.outcome}` });
      if (i > 0) li.append(el('span', { class: 'arrow', 'aria-hidden': 'true' }, '→ '));
      li.append(`${a.model} ${a.outcome === 'success' ? 'ok' : a.outcome} ${a.latency_ms} ms`);
      if (a.error) {
        const short = a.error.length > 80 ? `${a.error.slice(0, 79)}…` : a.error;
        li.append(el('span', { class: 'attempt-error', title: a.error }, ` (${short})`));
      }
      return li;
    }),
  );
}

/** The source event, collapsed: type, channel and severity in the summary, payload inside. */
function evidence(p: Proposal): HTMLDetailsElement {
  const e = p.source_event ?? ({} as Proposal['source_event']);
  const bits = [e.type, e.channel && `via ${e.channel}`, e.severity && `severity ${e.severity}`].filter(Boolean);
  const at = eventTime(e.timestamp);
  return el(
    'details',
    { class: 'evidence' },
    el('summary', {}, `Source event: ${bits.join(' · ')}`),
    el(
      'div',
      { class: 'evidence-body' },
      el('span', { class: 'sub' }, `${e.node ?? '?'} / ${e.service ?? '?'}${at ? ` at ${clock(at)}` : ''}`),
      el('pre', {}, e.payload === undefined ? '(no payload)' : JSON.stringify(e.payload)),
    ),
  );
}

function eventTime(t: number | string | undefined): string | null {
  if (t === undefined || t === null || t === '') return null;
  const d = typeof t === 'number' ? new Date(t * 1000) : new Date(t);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}
