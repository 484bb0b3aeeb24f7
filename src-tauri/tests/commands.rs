//! The IPC commands, called the way the web UI calls them (through Tauri's IPC, on a mock
//! runtime: no display needed), against a real engine probing a real loopback listener.

use serde_json::{json, Value};
use std::net::TcpListener;
use steward::api::EngineHandle;
use steward::config::Config;
use steward::engine::EngineOptions;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, MockRuntime};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewWindow};

struct Fixture {
    window: WebviewWindow<MockRuntime>,
    engine: Option<EngineHandle>,
    _listener: TcpListener,
    _data: tempfile::TempDir,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(engine) = self.engine.take() {
            tauri::async_runtime::block_on(engine.shutdown());
        }
    }
}

/// One TCP provider `db` on a loopback listener that accepts (the kernel completes the
/// handshake from the backlog, so nothing needs to call `accept`).
fn fixture() -> Fixture {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = Config::parse(
        &format!(
            r#"
[probe]
interval = "1s"
timeout = "500ms"

[[providers]]
id = "db"
kind = "tcp"
address = "127.0.0.1:{port}"
node = "lab"
service = "postgres"
"#
        ),
        None,
    )
    .expect("the test config is valid");
    let data = tempfile::tempdir().unwrap();
    // The engine runs on Tauri's runtime, as in the app; commands are spawned there too.
    let engine = tauri::async_runtime::block_on(steward::api::start(EngineOptions::new(
        config,
        data.path(),
    )))
    .expect("the engine starts");
    let app = mock_builder()
        .manage(engine.api().clone())
        .invoke_handler(steward_desktop::commands::handler())
        .build(mock_context(noop_assets()))
        .expect("the mock app builds");
    let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    assert!(app.get_webview_window("main").is_some());
    Fixture {
        window,
        engine: Some(engine),
        _listener: listener,
        _data: data,
    }
}

impl Fixture {
    /// Invokes a command with JSON arguments; `Err` carries the rejected value.
    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        get_ipc_response(
            &self.window,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                // On Linux the app's own origin is tauri://localhost.
                url: "tauri://localhost".parse().unwrap(),
                body: InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: tauri::test::INVOKE_KEY.to_string(),
            },
        )
        .map(|body| body.deserialize::<Value>().expect("a JSON answer"))
    }
}

#[test]
fn the_ui_reads_providers_and_status_through_ipc() {
    let f = fixture();

    let providers = f.invoke("list_providers", json!({})).unwrap();
    let list = providers
        .as_array()
        .expect("an array, as GET /api/providers");
    assert_eq!(list.len(), 1, "one provider configured: {providers}");
    let db = &list[0];
    assert_eq!(db["id"], "db");
    assert_eq!(db["kind"], "tcp");
    assert_eq!(db["node"], "lab");
    assert_eq!(db["service"], "postgres");
    for field in [
        "state",
        "healthy",
        "consecutive_failures",
        "last_error",
        "last_latency_ms",
        "last_checked_at",
    ] {
        assert!(
            db.get(field).is_some(),
            "the contract's field {field} is present: {db}"
        );
    }

    // Probing now answers the provider's new view: the listener accepts, so it is up.
    let probed = f.invoke("probe_provider", json!({"id": "db"})).unwrap();
    assert_eq!(probed["id"], "db");
    assert_eq!(probed["state"], "closed");
    assert_eq!(probed["healthy"], true);
    assert_eq!(probed["status"], "ok");
    assert!(
        probed["last_latency_ms"].is_number(),
        "a successful probe has a latency: {probed}"
    );

    let status = f.invoke("get_status", json!({})).unwrap();
    assert_eq!(status["overall"], "healthy");
    assert_eq!(status["counts"]["providers"], 1);
    assert_eq!(status["counts"]["ok"], 1);
    assert_eq!(status["paused"], false);

    let detail = f.invoke("get_provider", json!({"id": "db"})).unwrap();
    assert_eq!(
        detail["id"], "db",
        "the detail is the provider object flattened"
    );
    assert!(detail["history"].is_array(), "plus its history: {detail}");
}

#[test]
fn errors_cross_ipc_as_code_and_message() {
    let f = fixture();
    let err = f.invoke("get_provider", json!({"id": "nope"})).unwrap_err();
    assert_eq!(
        err["code"], "not_found",
        "the HTTP API's code for a missing provider: {err}"
    );
    assert!(err["message"].as_str().unwrap().contains("nope"));

    let err = f
        .invoke("probe_provider", json!({"id": "nope"}))
        .unwrap_err();
    assert_eq!(err["code"], "not_found");

    let err = f
        .invoke("snooze_notifications", json!({"minutes": 100_000}))
        .unwrap_err();
    assert_eq!(
        err["code"], "bad_request",
        "more than a week is refused: {err}"
    );
}

#[test]
fn commands_pause_probing_and_snooze_notifications() {
    let f = fixture();
    let status = f.invoke("pause_monitor", json!({})).unwrap();
    assert_eq!(status["paused"], true, "pause answers the new status");
    let status = f.invoke("resume_monitor", json!({})).unwrap();
    assert_eq!(status["paused"], false);

    let status = f
        .invoke("snooze_notifications", json!({"minutes": 60}))
        .unwrap();
    assert!(
        status["snoozed_until"].is_string(),
        "snoozed for an hour: {status}"
    );
    let status = f
        .invoke("snooze_notifications", json!({"minutes": 0}))
        .unwrap();
    assert!(
        status["snoozed_until"].is_null(),
        "0 turns notifications back on"
    );

    let events = f.invoke("list_events", json!({"limit": 10})).unwrap();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"monitor_paused") && kinds.contains(&"notifications_snoozed"),
        "each command left its event, newest first: {kinds:?}"
    );
}
