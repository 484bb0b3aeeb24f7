// Proposals: what the planner wants done, and what became of it. Pending and in-progress
// ones (approved, running, succeeded and waiting for verification) come first, as cards in
// the API's queue order (oldest first); then the history as compact rows that expand into
// the same facts plus the outcome: who decided and when, the run's output, the verification
// and the audit trail (fetched when it is shown).
// A proposal from the live stream is placed by its `data-action-id` (inserted, or its own
// element replaced, keeping which <details> were open, what had focus and how far an output
// was scrolled), never by re-rendering the view, so focus elsewhere survives.
// Pending cards end in Approve and Reject (with an optional reason, typed inline). While a
// decision is in flight both are disabled; a refusal (409: decided elsewhere first) stays
// on the proposal, in words, wherever it moves.

import { api, ApiError } from '../api';
import { el } from '../dom';
import { ago, clock, countdown } from '../format';
import type { Execution, LiveRun, LlmAttempt, Proposal, RunResult } from '../types';

const EMPTY = 'No proposals. When something breaks, Steward plans a fix here.';

const proposals = new Map<string, Proposal>();
let loaded = false;
let refetchTimer = 0;

/** Decisions sent from this page and not answered yet. */
const inflight = new Set<string>();
/** Open reject forms, with the reason typed so far (kept across live re-renders). */
const rejecting = new Map<string, string>();
/** What went wrong with the last decision sent from this page, shown on its proposal. */
const notices = new Map<string, string>();
/** Proposals decided from this page: their history row opens by itself when they finish. */
const followed = new Set<string>();
/** Audit rows per proposal, with the key (status and update time) they were fetched for. */
const audits = new Map<string, { key: string; rows: Execution[]; error?: string }>();
/** The latest audit request per proposal: an older answer arriving late is dropped. */
const auditAsked = new Map<string, { key: string; seq: number }>();
let auditSeq = 0;
/** Output of the commands running now, per proposal (pushed while they print). */
const liveRuns = new Map<string, LiveRun>();
/** How long a proposal waits for a decision (`proposal_ttl_secs` of the status). */
let ttlSecs = 15 * 60;

