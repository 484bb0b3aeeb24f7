// Generated from the Rust types by tests/ts_types.rs; do not edit. Regenerate: STEWARD_BLESS=1 cargo test --test ts_types

/** A breaker's state (`state` of a provider in the API). */
export type Phase = "closed" | "open" | "half_open";

/** What a probe's result was, as stored and shown. */
export type Outcome = "up" | "down" | "timeout" | "error" | "rate_limited" | "inconclusive";

/** One probe result (`history` of a provider in the API). */
export type Sample = {
  provider_id: string,
  at: string,
  ok: boolean,
  latency_ms: number | null,
  outcome: string,
  error: string | null,
};

/** One hour of a provider's probe results (`hourly` in the API). */
export type HourlyRow = {
  hour: string,
  samples: number,
  ok: number,
  avg_latency_ms: number | null,
  max_latency_ms: number | null,
};

/** A provider as the overview shows it. */
export type ProviderStatus = "ok" | "warning" | "error" | "disabled";

export type ProviderView = {
  id: string,
  kind: 'http' | 'tcp' | 'llm' | 'command',
  node: string,
  service: string,
  enabled: boolean,
  state: Phase,
  healthy: boolean,
  status: ProviderStatus,
  consecutive_failures: number,
  last_error: string | null,
  last_latency_ms: number | null,
  last_checked_at: string | null,
  last_outcome: Outcome | null,
  open_until: string | null,
  last_success_at: string | null,
  last_failure_at: string | null,
  uptime_24h: number | null,
  /** Recent latencies, oldest first; `null` for a failed sample. */
  spark: Array<number | null>,
};

export type ProviderDetail = {
  history: Array<Sample>,
  hourly: Array<HourlyRow>,
  id: string,
  kind: 'http' | 'tcp' | 'llm' | 'command',
  node: string,
  service: string,
  enabled: boolean,
  state: Phase,
  healthy: boolean,
  status: ProviderStatus,
  consecutive_failures: number,
  last_error: string | null,
  last_latency_ms: number | null,
  last_checked_at: string | null,
  last_outcome: Outcome | null,
  open_until: string | null,
  last_success_at: string | null,
  last_failure_at: string | null,
  uptime_24h: number | null,
  /** Recent latencies, oldest first; `null` for a failed sample. */
  spark: Array<number | null>,
};

/** One problem in a config file. */
export type ConfigIssue = {
  file: string | null,
  line: number | null,
  field: string | null,
  message: string,
};

/** `storage` in `GET /api/status`. The default is a healthy store with no history. */
export type StorageView = {
  /** The last write succeeded (or nothing has failed yet). */
  ok: boolean,
  /** SQLite's words for the current outage's last failure, e.g. "database or disk is full". */
  error: string | null,
  /** When the current outage began. */
  since: string | null,
  /** Writes that failed for a storage reason since start (every retry counts). */
  failed_writes: number,
  /** Outages since start. */
  outages: number,
  /** When the last outage ended. */
  recovered_at: string | null,
  /** Timeline events accepted and held in memory until they can be written. */
  unwritten_events: number,
  /** Probe samples the recorder gave up on during outages (its backlog is bounded). */
  dropped_samples: number,
};

/** A snapshot of the bus for the API and the UI. */
export type BusStatus = {
  configured: boolean,
  /** The subscriber is connected and subscribed. */
  connected: boolean,
  /** The URL with its password replaced by `***`. */
  url: string,
  channels: Array<string>,
  publish_channel: string | null,
  /** Last connection error of either connection (scrubbed of the password). */
  last_error: string | null,
  /** Successful subscriber connections after the first one. */
  reconnects: number,
  /**
   * Subscribed sessions lost (server gone, connection broken). Redis keeps nothing for
   * a subscriber that is not connected: whatever was published meanwhile, or was still in
   * the server's output buffer when it died, never reaches Steward and cannot be counted
   * here. Messages published while Steward is subscribed all arrive (`received`).
   */
  disconnects: number,
  /** Subscriber connection attempts that failed (each retry counts). */
  failed_connects: number,
  /** Messages received on the subscribed channels (oversized ones included). */
  received: number,
  /** Messages refused for their size before being copied or parsed. */
  oversized: number,
  /** Events the server accepted (PUBLISH answered). */
  published: number,
  /**
   * Events dropped: queue full, too old, or refused by the server (the sum of the three
   * below).
   */
  publish_dropped: number,
  /**
   * Events handed to the publisher since start: `published + publish_dropped +
   * publish_queued`, plus a batch in flight.
   */
  publish_requested: number,
  /**
   * Dropped because the queue was full (the oldest go first; the queue fills while the
   * publisher is disconnected).
   */
  publish_overflow: number,
  /** Dropped because they waited longer than the queue's maximum age (disconnected). */
  publish_expired: number,
  /** Dropped because the server answered PUBLISH with an error (ACL, …). */
  publish_refused: number,
  connected_since: string | null,
  last_message_at: string | null,
  /** The publisher holds a connection. It learns of a dead server on its next PUBLISH. */
  publisher_connected: boolean,
  /** Events waiting to be published. */
  publish_queued: number,
};

