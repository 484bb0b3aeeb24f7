//! Routes: each one a call into `Api`. Every `/api` route but `/api/health`, `/api/stream`
//! and `/api/alertmanager` ([`table::HTTP_ONLY`]) is a command of the route table
//! ([`table::COMMANDS`]): the table gives its method and path, [`handler`] its handler.
//! `GET /metrics` (for Prometheus) is outside `/api` and the table, behind its own guard.

use super::auth::{check_host, require_scrape_token, require_token, Guard, ScrapeGuard};
use super::error::error_response;
use super::table::{self, Command, Method};
use super::ServerOptions;
use crate::api::{Api, ApiError, Edit, Entries, Update};
use crate::metrics::CONTENT_TYPE as METRICS_CONTENT_TYPE;
use crate::planner::alertmanager::MAX_WEBHOOK_BYTES;
use crate::planner::event::MAX_EVENT_BYTES;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, on, post, MethodFilter, MethodRouter};
use axum::{middleware, Json, Router};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use std::convert::Infallible;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;
use tower_http::set_header::SetResponseHeaderLayer;

/// The built UI loads only its own bundled files (no inline script, no style attribute, no
/// CDN; its views set `element.style` properties, which a policy does not restrict) and talks
/// only to this origin, so `'self'` is the whole policy; no page may frame it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; frame-ancestors 'none'";

/// Headers on every answer (API, UI files, errors, the event stream): no framing
/// (clickjacking of the Approve button), no MIME sniffing, no token-bearing URL in a Referer.
fn security_headers() -> [(header::HeaderName, &'static str); 4] {
    [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ]
}

/// The answer as JSON, or the error as `{code, message}` with its status.
fn reply<T: serde::Serialize>(result: Result<T, ApiError>) -> Response {
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Clone)]
struct AppState {
    api: Api,
    cancel: CancellationToken,
}

pub(super) fn router(
    api: Api,
    opts: ServerOptions,
    local: SocketAddr,
    cancel: CancellationToken,
) -> Router {
    let scrape = ScrapeGuard {
        admin: opts.token.clone(),
        api: api.clone(),
    };
    let guard = Guard {
        token: opts.token,
        local,
    };
    let state = AppState { api, cancel };
    let protected = table::COMMANDS
        .iter()
        .fold(Router::new(), |r, c| r.route(c.path, handler(c)))
        .route("/api/stream", get(stream))
        // Above MAX_WEBHOOK_BYTES the Api refuses (and counts) it; far above, this does.
        .route(
            "/api/alertmanager",
            post(alertmanager).layer(axum::extract::DefaultBodyLimit::max(2 * MAX_WEBHOOK_BYTES)),
        )
        .route("/api/{*rest}", axum::routing::any(api_not_found))
        .route_layer(middleware::from_fn_with_state(guard.clone(), require_token));
    // For Prometheus, outside `/api` and the route table: the one route the scrape token
    // opens (the admin token opens it too).
    let scraped = Router::new()
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(scrape, require_scrape_token));
    let ui = opts.ui.router();
    let mut app = Router::new()
        .route(
            "/api/health",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .merge(protected)
        .merge(scraped)
        .with_state(state)
        .merge(ui)
        .layer(middleware::from_fn_with_state(guard, check_host))
        .layer(middleware::map_response(payload_too_large_as_json));
    for (name, value) in security_headers() {
        app = app.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    app
}

/// The handler of a command of the route table, on the table's method.
///
/// # Panics
/// For a command without a handler here: the router is built at start, so a command added
/// to the table alone stops `steward serve` (and every HTTP test) at once.
fn handler(c: &Command) -> MethodRouter<AppState> {
    let m = match c.method {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Put => MethodFilter::PUT,
        Method::Patch => MethodFilter::PATCH,
        Method::Delete => MethodFilter::DELETE,
    };
    match c.name {
        "get_health" => on(m, health_detailed),
        "get_status" => on(m, status),
        "list_providers" => on(m, providers),
        "get_provider" => on(m, provider),
        "probe_provider" => on(m, probe),
        "list_events" => on(m, events),
        // Above MAX_EVENT_BYTES the Api refuses (and counts) it; far above, this does.
        "submit_event" => {
            on(m, submit_event).layer(axum::extract::DefaultBodyLimit::max(4 * MAX_EVENT_BYTES))
        }
        "list_proposals" => on(m, proposals),
        "get_proposal" => on(m, proposal),
        "approve_proposal" => on(m, approve),
        "reject_proposal" => on(m, reject),
        "list_executions" => on(m, executions),
        "get_intake" => on(m, intake),
        "get_sessions" => on(m, sessions),
        "run_session_processor" => on(m, run_processor),
        "pause_monitor" => on(m, pause),
        "resume_monitor" => on(m, resume),
        "snooze_notifications" => on(m, snooze),
        "test_notifications" => on(m, test_notifications),
        "reload_config" => on(m, reload),
        "get_config" => on(m, get_config),
        "create_provider" => on(m, create_provider),
        "replace_provider" => on(m, replace_provider),
        "update_provider" => on(m, update_provider),
        "delete_provider" => on(m, delete_provider),
        "test_provider" => on(m, test_provider),
        "create_model" => on(m, create_model),
        "replace_model" => on(m, replace_model),
        "update_model" => on(m, update_model),
        "delete_model" => on(m, delete_model),
        "update_config_section" => on(m, update_section),
        "get_gateway" => on(m, gateway),
        other => panic!("the route table's command {other:?} has no HTTP handler"),
    }
}

/// A body an extractor refused: too large (413) or not what the route takes (400).
fn body_refused(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge(format!("the request body is too large ({text})"))
    } else {
        ApiError::BadRequest(text)
    }
}

