//! The gateway's HTTP client to its targets (the `[[models]]` URLs).
//!
//! Owns: the connections to the targets (HTTP/1.1, TLS with the webpki roots, no proxy
//! from the environment: like the planner, the gateway goes where the config says; no
//! redirects followed; at most `UPSTREAM_IDLE_PER_TARGET` idle connections per host, kept
//! 30 s), the request's headers (the target's key marked sensitive, so it is never
//! printed), reading an answer chunk by chunk, and saying what went wrong without the
//! underlying error's text (which can hold a URL).
//! Does not own: what is sent or what an answer means (`gateway`).
//!
//! Two pools: whole answers read with hyper's adaptive buffer (8 KiB, growing), and streams
//! read into a small exact buffer. A stream can stay open for minutes; with 1,000 open at
//! once the default buffers held 8 to 16 KiB each (docs/benchmarks.md, "LLM gateway").

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::OnceLock;
use std::time::Duration;

/// Idle connections kept per upstream host, and for how long.
const UPSTREAM_IDLE_PER_TARGET: usize = 32;
const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A stream's read buffer: an SSE event of a chat stream is a few hundred bytes; a larger
/// one is read in more than one go, and a response head larger than this grows it.
const STREAM_READ_BUFFER: usize = 1024;

type Pool = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The clients of the gateway's targets, each made at its first request (an engine
/// without a `[gateway]` never makes them).
#[derive(Default)]
pub struct Upstream {
    whole: OnceLock<Pool>,
    streams: OnceLock<Pool>,
}

/// Who the target is and what to send it.
pub struct Call<'a> {
    pub url: String,
    /// `("authorization", "Bearer …")` or `("x-api-key", …)`: sent marked sensitive.
    pub key: Option<(header::HeaderName, String)>,
    pub headers: &'a [(&'static str, &'a str)],
    pub body: Vec<u8>,
    pub stream: bool,
}

/// A target's answer: its status and headers now, its body chunk by chunk.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Chunks,
}

/// An answer's body. A stream keeps only this, not the answer's headers.
pub struct Chunks(Incoming);

impl Upstream {
    /// Sends `call`; the error says what failed in words fit for a log and the client.
    pub async fn send(&self, call: Call<'_>) -> Result<Answer, String> {
        let mut request = Request::post(call.url.as_str())
            .header(header::USER_AGENT, USER_AGENT)
            .header(header::ACCEPT, "*/*")
            .header(header::CONTENT_TYPE, "application/json");
        for (name, value) in call.headers {
            request = request.header(*name, *value);
        }
        if let Some((name, key)) = call.key {
            let mut value = HeaderValue::from_str(&key)
                .map_err(|_| "the target's key is not a valid header value".to_owned())?;
            value.set_sensitive(true);
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(call.body)))
            .map_err(|_| "the target's url is not a valid http(s) URL".to_owned())?;
        let client = if call.stream {
            self.streams.get_or_init(|| pool(Some(STREAM_READ_BUFFER)))
        } else {
            self.whole.get_or_init(|| pool(None))
        };
        let response = client.request(request).await.map_err(|e| {
            if e.is_connect() {
                "connect: the target refused or is unreachable".to_owned()
            } else {
                "the request failed".to_owned()
            }
        })?;
        let (parts, body) = response.into_parts();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body: Chunks(body),
        })
    }
}

impl Chunks {
    /// The next piece of the body, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, String> {
        loop {
            match self.0.frame().await {
                None => return Ok(None),
                Some(Err(_)) => return Err("reading the answer failed".into()),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) if !data.is_empty() => return Ok(Some(data)),
                    // Trailers, or an empty piece.
                    _ => continue,
                },
            }
        }
    }

    /// The whole body, refused past `max` bytes.
    pub async fn read_bounded(mut self, max: usize) -> Result<Bytes, String> {
        let mut out = Vec::new();
        while let Some(c) = self.chunk().await? {
            if out.len() + c.len() > max {
                return Err(format!(
                    "the answer is larger than {} MiB",
                    max / 1024 / 1024
                ));
            }
            out.extend_from_slice(&c);
        }
        Ok(Bytes::from(out))
    }
}

const USER_AGENT: &str = concat!("steward-gateway/", env!("CARGO_PKG_VERSION"));

fn pool(read_buffer: Option<usize>) -> Pool {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .expect("ring offers TLS 1.2 and 1.3")
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .pool_timer(TokioTimer::new())
        .pool_max_idle_per_host(UPSTREAM_IDLE_PER_TARGET)
        .pool_idle_timeout(UPSTREAM_IDLE_TIMEOUT);
    if let Some(size) = read_buffer {
        builder.http1_read_buf_exact_size(size);
    }
    builder.build(https)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let call = Call {
            url: format!("http://127.0.0.1:{port}/v1/chat/completions"),
            key: None,
            headers: &[],
            body: b"{}".to_vec(),
            stream: false,
        };
        let e = Upstream::default().send(call).await.err().unwrap();
        assert!(e.starts_with("connect:"), "{e}");
    }

    #[tokio::test]
    async fn a_url_that_is_not_one_is_said_so() {
        let call = Call {
            url: "not a url".into(),
            key: None,
            headers: &[],
            body: Vec::new(),
            stream: false,
        };
        let e = Upstream::default().send(call).await.err().unwrap();
        assert!(e.contains("not a valid"), "{e}");
    }
}
