//! Text chat between the OpenAI and the Anthropic wire formats, both ways: requests,
//! answers and server-sent event streams.
//!
//! Owns: what carries over (system prompt, user and assistant turns, max tokens,
//! temperature, top_p, stop sequences, streaming, text deltas, finish reason, usage) and
//! what does not ([`untranslatable`]: tools, tool calls and results, images and any other
//! non-text content, which pass only between a client and a target of the same format).
//! Pure functions of their input; the gateway decides when to call them.

use serde_json::{json, Map, Value};

/// A request's wire format (and its answers').
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenAi,
    Anthropic,
}

/// What Anthropic needs and OpenAI does not say: `max_tokens` when the client gave none.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// Why a request cannot be carried to the other format, if it cannot.
pub fn untranslatable(from: Format, request: &Value) -> Option<String> {
    let tools = ["tools", "tool_choice", "functions", "function_call"];
    if let Some(k) = tools.iter().find(|k| request.get(**k).is_some()) {
        return Some(format!("{k} pass only to a target of the same wire format"));
    }
    let messages = request["messages"].as_array()?;
    for m in messages {
        let role = m["role"].as_str().unwrap_or_default();
        if from == Format::OpenAi && (role == "tool" || m.get("tool_calls").is_some()) {
            return Some("tool calls pass only to a target of the same wire format".into());
        }
        if let Value::Array(parts) = &m["content"] {
            if parts.iter().any(|p| p["type"] != "text") {
                return Some(
                    "images and other non-text content pass only to a target of the same wire \
                     format"
                        .into(),
                );
            }
        }
    }
    None
}

/// The text of a content that is a string or a list of text parts.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn copy(from: &Value, to: &mut Map<String, Value>, key: &str, as_key: &str) {
    if let Some(v) = from.get(key).filter(|v| !v.is_null()) {
        to.insert(as_key.to_owned(), v.clone());
    }
}

/// The request in the target's format, with the target's `model` name.
pub fn request(from: Format, to: Format, request: &Value, model: &str) -> Value {
    let mut out = Map::new();
    out.insert("model".into(), model.into());
    match (from, to) {
        (Format::OpenAi, Format::Anthropic) => {
            let mut system = Vec::new();
            let mut messages = Vec::new();
            for m in request["messages"].as_array().into_iter().flatten() {
                let text = text_of(&m["content"]);
                match m["role"].as_str().unwrap_or_default() {
                    "system" | "developer" => system.push(text),
                    role => messages.push(json!({"role": role, "content": text})),
                }
            }
            if !system.is_empty() {
                out.insert("system".into(), system.join("\n\n").into());
            }
            out.insert("messages".into(), messages.into());
            let max = request
                .get("max_completion_tokens")
                .or_else(|| request.get("max_tokens"))
                .and_then(Value::as_u64)
                .unwrap_or(DEFAULT_MAX_TOKENS);
            out.insert("max_tokens".into(), max.into());
            copy(request, &mut out, "temperature", "temperature");
            copy(request, &mut out, "top_p", "top_p");
            match &request["stop"] {
                Value::String(s) => {
                    out.insert("stop_sequences".into(), json!([s]));
                }
                v @ Value::Array(_) => {
                    out.insert("stop_sequences".into(), v.clone());
                }
                _ => {}
            }
            copy(request, &mut out, "stream", "stream");
        }
        (Format::Anthropic, Format::OpenAi) => {
            let mut messages = Vec::new();
            let system = text_of(&request["system"]);
            if !system.is_empty() {
                messages.push(json!({"role": "system", "content": system}));
            }
            for m in request["messages"].as_array().into_iter().flatten() {
                messages.push(json!({"role": m["role"], "content": text_of(&m["content"])}));
            }
            out.insert("messages".into(), messages.into());
            copy(request, &mut out, "max_tokens", "max_tokens");
            copy(request, &mut out, "temperature", "temperature");
            copy(request, &mut out, "top_p", "top_p");
            copy(request, &mut out, "stop_sequences", "stop");
            if request["stream"] == true {
                out.insert("stream".into(), true.into());
                out.insert("stream_options".into(), json!({"include_usage": true}));
            }
        }
        _ => {
            let mut same = request.as_object().cloned().unwrap_or_default();
            same.insert("model".into(), model.into());
            return Value::Object(same);
        }
    }
    Value::Object(out)
}

