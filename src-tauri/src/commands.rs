//! IPC commands: one-line adapters from the web UI to the engine's `Api`.
//!
//! Owns: the command names the UI calls (`get_status`, `list_providers`, `get_provider`,
//! `probe_provider`, `list_events`, `pause_monitor`, `resume_monitor`,
//! `snooze_notifications`, `test_notifications`, plus `get_health`, `reload_config`, `list_proposals`,
//! `get_proposal`, `get_intake`, `submit_event`, `approve_proposal`, `reject_proposal`,
//! `list_executions`, the config edits `get_config`, `create_provider`, `replace_provider`,
//! `update_provider`, `delete_provider`, `test_provider`, the same for models, and
//! `update_config_section`) and the IPC error shape.
//! Each answers the same JSON as the matching HTTP route; errors are `{code, message}`
//! with the engine's stable codes.
//! Does not own: any logic. A command that needs more than one `Api` call belongs in
//! the engine.
//!
//! Every command is `async` so none runs on the main (UI) thread.

use serde::Serialize;
use steward::api::{
    Api, ApiError, ChannelTest, ConfigDocument, Edit, Entries, ProviderDetail, ProviderView,
    StatusView, TestOutcome,
};
use steward::events::EventRecord;
use tauri::{ipc::Invoke, Runtime, State};

/// Events listed when the UI does not say how many (as `GET /api/events`).
const DEFAULT_EVENTS: u32 = 200;

/// An error across IPC: the same `{code, message}` as the HTTP API.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct IpcError {
    pub code: &'static str,
    pub message: String,
    /// What the HTTP answer carries besides: `revision` (`config_changed`), `issues`
    /// (`invalid_config`).
    #[serde(flatten)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl From<ApiError> for IpcError {
    fn from(e: ApiError) -> Self {
        let mut details = serde_json::Map::new();
        if let Some((key, value)) = e.details() {
            details.insert(key.to_owned(), value);
        }
        IpcError {
            code: e.code(),
            message: e.to_string(),
            details,
        }
    }
}

type Reply<T> = Result<T, IpcError>;

/// The app's invoke handler: the route table's commands ([`handler`]) and the desktop's
/// own ([`crate::autostart::COMMANDS`], [`crate::config_file::COMMANDS`]).
pub fn app_handler() -> impl Fn(Invoke<tauri::Wry>) -> bool + Send + Sync + 'static {
    let shared = handler();
    let autostart = crate::autostart::handler();
    let config_file = crate::config_file::handler();
    move |invoke| {
        let is = |commands: &[&str]| commands.contains(&invoke.message.command());
        let (is_autostart, is_config_file) = (
            is(&crate::autostart::COMMANDS),
            is(&crate::config_file::COMMANDS),
        );
        if is_autostart {
            autostart(invoke)
        } else if is_config_file {
            config_file(invoke)
        } else {
            shared(invoke)
        }
    }
}

/// The invoke handler with every command of the route table (also used by the tests' mock
/// app).
pub fn handler<R: Runtime>() -> impl Fn(Invoke<R>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        get_status,
        get_health,
        list_providers,
        get_provider,
        probe_provider,
        list_events,
        pause_monitor,
        resume_monitor,
        snooze_notifications,
        test_notifications,
        reload_config,
        list_proposals,
        get_proposal,
        get_intake,
        submit_event,
        approve_proposal,
        reject_proposal,
        list_executions,
        get_sessions,
        run_session_processor,
        get_config,
        create_provider,
        replace_provider,
        update_provider,
        delete_provider,
        test_provider,
        create_model,
        replace_model,
        update_model,
        delete_model,
        update_config_section,
        get_gateway,
    ]
}

#[tauri::command]
async fn get_status(api: State<'_, Api>) -> Reply<StatusView> {
    Ok(api.status())
}

#[tauri::command]
async fn get_health(api: State<'_, Api>) -> Reply<serde_json::Value> {
    Ok(api.health_detailed().await)
}

#[tauri::command]
async fn list_providers(api: State<'_, Api>) -> Reply<Vec<ProviderView>> {
    Ok(api.providers().await)
}

#[tauri::command]
async fn get_provider(api: State<'_, Api>, id: String) -> Reply<ProviderDetail> {
    Ok(api.provider(&id).await?)
}

#[tauri::command]
async fn probe_provider(api: State<'_, Api>, id: String) -> Reply<ProviderView> {
    Ok(api.probe(&id).await?)
}

#[tauri::command]
async fn list_events(api: State<'_, Api>, limit: Option<u32>) -> Reply<Vec<EventRecord>> {
    Ok(api.events(limit.unwrap_or(DEFAULT_EVENTS)).await?)
}

#[tauri::command]
async fn pause_monitor(api: State<'_, Api>) -> Reply<StatusView> {
    Ok(api.set_paused(true).await?)
}

#[tauri::command]
async fn resume_monitor(api: State<'_, Api>) -> Reply<StatusView> {
    Ok(api.set_paused(false).await?)
}

#[tauri::command]
async fn test_notifications(api: State<'_, Api>) -> Reply<Vec<ChannelTest>> {
    Ok(api.test_notifications().await?)
}

#[tauri::command]
async fn snooze_notifications(api: State<'_, Api>, minutes: u32) -> Reply<StatusView> {
    Ok(api.snooze(minutes).await?)
}

#[tauri::command]
async fn reload_config(api: State<'_, Api>) -> Reply<StatusView> {
    api.reload_config().await?;
    Ok(api.status())
}

