#!/usr/bin/env python3
"""A loopback HTTP service for the desktop test and the tray benchmark: GET /health (any
query) answers 200 {"status": "ok"}, anything else 404.

It keeps connections alive (HTTP/1.1) and takes a whole tick's connections at once:
`python3 -m http.server` does neither (it closes every connection and listens with a
backlog of 5), so a tick of 50 simultaneous probes got "connection refused" for some.

Usage: service.py PORT. Stopped by its PID (the caller owns it)."""
import http.server
import sys
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        healthy = urllib.parse.urlsplit(self.path).path == "/health"
        body = b'{"status": "ok"}' if healthy else b"not found"
        self.send_response(200 if healthy else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024


if __name__ == "__main__":
    Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
