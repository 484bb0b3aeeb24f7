// Events: the timeline, newest first, filterable by provider, node, type and severity.
// New events from the live stream go on top, drawn once per frame (each item keeps its
// element by event id); the filter choices grow with them (types grouped by where they come
// from: providers, planner, incidents, bus, Steward itself).

import { html, keyed, nothing, render } from '../dom';
import { clock, fullTime } from '../format';
import type { EventRecord } from '../types';

type Key = 'provider' | 'node' | 'type' | 'severity';

const MAX = 1000;
const SEVERITIES = ['info', 'warning', 'error'];
const FILTERS: { key: Key; label: string; value: (e: EventRecord) => string | null }[] = [
  { key: 'provider', label: 'Provider', value: (e) => e.provider_id },
  { key: 'node', label: 'Node', value: (e) => e.node },
  { key: 'type', label: 'Type', value: (e) => e.type },
  { key: 'severity', label: 'Severity', value: (e) => e.severity },
];

/** The type filter's groups, in order; a type matching none is Steward's own. */
const TYPE_GROUPS: [string, RegExp][] = [
  ['Providers', /^breaker_/],
  ['Planner', /^(health_event|alert_|proposal_|plan_|planning_|remediation_)/],
  ['Incidents', /^(incident_|observer_)/],
  ['Bus', /^bus_/],
  ['Notifications', /^(push_|notifications_)/],
  ['Steward', /./],
];
const groupOf = (type: string) => TYPE_GROUPS.findIndex(([, re]) => re.test(type));

let events: EventRecord[] = [];
const chosen: Record<Key, string> = { provider: '', node: '', type: '', severity: '' };
const mount = document.createElement('div');
mount.className = 'events';
let frame = 0;

export function setEvents(all: EventRecord[]): void {
  events = all.slice(0, MAX);
  update();
}

export function addEvent(e: EventRecord): void {
  if (events.some((x) => x.id === e.id)) return;
  events.unshift(e);
  events.length = Math.min(events.length, MAX);
  // Once per frame however many come (an outage at 10,000 providers is as many events).
  if (!frame) frame = requestAnimationFrame(update);
}

export function renderEvents(root: HTMLElement): void {
  root.replaceChildren(mount);
  update();
}

function update(): void {
  cancelAnimationFrame(frame);
  frame = 0;
  if (!mount.isConnected) return;
  const shown = events.filter(matches);
  const empty = events.length ? 'No events match.' : 'No events yet.';
  render(
    html`<div class="filters">${FILTERS.map(filter)}</div>
      <ol class="timeline" aria-label="Events, newest first">
        ${keyed(shown, (e) => e.id, item)} ${shown.length ? nothing : html`<li class="empty">${empty}</li>`}
      </ol>`,
    mount,
  );
}

/** One filter: the values seen so far (plus the current choice), types grouped. */
function filter(f: (typeof FILTERS)[number]) {
  const seen = new Set(f.key === 'severity' ? SEVERITIES : []);
  for (const e of events) {
    const v = f.value(e);
    if (v) seen.add(v);
  }
  if (chosen[f.key]) seen.add(chosen[f.key]);
  const values = f.key === 'severity' ? [...seen] : [...seen].sort();
  if (f.key === 'type') values.sort((a, b) => groupOf(a) - groupOf(b) || a.localeCompare(b));
  const option = (v: string) =>
    html`<option value=${v} .selected=${chosen[f.key] === v}>${f.key === 'type' ? v.replace(/_/g, ' ') : v}</option>`;
  const options =
    f.key === 'type'
      ? TYPE_GROUPS.map(([label], g) => {
          const inGroup = values.filter((v) => groupOf(v) === g);
          return inGroup.length ? html`<optgroup label=${label}>${inGroup.map(option)}</optgroup>` : nothing;
        })
      : values.map(option);
  const change = (e: Event) => {
    chosen[f.key] = (e.currentTarget as HTMLSelectElement).value;
    update();
  };
  return html`<label
    >${f.label}
    <select aria-label="Filter by ${f.label.toLowerCase()}" data-filter=${f.key} @change=${change}>
      <option value="" .selected=${chosen[f.key] === ''}>all</option>
      ${options}
    </select></label
  >`;
}

function matches(e: EventRecord): boolean {
  return FILTERS.every((f) => !chosen[f.key] || f.value(e) === chosen[f.key]);
}

function item(e: EventRecord) {
  const subject = [e.provider_id, [e.node, e.service].filter(Boolean).join('/')].filter(Boolean).join(' · ');
  return html`<li data-event-type=${e.type} data-event-id=${e.id} class="sev-${e.severity}">
    <time datetime=${e.at} title=${fullTime(e.at)}>${clock(e.at)}</time>
    <span class="badge ${e.severity}">${e.severity.toUpperCase()}</span>
    <span class="etype">${e.type.replace(/_/g, ' ')}</span>
    <span class="subject">${subject}</span>
    <span class="msg">${e.message}${proposalLink(e)}</span>
  </li>`;
}

/** Planner events name a proposal: a link to the Proposals view. */
function proposalLink(e: EventRecord) {
  if (!/^(proposal_created|proposal_changed)$/.test(e.type) || typeof e.data?.action_id !== 'string') return nothing;
  return html` <a href="#/proposals">see proposal</a>`;
}
