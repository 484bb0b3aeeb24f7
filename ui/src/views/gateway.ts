// Gateway: the LLM gateway the workstation's other apps point at (`[gateway]`). The base URL
// they use, the totals (failovers, 503s, refused keys), the routes with their targets in the
// order they are tried (each with its counters), a table of the targets (requests, ok,
// failed, client errors, skipped, latency and time to the first chunk, p50/p99), and the
// requests per app (gateway key name). Without `[gateway]` (`/api/gateway` answers 404
// `not_found`), how to configure it instead.
// Live: `/api/gateway` is fetched when the view is shown, every 5 s while it is shown and the
// page is visible (no timer otherwise: hidden, or another view shown), at once when the page
// is shown again, soon after a failover or a config reload event, and after a resync. One
// fetch at a time; every answer renders the view again (rows kept by route and target id).

import { api, ApiError } from '../api';
import { el, html, keyed, nothing, render } from '../dom';
import { ms, num, plural } from '../format';
import type { GatewayTargetView, GatewayView } from '../generated/types';
import type { EventRecord, StatusView } from '../types';

/** How often the numbers are fetched again while the view is shown and the page visible. */
const POLL_MS = 5000;
/** How soon after a failover or a config reload event. */
const SOON_MS = 500;

/** The view's element, kept across visits (lit-html keeps its state on it). */
const mount = el('div', { id: 'gateway' });
const shown = () => mount.isConnected;

const state = {
  /** The last answer; `null` before the first one. */
  data: null as GatewayView | null,
  /** `false` once `/api/gateway` answered `not_found` (no `[gateway]`), until it answers. */
  configured: null as boolean | null,
  /** Why the last fetch failed (shown above the last good numbers). */
  loadError: null as string | null,
  configPath: null as string | null,
};

let timer = 0;
/** When the pending timer fires (ms since the epoch), 0 without one. */
let due = 0;
let fetching = false;
let fetchAgain = false;

export function renderGateway(host: HTMLElement): void {
  host.replaceChildren(mount);
  update();
  void fetchNow();
}

/** From every status: the config file's path, for the explanation. */
export function setGatewayFromStatus(s: StatusView): void {
  if (state.configPath === s.config_path) return;
  state.configPath = s.config_path;
  if (state.configured === false) update();
}

/** After a reconnect (`resync`): fetch again if the view is shown. */
export function refreshGateway(): void {
  if (shown()) void fetchNow();
}

/** A failover or a config reload: the numbers (or the routes) changed; fetch soon if shown. */
export function gatewayEvent(e: EventRecord): void {
  if (e.type === 'gateway_failover' || e.type === 'config_reloaded') schedule(SOON_MS);
}

function stop(): void {
  clearTimeout(timer);
  timer = 0;
  due = 0;
}

/** The next fetch in `delay` ms (sooner than one already planned wins); none while the view
 *  is not shown or the page is hidden. */
function schedule(delay: number): void {
  if (!shown() || document.hidden) {
    stop();
    return;
  }
  const at = Date.now() + delay;
  if (timer && due <= at) return;
  stop();
  due = at;
  timer = window.setTimeout(() => {
    timer = 0;
    due = 0;
    if (shown() && !document.hidden) void fetchNow();
  }, delay);
}

async function fetchNow(): Promise<void> {
  if (fetching) {
    fetchAgain = true;
    return;
  }
  fetching = true;
  stop();
  try {
    state.data = await api.gateway();
    state.configured = true;
    state.loadError = null;
  } catch (e) {
    if (e instanceof ApiError && e.code === 'not_found') {
      state.configured = false;
      state.data = null;
      state.loadError = null;
    } else {
      state.loadError = e instanceof Error ? e.message : String(e);
    }
  } finally {
    fetching = false;
  }
  update();
  if (fetchAgain) {
    fetchAgain = false;
    void fetchNow();
    return;
  }
  schedule(POLL_MS);
}

