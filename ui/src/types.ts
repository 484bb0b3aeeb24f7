// The JSON contract of the engine (design.md "Interfaces" plus the UI routes).
// Both transports deliver exactly these shapes.

export type BreakerState = 'closed' | 'open' | 'half_open';
export type Status = 'ok' | 'warning' | 'error' | 'disabled';
export type Overall = 'healthy' | 'degraded' | 'down';

export interface ProviderView {
  id: string;
  kind: 'http' | 'tcp' | 'llm' | 'command';
  node: string;
  service: string;
  enabled: boolean;
  state: BreakerState;
  healthy: boolean;
  status: Status;
  consecutive_failures: number;
  last_error: string | null;
  last_latency_ms: number | null;
  last_checked_at: string | null;
  last_outcome: string | null;
  open_until: string | null;
  last_success_at: string | null;
  last_failure_at: string | null;
  uptime_24h: number | null;
  spark: (number | null)[];
}

export interface Sample {
  at: string;
  ok: boolean;
  latency_ms: number | null;
  outcome: string;
  error: string | null;
}

export interface HourlyRow {
  hour: string;
  samples: number;
  ok: number;
  avg_latency_ms: number | null;
  max_latency_ms: number | null;
}

export interface ProviderDetail extends ProviderView {
  history: Sample[];
  hourly: HourlyRow[];
}

export interface ConfigIssue {
  file: string | null;
  line: number | null;
  field: string | null;
  message: string;
}

export interface StatusView {
  overall: Overall;
  counts: { providers: number; ok: number; warning: number; error: number; disabled: number };
  paused: boolean;
  snoozed_until: string | null;
  config_errors: ConfigIssue[];
  config_path: string | null;
  node: string;
  version: string;
  pending_proposals: number;
  /** Input refused since start (invalid JSON, missing node or type, …); see `intake()`. */
  events_rejected: number;
  /** Most providers on several nodes failed at once: this machine's network is suspect. */
  observer_degraded: boolean;
  incidents: number;
  /** `null` when no `[bus]` is configured. */
  bus: BusStatus | null;
  /** How long a proposal waits for a decision before it expires. */
  proposal_ttl_secs: number;
  /** The session pipeline's level; `null` without `[sessions]` or before its first scan. */
  pipeline?: PipelineLevel | null;
  /** Whether the database takes writes; not `ok` makes the overall state `degraded`. */
  storage?: StorageView;
}

/** The database's health: a full disk, an I/O error, … and what waits to be written. */
export interface StorageView {
  ok: boolean;
  /** SQLite's words, e.g. "database or disk is full"; `null` when ok. */
  error: string | null;
  /** When the current outage began. */
  since: string | null;
  /** Writes that failed since start (every retry counts). */
  failed_writes: number;
  outages: number;
  recovered_at: string | null;
  /** Accepted events held in memory until they can be written. */
  unwritten_events: number;
  /** Probe samples dropped from the recorder's bounded backlog during outages. */
  dropped_samples: number;
}

export interface BusStatus {
  configured: boolean;
  connected: boolean;
  url: string;
  channels: string[];
  publish_channel: string | null;
  last_error: string | null;
  reconnects: number;
  received: number;
  published: number;
  publish_dropped: number;
  /** Subscribed sessions lost (server gone); what Redis had not yet sent is gone with it. */
  disconnects?: number;
  /** Steward's own messages handed to the publisher: published + dropped + queued. */
  publish_requested?: number;
  publish_overflow?: number;
  publish_expired?: number;
  publish_refused?: number;
  connected_since: string | null;
  last_message_at: string | null;
}

export type AttemptOutcome = 'success' | 'skipped' | 'failed' | 'invalid';

/** One model the router tried, in order. */
export interface LlmAttempt {
  model: string;
  outcome: AttemptOutcome;
  error: string | null;
  latency_ms: number;
}

/** The event a proposal answers (shape A). */
export interface SourceEvent {
  type: string;
  node: string;
  service: string;
  severity?: string;
  payload?: unknown;
  timestamp?: number | string;
  channel?: string;
}

/** A remediation proposal: the action-file keys of seed 001 plus Steward's extras. */
export interface Proposal {
  action_id: string;
  /** Executor type: container_restart | redeploy | notify | ignore. */
  type: string;
  node: string;
  service: string;
  /** low | guarded | none. */
  risk_level: string;
  confidence: number;
  requires_human: boolean;
  /** pending, then whatever the executor makes of it (approved, rejected, …). */
  status: string;
  /** Epoch seconds. */
  timestamp: number;
  created_at: string;
  source_event: SourceEvent;
  /** The model that answered (`rules` for the built-in rules planner). */
  llm_model: string;
  llm_attempts: LlmAttempt[];
  payload: { action: string; reason: string };
  description: string;
  /** What the policy in code forced, whatever the model said. */
  overrides: string[];
  /** Provider ids that failed because of this one. */
  dependents: string[];
  /** Who approved or rejected it ("api", "local", "auto", …) and when; null while pending. */
  decided_by?: string | null;
  decided_at?: string | null;
  /** Why it is in its status, in words ("rejected: <reason>", "x on y answers again", …). */
  status_detail?: string | null;
  /** The command's run: its output so far while it runs (`live`), the result once it ended. */
  run?: RunResult | LiveRun | null;
  updated_at?: string | null;
}

