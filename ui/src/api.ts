// The only module that talks to a backend. Two transports behind one interface:
// Tauri IPC when `window.__TAURI__` exists, HTTP + server-sent events otherwise.
// Views call the functions exported here and never know which transport runs.
// Each call names a command of the route table (./generated/commands.ts, generated from
// src/http/table.rs): Tauri invokes it by name, HTTP takes its method and path from there.

import { COMMANDS, type CommandName } from './generated/commands';
import { parseInSlices } from './slices';
import { readEvents } from './sse';
import type { ChannelTest, ConfigDocument, FieldIssue, GatewayView, TestOutcome } from './generated/types';
import type {
  EventRecord,
  Execution,
  IntakeReport,
  Proposal,
  ProviderDetail,
  ProviderView,
  SessionsView,
  StatusView,
  Update,
} from './types';

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
    /** What the error carries besides `code` and `message`: `issues` (`invalid_config`),
     *  `revision` (`config_changed`). The same over both transports. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }

  /** The config edit's issues, each with the field it is about (`invalid_config`). */
  get issues(): FieldIssue[] {
    return Array.isArray(this.details.issues) ? (this.details.issues as FieldIssue[]) : [];
  }
}

/** An error's wire shape (`{code, message, ...extra}`) as an `ApiError`. */
function apiError(e: unknown, status?: number, fallbackCode = 'internal', fallbackMessage = String(e)): ApiError {
  if (e && typeof e === 'object') {
    const { code, message, ...details } = e as { code?: unknown; message?: unknown };
    return new ApiError(
      typeof code === 'string' ? code : fallbackCode,
      typeof message === 'string' ? message : fallbackMessage,
      status,
      details,
    );
  }
  return new ApiError(fallbackCode, fallbackMessage, status);
}

export type Connection = 'live' | 'connecting' | 'reconnecting' | 'unauthorized';

interface TauriGlobal {
  core: { invoke<T>(cmd: string, args?: Record<string, unknown>): Promise<T> };
  event: { listen<T>(name: string, cb: (e: { payload: T }) => void): Promise<() => void> };
}

/** A call's arguments, named as Tauri takes them (camelCase: `actionId` for the Rust
 *  parameter `action_id`); `undefined` ones are left out. Two have a meaning of their own
 *  over HTTP: `fields` (an object) is the JSON body as it is, and `revision` the
 *  `If-Match` header of a config edit; over Tauri they are arguments like the others. */
type Arg = string | number | boolean | Record<string, unknown> | unknown[];
type Args = Record<string, Arg | undefined>;

/** How a call's answer is read: `inSlices` parses a long list a slice at a time (slices.ts),
 *  for a reload while the page is live. */
interface Reading {
  inSlices?: boolean;
}

interface Transport {
  call<T>(cmd: CommandName, args?: Args, reading?: Reading): Promise<T>;
  subscribe(onUpdate: (u: Update) => void, onConnection: (c: Connection) => void): void;
}

/** The arguments that have a value, under their Rust (snake_case) names. */
function given(args: Args): Map<string, Arg> {
  const out = new Map<string, Arg>();
  for (const [k, v] of Object.entries(args)) {
    if (v !== undefined) out.set(k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v);
  }
  return out;
}

type Method = (typeof COMMANDS)[CommandName]['method'];

/** The HTTP request of a command: the table's method and path, each `{name}` filled from
 *  the argument of that name; `revision` as the `If-Match` header; `fields` as the JSON
 *  body; the other arguments go in the query (GET) or the JSON body (the other methods;
 *  a DELETE without any has no body). */
function httpRequest(
  cmd: CommandName,
  args: Args = {},
): { method: Method; url: string; body?: string; ifMatch?: string } {
  const { method, path } = COMMANDS[cmd];
  const rest = given(args);
  const filled = path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = rest.get(name);
    if (v === undefined) throw new Error(`${cmd} needs ${name}`);
    rest.delete(name);
    return encodeURIComponent(String(v));
  });
  const revision = rest.get('revision');
  rest.delete('revision');
  const ifMatch = revision === undefined ? undefined : `"${String(revision)}"`;
  const fields = rest.get('fields');
  rest.delete('fields');
  if (method === 'GET') {
    const query = new URLSearchParams([...rest].map(([k, v]) => [k, String(v)])).toString();
    return { method, url: query ? `${filled}?${query}` : filled, ifMatch };
  }
  if (fields !== undefined) return { method, url: filled, body: JSON.stringify(fields), ifMatch };
  if (method === 'DELETE' && rest.size === 0) return { method, url: filled, ifMatch };
  return { method, url: filled, body: JSON.stringify(Object.fromEntries(rest)), ifMatch };
}

