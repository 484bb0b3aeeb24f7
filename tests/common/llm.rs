//! A fake LLM server on 127.0.0.1: speaks the OpenAI chat-completions and the Anthropic
//! Messages wire formats, answers from a script per model name, and records every request.
//! Include it with `#[path = "common/llm.rs"] mod llm;`.
#![allow(dead_code)]

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// 200 with this text as the assistant's message, in the wire format of the endpoint.
    Text(String),
    /// Any status with this raw body (JSON content type) and extra headers.
    Status(u16, String, Vec<(String, String)>),
    /// Never answers.
    Hang,
    /// 200 with a well-formed answer of about this many bytes. `chunked`: streamed without a
    /// Content-Length.
    Huge { bytes: usize, chunked: bool },
    /// 400 "response_format not supported" when the request asks for JSON mode; else `Text`.
    NoJsonMode(String),
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200, server-sent events in the endpoint's wire format: these text deltas, then the
    /// end of the stream (`cut`: the connection drops after the deltas instead).
    Stream { deltas: Vec<String>, cut: bool },
    /// 200, server-sent events: this one delta, then nothing more, the connection held open.
    StreamThenHang(String),
    /// 200 with the head of a stream of server-sent events, then no event at all, the
    /// connection held open.
    StreamHeadThenHang,
    /// 200, server-sent events: this delta every 200 ms, never ending.
    Trickle(String),
    /// `Text`, once as many requests as the barrier counts are waiting for it: that many
    /// requests are surely in flight at once (one connection each).
    Together(Arc<tokio::sync::Barrier>, String),
}

impl Reply {
    /// An answer whose text is this JSON value.
    pub fn json(v: Value) -> Reply {
        Reply::Text(v.to_string())
    }

    pub fn status(code: u16) -> Reply {
        Reply::Status(
            code,
            json!({"error": {"message": format!("scripted {code}"), "type": "server_error"}})
                .to_string(),
            vec![],
        )
    }
}

/// A request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    /// Header names are lowercase.
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn model(&self) -> &str {
        self.body["model"].as_str().unwrap_or_default()
    }
}

#[derive(Default)]
struct Shared {
    /// model name → answers in order; the last one repeats.
    scripts: HashMap<String, VecDeque<Reply>>,
    seen: Vec<Seen>,
}

pub struct FakeLlm {
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

impl FakeLlm {
    pub async fn start() -> FakeLlm {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeLlm { port, shared, task }
    }

    /// `http://127.0.0.1:<port>` + `suffix` (e.g. `/v1` for an OpenAI-style base URL).
    pub fn url(&self, suffix: &str) -> String {
        format!("http://127.0.0.1:{}{suffix}", self.port)
    }

    /// What requests for `model` are answered with, in order (the last one repeats).
    pub fn script(&self, model: &str, replies: Vec<Reply>) {
        assert!(!replies.is_empty());
        self.shared
            .lock()
            .scripts
            .insert(model.to_owned(), replies.into());
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.lock().seen.clone()
    }

