// The app (loaded by boot.ts): the view router, the first load, live updates, and the token
// form.

import './locale'; // must run before uPlot loads
import { api, ApiError, hasToken, isDesktop, setToken, type Connection } from './api';
import { el } from './dom';
import { initStatusBar, setConnection, setStatus } from './statusbar';
import { startTicker } from './ticker';
import type { StatusView, Update } from './types';
import { renderConfigErrors } from './views/banners';
import { addEvent, renderEvents, setEvents } from './views/events';
import {
  addProposal,
  pendingBadge,
  renderProposals,
  setPendingCount,
  setProposalTtl,
  setRunOutput,
  setProposals,
} from './views/proposals';
import {
  applyPipelineUpdate,
  pipelineEvent,
  pipelineMark,
  refreshPipeline,
  renderPipeline,
  setPipelineFromStatus,
} from './views/pipeline';
import { renderOverview, setProviders, updateProvider } from './views/overview';
import { renderSettings, settingsConfigReloaded } from './views/settings';
import { gatewayEvent, refreshGateway, renderGateway, setGatewayFromStatus } from './views/gateway';

/** The views, by URL hash (`#/name`; the older `#name` works too). A new view is one entry
 *  here: its nav link is made from it, in this order. The first is the default. */
const views: Record<string, { label: string; render: (root: HTMLElement) => void }> = {
  overview: { label: 'Overview', render: renderOverview },
  proposals: { label: 'Proposals', render: renderProposals },
  pipeline: { label: 'Pipeline', render: renderPipeline },
  events: { label: 'Events', render: renderEvents },
  gateway: { label: 'Gateway', render: renderGateway },
  settings: { label: 'Settings', render: renderSettings },
};

const nav = document.querySelector('nav.views')!;
nav.replaceChildren(
  ...Object.entries(views).map(([name, v]) => {
    const link = document.getElementById(`tab-${name}`) ?? el('a', { id: `tab-${name}` }, v.label);
    link.setAttribute('href', `#/${name}`);
    return link;
  }),
);
document.getElementById('tab-proposals')!.append(pendingBadge());
document.getElementById('tab-pipeline')!.append(pipelineMark());

const view = document.getElementById('view')!;
const banners = document.getElementById('banners')!;
banners.append(
  el('div', { id: 'incident', class: 'banner incident', role: 'alert', hidden: '' }),
  el('div', { id: 'config-errors', class: 'banner config', hidden: '' }),
);

function applyStatus(s: StatusView): void {
  setStatus(s);
  setProposalTtl(s.proposal_ttl_secs);
  setPendingCount(s.pending_proposals ?? 0);
  setPipelineFromStatus(s);
  setGatewayFromStatus(s);
  renderConfigErrors(s);
  document.getElementById('node')!.textContent = s.node;
  document.title = s.overall === 'healthy' ? 'Steward' : `Steward — ${s.overall}`;
}
initStatusBar(document.getElementById('statusbar')!, applyStatus);

let connected = false; // the views show only once the first load succeeded

function route(): void {
  if (!connected) return;
  const asked = location.hash.replace(/^#\/?/, '').split(/[?&/]/)[0];
  const name = Object.hasOwn(views, asked) ? asked : Object.keys(views)[0];
  for (const link of nav.querySelectorAll('a')) {
    if (link.id === `tab-${name}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  views[name].render(view);
}

/** Everything the views show; `reload`: again, while live (after a resync). */
async function loadAll(reload = false): Promise<void> {
  const [status, providers, events, proposals] = await Promise.all([
    api.status(),
    api.providers(reload),
    api.events(),
    api.proposals(),
  ]);
  setProposals(proposals); // before the status, whose pending count is checked against them
  applyStatus(status);
  setProviders(providers);
  setEvents(events);
  refreshPipeline(); // fetched when shown (its view fetches on every render)
}

function onUpdate(u: Update): void {
  switch (u.type) {
    case 'provider_updated':
      updateProvider(u.provider);
      break;
    case 'event':
      addEvent(u.event);
      pipelineEvent(u.event);
      gatewayEvent(u.event);
      // A reload can remove providers, which no provider_updated message would tell.
      if (u.event.type === 'config_reloaded') api.providers(true).then(setProviders, () => {});
      // The file changed (an edit from the page, or by hand, valid or not): Settings reads it again.
      if (u.event.type === 'config_reloaded' || u.event.type === 'config_rejected') settingsConfigReloaded();
      break;
    case 'status':
      applyStatus(u.status);
      break;
    case 'proposal':
      addProposal(u.proposal);
      break;
    case 'run_output':
      setRunOutput(u.output);
      break;
    case 'pipeline':
      applyPipelineUpdate(u.pipeline);
      break;
    case 'resync':
      reload();
      settingsConfigReloaded(); // the config may have changed while the stream was down
      refreshGateway(); // its numbers too, if shown
      break;
  }
}

/** The reload under way, and whether another was asked for meanwhile. */
let reloading = false;
let reloadAgain = false;

/** Loads everything again after a resync: one reload at a time, and one more at most when
 *  resyncs came during it (a flood of updates can bring several in a row; each reload of a
 *  10,000-provider list is ~10 MB). */
function reload(): void {
  if (reloading) {
    reloadAgain = true;
    return;
  }
  reloading = true;
  loadAll(true)
    .catch(() => setConnection('reconnecting'))
    .finally(() => {
      reloading = false;
      if (reloadAgain) {
        reloadAgain = false;
        reload();
      }
    });
}

function onConnection(c: Connection): void {
  setConnection(c);
  if (c === 'unauthorized') askForToken('The API token was refused.');
}

function askForToken(message: string): void {
  connected = false;
  setConnection('unauthorized');
  const input = el('input', { type: 'password', id: 'token', autocomplete: 'off', 'aria-label': 'API token' });
  const form = el(
    'form',
    { class: 'token-form', id: 'token-form' },
    el('h2', {}, 'API token needed'),
    el('p', { class: 'why' }, message),
    el('p', {}, 'steward serve printed it when it started; it is also in the file "token" in its data directory.'),
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
      askForToken(hasToken() ? 'The API token was refused.' : 'No API token given yet.');
      return;
    }
    const retry = el('button', { type: 'button' }, 'Try again');
    retry.addEventListener('click', () => void start());
    const where = isDesktop ? 'the engine' : location.host;
    view.replaceChildren(el('p', { class: 'fatal' }, `Cannot reach Steward (${where}): ${(e as Error).message} `, retry));
    return;
  }
  connected = true;
  route();
  api.subscribe(onUpdate, onConnection);
}

window.addEventListener('hashchange', route);
startTicker();
void start();
