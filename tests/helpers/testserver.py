#!/usr/bin/env python3
"""The loopback HTTP server of the tracebox tests and benchmark (standard
library only). It is the only one: tests/helpers/testserver.c starts and
steers it from C (tb_test_server_*).

Binds 127.0.0.1 on a port the kernel picks, prints "PORT <n>" as its first
stdout line, then serves (HTTP/1.1, keep-alive, one thread per connection)
until killed or until its stdin closes (so it dies with the test that
started it).

Tests steer it at runtime with POST /_control and a JSON body; the mode
applies to every other request, whatever its path:
  {"mode": "ok"}                                  200 {}
  {"mode": "status", "code": 503, "body": "...",  that status; optional body,
   "retry_after": "5", "headers": {"K": "v"}}     Retry-After and headers
  {"mode": "echo_headers", "code": 400}           that status, its message naming
                                                  every request header (auth too)
  {"mode": "reject_ids", "ids": ["span_1"]}       400 {"error":{"message":...}}
                                                  naming the first id found in
                                                  the (gunzipped) body, else 200
  {"mode": "max_bytes", "max": 1000}              413 when the body is bigger
  {"mode": "reset"}                               read the body, then close the
                                                  socket without answering (RST)
  {"mode": "truncate"}                            status line and headers
                                                  announcing 1000 body bytes,
                                                  then FIN without a body byte
  {"mode": "stall", "seconds": 3}                 wait that long (or until the
                                                  client leaves), then 200 {}
  {"mode": "trickle", "interval": 0.2}            a valid 200, one byte per
                                                  interval, until done or the
                                                  client leaves
  {"mode": "hold", "seconds": 60}                 never answer; close when the
                                                  client leaves (or after that)
  {"mode": "big_response", "bytes": N}            200 with N bytes, streamed
                                                  until done or the client
                                                  leaves
  {"mode": "sequence", "steps": [{...}, ...]}     the next requests use these
                                                  in turn, then the current
                                                  default behaviour again
Any mode but "sequence" becomes the default and clears a pending sequence.
A control body may also say "record": false (keep no request log, only the
counts: for a benchmark's millions of records) or true. The fault modes
(reset, truncate, trickle, hold) close the connection afterwards. The waits
are the faults themselves, never a synchronisation: a test learns what
happened from the request log, not from the clock.

GET /_requests  every recorded request as a JSON list: method, path,
                headers (lower-case names; repeats joined by ", "), body_b64,
                body (text), answer (what the server did with it: "ok",
                "status 503", "reset", …) and, when Content-Encoding is
                gzip, gunzipped (text)
GET /_count     {"count": n} (recorded requests)
GET /_stats     {"requests": n, "body_bytes": n, "cpu_ns": n}: every request
                served since the start or the last reset (recorded or not),
                and the CPU time this server process has used
POST /_reset    forget the requests and the counts, back to mode "ok",
                recording on

Optional: --tls CERT KEY [CLIENT_CA] serves HTTPS; with CLIENT_CA it
requires a client certificate signed by it (mutual TLS).
"""
import base64
import gzip
import json
import os
import select
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"default": {"mode": "ok"}, "sequence": [], "requests": [], "record": True,
         "served": 0, "body_bytes": 0}
BLOCK = b"x" * 65536


def answer_of(b):
    mode = b.get("mode", "ok")
    return "status %d" % int(b.get("code", 200)) if mode == "status" else mode


def next_behaviour():
    with LOCK:
        if STATE["sequence"]:
            return STATE["sequence"].pop(0)
        return STATE["default"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client expects
    disable_nagle_algorithm = True  # a response is two writes (headers, body)

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

    def wait_gone(self, seconds):
        """Wait until the client closes its end (True) or `seconds` pass."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return False
            try:
                ready, _, _ = select.select([self.connection], [], [], left)
                if ready and not self.connection.recv(4096):
                    return True
            except OSError:
                return True

    def do_GET(self):
        if self.path == "/_requests":
            with LOCK:
                data = json.dumps(STATE["requests"])
            self.reply(200, data)
        elif self.path == "/_count":
            with LOCK:
                self.reply(200, json.dumps({"count": len(STATE["requests"])}))
        elif self.path == "/_stats":
            with LOCK:
                stats = {"requests": STATE["served"], "body_bytes": STATE["body_bytes"],
                         "cpu_ns": time.process_time_ns()}
            self.reply(200, json.dumps(stats))
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
                if "record" in cfg:
                    STATE["record"] = bool(cfg.pop("record"))
                if cfg.get("mode") == "sequence":
                    STATE["sequence"] = list(cfg.get("steps", []))
                elif "mode" in cfg:
                    STATE["default"] = cfg
                    STATE["sequence"] = []
            return self.reply(200)
        if self.path == "/_reset":
            with LOCK:
                STATE["requests"].clear()
                STATE["default"] = {"mode": "ok"}
                STATE["sequence"] = []
                STATE["record"] = True
                STATE["served"] = STATE["body_bytes"] = 0
            return self.reply(200)
        b = next_behaviour()
        self.record(raw, b)
        self.behave(b, raw)

    def record(self, raw, behaviour=None):
        with LOCK:
            STATE["served"] += 1
            STATE["body_bytes"] += len(raw)
            if not STATE["record"]:
                self.text = ""
                return
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
            # what the server did with it: "ok" (200), "status 503", "reset", …
            "answer": answer_of(behaviour or {}),
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
        if mode == "echo_headers":
            # a careless server: its error names every request header, auth included
            echoed = "; ".join("%s: %s" % (k, v) for k, v in self.headers.items())
            msg = {"error": {"message": "bad request, headers were " + echoed}}
            return self.reply(int(b.get("code", 400)), json.dumps(msg))
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
        if mode in ("reset", "truncate", "trickle", "hold"):
            self.close_connection = True
            return getattr(self, "fault_" + mode)(b)
        if mode == "stall":
            if self.wait_gone(float(b.get("seconds", 1))):
                self.close_connection = True
                return
            return self.reply(200)
        if mode == "big_response":
            n = int(b.get("bytes", 0))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            while n > 0:  # a client that stops reading resets: handle_error
                self.wfile.write(BLOCK[:n])
                n -= min(n, len(BLOCK))
            return
        return self.reply(200)

    def fault_reset(self, b):
        # SO_LINGER 0: close() sends RST instead of FIN
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def fault_truncate(self, b):
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n")
        self.connection.shutdown(socket.SHUT_WR)
        self.wait_gone(10)

    def fault_trickle(self, b):
        msg = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
               b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
        for i in range(len(msg)):
            self.wfile.write(msg[i:i + 1])
            if self.wait_gone(float(b.get("interval", 0.2))):
                return

    def fault_hold(self, b):
        self.wait_gone(float(b.get("seconds", 60)))


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
        if len(sys.argv) >= 5:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(sys.argv[4])
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