    pub fn seen_for(&self, model: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.model() == model)
            .collect()
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Wire {
    OpenAi,
    Anthropic,
}

async fn handle(
    State(shared): State<Arc<Mutex<Shared>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let seen = Seen {
        path: path.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or("<binary>").to_owned(),
                )
            })
            .collect(),
        body: body.clone(),
    };
    let wire = match (method, path.as_str()) {
        (Method::POST, "/v1/chat/completions") => Wire::OpenAi,
        (Method::POST, "/v1/messages") => Wire::Anthropic,
        _ => {
            shared.lock().seen.push(seen);
            return (StatusCode::NOT_FOUND, "no such endpoint").into_response();
        }
    };
    let model = seen.model().to_owned();
    let reply = {
        let mut s = shared.lock();
        s.seen.push(seen);
        match s.scripts.get_mut(&model) {
            Some(q) if q.len() > 1 => q.pop_front(),
            Some(q) => q.front().cloned(),
            None => None,
        }
    };
    let Some(reply) = reply else {
        let error = json!({"error": {"message": format!("model {model:?} not found"), "type": "not_found_error"}});
        return (StatusCode::NOT_FOUND, axum::Json(error)).into_response();
    };
    match reply {
        Reply::Text(text) => axum::Json(wire_answer(wire, &model, &text)).into_response(),
        Reply::Together(barrier, text) => {
            barrier.wait().await;
            axum::Json(wire_answer(wire, &model, &text)).into_response()
        }
        Reply::NoJsonMode(text) => {
            if body.get("response_format").is_some() {
                let error = json!({"error": {
                    "message": "Invalid parameter: 'response_format' of type 'json_object' is not supported with this model.",
                    "type": "invalid_request_error", "param": "response_format"}});
                (StatusCode::BAD_REQUEST, axum::Json(error)).into_response()
            } else {
                axum::Json(wire_answer(wire, &model, &text)).into_response()
            }
        }
        Reply::Status(code, body, extra) => {
            let mut r = Response::builder()
                .status(code)
                .header("content-type", "application/json");
            for (k, v) in extra {
                r = r.header(k, v);
            }
            r.body(Body::from(body)).unwrap()
        }
        Reply::Hang => std::future::pending().await,
        Reply::Huge { bytes, chunked } => {
            let text = "x".repeat(bytes);
            let body = wire_answer(wire, &model, &text).to_string().into_bytes();
            if chunked {
                let chunks: Vec<Result<Bytes, std::io::Error>> = body
                    .chunks(16 * 1024)
                    .map(|c| Ok(Bytes::copy_from_slice(c)))
                    .collect();
                Response::builder()
                    .header("content-type", "application/json")
                    .body(Body::from_stream(futures::stream::iter(chunks)))
                    .unwrap()
            } else {
                Response::builder()
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .unwrap()
            }
        }
        Reply::Garbage => (StatusCode::OK, "<html>gateway says hi</html>").into_response(),
        Reply::StreamThenHang(delta) => {
            let first =
                Ok::<Bytes, std::io::Error>(Bytes::from(stream_event(wire, &model, &delta)));
            let body =
                futures::stream::once(async move { first }).chain(futures::stream::pending());
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(body))
                .unwrap()
        }
        Reply::StreamHeadThenHang => Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(futures::stream::pending::<
                Result<Bytes, std::io::Error>,
            >()))
            .unwrap(),
        Reply::Trickle(delta) => {
            let event = Bytes::from(stream_event(wire, &model, &delta));
            let body = futures::stream::repeat(event).then(|e| async move {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                Ok::<Bytes, std::io::Error>(e)
            });
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(body))
                .unwrap()
        }
        Reply::Stream { deltas, cut } => {
            let mut events: Vec<Result<Bytes, std::io::Error>> = deltas
                .iter()
                .map(|d| Ok(Bytes::from(stream_event(wire, &model, d))))
                .collect();
            if cut {
                events.push(Err(std::io::Error::other("cut")));
            } else {
                events.push(Ok(Bytes::from(stream_end(wire))));
            }
            // One event per chunk, a little apart, as a model writes them.
            let body = futures::stream::iter(events).then(|e| async move {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                e
            });
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(body))
                .unwrap()
        }
    }
}

fn stream_event(wire: Wire, model: &str, delta: &str) -> String {
    match wire {
        Wire::OpenAi => format!(
            "data: {}\n\n",
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
                   "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": null}]})
        ),
        Wire::Anthropic => format!(
            "event: content_block_delta\ndata: {}\n\n",
            json!({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "text_delta", "text": delta}})
        ),
    }
}

fn stream_end(wire: Wire) -> String {
    match wire {
        Wire::OpenAi => "data: [DONE]\n\n".into(),
        Wire::Anthropic => format!(
            "event: message_stop\ndata: {}\n\n",
            json!({"type": "message_stop"})
        ),
    }
}

fn wire_answer(wire: Wire, model: &str, text: &str) -> Value {
    match wire {
        Wire::OpenAi => json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_779_883_200,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
        }),
        Wire::Anthropic => json!({
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [
                {"type": "thinking", "thinking": "{not the answer}", "signature": "x"},
                {"type": "text", "text": text}
            ],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 100, "output_tokens": 20}
        }),
    }
}