fn openai_finish(anthropic_stop: &str) -> &'static str {
    match anthropic_stop {
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        _ => "stop",
    }
}

fn anthropic_stop(openai_finish: &str) -> &'static str {
    match openai_finish {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        _ => "end_turn",
    }
}

/// A whole (non-streaming) answer in the client's format.
pub fn answer(from: Format, to: Format, answer: &Value) -> Value {
    match (from, to) {
        (Format::Anthropic, Format::OpenAi) => {
            let text: String = answer["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|b| b["type"] == "text")
                .filter_map(|b| b["text"].as_str())
                .collect();
            let (input, output) = (
                answer["usage"]["input_tokens"].as_u64().unwrap_or(0),
                answer["usage"]["output_tokens"].as_u64().unwrap_or(0),
            );
            json!({
                "id": answer["id"],
                "object": "chat.completion",
                "created": 0,
                "model": answer["model"],
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": openai_finish(answer["stop_reason"].as_str().unwrap_or_default()),
                }],
                "usage": {"prompt_tokens": input, "completion_tokens": output,
                          "total_tokens": input + output},
            })
        }
        (Format::OpenAi, Format::Anthropic) => {
            let choice = &answer["choices"][0];
            json!({
                "id": answer["id"],
                "type": "message",
                "role": "assistant",
                "model": answer["model"],
                "content": [{"type": "text", "text": text_of(&choice["message"]["content"])}],
                "stop_reason": anthropic_stop(choice["finish_reason"].as_str().unwrap_or_default()),
                "stop_sequence": null,
                "usage": {
                    "input_tokens": answer["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
                    "output_tokens": answer["usage"]["completion_tokens"].as_u64().unwrap_or(0),
                },
            })
        }
        _ => answer.clone(),
    }
}

/// A stream in one format read as it comes and written in the other.
pub struct Stream {
    from: Format,
    to: Format,
    model: String,
    /// Bytes of an unfinished line.
    pending: Vec<u8>,
    /// The current event's `event:` name (Anthropic).
    event: Option<String>,
    started: bool,
    stopped: bool,
    output_tokens: u64,
    finish: Option<String>,
}

impl Stream {
    pub fn new(from: Format, to: Format, model: &str) -> Stream {
        Stream {
            from,
            to,
            model: model.to_owned(),
            pending: Vec::new(),
            event: None,
            started: false,
            stopped: false,
            output_tokens: 0,
            finish: None,
        }
    }

