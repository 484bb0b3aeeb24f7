// A proposal in the history: one summary line (when, status, what, confidence, model, why)
// that expands into the outcome, the card's facts and the audit trail.

import { html } from '../../dom';
import { clock, fullTime, share } from '../../format';
import type { Proposal } from '../../types';
import { auditSection, syncAudits } from './audit';
import { noticeOf } from './card';
import { body, outcome, statusBadge } from './facts';
import { followed, title } from './state';

/** Whether each row was open when it was made: opened by itself when it was decided from
 *  this page (its end is what one waits for); after that, the person's choice. */
const openAtFirst = new Map<string, boolean>();

export function row(p: Proposal) {
  const id = p.action_id;
  const detail = p.status_detail || p.payload?.reason || '';
  if (!openAtFirst.has(id)) openAtFirst.set(id, followed.has(id));
  return html`<article
    class="proposal row"
    data-action-id=${id}
    data-status=${p.status}
    data-requires-human=${String(p.requires_human)}
  >
    <details data-open-key="row" ?open=${openAtFirst.get(id)} @toggle=${(e: Event) => syncAudits(e.currentTarget as Element)}>
      <summary data-focus="home"
        ><time datetime=${p.created_at} title=${fullTime(p.created_at)}>${clock(p.created_at)}</time>${statusBadge(p.status)}<span
          class="title"
          >${title(p)}</span
        ><span class="conf">${share(p.confidence)}</span><span class="model">${p.llm_model}</span><span
          class="reason"
          title=${detail}
          >${detail}</span
        ></summary
      >
      <div class="row-body">${outcome(p)} ${body(p)} ${auditSection(p, true)} <code class="action-id">${id}</code></div>
    </details>
    ${noticeOf(p)}
  </article>`;
}

/** Forgets rows no longer listed. */
export function forgetRows(keep: (id: string) => boolean): void {
  for (const id of [...openAtFirst.keys()]) if (!keep(id)) openAtFirst.delete(id);
}
