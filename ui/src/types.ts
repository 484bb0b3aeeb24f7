// The JSON contract of the engine (design.md "Interfaces" plus the UI routes).
// Both transports deliver exactly these shapes. Every shape a Rust type serializes is
// generated into ./generated/types.ts (tests/ts_types.rs); what is written here narrows the
// few fields Rust keeps as free-form JSON, each saying where it is built.

import type {
  ActionFile,
  BusStatus,
  IntakeView,
  ModelStats,
  Phase,
  RunOutput,
  Update as GeneratedUpdate,
} from './generated/types';

export type {
  ActionKind,
  Counts,
  ExpiryStats,
  FileView as SessionFile,
  IntakeView,
  Overall,
  PipelineUpdate,
  ProviderDetail,
  ProviderStatus as Status,
  ProviderView,
  Risk,
  ScanView as ScanReport,
  SessionsView,
  Status as ProposalStatus,
  StatusView,
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

// not generated yet: built with json! in src/execute/executor.rs (run_and_verify)
/** How the executor's command ended (`Proposal.run`). */
export interface RunResult {
  argv: string[] | null;
  end: 'ok' | 'failed' | 'timedout';
  exit_code: number | null;
  duration_ms: number | null;
  stdout_tail: string | null;
  stderr_tail: string | null;
}

/** `GET /api/intake`: the planner's door, the bus and the models. */
export interface IntakeReport {
  intake: IntakeView;
  bus: BusStatus | null;
  models: Record<string, ModelStats>;
}

/** A command still running: its output so far (`Proposal.run` while running, and the
 *  `run_output` update pushed while it prints). */
export type LiveRun = RunOutput;

/** What the stream pushes; a proposal's free-form fields narrowed as in `Proposal`. */
export type Update =
  | Exclude<GeneratedUpdate, { type: 'proposal' }>
  | { type: 'proposal'; proposal: Proposal };