export type Counts = {
  providers: number,
  ok: number,
  warning: number,
  error: number,
  disabled: number,
};

export type Overall = "healthy" | "degraded" | "down";

/**
 * A push channel's state: `idle` until its first delivery, `ok` after a delivery,
 * `failing` from a failed try until the next delivery.
 */
export type ChannelState = "idle" | "ok" | "failing";

/** One push channel, as `/api/status` and the status bar show it. */
export type ChannelView = {
  name: string,
  /** `ntfy` or `webhook`. */
  kind: string,
  state: ChannelState,
  /** Notices waiting (the first one may be between retries). */
  queued: number,
  sent: number,
  /** Notices given up (after every retry, or at once when a retry cannot help). */
  failed: number,
  /** Notices dropped because the queue was full. */
  dropped: number,
  last_error: string | null,
  last_sent_at: string | null,
  last_error_at: string | null,
  /** When the waiting notice is tried again, while a retry waits. */
  next_retry_at: string | null,
};

/** What one try of a test notice to a push channel came to. */
export type ChannelTest = {
  name: string,
  kind: string,
  ok: boolean,
  /** Why it failed (the receiver's status and answer, or no connection). */
  error: string | null,
};

export type StatusView = {
  overall: Overall,
  counts: Counts,
  paused: boolean,
  snoozed_until: string | null,
  config_errors: Array<ConfigIssue>,
  config_path: string | null,
  node: string,
  version: string,
  pending_proposals: number,
  /** Input refused since start (invalid JSON, missing node, …). */
  events_rejected: number,
  observer_degraded: boolean,
  incidents: number,
  bus: BusStatus | null,
  /** How long a proposal waits for a decision before it expires (`[executor] proposal_ttl`). */
  proposal_ttl_secs: number,
  /**
   * The session pipeline's level (`None` without `[sessions]` or before the first scan);
   * a `warning` makes the overall state `degraded`.
   */
  pipeline: PipelineLevel | null,
  /** Whether the database takes writes; not `ok` makes the overall state `degraded`. */
  storage: StorageView,
  /**
   * The providers whose breaker is open (status `error`), in natural order (`p2`
   * before `p10`), at most `DOWN_LISTED`; `counts.error` says how many in all.
   */
  down_providers: Array<string>,
  /** The push channels (`[[notifications.channels]]`), in config order. */
  channels: Array<ChannelView>,
};

/** What one pass deleted. */
export type Pruned = {
  proposals: number,
  executions: number,
  action_files: number,
  events: number,
  event_dirs: number,
  cooldowns: number,
  /** Alertmanager alerts last heard of before the cutoff (`store::alerts`). */
  alerts: number,
};

export type Severity = "info" | "warning" | "error";

/** An event as stored and listed (`GET /api/events`). */
export type EventRecord = {
  id: number,
  at: string,
  type: string,
  provider_id: string | null,
  node: string | null,
  service: string | null,
  /** A [`Severity`]'s name (stored as text). */
  severity: Severity,
  message: string,
  /** The event's fields (an object: the `EngineEvent` without its `type`). */
  data: Record<string, unknown>,
};

/** How one model the router asked did. */
export type AttemptOutcome = "success" | "skipped" | "failed" | "invalid";

/** One model the router tried, in order. */
export type Attempt = {
  /** The model's id in config (`rules` for the rules planner). */
  model: string,
  outcome: AttemptOutcome,
  error: string | null,
  latency_ms: number,
};

/** `payload` of an action file. */
export type ActionPayload = {
  action: string,
  reason: string,
};