/** The mounted view's parts; `null` before the first mount. */
let parts: {
  root: HTMLDivElement;
  pendingHeading: HTMLHeadingElement;
  pending: HTMLDivElement;
  historySection: HTMLElement;
  history: HTMLDivElement;
  live: HTMLDivElement;
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

/** The proposal lifetime from the status, for the expiry countdown on pending cards. */
export function setProposalTtl(secs: number | undefined): void {
  if (typeof secs === 'number' && secs > 0) ttlSecs = secs;
}

/** A running command's output so far: shown in place on its card (no re-render, so the
 *  scroll position and focus stay; an output scrolled to its end follows new lines). */
export function setRunOutput(o: LiveRun): void {
  const p = proposals.get(o.action_id);
  if (p && p.status !== 'running' && p.status !== 'approved') return; // it ended already
  liveRuns.set(o.action_id, o);
  const card = elementOf(o.action_id);
  if (!card) return;
  const block = card.querySelector<HTMLElement>('[data-live-run]');
  if (!block) {
    redraw(o.action_id);
    return;
  }
  for (const s of ['stdout', 'stderr'] as const) {
    const pre = block.querySelector<HTMLElement>(`pre[data-output="${s}"]`);
    const text = o[`${s}_tail`].replace(/\s+$/, '');
    if (!pre) {
      if (text) redraw(o.action_id);
      continue;
    }
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    if (pre.textContent !== text) pre.textContent = text;
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  }
  const elapsed = block.querySelector('[data-elapsed]');
  if (elapsed) elapsed.textContent = seconds(o.elapsed_ms);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

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

/** One proposal, new or changed (the live stream, or the answer to a decision). A version
 *  older than the one shown (the answer to a click overtaken by the stream) is ignored. */
export function addProposal(p: Proposal): void {
  const before = proposals.get(p.action_id);
  if (before && isOlder(p, before)) return;
  proposals.set(p.action_id, p);
  if (p.run && 'live' in p.run) liveRuns.set(p.action_id, p.run);
  else if (p.status !== 'running' && p.status !== 'approved') liveRuns.delete(p.action_id);
  if (!parts?.pending.isConnected) return;
  if (before && elementOf(p.action_id) && JSON.stringify(before) === JSON.stringify(p)) return;
  if (before && before.status !== p.status) parts.live.textContent = `${title(p)}: ${words(p.status)}`;
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
  // Status changes in words for screen readers: the cards themselves are replaced.
  const live = el('div', { class: 'visually-hidden', role: 'status', 'aria-live': 'polite' });
  const root = el(
    'div',
    { id: 'proposals' },
    el('section', { class: 'proposal-pending', 'aria-labelledby': 'proposals-pending-heading' }, pendingHeading, pending),
    historySection,
    live,
  );
  parts = { root, pendingHeading, pending, historySection, history, live };
  host.replaceChildren(root);
  renderLists();
}

/** Re-renders the relative times once a second. */
export function tickProposals(now = Date.now()): void {
  if (!parts?.pending.isConnected) return;
  for (const t of parts.root.querySelectorAll<HTMLTimeElement>('time[data-ago]')) {
    t.textContent = ago(t.dateTime, now);
  }
  for (const t of parts.root.querySelectorAll<HTMLTimeElement>('time[data-expires]')) {
    t.textContent = expiresIn(t.dateTime, now);
  }
}

function renderLists(): void {
  if (!parts?.pending.isConnected) return;
  const all = [...proposals.values()];
  const cards = all.filter(isActive).sort(byTime).map(card);
  const rows = all.filter((p) => !isActive(p)).sort((a, b) => byTime(b, a)).map(row);
  parts.pending.replaceChildren(...cards);
  parts.history.replaceChildren(...rows);
  for (const e of [...cards, ...rows]) syncAudit(e);
  refreshHeadings();
}

/** Statuses that still change by themselves, in the order they come. */
const ACTIVE = ['pending', 'approved', 'running', 'succeeded'];
const isPending = (p: Proposal) => p.status === 'pending';
const isActive = (p: Proposal) => ACTIVE.includes(p.status);
const rank = (status: string) => (ACTIVE.includes(status) ? ACTIVE.indexOf(status) : ACTIVE.length);
const elementOf = (id: string) =>
  parts?.root.querySelector<HTMLElement>(`article[data-action-id="${CSS.escape(id)}"]`) ?? null;
const byTime = (a: Proposal, b: Proposal) => a.timestamp - b.timestamp;
const words = (status: string) => status.replace(/_/g, ' ');

/** `p` is an earlier version than `than`: statuses only move forward, then by update time. */
function isOlder(p: Proposal, than: Proposal): boolean {
  if (rank(p.status) !== rank(than.status)) return rank(p.status) < rank(than.status);
  return Date.parse(p.updated_at ?? '') < Date.parse(than.updated_at ?? ''); // NaN: not older
}

/** Puts `p`'s element where it belongs, replacing its old one (which may be in the other
 *  list), and carries over what the person did with the old one. */
function place(p: Proposal): void {
  if (!parts) return;
  const active = isActive(p);
  const fresh = active ? card(p) : row(p);
  const list = active ? parts.pending : parts.history;
  const old = elementOf(p.action_id);
  const restore = old ? carryOver(old, fresh) : () => {};
  if (old?.parentElement === list) {
    old.replaceWith(fresh);
  } else {
    old?.remove();
    // Cards: oldest first. History: newest first.
    const after = (ts: number) => (active ? ts > p.timestamp : ts < p.timestamp);
    const next = [...list.children].find((c) => after(Number((c as HTMLElement).dataset.ts)));
    list.insertBefore(fresh, next ?? null);
  }
  restore();
  syncAudit(fresh);
}

/** Copies the open/closed state of `old`'s <details> to `fresh` now (card to card, row to
 *  row: a card that becomes a row takes the row's defaults), and returns what to do once
 *  `fresh` is in the page: give focus back, restore scroll positions. */
function carryOver(old: HTMLElement, fresh: HTMLElement): () => void {
  const sameKind = old.classList.contains('card') === fresh.classList.contains('card');
  for (const d of sameKind ? old.querySelectorAll<HTMLDetailsElement>('details[data-open-key]') : []) {
    const twin = fresh.querySelector<HTMLDetailsElement>(`details[data-open-key="${d.dataset.openKey}"]`);
    if (twin) twin.open = d.open;
  }
  const scrolled = [...old.querySelectorAll<HTMLElement>('[data-scroll-key]')]
    .filter((e) => e.scrollTop > 0)
    .map((e) => [e.dataset.scrollKey!, e.scrollTop] as const);
  const focused = document.activeElement;
  const key = focused && old.contains(focused) ? (focused.closest<HTMLElement>('[data-focus]')?.dataset.focus ?? 'home') : null;
  return () => {
    for (const [k, top] of scrolled) {
      const e = fresh.querySelector<HTMLElement>(`[data-scroll-key="${k}"]`);
      if (e) e.scrollTop = top;
    }
    if (key === null) return;
    const same = fresh.querySelector<HTMLElement>(`[data-focus="${key}"]`);
    const target = same && !(same as HTMLButtonElement).disabled && same.offsetParent !== null ? same : homeOf(fresh);
    target?.focus();
    if (target instanceof HTMLInputElement) target.setSelectionRange(target.value.length, target.value.length);
  };
}

const homeOf = (e: HTMLElement | null) => e?.querySelector<HTMLElement>('[data-focus="home"]') ?? null;

/** Re-renders one proposal's element at once (a decision started or ended here). */
function redraw(id: string): void {
  const p = proposals.get(id);
  if (!p || !parts?.pending.isConnected) return;
  place(p);
  refreshHeadings();
}

function refreshHeadings(): void {
  if (!parts?.pending.isConnected) return;
  const shown = parts.pending.querySelectorAll(':scope > article').length;
  const waiting = parts.pending.querySelectorAll(':scope > article[data-status="pending"]').length;
  const busy = shown - waiting;
  parts.pendingHeading.textContent =
    (waiting ? `Pending (${waiting})` : 'Pending') + (busy ? ` · in progress (${busy})` : '');
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

/** The status in words (colour second): good ends green, bad ones red, the rest neutral. */
function statusBadge(status: string): HTMLSpanElement {
  const tone =
    status === 'pending' || status === 'approved' || status === 'running' || status === 'succeeded'
      ? 'info'
      : status === 'resolved'
        ? 'ok'
        : /^(failed|timed_out|unresolved|interrupted|error)$/.test(status)
          ? 'error'
          : 'disabled';
  return el('span', { class: `badge ${tone} status`, 'data-status-badge': status }, words(status).toUpperCase());
}

function riskTag(risk: string): HTMLSpanElement {
  const tone = risk === 'guarded' ? 'warning' : risk === 'low' ? 'ok' : 'disabled';
  return el('span', { class: `tag ${tone}` }, `risk ${risk}`);
}

/** The id of a card's element; its title is `${domId(p)}-title`. */
const domId = (actionId: string) => `proposal-${actionId.replace(/\s/g, '_')}`;

function card(p: Proposal): HTMLElement {
  const id = domId(p.action_id);
  const pending = isPending(p);
  const head = el(
    'header',
    {},
    el('h3', { id: `${id}-title`, class: 'title', tabindex: '-1', 'data-focus': 'home' }, title(p)),
    pending && p.requires_human ? el('span', { class: 'badge warning needs-human' }, 'NEEDS YOUR APPROVAL') : '',
    pending ? '' : statusBadge(p.status),
    el('span', { class: 'tag confidence', title: 'How sure the planner is' }, `confidence ${percentOf(p.confidence)}`),
    riskTag(p.risk_level),
    el('span', { class: 'when' }, 'proposed ', since(p.created_at)),
    pending ? expiry(p) : '',
  );
  const notice = noticeOf(p);
  return el(
    'article',
    {
      class: 'proposal card',
      id,
      'aria-labelledby': `${id}-title`,
      'aria-busy': String(inflight.has(p.action_id)),
      'data-action-id': p.action_id,
      'data-status': p.status,
      'data-requires-human': String(p.requires_human),
      'data-ts': String(p.timestamp),
    },
    head,
    ...(pending ? [] : [outcome(p)]),
    ...body(p),
    ...(pending ? [] : [auditSection(p, false)]),
    ...(notice ? [notice] : []),
    el('footer', { class: 'card-actions' }, el('code', { class: 'action-id' }, p.action_id), ...controls(p)),
  );
}

/** "expires in 14:32": pending proposals expire `ttlSecs` after they were proposed. */
function expiry(p: Proposal): HTMLElement {
  const at = new Date(Date.parse(p.created_at) + ttlSecs * 1000).toISOString();
  return el(
    'span',
    { class: 'expires', title: `Expires unanswered at ${new Date(at).toLocaleString()}` },
    el('time', { datetime: at, 'data-expires': '' }, expiresIn(at)),
  );
}

function expiresIn(iso: string, now = Date.now()): string {
  return Date.parse(iso) <= now ? 'expiring…' : `expires in ${countdown(iso, now)}`;
}

/** The footer's controls: Approve / Reject (or the reject form) while pending, the live
 *  progress after. */
function controls(p: Proposal): HTMLElement[] {
  const id = p.action_id;
  if (!isPending(p)) {
    return [el('span', { class: 'progress', 'data-progress': '' }, progressWords(p))];
  }
  const sending = inflight.has(id);
  const disabled: Record<string, string> = sending ? { disabled: '' } : {};
  if (rejecting.has(id)) {
    const input = el('input', {
      type: 'text',
      name: 'reason',
      class: 'reason-input',
      maxlength: '500',
      placeholder: 'Reason (optional)',
      'aria-label': `Reason for rejecting: ${title(p)} (optional)`,
      'data-focus': 'reason',
      ...disabled,
    });
    input.value = rejecting.get(id) ?? '';
    input.addEventListener('input', () => rejecting.set(id, input.value));
    const cancel = el(
      'button',
      { type: 'button', 'data-reject-cancel': '', 'data-focus': 'reject-cancel', ...disabled },
      'Cancel',
    );
    cancel.addEventListener('click', () => closeRejectForm(id));
    const form = el(
      'form',
      { class: 'reject-form', 'aria-label': `Reject ${title(p)}` },
      input,
      el(
        'button',
        { type: 'submit', class: 'danger', 'data-reject-confirm': '', 'data-focus': 'reject-confirm', ...disabled },
        sending ? 'Rejecting…' : 'Reject',
      ),
      cancel,
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void decide(id, 'reject', input.value);
    });
    form.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !sending) {
        e.preventDefault();
        closeRejectForm(id);
      }
    });
    return [form];
  }
  const reject = el(
    'button',
    { type: 'button', 'data-reject': '', 'data-focus': 'reject', 'aria-describedby': `${domId(id)}-title`, ...disabled },
    'Reject…',
  );
  reject.addEventListener('click', () => {
    rejecting.set(id, '');
    notices.delete(id);
    redraw(id);
    elementOf(id)?.querySelector<HTMLInputElement>('input[data-focus="reason"]')?.focus();
  });
  const approve = el(
    'button',
    {
      type: 'button',
      class: 'primary',
      'data-approve': '',
      'data-focus': 'approve',
      'aria-describedby': `${domId(id)}-title`,
      ...disabled,
    },
    sending ? 'Approving…' : 'Approve',
  );
  approve.addEventListener('click', () => void decide(id, 'approve'));
  return [reject, approve];
}

