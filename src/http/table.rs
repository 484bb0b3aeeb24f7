//! The route table: every call of the API, named once.
//!
//! Owns: each command's name (the Tauri command in `src-tauri/src/commands.rs`, and the
//! name `ui/src/api.ts` calls it by) with its HTTP method and path. The HTTP router is
//! built from this table (`routes.rs`: a command without a handler fails at start, and no
//! `/api` route exists outside it but [`HTTP_ONLY`]); the UI reads the same table from
//! `ui/src/generated/commands.ts`, written from it by `tests/ts_types.rs`.
//! Does not own: the handlers, or the Tauri shell's list (the browser test
//! `tests/ui/parity.test.mjs` checks that it registers every command here).

/// An HTTP method the API answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// One call of the API, the same over both transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    /// The Tauri command, and the UI's name for the call.
    pub name: &'static str,
    pub method: Method,
    /// The HTTP route, axum style: `{id}` is a path parameter. The UI fills it from the
    /// call's argument of that name (`actionId` for `{action_id}`, as Tauri names
    /// arguments); a GET's other arguments go in the query, a POST's in the JSON body.
    pub path: &'static str,
}

const fn get(name: &'static str, path: &'static str) -> Command {
    Command {
        name,
        method: Method::Get,
        path,
    }
}

const fn post(name: &'static str, path: &'static str) -> Command {
    Command {
        name,
        method: Method::Post,
        path,
    }
}

const fn put(name: &'static str, path: &'static str) -> Command {
    Command {
        name,
        method: Method::Put,
        path,
    }
}

const fn patch(name: &'static str, path: &'static str) -> Command {
    Command {
        name,
        method: Method::Patch,
        path,
    }
}

const fn delete(name: &'static str, path: &'static str) -> Command {
    Command {
        name,
        method: Method::Delete,
        path,
    }
}

/// Every command, with its route. Names and routes are the public contract (design.md,
/// "Interfaces"): add, never rename.
pub const COMMANDS: &[Command] = &[
    get("get_health", "/api/health/detailed"),
    get("get_status", "/api/status"),
    get("list_providers", "/api/providers"),
    get("get_provider", "/api/providers/{id}"),
    post("probe_provider", "/api/providers/{id}/probe"),
    get("list_events", "/api/events"),
    post("submit_event", "/api/events"),
    get("list_proposals", "/api/proposals"),
    get("get_proposal", "/api/proposals/{action_id}"),
    post("approve_proposal", "/api/proposals/{action_id}/approve"),
    post("reject_proposal", "/api/proposals/{action_id}/reject"),
    get("list_executions", "/api/executions"),
    get("get_intake", "/api/intake"),
    get("get_sessions", "/api/sessions"),
    post(
        "run_session_processor",
        "/api/sessions/processors/{name}/run",
    ),
    post("pause_monitor", "/api/monitor/pause"),
    post("resume_monitor", "/api/monitor/resume"),
    post("snooze_notifications", "/api/notifications/snooze"),
    post("test_notifications", "/api/notifications/test"),
    post("reload_config", "/api/config/reload"),
    // Config edits (issue 14): each write carries the file's revision (`If-Match` over
    // HTTP, the `revision` argument over IPC) and a JSON object of fields (the body over
    // HTTP, the `fields` argument over IPC).
    get("get_config", "/api/config"),
    post("create_provider", "/api/providers"),
    put("replace_provider", "/api/providers/{id}"),
    patch("update_provider", "/api/providers/{id}"),
    delete("delete_provider", "/api/providers/{id}"),
    post("test_provider", "/api/providers/test"),
    post("create_model", "/api/models"),
    put("replace_model", "/api/models/{id}"),
    patch("update_model", "/api/models/{id}"),
    delete("delete_model", "/api/models/{id}"),
    patch("update_config_section", "/api/config/{section}"),
    // The LLM gateway (issue 15): its routes and counters.
    get("get_gateway", "/api/gateway"),
];

/// The `/api` routes that are not commands: the liveness check (no token), the event
/// stream (the tray app pushes the same updates as Tauri events instead) and
/// Alertmanager's webhook (called by Alertmanager, never by the UI).
pub const HTTP_ONLY: &[(Method, &str)] = &[
    (Method::Get, "/api/health"),
    (Method::Get, "/api/stream"),
    (Method::Post, "/api/alertmanager"),
];

/// The command named `name`.
pub fn command(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_and_routes_are_unique() {
        let mut names = HashSet::new();
        let mut routes = HashSet::new();
        for c in COMMANDS {
            assert!(names.insert(c.name), "{} is listed twice", c.name);
            assert!(
                routes.insert((c.method, c.path)),
                "{} {} is listed twice",
                c.method.as_str(),
                c.path
            );
        }
        for (method, path) in HTTP_ONLY {
            assert!(
                routes.insert((*method, *path)),
                "{} {path} is a command too",
                method.as_str()
            );
        }
    }

    #[test]
    fn every_route_is_under_api_and_names_are_snake_case() {
        for c in COMMANDS {
            assert!(c.path.starts_with("/api/"), "{}: {}", c.name, c.path);
            assert!(
                !c.name.is_empty()
                    && c.name
                        .chars()
                        .all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{:?} is a Tauri command name",
                c.name
            );
        }
    }
}