/// Every body-limit refusal as `413 {code: "payload_too_large", message}`: axum's body
/// extractors answer a text/plain 413 on their own (with or without `Content-Length`).
async fn payload_too_large_as_json(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if resp.status() != StatusCode::PAYLOAD_TOO_LARGE || is_json {
        return resp;
    }
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "the request body is larger than this route accepts",
    )
}

async fn test_notifications(State(s): State<AppState>) -> Response {
    reply(s.api.test_notifications().await)
}

async fn api_not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such API route")
}

async fn health_detailed(State(s): State<AppState>) -> Json<serde_json::Value> {
    Json(s.api.health_detailed().await)
}

async fn status(State(s): State<AppState>) -> Response {
    Json(s.api.status()).into_response()
}

async fn providers(State(s): State<AppState>) -> Response {
    Json(s.api.providers().await).into_response()
}

async fn provider(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    reply(s.api.provider(&id).await)
}

async fn probe(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    reply(s.api.probe(&id).await)
}

#[derive(Deserialize)]
struct EventsQuery {
    limit: Option<u32>,
}

async fn events(
    State(s): State<AppState>,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let limit = match q {
        Ok(Query(q)) => q.limit.unwrap_or(200),
        Err(e) => return ApiError::BadRequest(e.body_text()).into_response(),
    };
    reply(s.api.events(limit).await)
}

async fn submit_event(
    State(s): State<AppState>,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return body_refused(e.status(), e.body_text()).into_response(),
    };
    match s.api.submit_event(&body) {
        Ok(a) => (StatusCode::ACCEPTED, Json(a)).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProposalsQuery {
    status: Option<String>,
    limit: Option<u32>,
}

async fn proposals(
    State(s): State<AppState>,
    q: Result<Query<ProposalsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return ApiError::BadRequest(e.body_text()).into_response(),
    };
    reply(
        s.api
            .proposals(q.status.as_deref(), q.limit.unwrap_or(200))
            .await,
    )
}

async fn proposal(State(s): State<AppState>, Path(action_id): Path<String>) -> Response {
    reply(s.api.proposal(&action_id).await)
}

/// Names the person behind an API call in the audit (`api:<name>`); the CLI sends the
/// login name. The token is what authorises; this only says who, for the record.
pub const USER_HEADER: &str = "x-steward-user";

