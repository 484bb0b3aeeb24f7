// The JSON contract of the engine (design.md "Interfaces" plus the UI routes).
// Both transports deliver exactly these shapes. Those in ./generated/types.ts are generated
// from the Rust types that serialize them (tests/ts_types.rs); the others are still written
// here, each saying where its Rust type is.

import type {
  ActionFile,
  BusStatus,
  ConfigIssue,
  EventRecord,
  HourlyRow,
  IntakeCounts,
  ModelStats,
  Outcome,
  Phase,
  PipelineLevel,
  PipelineStatus,
  ProcessorState,
  Sample,
  StorageView,
  Tokens,
  UsageBy,
} from './generated/types';

export type {
  Attempt as LlmAttempt,
  AttemptOutcome,
  BusStatus,
  ConfigIssue,
  EventRecord,
  Execution,
  HourlyRow,
  PipelineLevel,
  PipelineStatus,
  ProcessorOutcome,
  ProcessorState,
  Sample,
  StorageView,
  Tokens as TokenCounts,
} from './generated/types';

/** A breaker's state (`Phase` in Rust). */
export type BreakerState = Phase;

// not generated yet: defined in src/api.rs (moving)
export type Status = 'ok' | 'warning' | 'error' | 'disabled';
// not generated yet: defined in src/api.rs (moving)
export type Overall = 'healthy' | 'degraded' | 'down';

// not generated yet: defined in src/api.rs (moving)
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
  last_outcome: Outcome | null;
  open_until: string | null;
  last_success_at: string | null;
  last_failure_at: string | null;
  uptime_24h: number | null;
  spark: (number | null)[];
}

// not generated yet: defined in src/api.rs (moving)
export interface ProviderDetail extends ProviderView {
  history: Sample[];
  hourly: HourlyRow[];
}

// not generated yet: defined in src/api.rs (moving)
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

// not generated yet: built with json! by HealthEvent::to_json (src/planner/event.rs); a
// proposal keeps it as free-form JSON
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

/** A remediation proposal: its action file (generated: `ActionFile`), with the two fields
 *  Rust keeps as free-form JSON narrowed to what they hold. */
export interface Proposal extends Omit<ActionFile, 'source_event' | 'run'> {
  source_event: SourceEvent;
  /** The command's run: its output so far while it runs (`live`), the result once it ended. */
  run: RunResult | LiveRun | null;
}

// not generated yet: built with json! in src/executing.rs (moving)
/** How the executor's command ended (`Proposal.run`). */
export interface RunResult {
  argv: string[] | null;
  end: 'ok' | 'failed' | 'timedout';
  exit_code: number | null;
  duration_ms: number | null;
  stdout_tail: string | null;
  stderr_tail: string | null;
}

// not generated yet: RunOutput in src/executing.rs (moving)
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

// not generated yet: IntakeView in src/planning.rs (moving), put together with json! there
/** `GET /api/intake`: the planner's door, the bus and the models. */
export interface IntakeReport {
  intake: IntakeCounts & {
    overload: number;
    echoes: number;
    in_flight: number;
    cooldowns: number;
    cooldown_secs: number;
    observer_degraded: boolean;
  };
  bus: BusStatus | null;
  models: Record<string, ModelStats>;
}

// not generated yet: FileView in src/pipeline.rs (moving)
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

// not generated yet: ScanView in src/pipeline.rs (moving)
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

// not generated yet: defined in src/pipeline.rs (moving)
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
    tokens: Tokens;
    by_model: UsageBy[];
    /** Last 30 days, oldest first; `key` is `YYYY-MM-DD` (UTC). */
    by_day: UsageBy[];
  };
}

// not generated yet: defined in src/pipeline.rs (moving)
/** The live push (at most every 250 ms): the files and usage are fetched on demand. */
export interface PipelineUpdate {
  status: PipelineStatus;
  processors: ProcessorState[];
  /** Indexed files. */
  files: number;
}

// not generated yet: defined in src/api.rs (moving)
export type Update =
  | { type: 'provider_updated'; provider: ProviderView }
  | { type: 'pipeline'; pipeline: PipelineUpdate }
  | { type: 'event'; event: EventRecord }
  | { type: 'status'; status: StatusView }
  | { type: 'proposal'; proposal: Proposal }
  | { type: 'run_output'; output: LiveRun }
  | { type: 'resync' };
