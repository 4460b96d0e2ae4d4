#!/usr/bin/env python3
"""Byte-level misbehaving HTTP server for tracebox's network-fault tests.

tests/helpers/testserver.py is an http.server: it cannot send half a
response. This one speaks HTTP/1.1 by hand over raw sockets so a test can
choose exactly what goes on the wire. Standard library only.

Binds 127.0.0.1 on a port the kernel picks, prints "PORT <n>" as its first
stdout line, serves until its stdin closes (so it dies with the test).

The request path chooses the behaviour (each connection serves one request
and is closed, "Connection: close"):
  POST /ok       200 {}
  POST /close    200 headers announcing Content-Length: 1000, then close
                 (FIN) without a body byte: reset mid-response
  POST /trickle  a valid 200 response, one byte every 200 ms (slowloris
                 from the server side), until the client goes away
  POST /hold     read the request, never answer; hold the socket until the
                 client goes away (or 60 s)
  POST /big      200 with Content-Length 64 MiB and that many bytes,
                 streamed until the client goes away
Any other POST path answers 404.

Introspection (same JSON shapes as testserver.py, so tests/helpers/
testserver.c's tb_test_server_requests / _count work against it):
  GET /_requests  every recorded POST: method, path, headers, body
  GET /_count     {"count": n}
"""
import json
import os
import socket
import sys
import threading
import time

LOCK = threading.Lock()
REQUESTS = []
BIG = 64 * 1024 * 1024


def read_request(conn):
    """Return (method, path, headers, body) or None when the peer left."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
        if len(data) > 1 << 20:
            return None
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = (lines[0].split(" ") + ["", "", ""])[:3]
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        v = v.strip()
        headers[k] = headers[k] + ", " + v if k in headers else v
    if headers.get("expect", "").lower() == "100-continue":
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    n = int(headers.get("content-length") or 0)
    body = rest
    while len(body) < n:
        chunk = conn.recv(min(1 << 20, n - len(body)))
        if not chunk:
            return None
        body += chunk
    return method, path, headers, body[:n]


def reply(conn, code, body, ctype="application/json"):
    if isinstance(body, str):
        body = body.encode()
    head = ("HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
            "Connection: close\r\n\r\n" % (code, ctype, len(body))).encode()
    conn.sendall(head + body)


def wait_gone(conn, seconds):
    """Block until the client closes (or `seconds` pass)."""
    conn.settimeout(seconds)
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass


def serve(conn):
    try:
        req = read_request(conn)
        if req is None:
            return
        method, path, headers, body = req
        if method == "GET" and path == "/_requests":
            with LOCK:
                data = json.dumps(REQUESTS)
            return reply(conn, 200, data)
        if method == "GET" and path == "/_count":
            with LOCK:
                n = len(REQUESTS)
            return reply(conn, 200, json.dumps({"count": n}))
        with LOCK:
            REQUESTS.append({"method": method, "path": path, "headers": headers,
                             "body": body.decode("utf-8", "replace")})
        if path == "/ok":
            return reply(conn, 200, "{}")
        if path == "/close":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n")
            conn.shutdown(socket.SHUT_WR)
            return wait_gone(conn, 10)
        if path == "/trickle":
            msg = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                   b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
            for i in range(len(msg)):
                conn.sendall(msg[i:i + 1])
                time.sleep(0.2)
            return
        if path == "/hold":
            return wait_gone(conn, 60)
        if path == "/big":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n" % BIG)
            block = b"x" * 65536
            for _ in range(BIG // len(block)):
                conn.sendall(block)
            return
        return reply(conn, 404, '{"message":"no such path"}')
    except OSError:
        pass  # the client gave up: that is what these tests provoke
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    print("PORT %d" % srv.getsockname()[1], flush=True)

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