/**
 * A proposal as external executors read it (the action file: the keys of seed 001 plus
 * Steward's), which is also what the API answers for a proposal. Times are RFC 3339 text
 * with `+00:00`, as seed 001 writes them.
 */
export type ActionFile = {
  action_id: string,
  /** Executor type: `container_restart`, `redeploy`, `notify`, `ignore`. */
  type: ActionKind,
  node: string,
  service: string,
  /** `low`, `guarded` or `none`. */
  risk_level: Risk,
  confidence: number,
  requires_human: boolean,
  /** `pending`, then whatever the executor makes of it (`approved`, `rejected`, …). */
  status: Status,
  /** `created_at` in epoch seconds. */
  timestamp: number,
  created_at: string,
  /** The event that caused it (shape A). */
  source_event: unknown,
  /** The model that answered (`rules` for the built-in rules planner). */
  llm_model: string,
  llm_attempts: Array<Attempt>,
  payload: ActionPayload,
  description: string,
  /** What the policy in code forced, whatever the model said. */
  overrides: Array<string>,
  /** Provider ids that failed because of this one. */
  dependents: Array<string>,
  /** Who approved or rejected it (`api`, `local`, `auto`, …) and when; `null` while pending. */
  decided_by: string | null,
  decided_at: string | null,
  /** Why it is in its status, in words. */
  status_detail: string | null,
  /** The command's run: its output so far while it runs, the result once it ended. */
  run: unknown,
  updated_at: string | null,
};

/** One audit row (`GET /api/executions`). */
export type Execution = {
  id: number,
  action_id: string,
  at: string,
  actor: string,
  step: string,
  status_before: string,
  status_after: string,
  argv: Array<string> | null,
  exit_code: number | null,
  signal: number | null,
  timed_out: boolean | null,
  duration_ms: number | null,
  stdout_tail: string | null,
  stderr_tail: string | null,
  detail: string | null,
};

/** The executor type of a proposal (`type` in its action file). */
export type ActionKind = "container_restart" | "redeploy" | "notify" | "ignore";

/**
 * How much harm a proposal's action can do; `[executor] auto_execute` names the levels
 * that run without a click.
 */
export type Risk = "none" | "low" | "guarded";

export type Status = "pending" | "approved" | "running" | "succeeded" | "failed" | "timed_out" | "rejected" | "expired" | "stale" | "interrupted" | "resolved" | "unresolved" | "handed_off";

/** A running command's output so far (the last 8 KiB of each stream). */
export type RunOutput = {
  action_id: string,
  /** Always true: the command has not ended (the finished `run` has `end` instead). */
  live: true,
  argv: Array<string>,
  started_at: string,
  elapsed_ms: number,
  stdout_tail: string,
  stderr_tail: string,
  truncated: boolean,
};

/** What the expiry ticks did since start. */
export type ExpiryStats = {
  ticks: number,
  /** Proposals read by all ticks: the due ones, never the merely pending. */
  rows_read: number,
};

/** The config file as the app sees it. */
export type ConfigDocument = {
  path: string,
  /** What a write sends back as `If-Match`. */
  revision: string,
  /**
   * The file's content as JSON, secret-looking values as `"(hidden)"` (sent back
   * unchanged, they keep what the file has); `${ENV}` references as written.
   */
  config: Record<string, unknown>,
};

/** One probe of an unsaved provider. */
export type TestOutcome = {
  /** `up`, `down`, `rate_limited`, `inconclusive` or `error`. */
  status: string,
  ok: boolean,
  latency_ms: number,
  /** What went wrong, in words. */
  error: string | null,
};

/** What is wrong with a config edit, where a form can show it. */
export type FieldIssue = {
  /**
   * Where in the file: `providers[2].url`, `executor.timeout`, or `config` when no
   * field is known.
   */
  field: string,
  /** The key inside the entry or section being edited (`url`), when the issue is there. */
  key: string | null,
  /** The line in the file as it would be written. */
  line: number | null,
  message: string,
};

export type GatewayRouteView = {
  model: string,
  targets: Array<string>,
};

export type GatewayTargetView = {
  requests: number,
  ok: number,
  failed: number,
  client_errors: number,
  skipped: number,
  p50_ms: number | null,
  p99_ms: number | null,
  /** Streaming: time to the first chunk. */
  first_chunk_p50_ms: number | null,
  first_chunk_p99_ms: number | null,
};

