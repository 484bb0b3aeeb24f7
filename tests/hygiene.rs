//! Input and output hygiene, against real servers and real files: what the API accepts
//! (status filters, text without control or bidi characters, bodies within their limits),
//! what it answers (security headers on everything, `{code, message}` for a too-large body),
//! what `steward serve` prints (no token unless a person is at a terminal), and who may read
//! the data dir (only its owner). And the hygiene of the source itself: wall-clock time only
//! through the injected clock, no error dropped with `let _ =` without a word on why,
//! durations parsed only where the config is loaded, and a store that depends only on
//! vocabulary, never on the components that use it.

mod common;
#[path = "common/redis.rs"]
mod redis_server;

use common::*;
use redis_server::RedisServer;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A plan by the rules planner, a message through Redis on loopback: moments.
const SOON: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

/// The permission bits in octal, as `ls -l` would be read: "700", "600".
fn mode(path: &Path) -> String {
    let bits = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode();
    format!("{:o}", bits & 0o7777)
}

/// `steward serve` (the harness's, on a free port it binds itself) with `data` as its data
/// dir, a config of defaults in `dir`, no `STEWARD_TOKEN` unless `env` sets one, and its
/// info log; answers once it answers, all its startup lines printed.
async fn start_serve(dir: &Path, data: &Path, env: &[(&str, &str)]) -> Serve {
    let config = dir.join("steward.toml");
    std::fs::write(&config, "# the defaults\n").unwrap();
    let mut cmd = ServeCommand::new(&config, data)
        .env_remove("STEWARD_TOKEN")
        .env("STEWARD_LOG", "steward=info");
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    cmd.start().await
}

/// A raw HTTP/1.1 request: the head as given, then `body_len` bytes (as one body with
/// `Content-Length`, or in 16 KiB chunks with `Transfer-Encoding: chunked`), written while
/// the answer is read, because a server may answer (and close) before the body is all sent.
/// The write side stays open until the answer is in: hyper ends a request whose client
/// half-closes. Answers `(status, head, body)`.
async fn raw_post(base: &str, path: &str, body_len: usize, chunked: bool) -> (u16, String, String) {
    let addr = base.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {body_len}")
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\n{framing}\r\nConnection: close\r\n\r\n"
    );
    let writer = tokio::spawn(async move {
        // Errors are expected once the server has answered and closed.
        let _ = send(&mut wr, &head, body_len, chunked).await;
        wr
    });
    let mut answer = Vec::new();
    // A reset after the answer (the server closed with our body unread) ends the read.
    let _ = tokio::time::timeout(Duration::from_secs(20), rd.read_to_end(&mut answer)).await;
    writer.abort();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP answer to POST {path}: {text:?}"));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_owned(), body.to_owned())
}

async fn send(
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    head: &str,
    body_len: usize,
    chunked: bool,
) -> std::io::Result<()> {
    wr.write_all(head.as_bytes()).await?;
    let chunk = vec![b' '; 16 * 1024];
    let mut left = body_len;
    while left > 0 {
        let n = left.min(chunk.len());
        if chunked {
            wr.write_all(format!("{n:x}\r\n").as_bytes()).await?;
            wr.write_all(&chunk[..n]).await?;
            wr.write_all(b"\r\n").await?;
        } else {
            wr.write_all(&chunk[..n]).await?;
        }
        left -= n;
    }
    if chunked {
        wr.write_all(b"0\r\n\r\n").await?;
    }
    wr.flush().await
}

/// A header's value in a raw answer's head; empty when absent.
fn header(head: &str, name: &str) -> String {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
        .unwrap_or_default()
}