function closeRejectForm(id: string): void {
  rejecting.delete(id);
  redraw(id);
  elementOf(id)?.querySelector<HTMLButtonElement>('button[data-reject]')?.focus();
}

/** "Running /usr/bin/docker restart web…": what is happening now, in words. */
function progressWords(p: Proposal): string {
  const who = p.decided_by ? ` by ${p.decided_by}` : '';
  switch (p.status) {
    case 'approved':
      return `Approved${who}; starting…`;
    case 'running':
      return `Running${p.type ? ` ${p.type}` : ''}…`;
    case 'succeeded':
      return 'The command succeeded; checking the target…';
    default:
      return words(p.status);
  }
}

/** Sends a decision. The buttons stay disabled until the answer; a refusal is kept and
 *  shown on the proposal, and the proposal is fetched again to show where it stands. */
async function decide(id: string, verb: 'approve' | 'reject', reason?: string): Promise<void> {
  if (inflight.has(id)) return;
  inflight.add(id);
  notices.delete(id);
  followed.add(id);
  redraw(id);
  try {
    const after = verb === 'approve' ? await api.approve(id) : await api.reject(id, reason);
    inflight.delete(id);
    rejecting.delete(id);
    addProposal(after);
  } catch (e) {
    inflight.delete(id);
    const expired = e instanceof ApiError && e.code === 'expired';
    const conflict = e instanceof ApiError && (e.code === 'conflict' || e.status === 409);
    const message = e instanceof Error ? e.message : String(e);
    const done = verb === 'approve' ? 'approved' : 'rejected';
    notices.set(
      id,
      expired
        ? `Not ${done}: its time ran out before the click (${message}).`
        : conflict
          ? `Not ${done}: someone decided first (${message}).`
          : `Could not ${verb}: ${message}`,
    );
    if (conflict) {
      rejecting.delete(id);
      followed.delete(id);
    }
    api.proposal(id).then(addProposal, () => {});
  } finally {
    inflight.delete(id);
    redraw(id);
  }
}

