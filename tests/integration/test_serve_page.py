#!/usr/bin/env python3
"""test_serve_page.py — the read-only page of `tracebox serve`, in a real
headless Chromium.

usage: test_serve_page.py TRACEBOX_CLI     (or TB_CLI in the environment)

Builds a small outbox with `tracebox ingest` (three traces, one with "%41",
a blank and a slash in its id; a span with an
error; a span named "poison"), ships it once with `tracebox ship --once` to
three destinations — a `file`, a `webhook` at a local server that answers
400 to any batch holding the poison span (the shipper bisects and
dead-letters that one record), and a `webhook` whose server answers 401
(credentials refused) — then starts `tracebox serve` on a port the kernel
picks and reads its pages with Chromium: the DOM of / and /trace/ID
(`--dump-dom`) and a 1280x800 screenshot of each, decoded here (zlib +
struct, no imaging library) and checked to be that size and not blank.
Status codes come from urllib.

Exit 77 (ctest's SKIP_RETURN_CODE) when Chromium is not installed. Every
wait has a deadline; nothing sleeps to synchronise.
"""
import http.server
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib

SKIP = 77
STEP_TIMEOUT = 60  # seconds for any one command or wait

TRACE_A = "trace_page0000000000000000000000a1"
TRACE_B = "trace_page0000000000000000000000b2"
TRACE_C = "trace_page%41 c/d"  # its link must be encoded, its path decoded once
INJECT = '<i id="inject">x</i>'  # a span name that must stay text


def find_chromium():
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


# ---- the outbox -------------------------------------------------------------


def span(sid, trace, parent, name, typ, start, end, error=None, **data):
    d = {"type": typ, "name": name}
    d.update(data)
    return {
        "object": "trace.span",
        "id": sid,
        "trace_id": trace,
        "parent_id": parent,
        "started_at": "2025-06-01T12:00:%s+00:00" % start,
        "ended_at": "2025-06-01T12:00:%s+00:00" % end,
        "span_data": d,
        "error": error,
    }


def records():
    a, b = TRACE_A, TRACE_B
    return [
        {"object": "trace", "id": a, "workflow_name": "Refund request", "group_id": "conv_7",
         "metadata": None},
        span("span_page_a_agent", a, None, "Billing agent", "agent", "00.000000", "02.500000"),
        span("span_page_a_gen", a, "span_page_a_agent", "Plan the refund", "generation",
             "00.100000", "01.200000", model="gpt-4.1",
             usage={"input_tokens": 640, "output_tokens": 58}),
        span("span_page_a_lookup", a, "span_page_a_agent", "lookup_invoice", "function",
             "01.250000", "01.400000"),
        span("span_page_a_refund", a, "span_page_a_agent", "issue_refund", "function",
             "01.450000", "02.000000",
             error={"message": "card declined by issuer", "data": {"code": 51}}),
        span("span_page_a_poison", a, "span_page_a_refund", "poison", "custom",
             "01.500000", "01.600000", data={"note": "the webhook refuses this one"}),
        span("span_page_a_inject", a, "span_page_a_agent", INJECT, "custom",
             "02.100000", "02.200000", data={}),
        {"object": "trace", "id": b, "workflow_name": "Weather lookup", "group_id": None,
         "metadata": None},
        span("span_page_b_tool", b, None, "get_weather", "function", "03.000000", "03.300000",
             input='{"city":"Paris"}', output="sunny"),
        span("span_page_c_root", TRACE_C, None, "Percent trace", "custom", "04.000000",
             "04.100000", data={}),
    ]


class Hook(http.server.BaseHTTPRequestHandler):
    """A webhook: 400 for a batch that holds the poison span, else 200;
    401 to everything when the server's `refuse_all` is set."""

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        if self.server.refuse_all:
            code, text = 401, b'{"error":"bad token"}'
        elif b'"poison"' in body:
            code, text = 400, b'{"error":"span refused: poison"}'
        else:
            code, text = 200, b"{}"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *args):
        pass


def start_hook(refuse_all):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    srv.refuse_all = refuse_all
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def run(cmd, stdin=None, ok=(0,)):
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=STEP_TIMEOUT)
    if p.returncode not in ok:
        raise AssertionError("%s: exit %d\nstdout: %s\nstderr: %s" % (
            " ".join(cmd), p.returncode, p.stdout.decode(errors="replace"),
            p.stderr.decode(errors="replace")))
    return p