const tauri = (window as unknown as { __TAURI__?: TauriGlobal }).__TAURI__;

class TauriTransport implements Transport {
  constructor(private t: TauriGlobal) {}
  async call<T>(cmd: CommandName, args: Args = {}): Promise<T> {
    const defined = Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined));
    try {
      return await this.t.core.invoke<T>(cmd, Object.keys(defined).length ? defined : undefined);
    } catch (e) {
      throw apiError(e);
    }
  }
  subscribe(onUpdate: (u: Update) => void, onConnection: (c: Connection) => void): void {
    void this.t.event.listen<Update>('steward://update', (e) => onUpdate(e.payload)).then(() => onConnection('live'));
  }
}

const TOKEN_KEY = 'steward.token';

/** Takes `#token=…` (or `#/view&token=…`) from the URL once, keeps it in localStorage,
 *  and cleans the URL, keeping the rest of the hash. */
function adoptTokenFromUrl(): void {
  const hash = location.hash.replace(/^#/, '');
  const m = /(?:^|&)token=([^&]+)/.exec(hash);
  if (!m) return;
  localStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
  const rest = hash.replace(/(?:^|&)token=[^&]+/, '').replace(/^&/, '');
  history.replaceState(null, '', location.pathname + location.search + (rest ? '#' + rest : ''));
}

export function hasToken(): boolean {
  return Boolean(localStorage.getItem(TOKEN_KEY));
}

export function setToken(token: string): void {
  localStorage.setItem(TOKEN_KEY, token.trim());
}

class HttpTransport implements Transport {
  /** The open stream's controller (aborting it closes the stream). */
  private stream: AbortController | null = null;
  private everOpen = false;
  private retry = 0;

  private token(): string {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  }

  async call<T>(cmd: CommandName, args?: Args, reading: Reading = {}): Promise<T> {
    const { method, url, body, ifMatch } = httpRequest(cmd, args);
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token()}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (ifMatch !== undefined) headers['If-Match'] = ifMatch;
    const resp = await fetch(url, { method, headers, body });
    if (!resp.ok) {
      let e: unknown = null;
      try {
        e = await resp.json();
      } catch {
        /* not JSON: keep the status line */
      }
      const statusLine = resp.statusText || `HTTP ${resp.status}`;
      if (e && typeof e === 'object') throw apiError(e, resp.status, `http_${resp.status}`, statusLine);
      throw new ApiError(`http_${resp.status}`, statusLine, resp.status);
    }
    if (reading.inSlices) return (await parseInSlices(await resp.text())) as T;
    return (await resp.json()) as T;
  }

  /** `/api/stream` through fetch (sse.ts says why not EventSource). After a drop it tries
   *  again every few seconds, and once back asks for a full refresh (`resync`): updates may
   *  have been missed meanwhile. A refused token ends it (`unauthorized`). */
  subscribe(onUpdate: (u: Update) => void, onConnection: (c: Connection) => void): void {
    this.stream?.abort();
    clearTimeout(this.retry);
    const stream = new AbortController();
    this.stream = stream;
    onConnection(this.everOpen ? 'reconnecting' : 'connecting');
    const again = () => {
      if (this.stream !== stream) return;
      onConnection('reconnecting');
      this.retry = window.setTimeout(() => {
        if (this.stream === stream) this.subscribe(onUpdate, onConnection);
      }, RETRY_MS);
    };
    const deliver = (batch: unknown[]) => {
      for (const u of batch) {
        try {
          onUpdate(u as Update);
        } catch (e) {
          console.error('a live update failed', e); // one bad update never ends the stream
        }
      }
    };
    void (async () => {
      let resp: Response;
      try {
        resp = await fetch('/api/stream', {
          headers: { Authorization: `Bearer ${this.token()}`, Accept: 'text/event-stream' },
          cache: 'no-store',
          signal: stream.signal,
        });
      } catch {
        again();
        return;
      }
      if (resp.status === 401) {
        stream.abort();
        onConnection('unauthorized');
        return;
      }
      if (!resp.ok || !resp.body) {
        again();
        return;
      }
      if (this.everOpen) onUpdate({ type: 'resync' });
      this.everOpen = true;
      onConnection('live');
      try {
        await readEvents(resp.body, deliver);
      } catch {
        /* dropped: try again below */
      }
      again();
    })();
  }
}