function noticeOf(p: Proposal): HTMLElement | null {
  const text = notices.get(p.action_id);
  return text ? el('p', { class: 'notice', role: 'alert', 'data-notice': '' }, text) : null;
}

/** A history row: one summary line that expands into the outcome and the card's facts. */
function row(p: Proposal): HTMLElement {
  const detail = p.status_detail || p.payload?.reason || '';
  const summary = el(
    'summary',
    { 'data-focus': 'home' },
    el('time', { datetime: p.created_at, title: new Date(p.created_at).toLocaleString() }, clock(p.created_at)),
    statusBadge(p.status),
    el('span', { class: 'title' }, title(p)),
    el('span', { class: 'conf' }, percentOf(p.confidence)),
    el('span', { class: 'model' }, p.llm_model),
    el('span', { class: 'reason', title: detail }, detail),
  );
  // Opened by itself when it was decided from this page: its end is what one waits for.
  const details = el(
    'details',
    { 'data-open-key': 'row', ...(followed.has(p.action_id) ? { open: '' } : {}) },
    summary,
    el(
      'div',
      { class: 'row-body' },
      outcome(p),
      ...body(p),
      auditSection(p, true),
      el('code', { class: 'action-id' }, p.action_id),
    ),
  );
  const article = el(
    'article',
    {
      class: 'proposal row',
      'data-action-id': p.action_id,
      'data-status': p.status,
      'data-requires-human': String(p.requires_human),
      'data-ts': String(p.timestamp),
    },
    details,
  );
  details.addEventListener('toggle', () => syncAudit(article));
  const notice = noticeOf(p);
  if (notice) article.append(notice);
  return article;
}