async fn rules_steward(dir: &Path) -> Steward {
    Steward::start(
        &write_config(dir, "[planner]\nchain = [\"rules\"]\n"),
        &dir.join("data"),
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Specifications
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_status_all_lists_every_proposal_and_an_unknown_status_is_a_400() {
    let dir = tempfile::tempdir().unwrap();
    let s = rules_steward(dir.path()).await;
    for service in ["web", "db"] {
        let r = s
            .post(
                "/api/events",
                json!({"type": "service_unhealthy", "node": "lab", "service": service,
                       "payload": {"exit_code": 137}}),
            )
            .await;
        assert_eq!(r.status(), 202);
    }
    expect_update(s.api(), "two pending proposals", SOON, || async {
        s.api().proposals(Some("pending"), 100).await.unwrap().len() == 2
    })
    .await;
    let pending = s.get("/api/proposals?status=pending").await;
    let id = pending[0]["action_id"].as_str().unwrap().to_owned();
    let r = s
        .post(&format!("/api/proposals/{id}/reject"), json!({}))
        .await;
    assert_eq!(r.status(), 200);

    let all = s.get("/api/proposals?status=all").await;
    assert_eq!(
        all.as_array().unwrap().len(),
        2,
        "`all`, the CLI's word, means every status: {all}"
    );
    let mut statuses: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["status"].as_str().unwrap())
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, ["pending", "rejected"]);
    assert_eq!(s.get("/api/proposals").await, all, "absent is all too");
    assert_eq!(
        s.get("/api/proposals?status=rejected").await[0]["action_id"],
        id.as_str()
    );

    let r = s
        .client
        .get(format!("{}/api/proposals?status=pendng", s.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a typo is not an empty list");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "bad_request");
    let message = body["message"].as_str().unwrap();
    for allowed in [
        "all",
        "pending",
        "approved",
        "rejected",
        "expired",
        "unresolved",
    ] {
        assert!(message.contains(allowed), "names {allowed}: {message}");
    }
    s.stop().await;
}

/// Newline, CR, NUL, ESC, DEL, C1 NEL, ALM, ZWSP, ZWJ, LRM, RLM, LINE SEPARATOR, LRE, RLO,
/// LRI, PDI, BOM.
const FORGED: [char; 17] = [
    '\n', '\r', '\0', '\u{1b}', '\u{7f}', '\u{85}', '\u{61c}', '\u{200b}', '\u{200d}', '\u{200e}',
    '\u{200f}', '\u{2028}', '\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}', '\u{feff}',
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_and_bidi_characters_in_event_text_are_a_400_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let s = rules_steward(dir.path()).await;
    let mut refused = 0;
    for field in ["node", "service", "type", "event_type", "severity"] {
        for c in FORGED {
            let mut event = json!({"node": "lab", "service": "web", "severity": "error"});
            if field != "event_type" {
                event["type"] = json!("service_unhealthy");
            }
            event[field] = json!(format!("we{c}b"));
            let r = s.post("/api/events", event.clone()).await;
            assert_eq!(r.status(), 400, "{field} with U+{:04X}", u32::from(c));
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["code"], "bad_request");
            let message = body["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("\"{field}\"")),
                "the message names the field: {message}"
            );
            refused += 1;
        }
    }
    let intake = s.get("/api/intake").await;
    assert_eq!(
        intake["intake"]["rejected"]["control_characters"], refused,
        "counted under their own reason: {intake}"
    );
    // A forged "node" never became a proposal, nor an event in the timeline.
    assert!(s.api().proposals(None, 100).await.unwrap().is_empty());
    // Plain non-ASCII names are still welcome.
    let r = s
        .post(
            "/api/events",
            json!({"type": "service_unhealthy", "node": "nœud", "service": "サービス"}),
        )
        .await;
    assert_eq!(r.status(), 202);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_and_oversized_messages_on_the_bus_are_dropped_and_counted() {
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "[planner]\nchain = [\"rules\"]\n\n[bus]\nredis_url = \"{}\"\npublish_channel = \"\"\n",
        redis.url()
    );
    let s = Steward::start(&write_config(dir.path(), &cfg), &dir.path().join("data")).await;
    expect_update(s.api(), "the bus connects", SOON, || async {
        s.get("/api/status").await["bus"]["connected"] == true
    })
    .await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let messages = [
        json!({"type": "service_unhealthy", "node": "lab\u{202e}bew", "service": "web"})
            .to_string(),
        json!({"type": "service_unhealthy\nforged line", "node": "lab", "service": "db"})
            .to_string(),
        // 20 MB: refused by the bus before it is copied, counted with the other refusals.
        " ".repeat(20 * 1024 * 1024),
        // Messages are handled in order: once this one is planned, those before were judged.
        json!({"type": "service_unhealthy", "node": "lab", "service": "web"}).to_string(),
    ];
    for data in messages {
        let n: i64 = redis::cmd("PUBLISH")
            .arg("health_events")
            .arg(data)
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 1, "steward is subscribed");
    }
    expect_update(s.api(), "the clean event is planned", SOON, || async {
        !s.api().proposals(None, 100).await.unwrap().is_empty()
    })
    .await;
    let proposals = s.api().proposals(None, 100).await.unwrap();
    assert_eq!(proposals.len(), 1, "only the clean one: {proposals:?}");
    assert_eq!(proposals[0]["node"], "lab");
    assert_eq!(proposals[0]["service"], "web");
    let intake = s.get("/api/intake").await;
    assert_eq!(
        intake["intake"]["rejected"]["control_characters"], 2,
        "{intake}"
    );
    assert_eq!(intake["intake"]["rejected"]["too_large"], 1, "{intake}");
    assert_eq!(
        intake["bus"]["oversized"], 1,
        "refused by the bus itself: {intake}"
    );
    assert_eq!(intake["bus"]["connected"], true, "and still connected");
    assert_eq!(s.get("/api/status").await["events_rejected"], 3);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_dir_is_0700_and_the_database_and_token_0600() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh/data");
    let serve = start_serve(dir.path(), &data, &[]).await;
    let db = data.join("steward.db");
    let side = |suffix: &str| PathBuf::from(format!("{}{suffix}", db.display()));
    assert_eq!(mode(&data), "700", "a new data dir is private");
    assert_eq!(mode(&db), "600", "the database holds command output");
    assert_eq!(mode(&side("-wal")), "600", "so does its write-ahead log");
    assert_eq!(mode(&side("-shm")), "600");
    assert_eq!(mode(&data.join("token")), "600", "the API's key");
    serve.stop().await;

    // Left wide by an older Steward (or a umask): tightened at the next start.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(data.join("token"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let serve = start_serve(dir.path(), &data, &[]).await;
    assert_eq!(mode(&data), "700");
    assert_eq!(mode(&db), "600");
    assert_eq!(mode(&side("-wal")), "600");
    assert_eq!(mode(&side("-shm")), "600");
    assert_eq!(mode(&data.join("token")), "600");
    serve.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_never_printed_when_stdout_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();

    // First run, no STEWARD_TOKEN: a token is generated into the data dir.
    let data = dir.path().join("data");
    let serve = start_serve(dir.path(), &data, &[]).await;
    let base = serve.base.clone();
    let (out, err) = serve.stop().await;
    let token_file = data.join("token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(token.trim().len() >= 32, "a generated token: {token:?}");
    assert!(
        !out.contains(token.trim()) && !err.contains(token.trim()),
        "the new token stays out of logs:\n{out}\n{err}"
    );
    assert!(
        out.contains(&format!("{base}/")),
        "the URL is printed: {out}"
    );
    assert!(
        out.contains(&token_file.display().to_string()),
        "and where the token is: {out}"
    );

    // A token from the environment is not echoed either.
    const KNOWN: &str = "hygiene-known-token-5f1e0c";
    let serve = start_serve(
        dir.path(),
        &dir.path().join("data2"),
        &[("STEWARD_TOKEN", KNOWN)],
    )
    .await;
    let r = reqwest::Client::new()
        .get(format!("{}/api/status", serve.base))
        .bearer_auth(KNOWN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the known token is the one in use");
    let (out, err) = serve.stop().await;
    assert!(!out.contains(KNOWN) && !err.contains(KNOWN), "{out}\n{err}");
    assert!(
        out.contains("$STEWARD_TOKEN"),
        "says where it comes from: {out}"
    );
}

const SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'self'; frame-ancestors 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let ui = dir.path().join("ui");
    std::fs::create_dir_all(ui.join("assets")).unwrap();
    std::fs::write(
        ui.join("index.html"),
        "<!doctype html><title>Steward</title>",
    )
    .unwrap();
    std::fs::write(ui.join("assets/app.js"), "console.log('ok');").unwrap();
    let serve = start_serve(
        dir.path(),
        &dir.path().join("data"),
        &[
            ("STEWARD_TOKEN", TOKEN),
            ("STEWARD_UI_DIR", ui.to_str().unwrap()),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let base = &serve.base;
    let requests: Vec<(&str, reqwest::RequestBuilder, u16)> = vec![
        ("the UI", client.get(format!("{base}/")), 200),
        (
            "a UI asset",
            client.get(format!("{base}/assets/app.js")),
            200,
        ),
        ("a UI route", client.get(format!("{base}/overview")), 200),
        ("health", client.get(format!("{base}/api/health")), 200),
        (
            "an API answer",
            client.get(format!("{base}/api/status")).bearer_auth(TOKEN),
            200,
        ),
        ("no token", client.get(format!("{base}/api/status")), 401),
        (
            "an unknown API route",
            client.get(format!("{base}/api/nope")).bearer_auth(TOKEN),
            404,
        ),
        (
            "a wrong method",
            client
                .delete(format!("{base}/api/status"))
                .bearer_auth(TOKEN),
            405,
        ),
        (
            "a bad request",
            client
                .post(format!("{base}/api/events"))
                .bearer_auth(TOKEN)
                .body("{not json"),
            400,
        ),
        (
            "a foreign Host",
            client
                .get(format!("{base}/api/health"))
                .header("host", "evil.example"),
            403,
        ),
        (
            "the event stream",
            client.get(format!("{base}/api/stream?access_token={TOKEN}")),
            200,
        ),
    ];
    for (what, request, status) in requests {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), status, "{what}");
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(
                r.headers().get(name).and_then(|v| v.to_str().ok()),
                Some(value),
                "{what} ({status}) carries {name}"
            );
        }
    }
    let (status, head, _) = raw_post(base, "/api/events", 300 * 1024, false).await;
    assert_eq!(status, 413, "a body too large");
    for (name, value) in SECURITY_HEADERS {
        assert_eq!(
            header(&head, name),
            value,
            "a body too large carries {name}"
        );
    }
    serve.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_body_limit_rejection_is_a_json_413() {
    let dir = tempfile::tempdir().unwrap();
    let s = rules_steward(dir.path()).await;
    let cases = [
        // Over the event limit (64 KiB), within the route's body limit: the parser refuses.
        ("/api/events", 100 * 1024, false),
        ("/api/events", 100 * 1024, true),
        // Over the route's body limit: the extractor refuses.
        ("/api/events", 300 * 1024, false),
        ("/api/events", 300 * 1024, true),
        // Alertmanager's webhook: over its limit (1 MiB) the parser refuses, over twice
        // that the extractor.
        ("/api/alertmanager", 1536 * 1024, false),
        ("/api/alertmanager", 1536 * 1024, true),
        ("/api/alertmanager", 3 * 1024 * 1024, false),
        ("/api/alertmanager", 3 * 1024 * 1024, true),
        // A JSON route and a bytes route with axum's default limit (2 MB).
        ("/api/notifications/snooze", 3 * 1024 * 1024, false),
        ("/api/notifications/snooze", 3 * 1024 * 1024, true),
        ("/api/proposals/plan-x-y-1/reject", 3 * 1024 * 1024, false),
        ("/api/proposals/plan-x-y-1/reject", 3 * 1024 * 1024, true),
    ];
    for (path, len, chunked) in cases {
        let what = format!("{len} bytes to {path}, chunked: {chunked}");
        let (status, head, body) = raw_post(&s.base, path, len, chunked).await;
        assert_eq!(status, 413, "{what}: {body}");
        let content_type = header(&head, "content-type");
        assert!(
            content_type.starts_with("application/json"),
            "{what}: {content_type}"
        );
        let body: Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
        assert_eq!(body["code"], "payload_too_large", "{what}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    let intake = s.get("/api/intake").await;
    assert_eq!(
        intake["intake"]["rejected"]["too_large"], 4,
        "events and notifications the parsers refused are still counted: {intake}"
    );
    s.stop().await;
}

// ---------------------------------------------------------------------------------------
// Source hygiene: rules about `src/` that reading the code can check
// ---------------------------------------------------------------------------------------

/// Every `.rs` file under `src/`, as (`src/...` path, text), in path order.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    walk(&root.join("src"), &mut files);
    files.sort();
    assert!(
        !files.is_empty(),
        "no sources found under {}",
        root.display()
    );
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            (rel, text)
        })
        .collect()
}

