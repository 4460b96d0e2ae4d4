#!/usr/bin/env python3
"""Loopback HTTP server for the tracebox tests (standard library only).

Binds 127.0.0.1 on a port the kernel picks, prints "PORT <n>" as its first
stdout line, then serves until killed or until its stdin closes (so it dies
with the test that started it).

Tests steer it at runtime with POST /_control and a JSON body:
  {"mode": "ok"}                                  200 {}
  {"mode": "status", "code": 503, "body": "...",  that status; optional body,
   "retry_after": "5", "headers": {"K": "v"}}     Retry-After and headers
  {"mode": "reject_ids", "ids": ["span_1"]}       400 {"error":{"message":...}}
                                                  naming the first id found in
                                                  the (gunzipped) body, else 200
  {"mode": "max_bytes", "max": 1000}              413 when the body is bigger
  {"mode": "reset"}                               read the body, then close the
                                                  socket without answering (RST)
  {"mode": "stall", "seconds": 3}                 sleep, then 200 {}
  {"mode": "big_response", "bytes": N}            200 with N bytes
  {"mode": "sequence", "steps": [{...}, ...]}     the next requests use these
                                                  in turn, then the current
                                                  default behaviour again
Any mode but "sequence" becomes the default and clears a pending sequence.

GET /_requests  every recorded request as a JSON list: method, path,
                headers (lower-case names; repeats joined by ", "), body_b64, body (text) and, when
                Content-Encoding is gzip, gunzipped (text)
GET /_count     {"count": n}
POST /_reset    forget the requests and go back to mode "ok"

Optional: --tls CERT KEY serves HTTPS.
"""
import base64
import gzip
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"default": {"mode": "ok"}, "sequence": [], "requests": []}


def next_behaviour():
    with LOCK:
        if STATE["sequence"]:
            return STATE["sequence"].pop(0)
        return STATE["default"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client expects

    def log_message(self, fmt, *args):  # quiet: stdout carries the PORT line
        pass

    def reply(self, code, body=b"{}", headers=None, ctype="application/json"):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        if self.path == "/_requests":
            with LOCK:
                data = json.dumps(STATE["requests"])
            self.reply(200, data)
        elif self.path == "/_count":
            with LOCK:
                self.reply(200, json.dumps({"count": len(STATE["requests"])}))
        else:
            self.reply(404, '{"message":"not found"}')

    def do_POST(self):
        raw = self.read_body()
        if len(raw) < int(self.headers.get("Content-Length") or 0):
            # the client went away mid-body: no request arrived (as with any
            # real server); drop the connection without recording it
            self.close_connection = True
            return
        if self.path == "/_control":
            cfg = json.loads(raw or b"{}")
            with LOCK:
                if cfg.get("mode") == "sequence":
                    STATE["sequence"] = list(cfg.get("steps", []))
                else:
                    STATE["default"] = cfg
                    STATE["sequence"] = []
            return self.reply(200)
        if self.path == "/_reset":
            with LOCK:
                STATE["requests"].clear()
                STATE["default"] = {"mode": "ok"}
                STATE["sequence"] = []
            return self.reply(200)
        self.record(raw)
        self.behave(next_behaviour(), raw)

    def record(self, raw):
        headers = {}  # a repeated header shows as "v1, v2"
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        entry = {
            "method": self.command,
            "path": self.path,
            "headers": headers,
            "body_b64": base64.b64encode(raw).decode(),
            "body": raw.decode("utf-8", "replace"),
        }
        if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
            try:
                entry["gunzipped"] = gzip.decompress(raw).decode("utf-8", "replace")
            except Exception as e:  # record the failure, the test checks it
                entry["gunzip_error"] = str(e)
        self.text = entry.get("gunzipped", entry["body"])
        with LOCK:
            STATE["requests"].append(entry)

    def behave(self, b, raw):
        mode = b.get("mode", "ok")
        if mode == "status":
            headers = dict(b.get("headers", {}))
            if "retry_after" in b:
                headers["Retry-After"] = b["retry_after"]
            return self.reply(int(b.get("code", 200)), b.get("body", ""), headers)
        if mode == "reject_ids":
            for i in b.get("ids", []):
                if i in self.text:
                    msg = {"error": {"message": "rejected id %s" % i}}
                    return self.reply(400, json.dumps(msg))
            return self.reply(200)
        if mode == "max_bytes":
            if len(raw) > int(b.get("max", 0)):
                return self.reply(413, '{"message":"payload too large"}')
            return self.reply(200)
        if mode == "reset":
            # SO_LINGER 0: close() sends RST instead of FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if mode == "stall":
            time.sleep(float(b.get("seconds", 1)))
            return self.reply(200)
        if mode == "big_response":
            return self.reply(200, b"x" * int(b.get("bytes", 0)), ctype="text/plain")
        return self.reply(200)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client that timed out or was reset is part of the tests
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def main():
    server = Server(("127.0.0.1", 0), Handler)
    if len(sys.argv) >= 4 and sys.argv[1] == "--tls":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("PORT %d" % server.server_address[1], flush=True)

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