def make_outbox(cli, tmp, hook_port, auth_port):
    """The outbox and its config; returns (db, config)."""
    db = os.path.join(tmp, "page.db")
    cfg = os.path.join(tmp, "tracebox.ini")
    with open(cfg, "w") as f:
        f.write("[outbox]\npath = %s\n\n"
                "[archive]\ntype = file\npath = %s\n\n"
                "[hook]\ntype = webhook\nurl = http://127.0.0.1:%d/batch\n\n"
                "[partner]\ntype = webhook\nurl = http://127.0.0.1:%d/batch\n"
                % (db, os.path.join(tmp, "export.jsonl"), hook_port, auth_port))
    lines = "".join(json.dumps(r) + "\n" for r in records()).encode()
    run([cli, "--db", db, "--config", cfg, "ingest", "-"], stdin=lines)
    # 75: records left pending (the partner refuses the key); 77: credentials refused
    run([cli, "--db", db, "--config", cfg, "ship", "--once", "--max-time", "30"],
        ok=(0, 75, 77))
    return db, cfg


# ---- the server -------------------------------------------------------------


class Serve:
    """`tracebox serve` on a port the kernel picks; stderr read by a thread."""

    def __init__(self, cli, db, cfg):
        self.proc = subprocess.Popen(
            [cli, "serve", "--listen", "127.0.0.1:0", "--db", db, "--config", cfg],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines = []
        self.ready = threading.Event()
        self.port = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m and not self.ready.is_set():
                self.port = int(m.group(1))
                self.ready.set()
        self.ready.set()  # exited: wake the waiter

    def wait_ready(self):
        if not self.ready.wait(STEP_TIMEOUT) or self.port is None:
            raise AssertionError("serve did not say it was listening (exit %s); stderr:\n%s" % (
                self.proc.poll(), "\n".join(self.lines)))
        return "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STEP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STEP_TIMEOUT)


def http_get(url):
    """(status, content type, body text) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=STEP_TIMEOUT) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode(errors="replace")


# ---- Chromium ---------------------------------------------------------------


def chromium(browser, tmp, *args):
    cmd = [browser, "--headless=new", "--no-sandbox", "--disable-gpu",
           "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
           "--user-data-dir=" + os.path.join(tmp, "chromium-profile")] + list(args)
    return run(cmd).stdout.decode(errors="replace")


def dump_dom(browser, tmp, url):
    return chromium(browser, tmp, "--dump-dom", url)


def screenshot(browser, tmp, url, name):
    path = os.path.join(tmp, name)
    chromium(browser, tmp, "--hide-scrollbars", "--window-size=1280,800",
             "--screenshot=" + path, url)
    with open(path, "rb") as f:
        return path, f.read()


def png_decode(data):
    """(width, height, channels, rows): 8-bit RGB or RGBA, not interlaced,
    each row a bytes object of width * channels."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError("not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        if zlib.crc32(kind + chunk) != crc:
            raise AssertionError("PNG chunk %r: bad CRC" % kind)
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
        pos += 12 + n
    width, height, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise AssertionError("PNG: depth %d colour type %d interlace %d not handled" % (
            depth, ctype, interlace))
    ch = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * ch
    if len(raw) != height * (stride + 1):
        raise AssertionError("PNG: %d bytes of pixels for %dx%d" % (len(raw), width, height))
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        cur = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(ch, stride):
                cur[i] = (cur[i] + cur[i - ch]) & 255
        elif f == 2:
            for i in range(stride):
                cur[i] = (cur[i] + prev[i]) & 255
        elif f == 3:
            for i in range(stride):
                left = cur[i - ch] if i >= ch else 0
                cur[i] = (cur[i] + ((left + prev[i]) >> 1)) & 255
        elif f == 4:
            for i in range(stride):
                a = cur[i - ch] if i >= ch else 0
                b = prev[i]
                c = prev[i - ch] if i >= ch else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[i] = (cur[i] + pr) & 255
        elif f != 0:
            raise AssertionError("PNG: filter %d" % f)
        rows.append(bytes(cur))
        prev = cur
    return width, height, ch, rows


def check_screenshot(data, what):
    """A 1280x800 PNG, not blank: >= 2% of the pixels differ from the most
    common colour (the background) and there are many distinct colours.
    Returns the figures."""
    w, h, ch, rows = png_decode(data)
    assert (w, h) == (1280, 800), "%s: screenshot is %dx%d, not 1280x800" % (what, w, h)
    counts = {}
    for row in rows:
        for x in range(0, len(row), ch):
            px = row[x:x + 3]
            counts[px] = counts.get(px, 0) + 1
    background, n_bg = max(counts.items(), key=lambda kv: kv[1])
    total = w * h
    ink = 1.0 - n_bg / total
    figures = "%s: background #%s, %.1f%% of pixels differ, %d distinct colours" % (
        what, background.hex(), 100 * ink, len(counts))
    assert ink >= 0.02, "%s looks blank: %s" % (what, figures)
    assert len(counts) >= 16, "%s has too few colours: %s" % (what, figures)
    return figures


# ---- the test ---------------------------------------------------------------


def wait_until(what, predicate):
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.1)  # polling interval, not synchronisation: the deadline decides


