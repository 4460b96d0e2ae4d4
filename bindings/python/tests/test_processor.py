"""Tests of the Python binding: OutboxProcessor and Shipper against libtracebox.

Run from the tracebox tree (ctest does this as `bindings_python`):
    TRACEBOX_LIBRARY=build/release/libtracebox.so TB_CLI=build/release/tracebox \
    PYTHONPATH=bindings/python python3 -m unittest discover -s bindings/python/tests -v
"""

import glob
import json
import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.abspath(os.path.join(HERE, "..")))

if not os.environ.get("TRACEBOX_LIBRARY"):
    # Convenience for a run by hand in the tree: the usual build folders.
    # (release and dev first: an ASan build needs its runtime preloaded.)
    for cand in [os.path.join(ROOT, "build", d, "libtracebox.so") for d in ("release", "dev")] + \
            sorted(glob.glob(os.path.join(ROOT, "build", "*", "libtracebox.so"))):
        if os.path.exists(cand):
            os.environ["TRACEBOX_LIBRARY"] = cand
            break

import tracebox  # noqa: E402
import sdk_double as sdk  # noqa: E402

TB_CLI = os.environ.get("TB_CLI")
if not TB_CLI and os.path.dirname(os.environ.get("TRACEBOX_LIBRARY", "")).startswith(
        os.path.join(ROOT, "build")):
    # by hand in the tree: the CLI built next to the library
    _cli = os.path.join(os.path.dirname(os.environ["TRACEBOX_LIBRARY"]), "tracebox")
    TB_CLI = _cli if os.access(_cli, os.X_OK) else None


def rows(db, sql, *args):
    con = sqlite3.connect(db)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(sql, args)]
    finally:
        con.close()


def stored_form(obj):
    """What tracebox documents it stores for an SDK trace or span: export(),
    plus, for a response span whose span_data has them, the extension fields
    span_data.response (the Responses API object as the API sent it) and
    span_data.input (the model input, items as JSON)."""
    e = obj.export()
    data = getattr(obj, "span_data", None)
    if e is None or data is None or e["span_data"].get("type") != "response":
        return e
    if getattr(data, "response", None) is not None:
        e["span_data"]["response"] = sdk.api_json(data.response)
    inp = getattr(data, "input", None)
    if inp is not None:
        e["span_data"]["input"] = inp if isinstance(inp, str) else [
            sdk.api_json(i) if hasattr(i, "_api_json") else i for i in inp]
    return e


def expected_type(export):
    return "trace" if export["object"] == "trace" else export["span_data"]["type"]


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="tracebox-py-")
        self.db = os.path.join(self.tmp.name, "traces.db")

    def tearDown(self):
        self.tmp.cleanup()

    def assertRecordsMatch(self, exports):
        """Every export dict is in `records` once, with the right columns,
        and its body is the same JSON object."""
        got = {r["span_id"] or r["trace_id"]: r for r in rows(
            self.db, "SELECT kind, trace_id, span_id, parent_id, type, name, started_at, "
                     "ended_at, error, body FROM records")}
        self.assertEqual(len(got), len(rows(self.db, "SELECT seq FROM records")),
                         "an id is stored twice")
        for e in exports:
            r = got.get(e["id"])
            self.assertIsNotNone(r, "record %s missing from the outbox" % e["id"])
            if e["object"] == "trace":
                self.assertEqual(r["kind"], "trace")
                self.assertEqual(r["trace_id"], e["id"])
                self.assertIsNone(r["span_id"])
            else:
                self.assertEqual(r["kind"], "span")
                self.assertEqual(r["trace_id"], e["trace_id"])
                self.assertEqual(r["span_id"], e["id"])
                self.assertEqual(r["parent_id"], e["parent_id"])
                self.assertEqual(r["started_at"], e["started_at"])
                self.assertEqual(r["ended_at"], e["ended_at"])
                if e["error"] is None:
                    self.assertIsNone(r["error"])
                else:
                    self.assertEqual(json.loads(r["error"]), e["error"])
            self.assertEqual(r["type"], expected_type(e))
            self.assertEqual(json.loads(r["body"]), e, "body of %s changed" % e["id"])
        return got


