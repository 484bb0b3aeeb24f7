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
  type: string,
  node: string,
  service: string,
  /** `low`, `guarded` or `none`. */
  risk_level: string,
  confidence: number,
  requires_human: boolean,
  /** `pending`, then whatever the executor makes of it (`approved`, `rejected`, …). */
  status: string,
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