#[tauri::command]
async fn list_proposals(
    api: State<'_, Api>,
    status: Option<String>,
    limit: Option<u32>,
) -> Reply<Vec<serde_json::Value>> {
    Ok(api
        .proposals(status.as_deref(), limit.unwrap_or(DEFAULT_EVENTS))
        .await?)
}

#[tauri::command]
async fn get_proposal(api: State<'_, Api>, action_id: String) -> Reply<serde_json::Value> {
    Ok(api.proposal(&action_id).await?)
}

/// The same JSON as `GET /api/intake`.
#[tauri::command]
async fn get_intake(api: State<'_, Api>) -> Reply<serde_json::Value> {
    Ok(api.intake_report())
}

/// The same as `POST /api/events`: `event` in shape A or B.
#[tauri::command]
async fn submit_event(
    api: State<'_, Api>,
    event: serde_json::Value,
) -> Reply<steward::planner::intake::Accepted> {
    Ok(api.submit_event(event.to_string().as_bytes())?)
}

/// Who decided, in the audit: a click in this window, by the person running the app
/// (`local:<login>`).
fn window_actor() -> String {
    steward::execute::actor::actor("local", steward::execute::actor::local_user().as_deref())
}

#[tauri::command]
async fn approve_proposal(api: State<'_, Api>, action_id: String) -> Reply<serde_json::Value> {
    Ok(api.approve(&action_id, &window_actor()).await?)
}

#[tauri::command]
async fn reject_proposal(
    api: State<'_, Api>,
    action_id: String,
    reason: Option<String>,
) -> Reply<serde_json::Value> {
    Ok(api
        .reject(&action_id, &window_actor(), reason.as_deref())
        .await?)
}

#[tauri::command]
async fn list_executions(
    api: State<'_, Api>,
    action_id: Option<String>,
    limit: Option<u32>,
) -> Reply<Vec<steward::store::Execution>> {
    Ok(api
        .executions(action_id.as_deref(), limit.unwrap_or(DEFAULT_EVENTS))
        .await?)
}

#[tauri::command]
async fn get_sessions(api: State<'_, Api>) -> Reply<steward::sessions::view::SessionsView> {
    Ok(api.sessions().await?)
}

#[tauri::command]
async fn run_session_processor(api: State<'_, Api>, name: String) -> Reply<serde_json::Value> {
    api.run_processor(&name).await?;
    Ok(serde_json::json!({"processor": name, "started": true}))
}

/// A JSON object of fields, as the HTTP body of an edit.
type Fields = serde_json::Map<String, serde_json::Value>;

#[tauri::command]
async fn get_gateway(api: State<'_, Api>) -> Reply<steward::api::GatewayView> {
    Ok(api.gateway()?)
}

#[tauri::command]
async fn get_config(api: State<'_, Api>) -> Reply<ConfigDocument> {
    Ok(api.config_document().await?)
}

/// Every edit takes the file's `revision` (the HTTP route's `If-Match`).
async fn edit(api: &Api, edit: Edit, revision: Option<String>) -> Reply<ConfigDocument> {
    Ok(api.edit_config(edit, revision.as_deref()).await?)
}

#[tauri::command]
async fn create_provider(
    api: State<'_, Api>,
    fields: Fields,
    revision: Option<String>,
) -> Reply<ConfigDocument> {
    edit(&api, Edit::Create(Entries::Providers, fields), revision).await
}

#[tauri::command]
async fn replace_provider(
    api: State<'_, Api>,
    id: String,
    fields: Fields,
    revision: Option<String>,
) -> Reply<ConfigDocument> {
    edit(
        &api,
        Edit::Replace(Entries::Providers, id, fields),
        revision,
    )
    .await
}

#[tauri::command]
async fn update_provider(
    api: State<'_, Api>,
    id: String,
    fields: Fields,
    revision: Option<String>,
) -> Reply<ConfigDocument> {
    edit(&api, Edit::Patch(Entries::Providers, id, fields), revision).await
}

#[tauri::command]
async fn delete_provider(
    api: State<'_, Api>,
    id: String,
    revision: Option<String>,
) -> Reply<ConfigDocument> {
    edit(&api, Edit::Delete(Entries::Providers, id), revision).await
}

#[tauri::command]
async fn test_provider(api: State<'_, Api>, fields: Fields) -> Reply<TestOutcome> {
    Ok(api.test_provider(fields).await?)
}

#[tauri::command]
async fn create_model(
    api: State<'_, Api>,
    fields: Fields,
    revision: Option<String>,
) -> Reply<ConfigDocument> {
    edit(&api, Edit::Create(Entries::Models, fields), revision).await
}

#[tauri::command]
async fn replace_model(
    api: State<'_, Api>,
    id: String,
    fields: Fields,
    revision: Option<String>,
) -> Reply<ConfigDocument> {
    edit(&api, Edit::Replace(Entries::Models, id, fields), revision).await
}

#[tauri::command]
async fn update_model(
    api: State<'_, Api>,
    id: String,
    fields: Fields,
    revision: Option<String>,
) -> Reply<ConfigDocument> {
    edit(&api, Edit::Patch(Entries::Models, id, fields), revision).await
}

#[tauri::command]
async fn delete_model(
    api: State<'_, Api>,
    id: String,
    revision: Option<String>,
) -> Reply<ConfigDocument> {
    edit(&api, Edit::Delete(Entries::Models, id), revision).await
}

#[tauri::command]
async fn update_config_section(
    api: State<'_, Api>,
    section: String,
    fields: Fields,
    revision: Option<String>,
) -> Reply<ConfigDocument> {
    edit(&api, Edit::Section(section, fields), revision).await
}
