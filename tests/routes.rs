//! The route table (`steward::http::table`) is what the HTTP server answers: every command
//! on its method and path, the HTTP-only routes (`/api/health`, `/api/stream`, Alertmanager's
//! webhook), no other method on those paths, and the
//! `{code, message}` 404 for any other `/api` path. (The UI's calls and the tray app's
//! command list are checked against the same table by `tests/ui/parity.test.mjs`.)

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::HashSet;
use steward::http::table::{Method, COMMANDS, HTTP_ONLY};

const ALL: [Method; 5] = [
    Method::Get,
    Method::Post,
    Method::Put,
    Method::Patch,
    Method::Delete,
];

/// The path with every `{param}` set to `x`.
fn filled(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "x" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// Status and JSON body (`Null` when there is none) of `method path`, authorised.
async fn call(s: &Steward, method: Method, path: &str) -> (StatusCode, Value) {
    let url = format!("{}{path}", s.base);
    let req = match method {
        Method::Get => s.client.get(url),
        Method::Post => s.client.post(url).json(&json!({})),
        Method::Put => s.client.put(url).json(&json!({})),
        Method::Patch => s.client.patch(url).json(&json!({})),
        Method::Delete => s.client.delete(url),
    };
    let r = req.bearer_auth(TOKEN).send().await.unwrap();
    let status = r.status();
    let is_json = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let body = if is_json {
        r.json().await.unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    (status, body)
}

fn is_catch_all(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::NOT_FOUND && body["message"] == "no such API route"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_server_answers_exactly_the_route_table() {
    let dir = tempfile::tempdir().unwrap();
    let s = Steward::start(
        &write_config(dir.path(), "[planner]\nchain = [\"rules\"]\n"),
        &dir.path().join("data"),
    )
    .await;

    let mut routed: HashSet<(Method, &str)> = HTTP_ONLY.iter().copied().collect();
    for c in COMMANDS {
        routed.insert((c.method, c.path));
        // The stream never ends: its status line is enough, and `call` does not read it.
        let (status, body) = call(&s, c.method, &filled(c.path)).await;
        let what = format!("{} {} ({})", c.method.as_str(), c.path, c.name);
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{what} is allowed");
        assert!(
            !is_catch_all(status, &body),
            "{what} is routed: {status} {body}"
        );
        assert_ne!(
            status,
            StatusCode::UNAUTHORIZED,
            "{what}: the token is accepted"
        );
    }
    for (method, path) in HTTP_ONLY {
        let what = format!("{} {path}", method.as_str());
        if *method == Method::Get {
            let r = s
                .client
                .get(format!("{}{path}", s.base))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{what}");
            continue;
        }
        // A webhook (`POST /api/alertmanager`): `{}` is not its payload, but it is routed.
        let (status, body) = call(&s, *method, path).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{what} is allowed");
        assert!(
            !is_catch_all(status, &body),
            "{what} is routed: {status} {body}"
        );
        assert_ne!(
            status,
            StatusCode::UNAUTHORIZED,
            "{what}: the token is accepted"
        );
    }

    // No other method on a table path: nothing is routed that the table does not list.
    for (_, path) in &routed {
        for method in ALL {
            if routed.contains(&(method, path)) {
                continue;
            }
            let (status, _) = call(&s, method, &filled(path)).await;
            assert_eq!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{} {path} is not in the table",
                method.as_str()
            );
        }
    }
    // Any other /api path is the API's own 404, on any method.
    for path in ["/api/nothing", "/api/providers/x/nothing", "/api/health/x"] {
        for method in ALL {
            let (status, body) = call(&s, method, path).await;
            assert!(
                is_catch_all(status, &body),
                "{} {path}: {status} {body}",
                method.as_str()
            );
        }
    }
    s.stop().await;
}

/// The UI inside the binary: what `ui/dist` held when it was compiled (the test command
/// builds the UI first), with no directory on disk involved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_is_served_from_inside_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let s = Steward::start(
        &write_config(dir.path(), "[planner]\nchain = [\"rules\"]\n"),
        &dir.path().join("data"),
    )
    .await;
    let get = |path: &str| s.client.get(format!("{}{path}", s.base)).send();
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };

    let index = get("/").await.unwrap();
    assert_eq!(index.status(), StatusCode::OK);
    assert!(header(&index, "content-type").starts_with("text/html"));
    assert_eq!(header(&index, "cache-control"), "no-cache");
    let html = index.text().await.unwrap();
    assert!(
        html.contains("<title>") && html.contains("/assets/"),
        "ui/dist was built before this binary: {html}"
    );

    // Every script and stylesheet the page names is there, with its type, cached for good.
    let assets: Vec<&str> = html
        .split('"')
        .filter_map(|part| part.strip_prefix("./").filter(|p| p.starts_with("assets/")))
        .collect();
    assert!(!assets.is_empty(), "{html}");
    for asset in assets {
        let r = get(&format!("/{asset}")).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
        let kind = header(&r, "content-type");
        assert!(
            kind.contains("javascript") || kind.starts_with("text/css"),
            "{asset}: {kind}"
        );
        assert!(header(&r, "cache-control").contains("immutable"), "{asset}");
    }

    // A route of the page answers the page; a missing file is a 404, not the page.
    let route = get("/proposals").await.unwrap();
    assert_eq!(route.status(), StatusCode::OK);
    assert_eq!(route.text().await.unwrap(), html);
    assert_eq!(
        get("/assets/missing-0123.js").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    // The security headers hold for the UI too.
    let r = get("/").await.unwrap();
    assert_eq!(header(&r, "x-frame-options"), "DENY");
}
