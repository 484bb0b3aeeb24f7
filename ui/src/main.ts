// Entry point: routing between views, the initial load, live updates, and the token form.

import './locale'; // must run before uPlot loads
import { api, ApiError, setToken } from './api';
import { el } from './format';
import { initStatusBar, setConnection, setStatus } from './statusbar';
import './style.css';
import type { StatusView, Update } from './types';
import { addEvent, renderEvents, setEvents } from './views/events';
import {
  renderConfigErrors,
  renderIncident,
  renderOverview,
  setProviders,
  tick,
  updateProvider,
} from './views/overview';

const view = document.getElementById('view')!;
const banners = document.getElementById('banners')!;
banners.append(
  el('div', { id: 'incident', class: 'banner incident', role: 'alert', hidden: '' }),
  el('div', { id: 'config-errors', class: 'banner config', hidden: '' }),
);

function applyStatus(s: StatusView): void {
  setStatus(s);
  renderConfigErrors(s);
  document.getElementById('node')!.textContent = s.node;
  document.title = s.overall === 'healthy' ? 'Steward' : `Steward — ${s.overall}`;
}
initStatusBar(applyStatus);

function route(): void {
  const name = location.hash.startsWith('#events') ? 'events' : 'overview';
  for (const t of document.querySelectorAll<HTMLAnchorElement>('.tabs a')) {
    const on = t.id === `tab-${name}`;
    t.setAttribute('aria-selected', String(on));
    t.classList.toggle('active', on);
  }
  if (name === 'events') renderEvents(view);
  else renderOverview(view);
}

async function loadAll(): Promise<void> {
  const [status, providers, events] = await Promise.all([api.status(), api.providers(), api.events()]);
  applyStatus(status);
  setProviders(providers);
  setEvents(events);
  renderIncident();
}

function onUpdate(u: Update): void {
  switch (u.type) {
    case 'provider_updated':
      updateProvider(u.provider);
      break;
    case 'event':
      addEvent(u.event);
      break;
    case 'status':
      applyStatus(u.status);
      break;
    case 'resync':
      void loadAll();
      break;
  }
}

function askForToken(message: string): void {
  setConnection('unauthorized');
  const input = el('input', { type: 'password', id: 'token', autocomplete: 'off', 'aria-label': 'API token' });
  const form = el(
    'form',
    { class: 'token-form', id: 'token-form' },
    el('h2', {}, 'API token needed'),
    el('p', {}, message),
    el('p', {}, 'steward serve printed it when it first started; it is also in the token file of its data directory.'),
    input,
    el('button', { type: 'submit' }, 'Connect'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    setToken(input.value);
    void start();
  });
  view.replaceChildren(form);
  input.focus();
}

async function start(): Promise<void> {
  try {
    await loadAll();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      askForToken('The token is missing or wrong.');
      return;
    }
    view.replaceChildren(el('p', { class: 'fatal' }, `Cannot reach Steward: ${(e as Error).message}`));
    return;
  }
  route();
  api.subscribe(onUpdate, setConnection);
}

window.addEventListener('hashchange', route);
setInterval(tick, 1000);
void start();