/** How long to wait before opening the stream again after it dropped. */
const RETRY_MS = 2000;

/** Answers calls made before the app's code was ready (`api.preload`): a later call of the
 *  same command with the same arguments gets the answer already under way, once. */
class Preloading implements Transport {
  private early = new Map<string, Promise<unknown>>();
  private keeping = false;
  constructor(private inner: Transport) {}

  call<T>(cmd: CommandName, args?: Args, reading?: Reading): Promise<T> {
    const key = `${cmd} ${JSON.stringify(args ?? {})}`;
    const started = this.early.get(key);
    if (started && !this.keeping) {
      this.early.delete(key);
      return started as Promise<T>;
    }
    const answer = this.inner.call<T>(cmd, args, reading);
    if (this.keeping) {
      answer.catch(() => {}); // handled by whoever takes it
      this.early.set(key, answer);
      // Taken at once by the first load, or never (then forgotten).
      window.setTimeout(() => this.early.get(key) === answer && this.early.delete(key), EARLY_MS);
    }
    return answer;
  }

  subscribe(onUpdate: (u: Update) => void, onConnection: (c: Connection) => void): void {
    this.inner.subscribe(onUpdate, onConnection);
  }

  /** Runs `calls` with their answers kept for the first ones who ask again. */
  keep(calls: () => void): void {
    this.keeping = true;
    try {
      calls();
    } finally {
      this.keeping = false;
    }
  }
}

/** How long a preloaded answer waits to be taken. */
const EARLY_MS = 30_000;

if (!tauri) adoptTokenFromUrl();
/** A config edit's fields: an entry's or a section's keys as JSON. */
export type Fields = Record<string, unknown>;
/** The sections an edit may change (`[http]` and `[bus]` are edited in the file only). */
export type ConfigSection = 'probe' | 'planner' | 'executor' | 'store';

const transport = new Preloading(tauri ? new TauriTransport(tauri) : new HttpTransport());

export const isDesktop = Boolean(tauri);