    /// The translated events for these upstream bytes (whole lines only; the rest waits).
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line).trim_end().to_owned();
            self.line(&line, &mut out);
        }
        out
    }

    /// Whatever the end of the upstream stream still owes the client.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if !self.stopped && self.started {
            self.stop(&mut out);
        }
        out
    }

    fn line(&mut self, line: &str, out: &mut Vec<u8>) {
        if let Some(name) = line.strip_prefix("event:") {
            self.event = Some(name.trim().to_owned());
            return;
        }
        let Some(data) = line.strip_prefix("data:") else {
            return;
        };
        let data = data.trim();
        match self.from {
            Format::OpenAi if data == "[DONE]" => {
                if !self.stopped {
                    self.stop(out);
                }
            }
            Format::OpenAi => {
                if let Ok(v) = serde_json::from_str::<Value>(data) {
                    self.openai_chunk(&v, out);
                }
            }
            Format::Anthropic => {
                if let Ok(v) = serde_json::from_str::<Value>(data) {
                    self.anthropic_event(&v, out);
                }
            }
        }
        self.event = None;
    }

    fn emit_openai(&self, delta: Value, finish: Value, out: &mut Vec<u8>) {
        let chunk = json!({
            "id": "chatcmpl-steward",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        out.extend_from_slice(format!("data: {chunk}\n\n").as_bytes());
    }

    fn emit_anthropic(name: &str, data: Value, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("event: {name}\ndata: {data}\n\n").as_bytes());
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        match self.to {
            Format::OpenAi => self.emit_openai(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
                out,
            ),
            Format::Anthropic => {
                Self::emit_anthropic(
                    "message_start",
                    json!({"type": "message_start", "message": {
                        "id": "msg_steward", "type": "message", "role": "assistant",
                        "model": self.model, "content": [], "stop_reason": null,
                        "stop_sequence": null,
                        "usage": {"input_tokens": 0, "output_tokens": 0}}}),
                    out,
                );
                Self::emit_anthropic(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": 0,
                           "content_block": {"type": "text", "text": ""}}),
                    out,
                );
            }
        }
    }

    fn text(&mut self, text: &str, out: &mut Vec<u8>) {
        self.start(out);
        match self.to {
            Format::OpenAi => self.emit_openai(json!({"content": text}), Value::Null, out),
            Format::Anthropic => Self::emit_anthropic(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "text_delta", "text": text}}),
                out,
            ),
        }
    }

    fn stop(&mut self, out: &mut Vec<u8>) {
        self.start(out);
        self.stopped = true;
        match self.to {
            Format::OpenAi => {
                let finish = openai_finish(self.finish.as_deref().unwrap_or("end_turn"));
                self.emit_openai(json!({}), finish.into(), out);
                out.extend_from_slice(b"data: [DONE]\n\n");
            }
            Format::Anthropic => {
                let stop = anthropic_stop(self.finish.as_deref().unwrap_or("stop"));
                Self::emit_anthropic(
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": 0}),
                    out,
                );
                Self::emit_anthropic(
                    "message_delta",
                    json!({"type": "message_delta",
                           "delta": {"stop_reason": stop, "stop_sequence": null},
                           "usage": {"output_tokens": self.output_tokens}}),
                    out,
                );
                Self::emit_anthropic("message_stop", json!({"type": "message_stop"}), out);
            }
        }
    }

    /// An OpenAI chunk, for an Anthropic client.
    fn openai_chunk(&mut self, v: &Value, out: &mut Vec<u8>) {
        if let Some(e) = v.get("error") {
            let message = e["message"].as_str().unwrap_or("upstream error");
            Self::emit_anthropic(
                "error",
                json!({"type": "error", "error": {"type": "api_error", "message": message}}),
                out,
            );
            self.stopped = true;
            return;
        }
        if let Some(n) = v["usage"]["completion_tokens"].as_u64() {
            self.output_tokens = n;
        }
        let choice = &v["choices"][0];
        if let Some(text) = choice["delta"]["content"]
            .as_str()
            .filter(|t| !t.is_empty())
        {
            self.text(text, out);
        } else {
            self.start(out);
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            self.finish = Some(f.to_owned());
        }
    }

    /// An Anthropic event, for an OpenAI client.
    fn anthropic_event(&mut self, v: &Value, out: &mut Vec<u8>) {
        let kind = v["type"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| self.event.clone())
            .unwrap_or_default();
        match kind.as_str() {
            "message_start" => self.start(out),
            "content_block_delta" => {
                if let Some(text) = v["delta"]["text"].as_str() {
                    self.text(text, out);
                }
            }
            "message_delta" => {
                if let Some(s) = v["delta"]["stop_reason"].as_str() {
                    self.finish = Some(s.to_owned());
                }
            }
            "message_stop" if !self.stopped => self.stop(out),
            "error" => {
                let message = v["error"]["message"].as_str().unwrap_or("upstream error");
                let e = json!({"error": {"message": message, "type": "upstream_error"}});
                out.extend_from_slice(format!("data: {e}\n\n").as_bytes());
                self.stopped = true;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(bytes: &[u8]) -> Vec<Value> {
        String::from_utf8_lossy(bytes)
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    #[test]
    fn an_openai_request_becomes_an_anthropic_one_with_system_stop_and_max_tokens() {
        let r = json!({"model": "chat", "stream": true, "temperature": 0.2, "stop": "END",
            "messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                         {"role": "assistant", "content": "Hello"},
                         {"role": "user", "content": "Again"}]});
        assert_eq!(untranslatable(Format::OpenAi, &r), None);
        let a = request(Format::OpenAi, Format::Anthropic, &r, "claude-x");
        assert_eq!(
            a,
            json!({"model": "claude-x", "system": "Be brief.", "max_tokens": DEFAULT_MAX_TOKENS,
                   "temperature": 0.2, "stop_sequences": ["END"], "stream": true,
                   "messages": [{"role": "user", "content": "Hi"},
                                {"role": "assistant", "content": "Hello"},
                                {"role": "user", "content": "Again"}]})
        );
    }

    #[test]
    fn an_anthropic_request_becomes_an_openai_one() {
        let r = json!({"model": "chat", "max_tokens": 50, "system": "Be brief.",
            "stop_sequences": ["END"], "stream": true,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]});
        let o = request(Format::Anthropic, Format::OpenAi, &r, "gpt-x");
        assert_eq!(
            o,
            json!({"model": "gpt-x", "max_tokens": 50, "stop": ["END"], "stream": true,
                   "stream_options": {"include_usage": true},
                   "messages": [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "Hi"}]})
        );
    }

    #[test]
    fn tools_and_images_are_not_translated() {
        let tools = json!({"model": "m", "tools": [], "messages": []});
        assert!(untranslatable(Format::OpenAi, &tools).is_some());
        let image = json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:"}}]}]});
        assert!(untranslatable(Format::OpenAi, &image).is_some());
        let tool_result = json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]});
        assert!(untranslatable(Format::OpenAi, &tool_result).is_some());
    }

    #[test]
    fn answers_translate_with_finish_reason_and_usage() {
        let anthropic = json!({"id": "msg_1", "type": "message", "model": "claude-x",
            "content": [{"type": "thinking", "thinking": "…"}, {"type": "text", "text": "Hi there"}],
            "stop_reason": "max_tokens", "usage": {"input_tokens": 7, "output_tokens": 3}});
        let o = answer(Format::Anthropic, Format::OpenAi, &anthropic);
        assert_eq!(o["choices"][0]["message"]["content"], "Hi there");
        assert_eq!(o["choices"][0]["finish_reason"], "length");
        assert_eq!(o["usage"]["total_tokens"], 10);
        let openai = json!({"id": "c1", "model": "gpt-x", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": "Yo"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1}});
        let a = answer(Format::OpenAi, Format::Anthropic, &openai);
        assert_eq!(a["content"][0]["text"], "Yo");
        assert_eq!(a["stop_reason"], "end_turn");
        assert_eq!(a["usage"]["output_tokens"], 1);
    }

    #[test]
    fn an_anthropic_stream_reads_as_openai_chunks_even_split_mid_line() {
        let upstream = concat!(
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"}}\n\n",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
        );
        let mut s = Stream::new(Format::Anthropic, Format::OpenAi, "chat");
        let mut out = Vec::new();
        for piece in upstream.as_bytes().chunks(17) {
            out.extend(s.feed(piece));
        }
        out.extend(s.finish());
        let text: String = events(&out)
            .iter()
            .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "Hello");
        let last = events(&out).pop().unwrap();
        assert_eq!(last["choices"][0]["finish_reason"], "stop");
        assert!(String::from_utf8_lossy(&out).ends_with("data: [DONE]\n\n"));
    }

    #[test]
    fn an_openai_stream_reads_as_anthropic_events() {
        let upstream = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n",
        );
        let mut s = Stream::new(Format::OpenAi, Format::Anthropic, "chat");
        let out = s.feed(upstream.as_bytes());
        let types: Vec<String> = events(&out)
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            types,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let delta = &events(&out)[4];
        assert_eq!(delta["delta"]["stop_reason"], "max_tokens");
        assert_eq!(delta["usage"]["output_tokens"], 2);
        assert!(s.finish().is_empty(), "stopped once");
    }
}
