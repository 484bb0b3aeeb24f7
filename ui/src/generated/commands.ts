// Generated from the Rust types by tests/ts_types.rs; do not edit. Regenerate: STEWARD_BLESS=1 cargo test --test ts_types

/** Every command of the API: the Tauri command's name, and the HTTP route that answers the same.
 *  `{name}` in a path is the call's argument of that name. */
export const COMMANDS = {
  get_health: { method: 'GET', path: '/api/health/detailed' },
  get_status: { method: 'GET', path: '/api/status' },
  list_providers: { method: 'GET', path: '/api/providers' },
  get_provider: { method: 'GET', path: '/api/providers/{id}' },
  probe_provider: { method: 'POST', path: '/api/providers/{id}/probe' },
  list_events: { method: 'GET', path: '/api/events' },
  submit_event: { method: 'POST', path: '/api/events' },
  list_proposals: { method: 'GET', path: '/api/proposals' },
  get_proposal: { method: 'GET', path: '/api/proposals/{action_id}' },
  approve_proposal: { method: 'POST', path: '/api/proposals/{action_id}/approve' },
  reject_proposal: { method: 'POST', path: '/api/proposals/{action_id}/reject' },
  list_executions: { method: 'GET', path: '/api/executions' },
  get_intake: { method: 'GET', path: '/api/intake' },
  get_sessions: { method: 'GET', path: '/api/sessions' },
  run_session_processor: { method: 'POST', path: '/api/sessions/processors/{name}/run' },
  pause_monitor: { method: 'POST', path: '/api/monitor/pause' },
  resume_monitor: { method: 'POST', path: '/api/monitor/resume' },
  snooze_notifications: { method: 'POST', path: '/api/notifications/snooze' },
  test_notifications: { method: 'POST', path: '/api/notifications/test' },
  reload_config: { method: 'POST', path: '/api/config/reload' },
  get_config: { method: 'GET', path: '/api/config' },
  create_provider: { method: 'POST', path: '/api/providers' },
  replace_provider: { method: 'PUT', path: '/api/providers/{id}' },
  update_provider: { method: 'PATCH', path: '/api/providers/{id}' },
  delete_provider: { method: 'DELETE', path: '/api/providers/{id}' },
  test_provider: { method: 'POST', path: '/api/providers/test' },
  create_model: { method: 'POST', path: '/api/models' },
  replace_model: { method: 'PUT', path: '/api/models/{id}' },
  update_model: { method: 'PATCH', path: '/api/models/{id}' },
  delete_model: { method: 'DELETE', path: '/api/models/{id}' },
  update_config_section: { method: 'PATCH', path: '/api/config/{section}' },
  get_gateway: { method: 'GET', path: '/api/gateway' },
} as const;

export type CommandName = keyof typeof COMMANDS;

/** HTTP routes that are not commands. */
export const HTTP_ONLY = [
  { method: 'GET', path: '/api/health' },
  { method: 'GET', path: '/api/stream' },
  { method: 'POST', path: '/api/alertmanager' },
] as const;