export const api = {
  status: () => transport.call<StatusView>('get_status'),
  /** Every provider; `reload`: while the page is live (parsed without blocking it long). */
  providers: (reload = false) => transport.call<ProviderView[]>('list_providers', {}, { inSlices: reload }),
  provider: (id: string) => transport.call<ProviderDetail>('get_provider', { id }),
  probe: (id: string) => transport.call<ProviderView>('probe_provider', { id }),
  events: (limit = 300) => transport.call<EventRecord[]>('list_events', { limit }),
  /** Pending first (oldest first), then the rest newest first; `status` filters. */
  proposals: (status?: string, limit = 200) =>
    transport.call<Proposal[]>('list_proposals', { limit, status: status || undefined }),
  proposal: (actionId: string) => transport.call<Proposal>('get_proposal', { actionId }),
  /** Approves a pending proposal; answers it after the approval (`approved`, or `stale` when
   *  the target answered again at click time). `conflict` (409) when it is not pending. */
  approve: (actionId: string) => transport.call<Proposal>('approve_proposal', { actionId }),
  /** Rejects a pending proposal, with an optional reason; `conflict` (409) when not pending. */
  reject: (actionId: string, reason?: string) =>
    transport.call<Proposal>('reject_proposal', { actionId, reason: reason?.trim() || undefined }),
  /** Audit rows, newest first; `actionId` narrows them to one proposal. */
  executions: (actionId?: string, limit = 200) =>
    transport.call<Execution[]>('list_executions', { limit, actionId: actionId || undefined }),
  /** The planner's intake counters (refused input by reason, suppressions), bus and models. */
  intake: () => transport.call<IntakeReport>('get_intake'),
  /** The session pipeline: status, watch, last scan, processors, newest files, usage. */
  sessions: () => transport.call<SessionsView>('get_sessions'),
  /** Starts a processor's run now: `conflict` (409) while it runs, `not_found` (404) for an
   *  unknown name. The run's progress comes as `pipeline` updates. */
  runProcessor: (name: string) =>
    transport.call<{ processor: string; started: boolean }>('run_session_processor', { name }),
  /** The LLM gateway: its listen address, routes and counters; `not_found` (404) when no
   *  `[gateway]` is configured. */
  gateway: () => transport.call<GatewayView>('get_gateway'),
  pause: () => transport.call<StatusView>('pause_monitor'),
  resume: () => transport.call<StatusView>('resume_monitor'),
  snooze: (minutes: number) => transport.call<StatusView>('snooze_notifications', { minutes }),
  /** Sends every push channel a test notice (one try each, whatever its filters and the
   *  snooze) and answers how each went. */
  testNotifications: () => transport.call<ChannelTest[]>('test_notifications'),
  subscribe: (onUpdate: (u: Update) => void, onConnection: (c: Connection) => void) =>
    transport.subscribe(onUpdate, onConnection),
  /** The config file: its path, its revision (what every edit below sends back) and its
   *  content as JSON, secret-looking values as "(hidden)" (sent back, they keep the
   *  file's value). */
  config: () => transport.call<ConfigDocument>('get_config'),
  /** The config edits: each answers the file as it is after the edit. `revision` is the
   *  one the edit was made on: `config_changed` (409, `details.revision`: the file's now)
   *  when the file changed since; `invalid_config` (400, `issues`) leaves the file as it
   *  was; `conflict` (409) when a created id exists. `null` in a patch removes a key. */
  createProvider: (fields: Fields, revision: string) =>
    transport.call<ConfigDocument>('create_provider', { fields, revision }),
  replaceProvider: (id: string, fields: Fields, revision: string) =>
    transport.call<ConfigDocument>('replace_provider', { id, fields, revision }),
  updateProvider: (id: string, fields: Fields, revision: string) =>
    transport.call<ConfigDocument>('update_provider', { id, fields, revision }),
  deleteProvider: (id: string, revision: string) =>
    transport.call<ConfigDocument>('delete_provider', { id, revision }),
  /** Probes an unsaved provider definition once; a `command` one is refused (400). */
  testProvider: (fields: Fields) => transport.call<TestOutcome>('test_provider', { fields }),
  createModel: (fields: Fields, revision: string) =>
    transport.call<ConfigDocument>('create_model', { fields, revision }),
  replaceModel: (id: string, fields: Fields, revision: string) =>
    transport.call<ConfigDocument>('replace_model', { id, fields, revision }),
  updateModel: (id: string, fields: Fields, revision: string) =>
    transport.call<ConfigDocument>('update_model', { id, fields, revision }),
  deleteModel: (id: string, revision: string) =>
    transport.call<ConfigDocument>('delete_model', { id, revision }),
  /** Changes keys of `[probe]`, `[planner]`, `[executor]` or `[store]`; an object value
   *  (`commands`) is merged key by key. */
  updateSection: (section: ConfigSection, fields: Fields, revision: string) =>
    transport.call<ConfigDocument>('update_config_section', { section, fields, revision }),
  /** Starts the first load's calls (status, providers, events, proposals) before the app's
   *  code has loaded (boot.ts); the app's own first calls then take their answers. Nothing
   *  without a token in a browser (the app asks for one). */
  preload: () => {
    if (!tauri && !hasToken()) return;
    transport.keep(() => {
      void api.status();
      void api.providers();
      void api.events();
      void api.proposals();
    });
  },
};

/** The tray app's own settings (no HTTP route: a headless Steward has no login to start
 *  at). `null` in a browser. */
export const desktop = tauri
  ? {
      /** Whether Steward starts (hidden, in the tray) at login. */
      autostart: () => desktopCall<{ enabled: boolean }>('get_autostart'),
      setAutostart: (enabled: boolean) => desktopCall<{ enabled: boolean }>('set_autostart', { enabled }),
      /** Called when the setting changes elsewhere (the tray menu). */
      onAutostart: (cb: (enabled: boolean) => void) =>
        void tauri.event.listen<{ enabled: boolean }>('steward://autostart', (e) => cb(e.payload.enabled)),
      /** Opens the config file with the desktop's default application for it. */
      openConfigFile: () => desktopCall<{ path: string }>('open_config_file'),
    }
  : null;

async function desktopCall<T>(
  cmd: 'get_autostart' | 'set_autostart' | 'open_config_file',
  args?: Record<string, unknown>,
): Promise<T> {
  try {
    return await tauri!.core.invoke<T>(cmd, args);
  } catch (e) {
    throw apiError(e);
  }
}