class TestLibrary(unittest.TestCase):
    def test_version(self):
        self.assertRegex(tracebox.library_version(), r"^\d+\.\d+\.\d+")

    def test_bad_library_path_says_how_to_fix(self):
        env = dict(os.environ, TRACEBOX_LIBRARY="/nonexistent/libtracebox.so",
                   PYTHONPATH=os.path.abspath(os.path.join(HERE, "..")))
        p = subprocess.run([sys.executable, "-c",
                            "import tracebox; tracebox.OutboxProcessor('x.db')"],
                           env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("TraceboxLibraryNotFound", p.stderr)
        self.assertIn("TRACEBOX_LIBRARY=/path/to/libtracebox.so", p.stderr)

    def test_not_found_says_how_to_fix(self):
        env = {k: v for k, v in os.environ.items()
               if k not in ("TRACEBOX_LIBRARY", "LD_LIBRARY_PATH")}
        env["PYTHONPATH"] = os.path.abspath(os.path.join(HERE, ".."))
        p = subprocess.run([sys.executable, "-c",
                            "import tracebox; tracebox.OutboxProcessor('x.db')"],
                           env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
        if p.returncode == 0:
            self.skipTest("libtracebox is installed system-wide")
        self.assertIn("TRACEBOX_LIBRARY=/path/to/libtracebox.so", p.stderr)

    def test_bad_durability_is_a_setup_error(self):
        with self.assertRaises(ValueError):
            tracebox.OutboxProcessor(os.path.join(tempfile.gettempdir(), "never.db"),
                                     durability="sometimes")

    def test_unopenable_path_raises_at_setup(self):
        with self.assertRaises(tracebox.TraceboxError):
            tracebox.OutboxProcessor("/nonexistent-dir/sub/traces.db")


class TestProcessor(Base):
    def test_protocol_methods_exist(self):
        p = tracebox.OutboxProcessor(self.db)
        for m in ("on_trace_start", "on_trace_end", "on_span_start", "on_span_end",
                  "shutdown", "force_flush"):
            self.assertTrue(callable(getattr(p, m)), m)
        p.shutdown()

    def test_one_run_every_span_type(self):
        p = tracebox.OutboxProcessor(self.db)
        trace, spans = sdk.run_fake_agent(p)
        p.force_flush()
        p.shutdown()
        exports = [stored_form(trace)] + [stored_form(s) for s in spans]
        got = self.assertRecordsMatch(exports)
        types = {r["type"] for r in got.values()}
        for t in ("trace", "agent", "generation", "response", "function", "handoff",
                  "guardrail", "custom", "mcp_tools", "transcription", "speech",
                  "speech_group"):
            self.assertIn(t, types)
        # task/turn go out as custom spans named task/turn; agent spans carry
        # top-level metadata (usage + routed trace keys) that must survive.
        names = {r["name"] for r in got.values() if r["type"] == "custom"}
        self.assertTrue({"task", "turn", "cache_lookup"} <= names, names)
        agent = next(json.loads(r["body"]) for r in got.values() if r["type"] == "agent")
        self.assertEqual(agent["metadata"]["agent_harness_id"], "harness-1")
        self.assertEqual(agent["metadata"]["usage"]["total_tokens"], 150)
        self.assertTrue(agent["started_at"].endswith("+00:00"))
        self.assertEqual(p.stats, {"written": len(exports), "failed": 0, "skipped": 0})
        # the trace precedes its spans
        seqs = rows(self.db, "SELECT kind FROM records ORDER BY seq")
        self.assertEqual(seqs[0]["kind"], "trace")

    def test_many_threads(self):
        p = tracebox.OutboxProcessor(self.db)
        results, errors = [], []

        def worker():
            try:
                for _ in range(5):
                    results.append(sdk.run_fake_agent(p, n_tool_calls=3))
            except Exception as e:  # pragma: no cover - the test fails below
                errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        p.shutdown()
        self.assertEqual(errors, [])
        exports = []
        for trace, spans in results:
            exports.append(stored_form(trace))
            exports += [stored_form(s) for s in spans]
        self.assertEqual(len(results), 40)
        self.assertRecordsMatch(exports)
        self.assertEqual(len(rows(self.db, "SELECT seq FROM records")), len(exports))
        self.assertEqual(p.stats["written"], len(exports))

    def test_durability_modes(self):
        for mode in ("normal", "async", "trace"):
            db = os.path.join(self.tmp.name, mode + ".db")
            p = tracebox.OutboxProcessor(db, durability=mode)
            trace, spans = sdk.run_fake_agent(p)
            p.force_flush()
            n = len(rows(db, "SELECT seq FROM records"))
            self.assertEqual(n, 1 + len(spans), mode)
            p.shutdown()

    def test_noop_exports_are_skipped(self):
        p = tracebox.OutboxProcessor(self.db)
        t = sdk.NoOpTrace(p)
        p.on_trace_start(t)
        s = sdk.NoOpSpan(p, sdk.CustomSpanData("x", {}))
        p.on_span_start(s)
        p.on_span_end(s)
        p.on_trace_end(t)
        p.shutdown()
        self.assertEqual(rows(self.db, "SELECT seq FROM records"), [])
        self.assertEqual(p.stats["skipped"], 2)

    def test_invalid_export_is_logged_not_raised(self):
        p = tracebox.OutboxProcessor(self.db)

        class NoId:
            def export(self):
                return {"object": "trace.span", "trace_id": "trace_" + "0" * 32,
                        "parent_id": None, "started_at": None, "ended_at": None,
                        "span_data": {"type": "custom"}, "error": None}

        class Raises:
            def export(self):
                raise RuntimeError("boom")

        with self.assertLogs("tracebox", level="ERROR") as cm:
            p.on_span_end(NoId())           # must not raise
            p.on_trace_start(Raises())      # must not raise
            self.assertFalse(p.put("{not json"))
        text = "\n".join(cm.output)
        self.assertIn("not stored", text)
        self.assertIn("boom", text)
        # the processor still works afterwards
        trace, spans = sdk.run_fake_agent(p)
        p.shutdown()
        self.assertEqual(p.stats["failed"], 3)
        self.assertEqual(len(rows(self.db, "SELECT seq FROM records")), 1 + len(spans))

    def test_same_record_twice_is_stored_once(self):
        p = tracebox.OutboxProcessor(self.db)
        trace, spans = sdk.run_fake_agent(p)
        p.on_trace_start(trace)
        p.on_span_end(spans[0])
        p.shutdown()
        self.assertEqual(len(rows(self.db, "SELECT seq FROM records")), 1 + len(spans))

    def test_shutdown_twice_and_use_after_shutdown(self):
        p = tracebox.OutboxProcessor(self.db)
        p.shutdown()
        p.shutdown()
        p.shutdown(timeout=1.0)
        p.force_flush()  # no-op, no raise
        with self.assertLogs("tracebox", level="WARNING"):
            p.on_span_end(sdk.Span(p, sdk.Trace(p, "w"), sdk.CustomSpanData("late", {})).start())
        self.assertTrue(p.closed)

    def test_shutdown_while_threads_write(self):
        p = tracebox.OutboxProcessor(self.db)
        stop = threading.Event()

        def worker():
            while not stop.is_set():
                sdk.run_fake_agent(p, n_tool_calls=1)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        logging.getLogger("tracebox").setLevel(logging.CRITICAL)
        try:
            for t in threads:
                t.start()
            time.sleep(0.3)
            p.shutdown()
            stop.set()
            for t in threads:
                t.join()
        finally:
            logging.getLogger("tracebox").setLevel(logging.NOTSET)
        n = len(rows(self.db, "SELECT seq FROM records"))
        self.assertEqual(n, p.stats["written"])
        self.assertGreater(n, 0)


    @unittest.skipUnless(hasattr(os, "fork"), "needs os.fork")
    @unittest.skipIf("asan" in os.environ.get("LD_PRELOAD", ""),
                     "GCC 12's libasan does not lock its allocator around fork(): a child can "
                     "hang in malloc for ASan's own reason; run in the release build")
    def test_fork_while_threads_write(self):
        """gunicorn --preload / multiprocessing's fork: a processor made in
        the parent is used in children forked while parent threads write.
        No child hangs, every record a child stored is in the file, and the
        parent goes on writing."""
        import signal

        for durability in ("async", "trace", "full"):
            db = os.path.join(self.tmp.name, "fork-%s.db" % durability)
            p = tracebox.OutboxProcessor(db, durability)
            stop = threading.Event()

            def worker():
                # plain records: the SDK double's pydantic models are not
                # fork-safe themselves (pydantic_core holds a lock of its own
                # while it serialises; a child forked meanwhile hangs in it)
                import uuid
                while not stop.is_set():
                    trace = "trace_" + uuid.uuid4().hex
                    p.put({"object": "trace", "id": trace, "workflow_name": "parent"})
                    for _ in range(3):
                        p.put({"object": "trace.span", "id": "span_" + uuid.uuid4().hex[:24],
                               "trace_id": trace, "parent_id": None, "started_at": None,
                               "ended_at": None, "error": None,
                               "span_data": {"type": "custom", "name": "step", "data": {}}})

            threads = [threading.Thread(target=worker) for _ in range(2)]
            for t in threads:
                t.start()
            child_ids = set()
            try:
                for _ in range(6):
                    r, w = os.pipe()
                    pid = os.fork()
                    if pid == 0:  # the child: no unittest from here on
                        code = 1
                        try:
                            os.close(r)
                            signal.alarm(60)  # a hang ends as SIGALRM
                            trace, spans = sdk.run_fake_agent(p, n_tool_calls=1)
                            ids = [stored_form(x)["id"] for x in [trace] + spans]
                            p.shutdown(timeout=30)
                            code = 0 if p.stats["failed"] == 0 else 3
                            os.write(w, json.dumps(ids).encode())
                        finally:
                            os._exit(code)
                    os.close(w)
                    with os.fdopen(r, "rb") as fh:
                        text = fh.read()
                    deadline = time.monotonic() + 90
                    while True:
                        done, status = os.waitpid(pid, os.WNOHANG)
                        if done:
                            break
                        if time.monotonic() > deadline:
                            os.kill(pid, signal.SIGKILL)
                            os.waitpid(pid, 0)
                            self.fail("%s: a forked child did not finish" % durability)
                        time.sleep(0.01)
                    self.assertTrue(os.WIFEXITED(status), "%s: child killed by signal %s%s" % (
                        durability, os.WTERMSIG(status) if os.WIFSIGNALED(status) else "?",
                        " (it hung)" if os.WIFSIGNALED(status)
                        and os.WTERMSIG(status) == signal.SIGALRM else ""))
                    self.assertEqual(os.WEXITSTATUS(status), 0, durability)
                    child_ids |= set(json.loads(text))
            finally:
                stop.set()
                for t in threads:
                    t.join()
            p.shutdown()
            self.assertEqual(len(child_ids), 6 * 14)  # a trace and 13 spans each
            stored = {r["id"] for r in rows(
                db, "SELECT coalesce(span_id, trace_id) AS id FROM records")}
            self.assertEqual(child_ids - stored, set(), durability)
            self.assertEqual(len(stored), p.stats["written"] + len(child_ids), durability)


FILE_CONFIG = "[shipper]\npoll_interval = 100ms\n\n[files]\ntype = file\npath = {path}\n"


def read_jsonl(path):
    out = []
    for f in sorted(glob.glob(path + "*")):
        with open(f, encoding="utf-8") as fh:
            out += [json.loads(line) for line in fh if line.strip()]
    return out


class TestShipping(Base):
    def _fill(self):
        p = tracebox.OutboxProcessor(self.db)
        exports = []
        for _ in range(3):
            trace, spans = sdk.run_fake_agent(p)
            exports += [stored_form(trace)] + [stored_form(s) for s in spans]
        p.shutdown()
        return exports

    def test_ship_once_in_process(self):
        exports = self._fill()
        out = os.path.join(self.tmp.name, "out.jsonl")
        rep = tracebox.ship_once(self.db, config_text=FILE_CONFIG.format(path=out))
        self.assertEqual(rep["delivered"], len(exports))
        self.assertEqual(rep["pending"], 0)
        self.assertEqual(read_jsonl(out), exports)

    def test_bad_config_raises_with_location(self):
        with self.assertRaises(tracebox.TraceboxError) as cm:
            tracebox.ship_once(self.db, config_text="[x]\ntype = file\nbogus = 1\n")
        self.assertIn("bogus", str(cm.exception))

    def test_shipper_thread(self):
        out = os.path.join(self.tmp.name, "out.jsonl")
        cfg = os.path.join(self.tmp.name, "tracebox.ini")
        with open(cfg, "w") as f:
            f.write(FILE_CONFIG.format(path=out))
        p = tracebox.OutboxProcessor(self.db)
        shipper = tracebox.Shipper(self.db, config=cfg)
        self.assertTrue(shipper.running)
        exports = []
        for _ in range(2):
            trace, spans = sdk.run_fake_agent(p)
            exports += [stored_form(trace)] + [stored_form(s) for s in spans]
        shipper.wake()
        want = {e["id"] for e in exports}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if want <= {r["id"] for r in read_jsonl(out)}:
                break
            time.sleep(0.05)
        self.assertTrue(shipper.stop(timeout=10))
        self.assertTrue(shipper.stop())  # idempotent
        p.shutdown()
        self.assertEqual({r["id"] for r in read_jsonl(out)}, want)
        d = rows(self.db, "SELECT name, delivered FROM destinations")
        self.assertEqual(d, [{"name": "files", "delivered": len(exports)}])

    @unittest.skipUnless(TB_CLI, "TB_CLI (path to the tracebox CLI) is not set")
    def test_cli_ship_once(self):
        exports = self._fill()
        out = os.path.join(self.tmp.name, "shipped.jsonl")
        cfg = os.path.join(self.tmp.name, "tracebox.ini")
        with open(cfg, "w") as f:
            f.write(FILE_CONFIG.format(path=out))
        p = subprocess.run([TB_CLI, "--db", self.db, "--config", cfg, "ship", "--once"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = read_jsonl(out)
        self.assertEqual([r["id"] for r in lines], [e["id"] for e in exports])
        self.assertEqual(lines, exports)
        # and the CLI's export verb sees the same records
        p = subprocess.run([TB_CLI, "--db", self.db, "export"], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([json.loads(x) for x in p.stdout.splitlines() if x.strip()], exports)


if __name__ == "__main__":
    unittest.main()