/** How the executor's command ended (`Proposal.run`). */
export interface RunResult {
  argv: string[] | null;
  end: 'ok' | 'failed' | 'timedout';
  exit_code: number | null;
  duration_ms: number | null;
  stdout_tail: string | null;
  stderr_tail: string | null;
}

/** A command still running: its output so far (`Proposal.run` while running, and the
 *  `run_output` update pushed while it prints). */
export interface LiveRun {
  action_id: string;
  live: true;
  argv: string[];
  started_at: string;
  elapsed_ms: number;
  stdout_tail: string;
  stderr_tail: string;
  truncated: boolean;
}

/** One audit row (`GET /api/executions`): a step in a proposal's life. */
export interface Execution {
  id: number;
  action_id: string;
  at: string;
  /** "api" | "local" | "auto" | "steward" | … */
  actor: string;
  /** approve | reject | start | run | refused | verify | expire | stale | interrupt */
  step: string;
  status_before: string;
  status_after: string;
  argv: string[] | null;
  exit_code: number | null;
  signal: number | null;
  timed_out: boolean | null;
  duration_ms: number | null;
  stdout_tail: string | null;
  stderr_tail: string | null;
  detail: string | null;
}

/** `GET /api/intake`: the planner's door, the bus and the models. */
export interface IntakeReport {
  intake: {
    received: number;
    accepted: number;
    rejected: Record<string, number>;
    rejected_total: number;
    benign: number;
    suppressed_cooldown: number;
    suppressed_in_flight: number;
    suppressed_incident: number;
    planned: number;
    proposals: number;
    ignored: number;
    planning_failed: number;
    not_recorded: number;
    overload: number;
    echoes: number;
    in_flight: number;
    cooldowns: number;
    cooldown_secs: number;
    observer_degraded: boolean;
  };
  bus: BusStatus | null;
  models: Record<string, unknown>;
}

export interface EventRecord {
  id: number;
  at: string;
  type: string;
  provider_id: string | null;
  node: string | null;
  service: string | null;
  severity: 'info' | 'warning' | 'error';
  message: string;
  data: Record<string, unknown>;
}

/** The session pipeline's level: never `error` (a processor may be down for maintenance). */
export type PipelineLevel = 'ok' | 'warning' | 'info';

/** `services.session_pipeline` of `/api/health/detailed`, and `status` of `/api/sessions`. */
export interface PipelineStatus {
  status: PipelineLevel;
  detail?: string;
  /** The skipped file (relative to the root), with `info`. */
  stuck_file?: string;
  stuck_file_age_seconds?: number;
  /** The processor(s) the finding is about, comma-separated; absent when `ok`. */
  processor?: string;
}

export type ProcessorOutcome = 'ok' | 'failed' | 'panicked' | 'cancelled';

/** One `[[sessions.processors]]` and its last run. */
export interface ProcessorState {
  name: string;
  kind: 'usage' | 'command' | string;
  cadence_secs: number;
  enabled: boolean;
  running: boolean;
  last_run_started_at: string | null;
  last_run_finished_at: string | null;
  last_outcome: ProcessorOutcome | null;
  last_error: string | null;
  /** Files processed and failed in the last finished run. */
  files_processed: number;
  files_failed: number;
  /** Files due now. */
  backlog: number;
  /** The next cadence run (none when disabled). */
  next_run_at: string | null;
}

export interface TokenCounts {
  input: number;
  output: number;
  cache_read: number;
  cache_creation: number;
  messages: number;
}

export interface SessionFile {
  /** Relative to the root: `<user>/<name>.jsonl`. */
  path: string;
  username: string;
  size: number;
  mtime: string;
  file_hash: string | null;
  /** Where each processor stands with this file, in config order. */
  processors: {
    processor: string;
    processed_at: string | null;
    items_extracted: number;
    last_error: string | null;
  }[];
}

export interface ScanReport {
  at: string;
  duration_ms: number;
  seen: number;
  new: number;
  changed: number;
  removed: number;
  hashed: number;
  error: string | null;
}

/** `GET /api/sessions`. */
export interface SessionsView {
  configured: boolean;
  root: string | null;
  /** `native`, `polling` (the native watch failed: `detail` says why) or `waiting` (no root yet). */
  watch: { mode: 'native' | 'polling' | 'waiting'; detail: string | null } | null;
  scanned: boolean;
  last_scan: ScanReport | null;
  status: PipelineStatus;
  files: {
    count: number;
    total_bytes: number;
    newest_mtime: string | null;
    /** The newest files (at most 200). */
    list: SessionFile[];
    truncated: boolean;
  };
  processors: ProcessorState[];
  usage: {
    files: number;
    records: number;
    malformed: number;
    tokens: TokenCounts;
    by_model: { key: string; tokens: TokenCounts }[];
    /** Last 30 days, oldest first; `key` is `YYYY-MM-DD` (UTC). */
    by_day: { key: string; tokens: TokenCounts }[];
  };
}

/** The live push (at most every 250 ms): the files and usage are fetched on demand. */
export interface PipelineUpdate {
  status: PipelineStatus;
  processors: ProcessorState[];
  /** Indexed files. */
  files: number;
}

export type Update =
  | { type: 'provider_updated'; provider: ProviderView }
  | { type: 'pipeline'; pipeline: PipelineUpdate }
  | { type: 'event'; event: EventRecord }
  | { type: 'status'; status: StatusView }
  | { type: 'proposal'; proposal: Proposal }
  | { type: 'run_output'; output: LiveRun }
  | { type: 'resync' };
