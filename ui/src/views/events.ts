// Events: the timeline, newest first, filterable by provider, node, type and severity.
// New events from the live stream are prepended; the filter choices grow with them (types
// grouped by where they come from: providers, planner, incidents, bus, Steward itself).

import { clock, el } from '../format';
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
  ['Planner', /^(health_event|proposal_|plan_|planning_|remediation_)/],
  ['Incidents', /^(incident_|observer_)/],
  ['Bus', /^bus_/],
  ['Steward', /./],
];
const groupOf = (type: string) => TYPE_GROUPS.findIndex(([, re]) => re.test(type));

let events: EventRecord[] = [];
const chosen: Record<Key, string> = { provider: '', node: '', type: '', severity: '' };
let list: HTMLOListElement | null = null;
const selects = new Map<Key, HTMLSelectElement>();

export function setEvents(all: EventRecord[]): void {
  events = all.slice(0, MAX);
  refreshChoices();
  renderList();
}

export function addEvent(e: EventRecord): void {
  if (events.some((x) => x.id === e.id)) return;
  events.unshift(e);
  events.length = Math.min(events.length, MAX);
  refreshChoices();
  if (!list?.isConnected || !matches(e)) return;
  list.querySelector(':scope > li.empty')?.remove();
  list.prepend(item(e));
  while (list.children.length > MAX) list.lastElementChild?.remove();
}

export function renderEvents(root: HTMLElement): void {
  selects.clear();
  const bar = el('div', { class: 'filters' });
  for (const f of FILTERS) {
    const s = el('select', { 'aria-label': `Filter by ${f.label.toLowerCase()}`, 'data-filter': f.key });
    s.addEventListener('change', () => {
      chosen[f.key] = s.value;
      renderList();
    });
    selects.set(f.key, s);
    bar.append(el('label', {}, `${f.label} `, s));
  }
  list = el('ol', { class: 'timeline', 'aria-label': 'Events, newest first' });
  root.replaceChildren(bar, list);
  refreshChoices();
  renderList();
}

/** Keeps each filter's options equal to the values seen, plus the current choice. */
function refreshChoices(): void {
  for (const f of FILTERS) {
    const s = selects.get(f.key);
    if (!s) continue;
    const seen = new Set(f.key === 'severity' ? SEVERITIES : []);
    for (const e of events) {
      const v = f.value(e);
      if (v) seen.add(v);
    }
    if (chosen[f.key]) seen.add(chosen[f.key]);
    const values = f.key === 'severity' ? [...seen] : [...seen].sort();
    if (f.key === 'type') values.sort((a, b) => groupOf(a) - groupOf(b) || a.localeCompare(b));
    if (s.options.length === values.length + 1 && values.every((v, i) => s.options[i + 1].value === v)) continue;
    const option = (v: string) => el('option', { value: v }, f.key === 'type' ? v.replace(/_/g, ' ') : v);
    const groups =
      f.key === 'type'
        ? TYPE_GROUPS.map(([label], g) => {
            const inGroup = values.filter((v) => groupOf(v) === g);
            return inGroup.length ? el('optgroup', { label }, ...inGroup.map(option)) : null;
          }).filter((g) => g !== null)
        : values.map(option);
    s.replaceChildren(el('option', { value: '' }, 'all'), ...groups);
    s.value = chosen[f.key];
  }
}

function matches(e: EventRecord): boolean {
  return FILTERS.every((f) => !chosen[f.key] || f.value(e) === chosen[f.key]);
}

function item(e: EventRecord): HTMLLIElement {
  const subject = [e.provider_id, [e.node, e.service].filter(Boolean).join('/')].filter(Boolean).join(' · ');
  return el(
    'li',
    { 'data-event-type': e.type, 'data-event-id': String(e.id), class: `sev-${e.severity}` },
    el('time', { datetime: e.at, title: new Date(e.at).toLocaleString() }, clock(e.at)),
    el('span', { class: `badge ${e.severity}` }, e.severity.toUpperCase()),
    el('span', { class: 'etype' }, e.type.replace(/_/g, ' ')),
    el('span', { class: 'subject' }, subject),
    el('span', { class: 'msg' }, e.message, ...proposalLink(e)),
  );
}

/** Planner events name a proposal: a link to the Proposals view. */
function proposalLink(e: EventRecord): (Node | string)[] {
  if (!/^(proposal_created|proposal_changed)$/.test(e.type) || typeof e.data?.action_id !== 'string') return [];
  return [' ', el('a', { href: '#/proposals' }, 'see proposal')];
}

function renderList(): void {
  if (!list) return;
  const shown = events.filter(matches);
  list.replaceChildren(...shown.map(item));
  if (shown.length === 0) list.append(el('li', { class: 'empty' }, events.length ? 'No events match.' : 'No events yet.'));
}