document.addEventListener('visibilitychange', () => {
  if (document.hidden) stop();
  else if (shown()) void fetchNow(); // the numbers may be old: at once, then every 5 s
});
// Another view shown: main.ts's router (listening after this module) has replaced the view
// by then.
window.addEventListener('hashchange', () => window.setTimeout(() => shown() || stop(), 0));

function update(): void {
  if (!shown()) return;
  render(
    html`<p class="load-error" role="alert" ?hidden=${!state.loadError}>
        ${state.loadError
          ? html`Could not load the gateway: ${state.loadError}
              <button type="button" @click=${() => void fetchNow()}>Try again</button>`
          : nothing}
      </p>
      ${content()}`,
    mount,
  );
}

function content() {
  if (state.configured === false) return explanation(state.configPath);
  const d = state.data;
  if (!d) return state.loadError ? nothing : html`<p class="loading">Loading the gateway…</p>`;
  const targets = targetIds(d);
  return html`${head(d)} ${routesSection(d)} ${targetsSection(d, targets)} ${appsSection(d)}`;
}

// ---- the base URL and the totals --------------------------------------------------------

/** The URL apps reach the gateway at: its listen address, with an every-interface address
 *  (0.0.0.0, [::]) given as this machine's loopback. */
function origin(listen: string): { origin: string; everywhere: boolean } {
  const m = /^(.*):(\d+)$/.exec(listen);
  if (!m) return { origin: `http://${listen}`, everywhere: false };
  const host = m[1] === '0.0.0.0' ? '127.0.0.1' : m[1] === '[::]' ? '[::1]' : m[1];
  return { origin: `http://${host}:${m[2]}`, everywhere: host !== m[1] };
}