/** Who decided and when, where it stands and why, the command and its output. */
function outcome(p: Proposal): HTMLElement {
  const facts = el('dl', { class: 'facts outcome' });
  if (p.decided_by || p.decided_at) {
    const verb = p.status === 'rejected' ? 'Rejected' : p.decided_by === 'auto' ? 'Run automatically' : 'Approved';
    const when = p.decided_at ? [' at ', el('time', { datetime: p.decided_at, title: new Date(p.decided_at).toLocaleString() }, clock(p.decided_at))] : [];
    facts.append(
      el('dt', {}, 'Decided'),
      el('dd', { 'data-decided': '' }, `${verb}${p.decided_by ? ` by ${p.decided_by}` : ''}`, ...when),
    );
  }
  const verified = p.status === 'resolved' || p.status === 'unresolved';
  // A card in progress has its status in its header already: here only the why, if any.
  if (!isActive(p) || p.status_detail) facts.append(
    el('dt', {}, verified ? 'Verification' : 'Status'),
    el(
      'dd',
      { class: 'status-line' },
      statusBadge(p.status),
      p.status_detail ? el('span', { class: 'status-detail', 'data-status-detail': '' }, ` ${p.status_detail}`) : '',
    ),
  );
  const out: HTMLElement[] = [facts];
  const live = p.status === 'running' || p.status === 'approved' ? liveRuns.get(p.action_id) : undefined;
  if (live) {
    facts.append(
      el('dt', {}, 'Command'),
      el(
        'dd',
        { 'data-run': 'running' },
        el('code', { class: 'argv' }, live.argv.join(' ')),
        ' — running for ',
        el('span', { 'data-elapsed': '' }, seconds(live.elapsed_ms)),
      ),
    );
    const streams = (['stdout', 'stderr'] as const).map((s) => [s, live[`${s}_tail`].replace(/\s+$/, '')] as const);
    out.push(
      el(
        'div',
        { class: 'run-output', 'data-live-run': '' },
        ...streams
          .filter(([s, text]) => text || s === 'stdout')
          .map(([s, text]) =>
            el(
              'figure',
              { class: `output ${s}` },
              el('figcaption', {}, `${s} (live)`),
              el(
                'pre',
                { tabindex: '0', 'data-output': s, 'data-scroll-key': s, 'aria-label': `${s} of the running command`, 'aria-live': 'off' },
                text,
              ),
            ),
          ),
      ),
    );
    return el('section', { class: 'outcome', 'aria-label': 'Outcome' }, ...out);
  }
  const run = p.run && !('live' in p.run) ? (p.run as RunResult) : null;
  if (run) {
    const bits = [
      run.end === 'ok' ? 'ok' : run.end === 'timedout' ? 'timed out' : 'failed',
      run.exit_code !== null && run.exit_code !== undefined ? `exit ${run.exit_code}` : '',
      run.duration_ms !== null && run.duration_ms !== undefined ? `${run.duration_ms} ms` : '',
    ].filter(Boolean);
    facts.append(
      el('dt', {}, 'Command'),
      el('dd', { 'data-run': run.end }, el('code', { class: 'argv' }, (run.argv ?? []).join(' ')), ` — ${bits.join(' · ')}`),
    );
    const streams = (['stdout', 'stderr'] as const)
      .map((s) => [s, (run[`${s}_tail`] ?? '').replace(/\s+$/, '')] as const)
      .filter(([, text]) => text);
    out.push(
      el(
        'div',
        { class: 'run-output' },
        ...(streams.length
          ? streams.map(([s, text]) =>
              el(
                'figure',
                { class: `output ${s}` },
                el('figcaption', {}, `${s} (tail)`),
                el('pre', { tabindex: '0', 'data-output': s, 'data-scroll-key': s, 'aria-label': `${s} of the command` }, text),
              ),
            )
          : [el('p', { class: 'sub' }, 'The command wrote no output.')]),
      ),
    );
  }
  return el('section', { class: 'outcome', 'aria-label': 'Outcome' }, ...out);
}

