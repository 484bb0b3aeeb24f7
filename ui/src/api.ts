// The only module that talks to a backend. Two transports behind one interface:
// Tauri IPC when `window.__TAURI__` exists, HTTP + server-sent events otherwise.
// Views call the functions exported here and never know which transport runs.
// Each call names a command of the route table (./generated/commands.ts, generated from
// src/http/table.rs): Tauri invokes it by name, HTTP takes its method and path from there.

import { COMMANDS, type CommandName } from './generated/commands';
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
  ) {
    super(message);
  }
}

export type Connection = 'live' | 'connecting' | 'reconnecting' | 'unauthorized';

interface TauriGlobal {
  core: { invoke<T>(cmd: string, args?: Record<string, unknown>): Promise<T> };
  event: { listen<T>(name: string, cb: (e: { payload: T }) => void): Promise<() => void> };
}

/** A call's arguments, named as Tauri takes them (camelCase: `actionId` for the Rust
 *  parameter `action_id`); `undefined` ones are left out. */
type Args = Record<string, string | number | undefined>;

interface Transport {
  call<T>(cmd: CommandName, args?: Args): Promise<T>;
  subscribe(onUpdate: (u: Update) => void, onConnection: (c: Connection) => void): void;
}

/** The arguments that have a value, under their Rust (snake_case) names. */
function given(args: Args): Map<string, string | number> {
  const out = new Map<string, string | number>();
  for (const [k, v] of Object.entries(args)) {
    if (v !== undefined) out.set(k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v);
  }
  return out;
}

/** The HTTP request of a command: the table's method and path, each `{name}` filled from
 *  the argument of that name; the other arguments go in the query (GET) or the JSON body
 *  (POST). */
function httpRequest(
  cmd: CommandName,
  args: Args = {},
): { method: 'GET' | 'POST'; url: string; body?: string } {
  const { method, path } = COMMANDS[cmd];
  const rest = given(args);
  const filled = path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = rest.get(name);
    if (v === undefined) throw new Error(`${cmd} needs ${name}`);
    rest.delete(name);
    return encodeURIComponent(String(v));
  });
  if (method === 'POST') return { method, url: filled, body: JSON.stringify(Object.fromEntries(rest)) };
  const query = new URLSearchParams([...rest].map(([k, v]) => [k, String(v)])).toString();
  return { method, url: query ? `${filled}?${query}` : filled };
}

const tauri = (window as unknown as { __TAURI__?: TauriGlobal }).__TAURI__;

class TauriTransport implements Transport {
  constructor(private t: TauriGlobal) {}
  async call<T>(cmd: CommandName, args: Args = {}): Promise<T> {
    const defined = Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined));
    try {
      return await this.t.core.invoke<T>(cmd, Object.keys(defined).length ? defined : undefined);
    } catch (e) {
      const err = e as { code?: string; message?: string };
      throw new ApiError(err.code ?? 'internal', err.message ?? String(e));
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
  private source: EventSource | null = null;
  private everOpen = false;
  private retry = 0;

  private token(): string {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  }

  async call<T>(cmd: CommandName, args?: Args): Promise<T> {
    const { method, url, body } = httpRequest(cmd, args);
    const resp = await fetch(url, {
      method,
      headers: {
        Authorization: `Bearer ${this.token()}`,
        ...(method === 'POST' ? { 'Content-Type': 'application/json' } : {}),
      },
      body,
    });
    if (!resp.ok) {
      let code = `http_${resp.status}`;
      let message = resp.statusText || `HTTP ${resp.status}`;
      try {
        const e = (await resp.json()) as { code?: string; message?: string };
        code = e.code ?? code;
        message = e.message ?? message;
      } catch {
        /* not JSON: keep the status line */
      }
      throw new ApiError(code, message, resp.status);
    }
    return (await resp.json()) as T;
  }

  subscribe(onUpdate: (u: Update) => void, onConnection: (c: Connection) => void): void {
    this.source?.close();
    clearTimeout(this.retry);
    onConnection(this.everOpen ? 'reconnecting' : 'connecting');
    const es = new EventSource(`/api/stream?access_token=${encodeURIComponent(this.token())}`);
    this.source = es;
    es.onopen = () => {
      // After a reconnect, updates may have been missed: ask for a full refresh.
      if (this.everOpen) onUpdate({ type: 'resync' });
      this.everOpen = true;
      onConnection('live');
    };
    es.onmessage = (m) => {
      try {
        onUpdate(JSON.parse(m.data as string) as Update);
      } catch {
        /* a malformed frame is skipped, never fatal */
      }
    };
    es.onerror = () => {
      if (this.source !== es) return;
      onConnection('reconnecting');
      // EventSource retries by itself unless the answer was an error status (a refused
      // token, a server restarting behind a proxy): then find out why and start over.
      if (es.readyState !== EventSource.CLOSED) return;
      this.retry = window.setTimeout(async () => {
        try {
          await this.call('get_status');
        } catch (e) {
          if (e instanceof ApiError && e.status === 401) {
            es.close();
            onConnection('unauthorized');
            return;
          }
        }
        if (this.source === es) this.subscribe(onUpdate, onConnection);
      }, 3000);
    };
  }
}

if (!tauri) adoptTokenFromUrl();
const transport: Transport = tauri ? new TauriTransport(tauri) : new HttpTransport();

export const isDesktop = Boolean(tauri);

export const api = {
  status: () => transport.call<StatusView>('get_status'),
  providers: () => transport.call<ProviderView[]>('list_providers'),
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
  pause: () => transport.call<StatusView>('pause_monitor'),
  resume: () => transport.call<StatusView>('resume_monitor'),
  snooze: (minutes: number) => transport.call<StatusView>('snooze_notifications', { minutes }),
  subscribe: (onUpdate: (u: Update) => void, onConnection: (c: Connection) => void) =>
    transport.subscribe(onUpdate, onConnection),
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
    }
  : null;

async function desktopCall<T>(cmd: 'get_autostart' | 'set_autostart', args?: Record<string, unknown>): Promise<T> {
  try {
    return await tauri!.core.invoke<T>(cmd, args);
  } catch (e) {
    const err = e as { code?: string; message?: string };
    throw new ApiError(err.code ?? 'internal', err.message ?? String(e));
  }
}