/// Who decided, in the audit: "api", or "api:<name>" with a valid `X-Steward-User`.
fn api_actor(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(USER_HEADER) else {
        return Ok("api".into());
    };
    match value.to_str() {
        Ok(name) if crate::execute::actor::is_user_name(name) => {
            Ok(crate::execute::actor::actor("api", Some(name)))
        }
        _ => Err(ApiError::BadRequest(format!(
            "{USER_HEADER} must be 1 to 64 of A-Z a-z 0-9 _ . @ -"
        ))),
    }
}

async fn approve(
    State(s): State<AppState>,
    Path(action_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let actor = match api_actor(&headers) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    reply(s.api.approve(&action_id, &actor).await)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    reason: Option<String>,
}

async fn reject(
    State(s): State<AppState>,
    Path(action_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let actor = match api_actor(&headers) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let body: RejectBody = if body.iter().all(u8::is_ascii_whitespace) {
        RejectBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => {
                return ApiError::BadRequest(format!("body must be {{\"reason\": \"...\"}}: {e}"))
                    .into_response()
            }
        }
    };
    reply(
        s.api
            .reject(&action_id, &actor, body.reason.as_deref())
            .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecutionsQuery {
    action_id: Option<String>,
    limit: Option<u32>,
}

async fn executions(
    State(s): State<AppState>,
    q: Result<Query<ExecutionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return ApiError::BadRequest(e.body_text()).into_response(),
    };
    reply(
        s.api
            .executions(q.action_id.as_deref(), q.limit.unwrap_or(200))
            .await,
    )
}

async fn intake(State(s): State<AppState>) -> Response {
    Json(s.api.intake_report()).into_response()
}

async fn pause(State(s): State<AppState>) -> Response {
    reply(s.api.set_paused(true).await)
}

async fn resume(State(s): State<AppState>) -> Response {
    reply(s.api.set_paused(false).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SnoozeBody {
    minutes: u32,
}

async fn snooze(
    State(s): State<AppState>,
    body: Result<Json<SnoozeBody>, JsonRejection>,
) -> Response {
    let minutes = match body {
        Ok(Json(b)) => b.minutes,
        Err(e) => return body_refused(e.status(), e.body_text()).into_response(),
    };
    reply(s.api.snooze(minutes).await)
}

async fn reload(State(s): State<AppState>) -> Response {
    match s.api.reload_config().await {
        Ok(()) => Json(s.api.status()).into_response(),
        Err(e) => e.into_response(),
    }
}

fn to_sse(update: &Update) -> Event {
    Event::default().data(serde_json::to_string(update).unwrap_or_else(|_| "{}".into()))
}

async fn stream(State(s): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let feed = s.api.feed();
    let first = Update::Status {
        status: s.api.status(),
    };
    let updates = feed.into_stream().map(|update| Ok(to_sse(&update)));
    let body = futures::stream::once(async move { Ok(to_sse(&first)) })
        .chain(updates)
        .take_until(s.cancel.cancelled_owned());
    Sse::new(body).keep_alive(KeepAlive::default())
}

/// `GET /metrics`: the Prometheus text exposition.
async fn metrics(State(s): State<AppState>) -> Response {
    match s.api.metrics().await {
        Ok(text) => ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "GET /metrics failed");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        }
    }
}

/// Alertmanager's webhook: `202` with what became of each alert (`AlertsAccepted`).
async fn alertmanager(
    State(s): State<AppState>,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return body_refused(e.status(), e.body_text()).into_response(),
    };
    match s.api.alertmanager(&body).await {
        Ok(a) => (StatusCode::ACCEPTED, Json(a)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn gateway(State(s): State<AppState>) -> Response {
    reply(s.api.gateway())
}

async fn get_config(State(s): State<AppState>) -> Response {
    reply(s.api.config_document().await)
}

/// How an entry edit changes the entry.
#[derive(Clone, Copy)]
enum Way {
    Create,
    Replace,
    Patch,
}

/// A JSON object body (an edit's fields).
type Fields = Result<Json<serde_json::Map<String, serde_json::Value>>, JsonRejection>;

fn if_match(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok())
}

async fn create_provider(s: State<AppState>, h: HeaderMap, b: Fields) -> Response {
    edit_entry(s, h, Entries::Providers, None, Way::Create, b).await
}

async fn replace_provider(
    s: State<AppState>,
    h: HeaderMap,
    id: Path<String>,
    b: Fields,
) -> Response {
    edit_entry(s, h, Entries::Providers, Some(id.0), Way::Replace, b).await
}

async fn update_provider(
    s: State<AppState>,
    h: HeaderMap,
    id: Path<String>,
    b: Fields,
) -> Response {
    edit_entry(s, h, Entries::Providers, Some(id.0), Way::Patch, b).await
}

async fn delete_provider(s: State<AppState>, h: HeaderMap, id: Path<String>) -> Response {
    delete_entry(s, h, Entries::Providers, id.0).await
}

async fn create_model(s: State<AppState>, h: HeaderMap, b: Fields) -> Response {
    edit_entry(s, h, Entries::Models, None, Way::Create, b).await
}

async fn replace_model(s: State<AppState>, h: HeaderMap, id: Path<String>, b: Fields) -> Response {
    edit_entry(s, h, Entries::Models, Some(id.0), Way::Replace, b).await
}

async fn update_model(s: State<AppState>, h: HeaderMap, id: Path<String>, b: Fields) -> Response {
    edit_entry(s, h, Entries::Models, Some(id.0), Way::Patch, b).await
}

async fn delete_model(s: State<AppState>, h: HeaderMap, id: Path<String>) -> Response {
    delete_entry(s, h, Entries::Models, id.0).await
}

async fn edit_entry(
    State(s): State<AppState>,
    headers: HeaderMap,
    kind: Entries,
    id: Option<String>,
    way: Way,
    body: Fields,
) -> Response {
    let fields = match body {
        Ok(Json(f)) => f,
        Err(e) => return body_refused(e.status(), e.body_text()).into_response(),
    };
    let edit = match (way, id) {
        (Way::Create, _) => Edit::Create(kind, fields),
        (Way::Replace, Some(id)) => Edit::Replace(kind, id, fields),
        (Way::Patch, Some(id)) => Edit::Patch(kind, id, fields),
        (_, None) => return ApiError::BadRequest("which entry?".into()).into_response(),
    };
    let created = matches!(way, Way::Create);
    match s.api.edit_config(edit, if_match(&headers)).await {
        Ok(doc) if created => (StatusCode::CREATED, etag(&doc.revision), Json(doc)).into_response(),
        Ok(doc) => (etag(&doc.revision), Json(doc)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn delete_entry(
    State(s): State<AppState>,
    headers: HeaderMap,
    kind: Entries,
    id: String,
) -> Response {
    match s
        .api
        .edit_config(Edit::Delete(kind, id), if_match(&headers))
        .await
    {
        Ok(doc) => (etag(&doc.revision), Json(doc)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn update_section(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(section): Path<String>,
    body: Fields,
) -> Response {
    let fields = match body {
        Ok(Json(f)) => f,
        Err(e) => return body_refused(e.status(), e.body_text()).into_response(),
    };
    match s
        .api
        .edit_config(Edit::Section(section, fields), if_match(&headers))
        .await
    {
        Ok(doc) => (etag(&doc.revision), Json(doc)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn test_provider(State(s): State<AppState>, body: Fields) -> Response {
    match body {
        Ok(Json(fields)) => reply(s.api.test_provider(fields).await),
        Err(e) => body_refused(e.status(), e.body_text()).into_response(),
    }
}

/// The revision as an `ETag` (what the next write sends as `If-Match`).
fn etag(revision: &str) -> [(header::HeaderName, String); 1] {
    [(header::ETAG, format!("\"{revision}\""))]
}

async fn sessions(State(s): State<AppState>) -> Response {
    reply(s.api.sessions().await)
}

/// `202 {"processor", "started": true}`; `409` while it runs; `404` for an unknown name.
async fn run_processor(State(s): State<AppState>, Path(name): Path<String>) -> Response {
    match s.api.run_processor(&name).await {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({"processor": name, "started": true})),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_of_the_table_has_a_handler() {
        for c in table::COMMANDS {
            // Building the handler is the check: a command without one panics here.
            let _ = handler(c);
        }
    }
}