/// Whether a line is only a comment (`//`, `///`, `//!`).
fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with("//")
}

/// Reads of the wall clock that bypass `crate::clock`.
const WALL_CLOCK_READS: [&str; 3] = ["Utc::now()", "SystemTime::now()", "Local::now()"];

#[test]
fn wall_clock_time_is_read_only_through_the_injected_clock() {
    let mut found = Vec::new();
    for (file, text) in sources() {
        if file == "src/clock.rs" {
            continue; // `SystemClock`: the one place that reads it.
        }
        for (n, line) in text.lines().enumerate() {
            if is_comment(line) {
                continue;
            }
            if let Some(read) = WALL_CLOCK_READS.iter().find(|r| line.contains(*r)) {
                found.push(format!("{file}:{}: {read}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "take `now` from a `Clock` (crate::clock) or as an argument, so decisions are \
         functions of it and tests can move time:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_let_underscore_says_why_what_it_drops_may_be_dropped() {
    let mut found = Vec::new();
    for (file, text) in sources() {
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            if is_comment(line) || !line.contains("let _ =") {
                continue;
            }
            let said_here = line.contains(" // ");
            let said_above = n > 0 && is_comment(lines[n - 1]);
            if !(said_here || said_above) {
                found.push(format!("{file}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "a `let _ =` drops what it is given, often an error: handle it (log it with a \
         field, or propagate it), or say on the line above why dropping it is right:\n{}",
        found.join("\n")
    );
}

#[test]
fn durations_are_parsed_only_where_the_config_is_loaded() {
    let mut found = Vec::new();
    for (file, text) in sources() {
        if file == "src/config.rs" {
            continue; // The validator: config durations are typed once, at load.
        }
        for (n, line) in text.lines().enumerate() {
            if !is_comment(line) && line.contains("humantime::parse_duration") {
                found.push(format!("{file}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "a duration from the config is parsed and checked once, when the config is loaded \
         (src/config.rs), and held as a `Duration` with its default: read the typed field \
         instead of parsing the text again with a silent default:\n{}",
        found.join("\n")
    );
}

/// The `crate::` module paths a file names (in `use` lines and inline), as segments:
/// `use crate::sessions::records::{A, B}` gives `["sessions", "records"]`.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !is_comment(l)) {
        for (at, _) in line.match_indices("crate::") {
            let rest = &line[at + "crate::".len()..];
            let mut segments = Vec::new();
            let mut tail = rest;
            loop {
                let end = tail
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                if end == 0 {
                    break;
                }
                segments.push(tail[..end].to_owned());
                match tail[end..].strip_prefix("::") {
                    Some(next) => tail = next,
                    None => break,
                }
            }
            if !segments.is_empty() {
                out.push(segments);
            }
        }
    }
    out
}

/// The file of the deepest module a path names: `["health", "breaker", "BreakerState"]` is
/// `src/health/breaker.rs`.
fn module_file(segments: &[String], sources: &[(String, String)]) -> Option<String> {
    (1..=segments.len()).rev().find_map(|n| {
        let dir = segments[..n].join("/");
        [format!("src/{dir}.rs"), format!("src/{dir}/mod.rs")]
            .into_iter()
            .find(|f| sources.iter().any(|(file, _)| file == f))
    })
}

#[test]
fn the_store_imports_only_modules_that_do_not_use_the_store() {
    let sources = sources();
    let uses_store = |file: &str| {
        let (_, text) = sources.iter().find(|(f, _)| f == file).unwrap();
        crate_paths(text).iter().any(|p| p[0] == "store")
    };
    let mut found = Vec::new();
    for (file, text) in sources.iter().filter(|(f, _)| f.starts_with("src/store/")) {
        for path in crate_paths(text) {
            let Some(module) = module_file(&path, &sources) else {
                continue;
            };
            if !module.starts_with("src/store/") && uses_store(&module) {
                found.push(format!("{file} imports crate::{}", path.join("::")));
            }
        }
    }
    assert!(
        found.is_empty(),
        "the store may depend on vocabulary (events, clock, config, breaker, proposal, \
         sessions::records, sessions::status), never on a component that uses the store: \
         move the types it needs into a vocabulary module:\n{}",
        found.join("\n")
    );
}
