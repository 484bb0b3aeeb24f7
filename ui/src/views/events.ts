// Events: the timeline, newest first, filterable by provider, node, type and severity,
// with new events prepended live.

import { clock, el } from '../format';
import type { EventRecord } from '../types';

let events: EventRecord[] = [];
let list: HTMLOListElement | null = null;
const filter = { provider: '', node: '', type: '', severity: '' };
const MAX = 1000;

export function setEvents(all: EventRecord[]): void {
  events = all.slice(0, MAX);
  renderList();
}

export function addEvent(e: EventRecord): void {
  if (events.some((x) => x.id === e.id)) return;
  events.unshift(e);
  events.length = Math.min(events.length, MAX);
  renderList();
}

function options(values: string[], all: string): HTMLOptionElement[] {
  return [el('option', { value: '' }, all), ...[...new Set(values)].sort().map((v) => el('option', { value: v }, v))];
}

export function renderEvents(root: HTMLElement): void {
  const select = (key: keyof typeof filter, label: string, values: string[]) => {
    const s = el('select', { 'aria-label': label, 'data-filter': key });
    s.append(...options(values, `all ${label.toLowerCase()}s`));
    s.value = filter[key];
    s.addEventListener('change', () => {
      filter[key] = s.value;
      renderList();
    });
    return s;
  };
  const bar = el(
    'div',
    { class: 'filters' },
    select('provider', 'Provider', events.map((e) => e.provider_id ?? '').filter(Boolean)),
    select('node', 'Node', events.map((e) => e.node ?? '').filter(Boolean)),
    select('type', 'Type', events.map((e) => e.type)),
    select('severity', 'Severity', ['info', 'warning', 'error']),
  );
  list = el('ol', { class: 'timeline', 'aria-label': 'Events, newest first' });
  root.replaceChildren(bar, list);
  renderList();
}

function matches(e: EventRecord): boolean {
  return (
    (!filter.provider || e.provider_id === filter.provider) &&
    (!filter.node || e.node === filter.node) &&
    (!filter.type || e.type === filter.type) &&
    (!filter.severity || e.severity === filter.severity)
  );
}

function renderList(): void {
  if (!list) return;
  const shown = events.filter(matches);
  list.replaceChildren(
    ...shown.map((e) =>
      el(
        'li',
        { 'data-event-type': e.type, class: `sev-${e.severity}` },
        el('time', { datetime: e.at }, clock(e.at)),
        el('span', { class: `badge ${e.severity === 'error' ? 'error' : e.severity === 'warning' ? 'warning' : 'ok'}` }, e.severity.toUpperCase()),
        el('span', { class: 'etype' }, e.type.replace(/_/g, ' ')),
        el('span', { class: 'subject' }, e.provider_id ? `${e.provider_id} · ${e.node}/${e.service}` : ''),
        el('span', { class: 'msg' }, e.message),
      ),
    ),
  );
  if (shown.length === 0) list.append(el('li', { class: 'empty' }, 'No events match.'));
}
