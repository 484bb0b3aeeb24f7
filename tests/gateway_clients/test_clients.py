#!/usr/bin/env python3
"""The LLM gateway with the official `openai` and `anthropic` Python clients (issue 15).

Real parts: `steward serve` (STEWARD_BIN) with a [gateway]; two fake upstreams on
loopback speaking the real wire formats, JSON and server-sent events (the only stand-in
the project allows: an LLM server on loopback). The clients are the published libraries,
installed by tests/gateway_clients/run.sh into a virtualenv.

Checks: non-streaming and streaming chat through a route with each client; a route whose
first target refuses connections fails over; an OpenAI client answered by an
Anthropic-wire target and an Anthropic client by an OpenAI-wire one; a wrong key is 401
to the client. Every check prints one line; the first failure exits 1.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anthropic
import openai

KEY = "gw-python-client-key-0123"
STEWARD_BIN = os.environ["STEWARD_BIN"]


def check(ok, what):
    if not ok:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)
    print(f"ok: {what}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Upstream(BaseHTTPRequestHandler):
    """Answers /v1/chat/completions (OpenAI) and /v1/messages (Anthropic) with
    "<model> says hi", streaming when asked."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        model = body.get("model", "?")
        text = f"{model} says hi"
        if self.path.endswith("/chat/completions"):
            if body.get("stream"):
                events = [
                    {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": model,
                     "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                  "finish_reason": None}]},
                ] + [
                    {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": model,
                     "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}
                    for w in (f"{model} ", "says ", "hi")
                ] + [
                    {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": model,
                     "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                ]
                self.sse([f"data: {json.dumps(e)}\n\n" for e in events] + ["data: [DONE]\n\n"])
            else:
                self.json({"id": "c1", "object": "chat.completion", "created": 0, "model": model,
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": text}}],
                           "usage": {"prompt_tokens": 3, "completion_tokens": 3,
                                     "total_tokens": 6}})
        elif self.path.endswith("/messages"):
            if body.get("stream"):
                def ev(name, data):
                    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
                events = [ev("message_start", {"type": "message_start", "message": {
                    "id": "m1", "type": "message", "role": "assistant", "model": model,
                    "content": [], "stop_reason": None, "stop_sequence": None,
                    "usage": {"input_tokens": 3, "output_tokens": 0}}}),
                    ev("content_block_start", {"type": "content_block_start", "index": 0,
                                               "content_block": {"type": "text", "text": ""}})]
                events += [ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                      "delta": {"type": "text_delta", "text": w}})
                           for w in (f"{model} ", "says ", "hi")]
                events += [ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
                           ev("message_delta", {"type": "message_delta",
                                                "delta": {"stop_reason": "end_turn",
                                                          "stop_sequence": None},
                                                "usage": {"output_tokens": 3}}),
                           ev("message_stop", {"type": "message_stop"})]
                self.sse(events)
            else:
                self.json({"id": "m1", "type": "message", "role": "assistant", "model": model,
                           "content": [{"type": "text", "text": text}],
                           "stop_reason": "end_turn", "stop_sequence": None,
                           "usage": {"input_tokens": 3, "output_tokens": 3}})
        else:
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()

    def json(self, value):
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def sse(self, events):
        data = "".join(events).encode()
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve_upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    up = serve_upstream()
    upstream = f"http://127.0.0.1:{up.server_address[1]}/v1"
    dead = f"http://127.0.0.1:{free_port()}/v1"
    gw_port = free_port()
    work = tempfile.mkdtemp(prefix="steward-gateway-clients-")
    config = os.path.join(work, "steward.toml")
    with open(config, "w") as f:
        f.write(f"""
[planner]
chain = ["rules"]

[[models]]
id = "gpt"
api = "openai"
url = "{upstream}"
model = "gpt-up"

[[models]]
id = "claude"
api = "anthropic"
url = "{upstream}"
model = "claude-up"

[[models]]
id = "down"
api = "openai"
url = "{dead}"
model = "down-up"
timeout = "2s"

[gateway]
listen = "127.0.0.1:{gw_port}"
api_key_env = "STEWARD_TEST_GATEWAY_KEY"

[[gateway.routes]]
model = "chat"
targets = ["down", "gpt"]

[[gateway.routes]]
model = "to-claude"
targets = ["down", "claude"]
""")
    env = dict(os.environ, STEWARD_TEST_GATEWAY_KEY=KEY, STEWARD_DATA_DIR=os.path.join(work, "data"),
               STEWARD_TOKEN="admin-token-0123456789")
    log = open(os.path.join(work, "serve.log"), "w")
    child = subprocess.Popen([STEWARD_BIN, "serve", "--config", config, "--listen", "127.0.0.1:0"],
                             env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{gw_port}/v1"
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", gw_port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            print(open(os.path.join(work, "serve.log")).read())
            check(False, "the gateway listens")
        oa = openai.OpenAI(base_url=base, api_key=KEY, max_retries=0)
        an = anthropic.Anthropic(base_url=f"http://127.0.0.1:{gw_port}", api_key=KEY, max_retries=0)

        r = oa.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
        check(r.choices[0].message.content == "gpt-up says hi",
              f"openai client, a route whose first target is down fails over: {r.choices[0].message.content!r}")
        parts = [c.choices[0].delta.content or "" for c in oa.chat.completions.create(
            model="chat", stream=True, messages=[{"role": "user", "content": "hi"}]) if c.choices]
        check("".join(parts) == "gpt-up says hi", f"openai client, streaming: {''.join(parts)!r}")

        r = oa.chat.completions.create(model="to-claude", messages=[{"role": "user", "content": "hi"}])
        check(r.choices[0].message.content == "claude-up says hi" and r.usage.total_tokens == 6,
              "openai client answered by an anthropic-wire target")
        parts = [c.choices[0].delta.content or "" for c in oa.chat.completions.create(
            model="to-claude", stream=True, messages=[{"role": "user", "content": "hi"}]) if c.choices]
        check("".join(parts) == "claude-up says hi", f"openai client, streaming from an anthropic-wire target: {''.join(parts)!r}")

        m = an.messages.create(model="to-claude", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
        check(m.content[0].text == "claude-up says hi", "anthropic client through a route")
        with an.messages.stream(model="to-claude", max_tokens=20,
                                messages=[{"role": "user", "content": "hi"}]) as s:
            text = "".join(s.text_stream)
        check(text == "claude-up says hi", f"anthropic client, streaming: {text!r}")

        m = an.messages.create(model="chat", max_tokens=20, messages=[{"role": "user", "content": "hi"}])
        check(m.content[0].text == "gpt-up says hi", "anthropic client answered by an openai-wire target")
        with an.messages.stream(model="chat", max_tokens=20,
                                messages=[{"role": "user", "content": "hi"}]) as s:
            text = "".join(s.text_stream)
        check(text == "gpt-up says hi", f"anthropic client, streaming from an openai-wire target: {text!r}")

        models = [m.id for m in oa.models.list()]
        check(models[:2] == ["chat", "to-claude"], f"the models list names the routes: {models}")

        bad = openai.OpenAI(base_url=base, api_key="wrong", max_retries=0)
        try:
            bad.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
            check(False, "a wrong key is refused")
        except openai.AuthenticationError:
            check(True, "a wrong key is refused (401)")
    finally:
        child.terminate()
        child.wait(10)
        up.shutdown()


if __name__ == "__main__":
    main()
