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

export type Update =
  | { type: 'provider_updated'; provider: ProviderView }
  | { type: 'event'; event: EventRecord }
  | { type: 'status'; status: StatusView }
  | { type: 'resync' };