/** The audit trail, oldest first; fetched when shown and again when the proposal changes. */
function auditSection(p: Proposal, open: boolean): HTMLDetailsElement {
  const d = el(
    'details',
    { class: 'audit', 'data-open-key': 'audit', 'data-audit-for': p.action_id, ...(open ? { open: '' } : {}) },
    el('summary', { 'data-focus': 'audit' }, 'Audit trail'),
    el('div', { class: 'audit-body' }),
  );
  fillAudit(d);
  d.addEventListener('toggle', () => syncAudit(d));
  return d;
}

const auditKey = (p: Proposal) => `${p.status}|${p.updated_at ?? ''}`;

/** Loads the audit of every audit list in `scope` that a person can see. */
function syncAudit(scope: HTMLElement): void {
  const lists = scope.matches('details.audit') ? [scope] : [...scope.querySelectorAll<HTMLElement>('details.audit')];
  for (const d of lists as HTMLDetailsElement[]) {
    const outer = d.parentElement?.closest('details');
    if (d.isConnected && d.open && (!outer || outer.open)) loadAudit(d.dataset.auditFor!);
  }
}

function loadAudit(id: string): void {
  const p = proposals.get(id);
  if (!p) return;
  const key = auditKey(p);
  if (audits.get(id)?.key === key || auditAsked.get(id)?.key === key) return;
  const seq = ++auditSeq;
  auditAsked.set(id, { key, seq });
  const had = audits.get(id);
  api.executions(id).then(
    (rows) => settle({ key, rows }),
    // An error is kept with no key, so opening the list again retries.
    (e: unknown) => settle({ key: '', rows: had?.rows ?? [], error: e instanceof Error ? e.message : String(e) }),
  );
  function settle(entry: { key: string; rows: Execution[]; error?: string }): void {
    if (auditAsked.get(id)?.seq !== seq) return; // a newer request is under way
    auditAsked.delete(id);
    audits.set(id, entry);
    for (const d of elementOf(id)?.querySelectorAll<HTMLDetailsElement>('details.audit') ?? []) fillAudit(d);
  }
}

