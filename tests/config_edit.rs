//! Editing the fleet from the app (issue 14): every write lands in the TOML file a person
//! edits by hand, with everything it does not change kept byte for byte, only on the
//! revision it was made on, only when the loader's validator accepts it, and live at once.
//!
//! Real parts: a real config file in a temp dir, the engine and its HTTP API on loopback,
//! real loopback HTTP services for the probes.

mod common;

use common::{expect_update, ok_health, write_config, Mode, Reply, Service, Steward, TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A healthy service that counts the requests it answers.
async fn counting() -> (Service, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&hits);
    let service = Service::start(Mode::Answer(Arc::new(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
        Reply::json(200, r#"{"status":"ok"}"#)
    })))
    .await;
    (service, hits)
}

/// A hand-written file: comments everywhere, an inline table, a comment between entries,
/// a dotted key, a blank line or two.
fn fixture(web: &str, db_port: u16) -> String {
    format!(
        r#"# My fleet. Edited by hand and from the app.

[probe]
interval = "1s"      # fast, for the test
timeout = "2s"

# --- providers -----------------------------------------------------------

[[providers]]
id = "web"
kind = "http"
node = "piha"
service = "nginx"
url = "{web}"   # the health page
headers = {{ Authorization = "Bearer ${{STEWARD_TEST_WEB_TOKEN}}", Accept = "application/json" }}

# The database comes next; keep it last.

[[providers]]
id = "db"
kind = "tcp"
node = "piha"
service = "postgres"
address = "127.0.0.1:{db_port}"
depends_on = ["web"]

[executor]
timeout = "60s"
commands.container_restart = ["systemctl", "restart", "{{service}}"]
"#
    )
}

struct Fixture {
    steward: Steward,
    web: Service,
    _dir: tempfile::TempDir,
}

