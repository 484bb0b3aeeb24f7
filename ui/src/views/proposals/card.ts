// A pending or in-progress proposal as a card, and the decision on it: Approve, or Reject
// with an optional reason typed inline. While a decision is in flight both are disabled; a
// refusal (409: decided elsewhere first) stays on the proposal, in words, wherever it moves.

import { api, ApiError } from '../../api';
import { html, nothing } from '../../dom';
import { fullTime, share } from '../../format';
import { timeAgo, timeExpires } from '../../ticker';
import type { Proposal } from '../../types';
import { auditSection } from './audit';
import { body, outcome, riskTag, statusBadge } from './facts';
import {
  accept,
  changed,
  domId,
  followed,
  inflight,
  isPending,
  notices,
  rejecting,
  settings,
  title,
  words,
} from './state';

export function card(p: Proposal) {
  const id = domId(p.action_id);
  const pending = isPending(p);
  return html`<article
    class="proposal card"
    id=${id}
    aria-labelledby="${id}-title"
    aria-busy=${String(inflight.has(p.action_id))}
    data-action-id=${p.action_id}
    data-status=${p.status}
    data-requires-human=${String(p.requires_human)}
  >
    <header>
      <h3 id="${id}-title" class="title" tabindex="-1" data-focus="home">${title(p)}</h3>
      ${pending && p.requires_human ? html`<span class="badge warning needs-human">NEEDS YOUR APPROVAL</span>` : nothing}
      ${pending ? nothing : statusBadge(p.status)}
      <span class="tag confidence" title="How sure the planner is">confidence ${share(p.confidence)}</span>
      ${riskTag(p.risk_level)}
      <span class="when">proposed ${timeAgo(p.created_at)}</span>
      ${pending ? expiry(p) : nothing}
    </header>
    ${pending ? nothing : outcome(p)} ${body(p)} ${pending ? nothing : auditSection(p, false)} ${noticeOf(p)}
    <footer class="card-actions"><code class="action-id">${p.action_id}</code>${controls(p)}</footer>
  </article>`;
}

/** What went wrong with the last decision sent from this page. */
export function noticeOf(p: Proposal) {
  const text = notices.get(p.action_id);
  return text ? html`<p class="notice" role="alert" data-notice>${text}</p>` : nothing;
}

/** "expires in 14:32": pending proposals expire `ttlSecs` after they were proposed. */
function expiry(p: Proposal) {
  const at = new Date(Date.parse(p.created_at) + settings.ttlSecs * 1000).toISOString();
  return html`<span class="expires" title="Expires unanswered at ${fullTime(at)}">${timeExpires(at)}</span>`;
}

/** The footer's controls: Approve / Reject (or the reject form) while pending, the live
 *  progress after. */
function controls(p: Proposal) {
  const id = p.action_id;
  if (!isPending(p)) return html`<span class="progress" data-progress>${progressWords(p)}</span>`;
  const sending = inflight.has(id);
  const describedBy = `${domId(id)}-title`;
  if (rejecting.has(id)) {
    const submit = (e: SubmitEvent) => {
      e.preventDefault();
      const input = (e.currentTarget as HTMLFormElement).elements.namedItem('reason') as HTMLInputElement;
      void decide(id, 'reject', input.value);
    };
    const escape = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && !inflight.has(id)) {
        e.preventDefault();
        closeRejectForm(e.currentTarget as HTMLElement, id);
      }
    };
    return html`<form class="reject-form" aria-label="Reject ${title(p)}" @submit=${submit} @keydown=${escape}>
      <input type="text" name="reason" class="reason-input" maxlength="500" placeholder="Reason (optional)"
        aria-label="Reason for rejecting: ${title(p)} (optional)" data-focus="reason" ?disabled=${sending} />
      <button type="submit" class="danger" data-reject-confirm data-focus="reject-confirm" ?disabled=${sending}
        >${sending ? 'Rejecting…' : 'Reject'}</button
      ><button type="button" data-reject-cancel data-focus="reject-cancel" ?disabled=${sending}
        @click=${(e: Event) => closeRejectForm(e.currentTarget as HTMLElement, id)}>Cancel</button>
    </form>`;
  }
  const openForm = (e: Event) => {
    const article = (e.currentTarget as HTMLElement).closest('article');
    rejecting.add(id);
    notices.delete(id);
    changed();
    article?.querySelector<HTMLInputElement>('input[data-focus="reason"]')?.focus();
  };
  return html`<button type="button" data-reject data-focus="reject" aria-describedby=${describedBy} ?disabled=${sending}
      @click=${openForm}>Reject…</button
    ><button type="button" class="primary" data-approve data-focus="approve" aria-describedby=${describedBy}
      ?disabled=${sending} @click=${() => void decide(id, 'approve')}>${sending ? 'Approving…' : 'Approve'}</button>`;
}

/** Closes the reject form; focus goes back to Reject. */
function closeRejectForm(from: HTMLElement, id: string): void {
  const article = from.closest('article');
  rejecting.delete(id);
  changed();
  article?.querySelector<HTMLButtonElement>('button[data-reject]')?.focus();
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
  changed();
  try {
    const after = verb === 'approve' ? await api.approve(id) : await api.reject(id, reason);
    inflight.delete(id);
    rejecting.delete(id);
    accept(after);
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
    api.proposal(id).then((p) => accept(p) && changed(), () => {});
  } finally {
    inflight.delete(id);
    changed();
  }
}