/** `GET /api/gateway`. */
export type GatewayView = {
  listen: string,
  routes: Array<GatewayRouteView>,
  targets: { [key in string]: GatewayTargetView },
  /** Requests per gateway key name (the app it was given to). */
  apps: { [key in string]: number },
  /** Times a target failed and the next one was tried. */
  failovers: number,
  /** `503`s: no target answered. */
  unavailable: number,
  unauthorized: number,
};

/** The gate's counters (`intake` of `GET /api/intake`, with more). */
export type IntakeCounts = {
  /** Every input seen (valid or not). */
  received: number,
  accepted: number,
  /** Refused input, by reason (`invalid_json`, `missing_node`, …). */
  rejected: { [key in string]: number },
  rejected_total: number,
  benign: number,
  suppressed_cooldown: number,
  suppressed_in_flight: number,
  /** Planned while an observer incident or a dependency explained it (not planned). */
  suppressed_incident: number,
  planned: number,
  proposals: number,
  ignored: number,
  planning_failed: number,
  /** Accepted events not written to the timeline because one like it was, recently. */
  not_recorded: number,
  /** Not planned: the target is not in the config and `unknown_target_rate` was used up. */
  unknown_target_limited: number,
  /** Not planned: a new key while `MAX_COOLDOWNS` cooldowns were live. */
  dropped_cooldowns_full: number,
  /** Not planned: a new key while `MAX_IN_FLIGHT` keys were being planned. */
  dropped_in_flight_full: number,
  /**
   * Timeline marks forgotten early (`MAX_RECORD_MARKS`): such an event may get one more
   * timeline row than it would have.
   */
  dropped_record_marks: number,
};

/** What the router remembers about one model (served by the API as "model stats"). */
export type ModelStats = {
  success: number,
  failed: number,
  /** Answers that were junk: no JSON object, or a schema violation. */
  invalid: number,
  skipped: number,
  last_outcome: AttemptOutcome | null,
  last_error: string | null,
  last_at: string | null,
};

/**
 * What happened to an event at the door (`decision` in `POST /api/events` answers): the
 * gate's admission, or, for one the gate let through, `suppressed` (this workstation's
 * network looks down) or `overload` (the plan queue is full).
 */
export type IntakeDecision = "plan" | "benign" | "cooldown" | "in_flight" | "suppressed" | "overload" | "unknown_target_limited" | "cooldowns_full" | "in_flight_full";

/** What `POST /api/events` answers. */
export type Accepted = {
  status: 'accepted',
  svc_key: string,
  /**
   * `plan`, `benign`, `cooldown`, `in_flight`, `suppressed`, `overload`,
   * `unknown_target_limited` (a target not in the config, over `[planner]
   * unknown_target_rate`), `cooldowns_full` or `in_flight_full` (the gate's caps).
   */
  decision: IntakeDecision,
  cooldown_remaining_secs?: number,
};

/** Counters for the API and UI. */
export type IntakeView = {
  overload: number,
  echoes: number,
  in_flight: number,
  cooldowns: number,
  cooldown_secs: number,
  observer_degraded: boolean,
  /** Flap histories forgotten early (`planner::gate::MAX_FLAP_KEYS`). */
  dropped_flaps: number,
  /** Plans for targets not in the config in the last minute, and the limit. */
  unknown_targets_last_minute: number,
  unknown_target_rate: number,
  /** Every input seen (valid or not). */
  received: number,
  accepted: number,
  /** Refused input, by reason (`invalid_json`, `missing_node`, …). */
  rejected: { [key in string]: number },
  rejected_total: number,
  benign: number,
  suppressed_cooldown: number,
  suppressed_in_flight: number,
  /** Planned while an observer incident or a dependency explained it (not planned). */
  suppressed_incident: number,
  planned: number,
  proposals: number,
  ignored: number,
  planning_failed: number,
  /** Accepted events not written to the timeline because one like it was, recently. */
  not_recorded: number,
  /** Not planned: the target is not in the config and `unknown_target_rate` was used up. */
  unknown_target_limited: number,
  /** Not planned: a new key while `MAX_COOLDOWNS` cooldowns were live. */
  dropped_cooldowns_full: number,
  /** Not planned: a new key while `MAX_IN_FLIGHT` keys were being planned. */
  dropped_in_flight_full: number,
  /**
   * Timeline marks forgotten early (`MAX_RECORD_MARKS`): such an event may get one more
   * timeline row than it would have.
   */
  dropped_record_marks: number,
};