async fn start() -> Fixture {
    std::env::set_var("STEWARD_TEST_WEB_TOKEN", "s3cret-web-token-value");
    let web = Service::start(ok_health()).await;
    let db = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let db_port = db.local_addr().unwrap().port();
    // Keep the TCP listener open for the test's life.
    tokio::spawn(async move {
        loop {
            // Accepting is all a TCP probe needs; a failure only ends the fake.
            if db.accept().await.is_err() {
                break;
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &fixture(&web.url("/health"), db_port));
    let steward = Steward::start(&path, &dir.path().join("data")).await;
    Fixture {
        steward,
        web,
        _dir: dir,
    }
}

impl Fixture {
    /// The file as a person edits it: the probe timeout 2s → 3s.
    fn edited_by_hand(&self) -> String {
        self.file().replace("timeout = \"2s\"", "timeout = \"3s\"")
    }

    /// Saves `hand` (from `edited_by_hand`) as editors do, into a new file renamed over the
    /// old one, and waits until the engine runs with it.
    async fn write_by_hand_and_wait_for_the_reload(&self, hand: &str) {
        let path = &self.steward.config_path;
        let saved = path.with_extension("toml.new");
        std::fs::write(&saved, hand).unwrap();
        std::fs::rename(&saved, path).unwrap();
        let api = self.steward.api().clone();
        expect_update(
            &api,
            "the hand edit reloaded",
            Duration::from_secs(15),
            || {
                let api = api.clone();
                async move { api.config().probe.timeout == Duration::from_secs(3) }
            },
        )
        .await;
    }

    fn file(&self) -> String {
        std::fs::read_to_string(&self.steward.config_path).unwrap()
    }

    async fn revision(&self) -> String {
        self.steward.get("/api/config").await["revision"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        revision: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .steward
            .client
            .request(method, format!("{}{path}", self.steward.base))
            .bearer_auth(TOKEN);
        if let Some(r) = revision {
            req = req.header("If-Match", format!("\"{r}\""));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// An edit on the current revision; answers the new document.
    async fn edit(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let rev = self.revision().await;
        let (status, doc) = self.send(method.clone(), path, Some(&rev), body).await;
        assert!(status.is_success(), "{method} {path}: {status} {doc}");
        assert_ne!(doc["revision"], rev, "a write changes the revision");
        assert_eq!(doc["revision"], self.revision().await);
        doc
    }
}

/// The file minus `removed` plus nothing else: each line of `before` but those is in
/// `after`, in order (the untouched parts are byte-identical).
fn kept_apart_from(before: &str, after: &str, changed: &[&str]) {
    let mut rest = after;
    for line in before.lines() {
        if changed.iter().any(|c| line.contains(c)) {
            continue;
        }
        let at = rest
            .find(&format!("{line}\n"))
            .unwrap_or_else(|| panic!("line {line:?} was changed or moved:\n{after}"));
        rest = &rest[at + line.len() + 1..];
    }
}

#[tokio::test]
async fn get_config_shows_the_file_with_secrets_as_env_names_and_its_revision() {
    let f = start().await;
    let doc = f.steward.get("/api/config").await;
    assert_eq!(doc["path"], f.steward.config_path.display().to_string());
    assert_eq!(doc["revision"].as_str().unwrap().len(), 16);
    let web = &doc["config"]["providers"][0];
    assert_eq!(
        web["headers"]["Authorization"],
        "Bearer ${STEWARD_TEST_WEB_TOKEN}"
    );
    assert_eq!(
        doc["config"]["executor"]["commands"]["container_restart"][0],
        "systemctl"
    );
    assert!(!doc.to_string().contains("s3cret-web-token-value"));
}

#[tokio::test]
async fn create_edit_disable_and_delete_a_provider_keep_the_rest_of_the_file_and_go_live() {
    let f = start().await;
    let original = f.file();
    let api = f.steward.api().clone();

    // Create: appended after the last entry; the file before it is unchanged.
    let (new, hits) = counting().await;
    f.edit(
        Method::POST,
        "/api/providers",
        Some(
            json!({"id": "nas", "kind": "http", "node": "nas", "service": "web",
                    "url": new.url("/health"), "expect_status": 200}),
        ),
    )
    .await;
    let created = f.file();
    kept_apart_from(&original, &created, &[]);
    assert!(created.contains(
        "[[providers]]\nid = \"nas\"\nkind = \"http\"\nnode = \"nas\"\nservice = \"web\"\n"
    ));
    // Live: the new provider is probed and goes green.
    expect_update(
        &api,
        "the new provider nas probed and up",
        Duration::from_secs(15),
        || {
            let api = api.clone();
            async move {
                api.providers()
                    .await
                    .iter()
                    .any(|p| p.id == "nas" && p.healthy && p.last_checked_at.is_some())
            }
        },
    )
    .await;

    // Edit one field: only its line changes, its comment stays.
    let web2 = Service::start(ok_health()).await;
    f.edit(
        Method::PATCH,
        "/api/providers/web",
        Some(json!({"url": web2.url("/health")})),
    )
    .await;
    let edited = f.file();
    kept_apart_from(&created, &edited, &["url = \"http://127.0.0.1"]);
    assert!(edited.contains(&format!(
        "url = \"{}\"   # the health page",
        web2.url("/health")
    )));
    // The secret stays a reference, never its value.
    assert!(edited.contains("Bearer ${STEWARD_TEST_WEB_TOKEN}"));
    assert!(!edited.contains("s3cret-web-token-value"));

    // Disable: one line added; the disabled provider is no longer probed.
    f.edit(
        Method::PATCH,
        "/api/providers/nas",
        Some(json!({"enabled": false})),
    )
    .await;
    let disabled = f.file();
    kept_apart_from(&edited, &disabled, &[]);
    assert!(
        disabled.contains(&format!(
            "url = \"{}\"\nenabled = false\n",
            new.url("/health")
        )),
        "{disabled}"
    );
    expect_update(&api, "nas disabled", Duration::from_secs(15), || {
        let api = api.clone();
        async move {
            api.providers()
                .await
                .iter()
                .any(|p| p.id == "nas" && !p.enabled)
        }
    })
    .await;
    // While `web` is probed three more times (1 s interval), `nas` is not (one probe may
    // have been on its way when the edit landed).
    let before = hits.load(Ordering::SeqCst);
    let web_at = api
        .provider("web")
        .await
        .unwrap()
        .provider
        .last_checked_at
        .unwrap();
    expect_update(
        &api,
        "web probed three more times",
        Duration::from_secs(15),
        || {
            let api = api.clone();
            async move {
                api.provider("web")
                    .await
                    .ok()
                    .and_then(|d| d.provider.last_checked_at)
                    .is_some_and(|t| t > web_at + chrono::Duration::milliseconds(2500))
            }
        },
    )
    .await;
    let after = hits.load(Ordering::SeqCst);
    assert!(after <= before + 1, "{after} > {before} + 1");

    // Each edit was applied once: the config watcher did not apply the app's own writes
    // again. A hand edit is (and, the watcher taking changes in order, comes after them).
    f.write_by_hand_and_wait_for_the_reload(&f.edited_by_hand())
        .await;
    let reloads = f.steward.events_of("config_reloaded").await;
    assert_eq!(
        reloads.len(),
        4,
        "three edits and one hand edit: {reloads:?}"
    );

    // Delete: exactly the entry goes; the file is what it was before the create, but for
    // the edited url.
    f.edit(Method::DELETE, "/api/providers/nas", None).await;
    let deleted = f.file();
    assert_eq!(
        deleted,
        original
            .replace(&f.web.url("/health"), &web2.url("/health"))
            .replace("timeout = \"2s\"", "timeout = \"3s\"")
    );
    expect_update(
        &api,
        "nas gone from the providers",
        Duration::from_secs(10),
        || {
            let api = api.clone();
            async move { api.providers().await.iter().all(|p| p.id != "nas") }
        },
    )
    .await;
}

/// The config watcher reloads on changes to the file, not on reads of it: inotify reports
/// both, the watcher's own reads among them. Taken as changes, each read brought on the
/// next, about three a second for the engine's whole life (found by `strace` on the idle
/// tray app). A hand edit is read and reloaded once; after that, nobody opens the file.
#[tokio::test]
async fn after_a_hand_edit_the_engine_leaves_its_config_file_alone() {
    use notify::event::AccessKind;
    use notify::{EventKind, RecursiveMode, Watcher};

    let f = start().await;
    // Read before our watcher counts.
    let hand = f.edited_by_hand();
    // Our own watcher on the file's directory counts the opens of the file. The edit is
    // saved under another name and renamed over it, so every open is the engine's.
    let reads = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&reads);
    let name = f.steward.config_path.file_name().unwrap().to_owned();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(ev) = res else { return };
        let read = matches!(ev.kind, EventKind::Access(AccessKind::Open(_)));
        if read
            && ev
                .paths
                .iter()
                .any(|p| p.file_name() == Some(name.as_os_str()))
        {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    })
    .unwrap();
    let dir = f.steward.config_path.parent().unwrap();
    watcher.watch(dir, RecursiveMode::NonRecursive).unwrap();

    f.write_by_hand_and_wait_for_the_reload(&hand).await;
    assert!(
        reads.load(Ordering::SeqCst) > 0,
        "our watcher saw the engine open the edited file"
    );

    // A window of many times the watcher's 300 ms settling time: with reads taken as
    // changes, the file was opened again every 300 ms in it.
    let before = reads.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = reads.load(Ordering::SeqCst);
    assert_eq!(
        after,
        before,
        "the file was opened {} times while nothing changed",
        after - before
    );
    assert_eq!(f.steward.events_of("config_reloaded").await.len(), 1);
}

#[tokio::test]
async fn a_file_changed_on_disk_since_it_was_read_answers_409_with_the_new_revision() {
    let f = start().await;
    let rev = f.revision().await;
    // Someone edits the file by hand meanwhile.
    let by_hand = f.edited_by_hand();
    std::fs::write(&f.steward.config_path, &by_hand).unwrap();
    let (status, body) = f
        .send(
            Method::PATCH,
            "/api/providers/web",
            Some(&rev),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "config_changed");
    assert_eq!(
        body["revision"],
        steward::config::edit::revision(by_hand.as_bytes())
    );
    assert_eq!(
        f.file(),
        by_hand,
        "the hand edit stays, nothing overwritten"
    );

    // Without any revision: refused too.
    let (status, body) = f
        .send(Method::DELETE, "/api/providers/web", None, None)
        .await;
    assert_eq!(status, StatusCode::PRECONDITION_REQUIRED, "{body}");
    assert_eq!(body["code"], "revision_required");
    assert_eq!(f.file(), by_hand);
}

#[tokio::test]
async fn an_invalid_edit_answers_400_with_the_field_and_leaves_the_file_untouched() {
    let f = start().await;
    let before = f.file();
    let rev = f.revision().await;
    let (status, body) = f
        .send(
            Method::PATCH,
            "/api/providers/web",
            Some(&rev),
            Some(json!({"interval": "soon"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "invalid_config");
    let issue = &body["issues"][0];
    assert_eq!(issue["field"], "providers[0].interval", "{body}");
    assert_eq!(issue["key"], "interval");
    assert!(
        issue["message"].as_str().unwrap().contains("soon"),
        "{body}"
    );
    assert_eq!(f.file(), before);

    // A key the config does not know, on a new entry.
    let (status, body) = f
        .send(
            Method::POST,
            "/api/providers",
            Some(&rev),
            Some(json!({"id": "x", "kind": "http", "node": "n", "service": "s", "urll": "http://x/"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["issues"][0]["key"], "urll", "{body}");
    assert_eq!(f.file(), before);

    // An id that exists already, and a rename in place: refused, file untouched.
    let (status, body) = f
        .send(
            Method::POST,
            "/api/providers",
            Some(&rev),
            Some(json!({"id": "db", "kind": "tcp", "node": "n", "service": "s", "address": "127.0.0.1:1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = f
        .send(
            Method::PATCH,
            "/api/providers/web",
            Some(&rev),
            Some(json!({"id": "www"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["issues"][0]["key"], "id");
    assert_eq!(f.file(), before);
}

#[tokio::test]
async fn a_replace_sent_back_with_hidden_values_keeps_the_secret_reference() {
    let f = start().await;
    let doc = f.steward.get("/api/config").await;
    let mut web = doc["config"]["providers"][0].clone();
    web["service"] = json!("caddy");
    let before = f.file();
    f.edit(Method::PUT, "/api/providers/web", Some(web)).await;
    let after = f.file();
    assert_eq!(
        after,
        before.replace("service = \"nginx\"", "service = \"caddy\"")
    );
    assert!(after.contains("Bearer ${STEWARD_TEST_WEB_TOKEN}"));
    // Neither the file, the database nor any answer holds the token's value.
    assert!(!after.contains("s3cret-web-token-value"));
    let db = std::fs::read(steward::engine::database_path(&f.steward.data_dir)).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains("s3cret-web-token-value"));
    let events = f.steward.get("/api/events?limit=500").await;
    assert!(!events.to_string().contains("s3cret-web-token-value"));
}

#[tokio::test]
async fn a_section_patch_and_a_model_round_trip_keep_dotted_keys_and_comments() {
    let f = start().await;
    let before = f.file();
    f.edit(
        Method::PATCH,
        "/api/config/executor",
        Some(json!({"proposal_ttl": "10m", "commands": {"redeploy": ["nginx", "-s", "reload"]}})),
    )
    .await;
    let after = f.file();
    kept_apart_from(&before, &after, &[]);
    assert!(
        after.contains("commands.container_restart = [\"systemctl\", \"restart\", \"{service}\"]")
    );
    assert!(
        after.contains("commands.redeploy = [\"nginx\", \"-s\", \"reload\"]"),
        "{after}"
    );
    assert!(after.contains("proposal_ttl = \"10m\""));

    f.edit(
        Method::POST,
        "/api/models",
        Some(
            json!({"id": "local", "api": "openai", "url": "http://127.0.0.1:1/v1",
                    "model": "qwen", "api_key_env": "LOCAL_KEY"}),
        ),
    )
    .await;
    assert!(f
        .file()
        .contains("[[models]]\nid = \"local\"\napi = \"openai\""));
    f.edit(Method::DELETE, "/api/models/local", None).await;
    assert_eq!(f.file(), after);

    // Sections the app may not touch.
    let rev = f.revision().await;
    let (status, body) = f
        .send(
            Method::PATCH,
            "/api/config/http",
            Some(&rev),
            Some(json!({"listen": "0.0.0.0:7878"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(f.file(), after);
}

#[tokio::test]
async fn test_probes_an_unsaved_provider_once_and_saves_nothing() {
    let f = start().await;
    let before = f.file();
    let up = Service::start(ok_health()).await;
    let (status, body) = f
        .send(
            Method::POST,
            "/api/providers/test",
            None,
            Some(
                json!({"id": "new", "kind": "http", "node": "n", "service": "s",
                        "url": up.url("/health")}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "up");
    assert_eq!(body["ok"], true);
    assert!(body["latency_ms"].as_f64().unwrap() >= 0.0);

    let dead = common::dead_port().await;
    let (_, body) = f
        .send(
            Method::POST,
            "/api/providers/test",
            None,
            Some(
                json!({"id": "new", "kind": "tcp", "node": "n", "service": "s",
                        "address": format!("127.0.0.1:{dead}")}),
            ),
        )
        .await;
    assert_eq!(body["ok"], false, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("connect"),
        "{body}"
    );

    // A bad definition: the field, like a save.
    let (status, body) = f
        .send(
            Method::POST,
            "/api/providers/test",
            None,
            Some(json!({"id": "new", "kind": "http", "node": "n", "service": "s", "url": "not a url"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["issues"][0]["key"], "url", "{body}");

    // A command is never run unsaved.
    let (status, _) = f
        .send(
            Method::POST,
            "/api/providers/test",
            None,
            Some(
                json!({"id": "c", "kind": "command", "node": "n", "service": "s",
                        "command": ["true"]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(f.file(), before);
}