function fillAudit(d: HTMLDetailsElement): void {
  const body = d.querySelector('.audit-body')!;
  const got = audits.get(d.dataset.auditFor!);
  if (!got) {
    body.replaceChildren(el('p', { class: 'sub' }, 'Loading…'));
    return;
  }
  const out: HTMLElement[] = [];
  if (got.error) out.push(el('p', { class: 'notice' }, `Cannot load the audit trail: ${got.error}`));
  if (got.rows.length === 0 && !got.error) out.push(el('p', { class: 'sub' }, 'No steps recorded yet.'));
  if (got.rows.length) {
    const dash = '—';
    const exit = (r: Execution) =>
      r.timed_out ? 'timed out' : r.exit_code !== null ? String(r.exit_code) : r.signal !== null ? `signal ${r.signal}` : dash;
    out.push(
      el(
        'table',
        { class: 'audit-table' },
        el('caption', { class: 'visually-hidden' }, 'Audit trail, oldest first'),
        el(
          'thead',
          {},
          el('tr', {}, ...['Time', 'Actor', 'Step', 'Status', 'Exit', 'Duration', 'Detail'].map((h) => el('th', { scope: 'col' }, h))),
        ),
        el(
          'tbody',
          {},
          ...[...got.rows].reverse().map((r) =>
            el(
              'tr',
              { 'data-step': r.step },
              el('td', {}, el('time', { datetime: r.at, title: new Date(r.at).toLocaleString() }, clock(r.at))),
              el('td', {}, r.actor),
              el('td', { class: 'step' }, r.step),
              el('td', { class: 'transition' }, `${words(r.status_before)} → ${words(r.status_after)}`),
              el('td', { class: 'num' }, exit(r)),
              el('td', { class: 'num' }, r.duration_ms !== null ? `${r.duration_ms} ms` : dash),
              el('td', { class: 'audit-detail' }, r.detail ?? ''),
            ),
          ),
        ),
      ),
    );
  }
  body.replaceChildren(...out);
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
