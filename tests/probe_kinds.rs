//! Each probe kind against the real thing: loopback HTTP servers, closed ports, processes.

mod common;

use common::*;
use std::sync::Arc;
use std::time::Duration;
use steward::config::Config;
use steward::health::probe::{self, ErrorKind, Verdict};

fn provider(toml_body: &str) -> steward::config::ProviderConfig {
    let text = format!("[[providers]]\nid = \"p\"\nnode = \"n\"\n{toml_body}\n");
    Config::parse(&text, None)
        .expect("valid provider")
        .providers
        .remove(0)
}

fn system_clock() -> steward::clock::SharedClock {
    std::sync::Arc::new(steward::clock::SystemClock)
}

async fn check(toml_body: &str) -> Result<Verdict, steward::health::probe::ProbeError> {
    let p = provider(toml_body);
    probe::for_provider(
        &p,
        &probe::http_client(probe::Pooling::within_tick()),
        &system_clock(),
    )
    .check()
    .await
}

fn answer(f: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Mode {
    Mode::Answer(Arc::new(f))
}

#[tokio::test]
async fn http_any_2xx_is_up_and_other_statuses_are_down_with_the_status() {
    let svc = Service::start(answer(|head| {
        if head.starts_with("GET /ok") {
            Reply::json(204, "")
        } else {
            Reply::json(503, "busy")
        }
    }))
    .await;
    let ok = check(&format!("kind = \"http\"\nurl = \"{}\"", svc.url("/ok"))).await;
    assert_eq!(ok, Ok(Verdict::Up));
    let down = check(&format!("kind = \"http\"\nurl = \"{}\"", svc.url("/x"))).await;
    assert_eq!(
        down,
        Ok(Verdict::Down {
            reason: "HTTP 503 (expected 2xx)".into()
        })
    );
    let expected = check(&format!(
        "kind = \"http\"\nurl = \"{}\"\nexpect_status = 503",
        svc.url("/x")
    ))
    .await;
    assert_eq!(expected, Ok(Verdict::Up), "expect_status overrides 2xx");
}

#[tokio::test]
async fn http_body_keyword_and_json_field_conditions() {
    let svc = Service::start(answer(|head| {
        if head.starts_with("GET /good") {
            Reply::json(200, r#"{"status":"ok","db":{"up":true}}"#)
        } else {
            Reply::json(200, r#"{"status":"degraded","db":{"up":false}}"#)
        }
    }))
    .await;
    let kw = |path: &str| {
        format!(
            "kind = \"http\"\nurl = \"{}\"\nexpect_body = \"\\\"ok\\\"\"",
            svc.url(path)
        )
    };
    assert_eq!(check(&kw("/good")).await, Ok(Verdict::Up));
    assert!(
        matches!(check(&kw("/bad")).await, Ok(Verdict::Down { reason }) if reason.contains("does not contain"))
    );

    let js = |path: &str| {
        format!(
            "kind = \"http\"\nurl = \"{}\"\nexpect_json = {{ pointer = \"/db/up\", equals = true }}",
            svc.url(path)
        )
    };
    assert_eq!(check(&js("/good")).await, Ok(Verdict::Up));
    assert_eq!(
        check(&js("/bad")).await,
        Ok(Verdict::Down {
            reason: "/db/up is false, expected true".into()
        })
    );
}

#[tokio::test]
async fn http_headers_take_secrets_from_env_and_never_echo_them() {
    std::env::set_var("STEWARD_TEST_PROBE_TOKEN", "hunter2-secret");
    let svc = Service::start(answer(|head| {
        if head.contains("x-token: hunter2-secret") || head.contains("X-Token: hunter2-secret") {
            Reply::json(200, "{}")
        } else {
            Reply::json(401, "{}")
        }
    }))
    .await;
    let body = format!(
        "kind = \"http\"\nurl = \"{}\"\nheaders = {{ X-Token = \"${{STEWARD_TEST_PROBE_TOKEN}}\" }}",
        svc.url("/")
    );
    assert_eq!(check(&body).await, Ok(Verdict::Up));
    let missing = format!(
        "kind = \"http\"\nurl = \"{}\"\nheaders = {{ X-Token = \"${{STEWARD_TEST_UNSET_VAR}}\" }}",
        svc.url("/")
    );
    let err = check(&missing).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(!err.to_string().contains("hunter2"));
}

#[tokio::test]
async fn http_429_is_rate_limited_and_400_is_our_own_mistake() {
    let svc = Service::start(answer(|head| {
        if head.starts_with("GET /limited") {
            Reply {
                status: 429,
                headers: vec![("Retry-After".into(), "120".into())],
                body: String::new(),
            }
        } else {
            Reply::json(400, "bad request")
        }
    }))
    .await;
    assert_eq!(
        check(&format!(
            "kind = \"http\"\nurl = \"{}\"",
            svc.url("/limited")
        ))
        .await,
        Ok(Verdict::RateLimited {
            retry_after: Some(Duration::from_secs(120))
        })
    );
    assert!(matches!(
        check(&format!("kind = \"http\"\nurl = \"{}\"", svc.url("/bad"))).await,
        Ok(Verdict::Inconclusive { .. })
    ));
}

#[tokio::test]
async fn connection_refused_is_a_connect_error_without_the_url() {
    let port = dead_port().await;
    let err = check(&format!(
        "kind = \"http\"\nurl = \"http://user:pw@127.0.0.1:{port}/health?key=s3cret\""
    ))
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connect);
    let text = err.to_string();
    assert!(
        !text.contains("s3cret") && !text.contains("pw@"),
        "no URL secrets: {text}"
    );
    let tcp = check(&format!("kind = \"tcp\"\naddress = \"127.0.0.1:{port}\"")).await;
    assert!(matches!(tcp, Err(e) if e.kind == ErrorKind::Connect));
}

#[tokio::test]
async fn tcp_connect_is_up_when_something_listens() {
    let svc = Service::start(ok_health()).await;
    assert_eq!(
        check(&format!(
            "kind = \"tcp\"\naddress = \"127.0.0.1:{}\"",
            svc.port
        ))
        .await,
        Ok(Verdict::Up)
    );
}

#[tokio::test]
async fn llm_endpoints_in_both_dialects_with_model_checks() {
    std::env::set_var("STEWARD_TEST_LLM_KEY", "sk-test");
    let svc = Service::start(answer(|head| {
        if head.starts_with("GET /api/tags") {
            Reply::json(
                200,
                r#"{"models":[{"name":"qwen2.5:7b"},{"name":"llama3:latest"}]}"#,
            )
        } else if head.starts_with("GET /v1/models") {
            if head
                .to_lowercase()
                .contains("authorization: bearer sk-test")
            {
                Reply::json(200, r#"{"object":"list","data":[{"id":"gpt-4o-mini"}]}"#)
            } else {
                Reply::json(401, r#"{"error":"no key"}"#)
            }
        } else if head.starts_with("GET /busy/v1/models") {
            Reply {
                status: 429,
                headers: vec![("Retry-After".into(), "30".into())],
                body: "{}".into(),
            }
        } else {
            Reply::json(404, "{}")
        }
    }))
    .await;
    let ollama = |model: &str| {
        format!(
            "kind = \"llm\"\napi = \"ollama\"\nurl = \"{}\"\nmodel = \"{model}\"",
            svc.url("")
        )
    };
    assert_eq!(check(&ollama("qwen2.5:7b")).await, Ok(Verdict::Up));
    assert_eq!(
        check(&ollama("llama3")).await,
        Ok(Verdict::Up),
        ":latest is implied"
    );
    assert_eq!(
        check(&ollama("mistral")).await,
        Ok(Verdict::Down {
            reason: "model \"mistral\" is not listed by the server (2 models available)".into()
        })
    );
    let openai = format!(
        "kind = \"llm\"\napi = \"openai\"\nurl = \"{}\"\napi_key_env = \"STEWARD_TEST_LLM_KEY\"\nmodel = \"gpt-4o-mini\"",
        svc.url("/v1")
    );
    assert_eq!(check(&openai).await, Ok(Verdict::Up));
    let no_key = format!(
        "kind = \"llm\"\napi = \"openai\"\nurl = \"{}\"",
        svc.url("")
    );
    assert!(
        matches!(check(&no_key).await, Ok(Verdict::Down { reason }) if reason.contains("unauthorized"))
    );
    let busy = format!(
        "kind = \"llm\"\napi = \"openai\"\nurl = \"{}\"",
        svc.url("/busy")
    );
    assert_eq!(
        check(&busy).await,
        Ok(Verdict::RateLimited {
            retry_after: Some(Duration::from_secs(30))
        }),
        "429 is rate limited, not down"
    );
}

#[tokio::test]
async fn commands_run_without_a_shell_and_report_exit_code_and_stderr() {
    assert_eq!(
        check("kind = \"command\"\ncommand = [\"true\"]").await,
        Ok(Verdict::Up)
    );
    let fail =
        check("kind = \"command\"\ncommand = [\"sh\", \"-c\", \"echo disk full >&2; exit 3\"]")
            .await;
    assert_eq!(
        fail,
        Ok(Verdict::Down {
            reason: "exit code 3: disk full".into()
        })
    );
    // No shell: metacharacters are plain arguments.
    let literal = check("kind = \"command\"\ncommand = [\"test\", \"a;b\", \"=\", \"a;b\"]").await;
    assert_eq!(literal, Ok(Verdict::Up));
    let missing = check("kind = \"command\"\ncommand = [\"/nonexistent/check\"]").await;
    assert!(matches!(missing, Err(e) if e.kind == ErrorKind::Spawn));
}

#[tokio::test]
async fn a_command_that_times_out_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("child.pid");
    let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
    let p = provider(&format!(
        "kind = \"command\"\ncommand = [\"sh\", \"-c\", {}]",
        toml::Value::String(script)
    ));
    let probe = probe::for_provider(
        &p,
        &probe::http_client(probe::Pooling::within_tick()),
        &system_clock(),
    );
    let r = tokio::time::timeout(Duration::from_millis(500), probe.check()).await;
    assert!(r.is_err(), "the probe hangs until the timeout drops it");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The grandchild `sleep` must be gone (killed with the process group).
    let what = format!("the grandchild {pid} to be gone after the timeout");
    eventually(&what, Duration::from_secs(2), || async {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // A zombie ("Z") waiting for its reaper counts as dead.
        stat.is_empty() || stat.split_whitespace().nth(2) == Some("Z")
    })
    .await;
}

/// A keep-alive HTTP/1.1 server that answers every request 200 and counts the TCP
/// connections it accepted.
async fn counting_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                loop {
                    let n = match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        // 64 KB: more than hyper reads along with the head, so the
                        // connection is reusable only once the probe read the body.
                        let body = format!(
                            r#"{{"status":"ok","detail":"all good","pad":"{}"}}"#,
                            "x".repeat(64 * 1024)
                        );
                        let reply = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if sock.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, accepted)
}

#[tokio::test]
async fn probes_of_one_host_reuse_one_connection_even_when_nothing_checks_the_body() {
    for body_check in ["", "\nexpect_body = \"good\""] {
        let (url, accepted) = counting_server().await;
        let p = provider(&format!("kind = \"http\"\nurl = \"{url}\"{body_check}"));
        let pooling = probe::Pooling::for_providers(std::slice::from_ref(&p), 64);
        let probe = probe::for_provider(&p, &probe::http_client(pooling), &system_clock());
        for _ in 0..5 {
            assert_eq!(probe.check().await, Ok(Verdict::Up));
        }
        assert_eq!(
            accepted.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "five probes, one connection ({body_check:?})"
        );
    }
}