/**
 * The severity of the pipeline's status. Never `error`: a processor may be down for
 * maintenance, which is not a hard failure (seed 003).
 */
export type PipelineLevel = "ok" | "info" | "warning";

/** The `session_pipeline` entry of `GET /api/health/detailed`. */
export type PipelineStatus = {
  status: PipelineLevel,
  detail?: string,
  /** The skipped file (relative path), with `info`. */
  stuck_file?: string,
  stuck_file_age_seconds?: number,
  /** The processor(s) the finding is about, comma-separated; none when `ok`. */
  processor?: string,
};

/** How a run ended. */
export type ProcessorOutcome = "ok" | "failed" | "panicked" | "cancelled";

/** One processor, as `GET /api/sessions` shows it. */
export type ProcessorState = {
  name: string,
  kind: string,
  cadence_secs: number,
  enabled: boolean,
  running: boolean,
  last_run_started_at: string | null,
  last_run_finished_at: string | null,
  last_outcome: ProcessorOutcome | null,
  last_error: string | null,
  /** Files processed and failed in the last finished run. */
  files_processed: number,
  files_failed: number,
  /** Files due now. */
  backlog: number,
  /** The next cadence run (none when disabled or stopped). */
  next_run_at: string | null,
};

/** Token counts (and how many records carried them). */
export type Tokens = {
  input: number,
  output: number,
  cache_read: number,
  cache_creation: number,
  /** Records (replies) that carried usage. */
  messages: number,
};

/** Tokens of one model, or of one day (`key` is the model or `YYYY-MM-DD`). */
export type UsageBy = {
  key: string,
  tokens: Tokens,
};

/** The last full scan, for the view. */
export type ScanView = {
  at: string,
  duration_ms: number,
  seen: number,
  new: number,
  changed: number,
  removed: number,
  hashed: number,
  error: string | null,
};

/** How the root is watched, for the view. */
export type WatchView = {
  /**
   * `native`, `polling` (the native watch failed: `detail` says why) or `waiting`
   * (the root does not exist yet).
   */
  mode: 'native' | 'polling' | 'waiting',
  detail: string | null,
  /**
   * Directories watched: the root and its real user directories (never anything behind
   * a symlink). Only in `GET /api/sessions`; a change of mode is what is news.
   */
  watched_dirs?: number,
};

export type FileProcessorView = {
  processor: string,
  processed_at: string | null,
  items_extracted: number,
  last_error: string | null,
};

/** One indexed file and where each processor stands with it. */
export type FileView = {
  path: string,
  username: string,
  size: number,
  mtime: string,
  file_hash: string | null,
  processors: Array<FileProcessorView>,
};

export type FilesView = {
  count: number,
  total_bytes: number,
  newest_mtime: string | null,
  /** The newest files (at most [`FILES_LISTED`](crate::sessions::pipeline::FILES_LISTED)). */
  list: Array<FileView>,
  truncated: boolean,
};

/** What the `usage` processors extracted, in total, by model and by day (last 30 days). */
export type UsageView = {
  files: number,
  records: number,
  malformed: number,
  tokens: Tokens,
  by_model: Array<UsageBy>,
  by_day: Array<UsageBy>,
};

/** `GET /api/sessions`. */
export type SessionsView = {
  configured: boolean,
  root: string | null,
  watch: WatchView | null,
  scanned: boolean,
  last_scan: ScanView | null,
  /** `services.session_pipeline` of `/api/health/detailed`. */
  status: PipelineStatus,
  files: FilesView,
  processors: Array<ProcessorState>,
  usage: UsageView,
};

/** The live push: status and processors (the files and usage are fetched on demand). */
export type PipelineUpdate = {
  status: PipelineStatus,
  processors: Array<ProcessorState>,
  files: number,
};

/** What adapters push to the UI, live. */
export type Update = {
  "type": "provider_updated",
  provider: ProviderView,
} | {
  "type": "event",
  event: EventRecord,
} | {
  "type": "status",
  status: StatusView,
} | {
  "type": "proposal",
  proposal: ActionFile,
} | {
  "type": "run_output",
  output: RunOutput,
} | {
  "type": "pipeline",
  pipeline: PipelineUpdate,
} | { "type": "resync" };
