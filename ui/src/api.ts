// The only module that talks to a backend. Two transports behind one interface:
// Tauri IPC when `window.__TAURI__` exists, HTTP + server-sent events otherwise.
// Views call the functions exported here and never know which transport runs.

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

interface Transport {
  call<T>(cmd: string, method: 'GET' | 'POST', path: string, args?: Record<string, unknown>, body?: unknown): Promise<T>;
  subscribe(onUpdate: (u: Update) => void, onConnection: (c: Connection) => void): void;
}

const tauri = (window as unknown as { __TAURI__?: TauriGlobal }).__TAURI__;

class TauriTransport implements Transport {
  constructor(private t: TauriGlobal) {}
  async call<T>(cmd: string, _m: string, _p: string, args?: Record<string, unknown>): Promise<T> {
    try {
      return await this.t.core.invoke<T>(cmd, args);
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

  async call<T>(_cmd: string, method: 'GET' | 'POST', path: string, _a?: unknown, body?: unknown): Promise<T> {
    const resp = await fetch(path, {
      method,
      headers: {
        Authorization: `Bearer ${this.token()}`,
        ...(method === 'POST' ? { 'Content-Type': 'application/json' } : {}),
      },
      body: method === 'POST' ? JSON.stringify(body ?? {}) : undefined,
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
          await this.call('get_status', 'GET', '/api/status');
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
  status: () => transport.call<StatusView>('get_status', 'GET', '/api/status'),
  providers: () => transport.call<ProviderView[]>('list_providers', 'GET', '/api/providers'),
  provider: (id: string) =>
    transport.call<ProviderDetail>('get_provider', 'GET', `/api/providers/${encodeURIComponent(id)}`, { id }),
  probe: (id: string) =>
    transport.call<ProviderView>('probe_provider', 'POST', `/api/providers/${encodeURIComponent(id)}/probe`, { id }),
  events: (limit = 300) =>
    transport.call<EventRecord[]>('list_events', 'GET', `/api/events?limit=${limit}`, { limit }),
  /** Pending first (oldest first), then the rest newest first; `status` filters. */
  proposals: (status?: string, limit = 200) => {
    const q = new URLSearchParams({ limit: String(limit), ...(status ? { status } : {}) });
    return transport.call<Proposal[]>('list_proposals', 'GET', `/api/proposals?${q}`, {
      limit,
      ...(status ? { status } : {}),
    });
  },
  proposal: (actionId: string) =>
    transport.call<Proposal>('get_proposal', 'GET', `/api/proposals/${encodeURIComponent(actionId)}`, { actionId }),
  /** Approves a pending proposal; answers it after the approval (`approved`, or `stale` when
   *  the target answered again at click time). `conflict` (409) when it is not pending. */
  approve: (actionId: string) =>
    transport.call<Proposal>('approve_proposal', 'POST', `/api/proposals/${encodeURIComponent(actionId)}/approve`, {
      actionId,
    }),
  /** Rejects a pending proposal, with an optional reason; `conflict` (409) when not pending. */
  reject: (actionId: string, reason?: string) => {
    const why = reason?.trim() ? { reason: reason.trim() } : {};
    return transport.call<Proposal>(
      'reject_proposal',
      'POST',
      `/api/proposals/${encodeURIComponent(actionId)}/reject`,
      { actionId, ...why },
      why,
    );
  },
  /** Audit rows, newest first; `actionId` narrows them to one proposal. */
  executions: (actionId?: string, limit = 200) => {
    const q = new URLSearchParams({ limit: String(limit), ...(actionId ? { action_id: actionId } : {}) });
    return transport.call<Execution[]>('list_executions', 'GET', `/api/executions?${q}`, {
      limit,
      ...(actionId ? { actionId } : {}),
    });
  },
  /** The planner's intake counters (refused input by reason, suppressions), bus and models. */
  intake: () => transport.call<IntakeReport>('get_intake', 'GET', '/api/intake'),
  /** The session pipeline: status, watch, last scan, processors, newest files, usage. */
  sessions: () => transport.call<SessionsView>('get_sessions', 'GET', '/api/sessions'),
  /** Starts a processor's run now: `conflict` (409) while it runs, `not_found` (404) for an
   *  unknown name. The run's progress comes as `pipeline` updates. */
  runProcessor: (name: string) =>
    transport.call<{ processor: string; started: boolean }>(
      'run_session_processor',
      'POST',
      `/api/sessions/processors/${encodeURIComponent(name)}/run`,
      { name },
    ),
  pause: () => transport.call<StatusView>('pause_monitor', 'POST', '/api/monitor/pause'),
  resume: () => transport.call<StatusView>('resume_monitor', 'POST', '/api/monitor/resume'),
  snooze: (minutes: number) =>
    transport.call<StatusView>('snooze_notifications', 'POST', '/api/notifications/snooze', { minutes }, { minutes }),
  subscribe: (onUpdate: (u: Update) => void, onConnection: (c: Connection) => void) =>
    transport.subscribe(onUpdate, onConnection),
};