function head(d: GatewayView) {
  const o = origin(d.listen);
  const total = (key: string, value: number, label: string, title: string, bad = false) =>
    html`<span class="total ${bad && value > 0 ? 'warn-text' : ''}" data-total=${key} data-value=${value} title=${title}
      ><b>${num(value)}</b> ${label}</span
    >`;
  return html`<section class="gateway-head" aria-labelledby="gateway-title">
    <h2 id="gateway-title">LLM gateway</h2>
    <dl class="facts gateway-facts">
      <dt>Base URL</dt>
      <dd>
        <code class="base-url" id="gateway-base-url" data-listen=${d.listen}>${o.origin}/v1</code>
        <span class="muted">
          — OpenAI-wire clients use it as their base URL; Anthropic-wire clients use <code>${o.origin}</code>.
        </span>
      </dd>
      ${o.everywhere
        ? html`<dt>Listening</dt>
            <dd>on every interface (<code>${d.listen}</code>): other machines use this machine's address.</dd>`
        : nothing}
      <dt>Keys</dt>
      <dd class="muted">Apps send a gateway key as <code>Authorization: Bearer &lt;key&gt;</code> or <code>x-api-key</code>.</dd>
    </dl>
    <div class="usage-totals gateway-totals" id="gateway-totals">
      ${total('failovers', d.failovers, 'failovers', 'Times a target failed and the next one was tried', true)}
      ${total('unavailable', d.unavailable, 'unavailable (503)', 'Requests no target answered', true)}
      ${total('unauthorized', d.unauthorized, 'unauthorized', 'Requests refused for a missing or wrong gateway key', true)}
    </div>
  </section>`;
}

// ---- routes -----------------------------------------------------------------------------

const ZERO: GatewayTargetView = {
  requests: 0,
  ok: 0,
  failed: 0,
  client_errors: 0,
  skipped: 0,
  p50_ms: null,
  p99_ms: null,
  first_chunk_p50_ms: null,
  first_chunk_p99_ms: null,
};

const stats = (d: GatewayView, id: string) => d.targets[id] ?? ZERO;

/** A latency, "–" when there is none yet. */
const latency = (v: number | null) => (v === null ? '–' : ms(v));

function routesSection(d: GatewayView) {
  return html`<section aria-labelledby="gateway-routes-title">
    <h2 id="gateway-routes-title">Routes</h2>
    <div class="table-wrap">
      <table class="grid gateway-routes" id="gateway-routes" aria-labelledby="gateway-routes-title">
        <thead>
          <tr><th scope="col">Model asked for</th><th scope="col">Targets, in the order they are tried</th></tr>
        </thead>
        <tbody>
          ${keyed(d.routes, (r) => r.model, (r) => html`<tr data-gateway-route=${r.model}>
            <td class="name"><strong>${r.model}</strong></td>
            <td>
              <ol class="route-targets">
                ${r.targets.map((id, i) => routeTarget(id, i, stats(d, id)))}
              </ol>
            </td>
          </tr>`)}
          ${d.routes.length
            ? nothing
            : html`<tr><td colspan="2" class="empty">No [[gateway.routes]]: apps ask for [[models]] ids directly.</td></tr>`}
        </tbody>
      </table>
    </div>
  </section>`;
}

function routeTarget(id: string, i: number, t: GatewayTargetView) {
  const extra = [
    t.client_errors ? `${num(t.client_errors)} client ${t.client_errors === 1 ? 'error' : 'errors'}` : '',
    t.skipped ? `${num(t.skipped)} skipped` : '',
  ].filter(Boolean);
  return html`<li data-route-target=${id}>
    ${i > 0 ? html`<span class="arrow" aria-hidden="true">→</span>` : nothing}
    <code class="target-id">${id}</code>
    <span class="route-counts"
      >${plural(t.requests, 'request')} · <span class=${t.ok ? 'ok-text' : ''}>${num(t.ok)} ok</span> ·
      <span class=${t.failed ? 'error-text' : ''}>${num(t.failed)} failed</span>${extra.length
        ? ` · ${extra.join(' · ')}`
        : ''}${t.p50_ms === null ? '' : ` · p50 ${ms(t.p50_ms)}`}</span
    >
  </li>`;
}

// ---- targets ----------------------------------------------------------------------------

/** The targets in the order the routes name them, then any other (asked for by its
 *  [[models]] id), by id. */
function targetIds(d: GatewayView): string[] {
  const ids = new Set<string>();
  for (const r of d.routes) for (const id of r.targets) ids.add(id);
  for (const id of Object.keys(d.targets).sort()) ids.add(id);
  return [...ids];
}

const TARGET_COLUMNS = [
  'Target',
  'Routes',
  'Requests',
  'OK',
  'Failed',
  'Client errors',
  'Skipped',
  'Latency p50',
  'p99',
  'First chunk p50',
  'p99',
];

function targetsSection(d: GatewayView, ids: string[]) {
  return html`<section aria-labelledby="gateway-targets-title">
    <h2 id="gateway-targets-title">Targets</h2>
    <div class="table-wrap">
      <table class="grid gateway-targets" id="gateway-targets" aria-labelledby="gateway-targets-title">
        <thead>
          <tr>${TARGET_COLUMNS.map((h, i) => html`<th scope="col" class=${i < 2 ? '' : 'num'}>${h}</th>`)}</tr>
        </thead>
        <tbody>
          ${keyed(ids, (id) => id, (id) => targetRow(d, id))}
          ${ids.length
            ? nothing
            : html`<tr><td colspan=${TARGET_COLUMNS.length} class="empty">No requests yet.</td></tr>`}
        </tbody>
      </table>
    </div>
  </section>`;
}

function targetRow(d: GatewayView, id: string) {
  const t = stats(d, id);
  const routes = d.routes.filter((r) => r.targets.includes(id)).map((r) => r.model);
  const count = (key: string, v: number, tone = '') =>
    html`<td class="num ${v > 0 ? tone : ''}" data-col=${key} data-value=${v}>${num(v)}</td>`;
  const time = (key: string, v: number | null) =>
    html`<td class="num" data-col=${key} data-value=${v ?? ''}>${latency(v)}</td>`;
  return html`<tr data-gateway-target=${id} data-tone=${t.failed > 0 && t.ok === 0 ? 'error' : t.failed > 0 ? 'warning' : ''}>
    <td class="name"><code>${id}</code></td>
    <td class="sub">${routes.length ? routes.join(', ') : 'direct'}</td>
    ${count('requests', t.requests)} ${count('ok', t.ok)} ${count('failed', t.failed, 'error-text')}
    ${count('client_errors', t.client_errors, 'warn-text')} ${count('skipped', t.skipped, 'warn-text')}
    ${time('p50_ms', t.p50_ms)} ${time('p99_ms', t.p99_ms)} ${time('first_chunk_p50_ms', t.first_chunk_p50_ms)}
    ${time('first_chunk_p99_ms', t.first_chunk_p99_ms)}
  </tr>`;
}

// ---- apps -------------------------------------------------------------------------------

function appsSection(d: GatewayView) {
  const apps = Object.entries(d.apps).sort(([a], [b]) => a.localeCompare(b));
  return html`<section aria-labelledby="gateway-apps-title">
    <h2 id="gateway-apps-title">Requests per app</h2>
    <div class="table-wrap gateway-apps-wrap">
      <table class="grid gateway-apps" id="gateway-apps" aria-labelledby="gateway-apps-title">
        <thead>
          <tr><th scope="col">App (key name)</th><th scope="col" class="num">Requests</th></tr>
        </thead>
        <tbody>
          ${keyed(apps, ([name]) => name, ([name, n]) => html`<tr data-gateway-app=${name}>
            <td class="name">${name}</td>
            <td class="num" data-col="requests" data-value=${n}>${num(n)}</td>
          </tr>`)}
          ${apps.length ? nothing : html`<tr><td colspan="2" class="empty">No requests yet.</td></tr>`}
        </tbody>
      </table>
    </div>
    <p class="muted">
      The key named in <code>api_key_env</code> is the app "default"; more keys, each named after the app it is given to,
      are <code>[[gateway.keys]]</code>.
    </p>
  </section>`;
}

// ---- without [gateway] ------------------------------------------------------------------

/** Lines of the example and their comments (aligned when joined). */
const EXAMPLE: [string, string][] = [
  ['[gateway]', ''],
  ['listen = "127.0.0.1:7879"', '# loopback; a change needs a restart'],
  ['api_key_env = "STEWARD_GATEWAY_KEY"', '# apps send "Authorization: Bearer <key>"'],
  ['', ''],
  ['[[gateway.routes]]', ''],
  ['model = "chat"', '# the name apps ask for'],
  ['targets = ["openai-main", "local-llama"]', '# [[models]] ids, tried in order'],
];
const SNIPPET = EXAMPLE.map(([line, comment]) => (comment ? `${line.padEnd(42)}${comment}` : line)).join('\n');

/** Shown instead of the numbers when `[gateway]` is not configured. */
function explanation(configPath: string | null) {
  return html`<section class="unconfigured" id="gateway-unconfigured" aria-labelledby="gateway-unconfigured-title">
    <h2 id="gateway-unconfigured-title">The LLM gateway is not configured</h2>
    <p>
      Steward can be one local endpoint for your other apps, in front of the [[models]] of its config: OpenAI-wire
      (<code>/v1/chat/completions</code>) and Anthropic-wire (<code>/v1/messages</code>) requests go to a route's targets
      in order, failing over to the next one when a target is down, rate limited or does not answer.
    </p>
    <p>
      To turn it on, add a [gateway] section to the config file${configPath ? html`<code> ${configPath}</code>` : nothing},
      set the key's environment variable, and restart Steward:
    </p>
    <pre class="snippet">${SNIPPET}</pre>
    <p class="muted">Apps then use <code>http://127.0.0.1:7879/v1</code> as their base URL, with the key.</p>
  </section>`;
}