def main():
    cli = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("TB_CLI")
    if not cli:
        print("usage: test_serve_page.py TRACEBOX_CLI", file=sys.stderr)
        return 2
    browser = find_chromium()
    if not browser:
        print("test_serve_page: skipped: Chromium is not installed "
              "(apt-get install chromium)")
        return SKIP

    hook, partner, serve = start_hook(False), start_hook(True), None
    with tempfile.TemporaryDirectory(prefix="tb_serve_page_") as tmp:
        try:
            db, cfg = make_outbox(cli, tmp, hook.server_address[1], partner.server_address[1])
            serve = Serve(cli, db, cfg)
            base = serve.wait_ready()

            # status codes and content types (urllib)
            st, ctype, html = http_get(base + "/")
            assert st == 200 and ctype.startswith("text/html"), (st, ctype)
            assert '<meta http-equiv="refresh" content="10">' in html
            assert "<title>tracebox</title>" in html
            assert http_get(base + "/no/such/page")[0] == 404
            assert http_get(base + "/trace/trace_not_in_this_file")[0] == 404
            trace_url = base + "/trace/" + urllib.parse.quote(TRACE_A, safe="")
            st, _, html = http_get(trace_url)
            assert st == 200 and 'http-equiv="refresh"' not in html, st
            # an id with "%41", a blank and a slash: linked encoded, found decoded once
            quoted_c = urllib.parse.quote(TRACE_C, safe="")
            assert 'href="/trace/%s"' % quoted_c in http_get(base + "/")[2]
            st, _, html = http_get(base + "/trace/" + quoted_c)
            assert st == 200 and "Percent trace" in html, \
                "/trace/%s: %d, not trace %r (the path decoded twice?)" % (quoted_c, st, TRACE_C)

            # the overview as Chromium builds it; the dead letter may come
            # from `ship --once` or from serve's own shipper: wait for it
            def overview_dom():
                dom = dump_dom(browser, tmp, base + "/")
                return dom if "span refused: poison" in dom else None

            dom = wait_until("the dead letter on /", overview_dom)
            for name in ("archive", "hook", "partner"):
                assert ">%s</b>" % name in dom, "destination %s not on /" % name
            assert "auth failed" in dom, "the partner's refused key is not shown"
            assert 'href="/trace/%s"' % TRACE_A in dom, "no link to trace A"
            assert "Refund request" in dom and "Weather lookup" in dom
            assert 'class="deadletter"' in dom and ">poison<" in dom

            # the trace page: every span, as a tree, the error, delivery
            dom = dump_dom(browser, tmp, trace_url)
            for name in ("Billing agent", "Plan the refund", "lookup_invoice", "issue_refund",
                         "poison", "gpt-4.1"):
                assert name in dom, "%s not on the trace page" % name
            assert "card declined by issuer" in dom
            assert "&lt;i id=\"inject\"&gt;x&lt;/i&gt;" in dom and INJECT not in dom, \
                "a span name was not escaped"
            spans = re.findall(r'<tr class="span[^"]*"><td class="nm" style="padding-left:(\d+)px"'
                               r'>.*?<span class="spanname">(.*?)</span>', dom)
            indent = {name: int(px) for px, name in spans}
            assert indent["Billing agent"] < indent["issue_refund"] < indent["poison"], indent
            assert indent["lookup_invoice"] == indent["issue_refund"], indent
            assert 'id="delivery"' in dom and ">hook</b>" in dom

            # screenshots: 1280x800 and not blank
            for url, name in ((base + "/", "overview.png"), (trace_url, "trace.png")):
                path, data = screenshot(browser, tmp, url, name)
                print(check_screenshot(data, name))
                keep = os.environ.get("TB_SCREENSHOT_DIR")
                if keep:
                    shutil.copy(path, os.path.join(keep, name))

            # SIGTERM stops it cleanly (under ASan: with no leak report)
            serve.stop()
            assert serve.proc.returncode == 0, "serve exited %d on SIGTERM; stderr:\n%s" % (
                serve.proc.returncode, "\n".join(serve.lines))
        finally:
            if serve:
                serve.stop()
            hook.shutdown()
            partner.shutdown()
    print("test_serve_page: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
