// What the Proposals view knows: the proposals by id, what this page is doing with them
// (decisions in flight, open reject forms, refusals to show, decisions to follow), the live
// output of running commands, and the rules about a proposal's status. The view registers
// how to show a change (`onChange`); the other modules call `changed()`.

import type { LiveRun, Proposal } from '../../types';

export const proposals = new Map<string, Proposal>();
/** Decisions sent from this page and not answered yet. */
export const inflight = new Set<string>();
/** Proposals whose reject form is open. */
export const rejecting = new Set<string>();
/** What went wrong with the last decision sent from this page, shown on its proposal. */
export const notices = new Map<string, string>();
/** Proposals decided from this page: their history row opens by itself when they finish. */
export const followed = new Set<string>();
/** Output of the commands running now, per proposal (pushed while they print). */
export const liveRuns = new Map<string, LiveRun>();
/** How long a proposal waits for a decision (`proposal_ttl_secs` of the status). */
export const settings = { ttlSecs: 15 * 60 };
/** The last status change, in words, for screen readers. */
export const said = { text: '' };

let onChange = () => {};

/** Sets what a change does (the view renders itself). */
export function whenChanged(f: () => void): void {
  onChange = f;
}

export function changed(): void {
  onChange();
}

/** Statuses that still change by themselves, in the order they come. */
const ACTIVE = ['pending', 'approved', 'running', 'succeeded'];
export const isPending = (p: Proposal) => p.status === 'pending';
export const isActive = (p: Proposal) => ACTIVE.includes(p.status);
const rank = (status: string) => (ACTIVE.includes(status) ? ACTIVE.indexOf(status) : ACTIVE.length);
export const words = (status: string) => status.replace(/_/g, ' ');

/** `p` is an earlier version than `than`: statuses only move forward, then by update time. */
function isOlder(p: Proposal, than: Proposal): boolean {
  if (rank(p.status) !== rank(than.status)) return rank(p.status) < rank(than.status);
  return Date.parse(p.updated_at ?? '') < Date.parse(than.updated_at ?? ''); // NaN: not older
}

/** Takes in one proposal, new or changed. A version older than the one known (the answer to
 *  a click overtaken by the stream) is ignored; so is one equal to it. Says whether it changed. */
export function accept(p: Proposal): boolean {
  const before = proposals.get(p.action_id);
  if (before && (isOlder(p, before) || JSON.stringify(before) === JSON.stringify(p))) return false;
  proposals.set(p.action_id, p);
  if (p.run && 'live' in p.run) liveRuns.set(p.action_id, p.run);
  else if (p.status !== 'running' && p.status !== 'approved') liveRuns.delete(p.action_id);
  if (before && before.status !== p.status) said.text = `${title(p)}: ${words(p.status)}`;
  return true;
}

/** "Restart mosquitto on piha". */
export function title(p: Proposal): string {
  const action = p.payload?.action || p.type;
  const verb = action === 'notify' ? 'Notify about' : action.charAt(0).toUpperCase() + action.slice(1);
  return `${verb} ${p.service} on ${p.node}`;
}

/** The id of a card's element; its title is `${domId(p)}-title`. */
export const domId = (actionId: string) => `proposal-${actionId.replace(/\s/g, '_')}`;
