"""Durability modes of the Python binding that queue in Python (issue 15):
`async` (records queued by the hooks, committed by the helper thread) and
`trace` (the same, and on_trace_end returns once the trace's records are
committed: one commit per trace, made off the event loop's per-span path).
Every check reads the outbox file; none sleeps to synchronise."""

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from test_processor import Base, rows, stored_form  # noqa: E402  (sets TRACEBOX_LIBRARY)

import tracebox  # noqa: E402
import sdk_double as sdk  # noqa: E402

# The helper thread would commit on its own every flush_interval_ms: with
# this interval it does not within a test, so what is in the file after
# on_trace_end was committed by the trace's end.
NEVER_MS = 600000


def stored_ids(db):
    return {r["id"] for r in rows(db, "SELECT coalesce(span_id, trace_id) AS id FROM records")}


def span(p, trace, name, parent=None):
    return sdk.Span(p, trace, sdk.CustomSpanData(name, {"n": 1}), parent).start()


def wait_until(pred, timeout=30.0):
    """Poll a condition another thread makes true (not a sleep standing in
    for synchronisation: it returns as soon as the condition holds)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


class TestTraceMode(Base):
    def open(self, **kw):
        kw.setdefault("durability", "trace")
        p = tracebox.OutboxProcessor(self.db, **kw)
        self.addCleanup(p.shutdown)
        return p

    def test_records_are_committed_when_on_trace_end_returns(self):
        p = self.open(flush_interval_ms=NEVER_MS)
        self.assertEqual(p.durability, "trace")
        for _ in range(5):
            trace, spans = sdk.run_fake_agent(p, n_tool_calls=2)
            # no force_flush: the trace's end is the durable point
            want = {x["id"] for x in [stored_form(trace)] + [stored_form(s) for s in spans]}
            self.assertEqual(want - stored_ids(self.db), set())
        self.assertEqual(p.stats["failed"], 0)
        self.assertEqual(p.stats["written"], len(stored_ids(self.db)))

    def test_one_commit_per_trace(self):
        p = self.open(flush_interval_ms=NEVER_MS)
        sdk.run_fake_agent(p)  # the helper starts (and writes what it finds)
        p.force_flush()  # ... and is back waiting out its (long) interval
        batches = []
        real = p._write_batch

        def counting(batch):
            batches.append(len(batch))
            return real(batch)

        with mock.patch.object(p, "_write_batch", side_effect=counting):
            for _ in range(4):
                sdk.run_fake_agent(p, n_tool_calls=3)
        # one tb_outbox_put_json_many (one transaction) per trace, holding
        # the trace and its 15 spans; not one per span
        self.assertEqual(batches, [16, 16, 16, 16])

    def test_survives_a_process_crash(self):
        """A child stores traces in trace mode and is SIGKILLed right after
        an on_trace_end returned: every record of every ended trace is in
        the file."""
        code = r"""
import json, os, signal, sys
sys.path[:0] = [%r, %r]
import tracebox, sdk_double as sdk
p = tracebox.OutboxProcessor(%r, durability="trace", flush_interval_ms=%d)
for i in range(6):
    trace, spans = sdk.run_fake_agent(p, n_tool_calls=1)
    ids = [trace.trace_id] + [s.span_id for s in spans]
    sys.stdout.write(json.dumps(ids) + "\n")
    sys.stdout.flush()
t = sdk.Trace(p, "never ends")
t.start()
s = sdk.Span(p, t, sdk.CustomSpanData("open", {})).start()
s.finish()
os.kill(os.getpid(), signal.SIGKILL)
""" % (HERE, os.path.abspath(os.path.join(HERE, "..")), self.db, NEVER_MS)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120)
        self.assertEqual(proc.returncode, -signal.SIGKILL, proc.stderr)
        ended = [json.loads(line) for line in proc.stdout.splitlines()]
        self.assertEqual(len(ended), 6)
        stored = stored_ids(self.db)
        for ids in ended:
            self.assertEqual(set(ids) - stored, set())

    def test_asyncio_tasks(self):
        """Concurrent tasks on one event loop, spans ending between awaits:
        when a task's trace has ended, its records are in the file."""
        p = self.open(flush_interval_ms=NEVER_MS)
        missing = []

        async def task(k):
            for i in range(4):
                t = sdk.Trace(p, "task-%d-%d" % (k, i))
                t.start()
                ids = [t.trace_id]
                for j in range(5):
                    s = span(p, t, "step-%d" % j)
                    await asyncio.sleep(0)
                    s.finish()
                    ids.append(s.span_id)
                t.finish()
                missing.extend(set(ids) - stored_ids(self.db))
                await asyncio.sleep(0)

        async def main():
            await asyncio.gather(*(task(k) for k in range(8)))

        asyncio.run(main())
        self.assertEqual(missing, [])
        self.assertEqual(len(stored_ids(self.db)), 8 * 4 * 6)

    def test_put_is_durable_on_return(self):
        # the extra put() writes on the caller's thread, as "normal" does
        p = self.open(flush_interval_ms=NEVER_MS)
        rec = {"object": "trace", "id": "trace_" + "c" * 32, "workflow_name": "direct"}
        self.assertTrue(p.put(rec))
        self.assertIn(rec["id"], stored_ids(self.db))

    def test_locked_file_trace_end_gives_up_and_keeps_the_records(self):
        """Another connection holds the write lock: on_trace_end waits at
        most about the busy timeout, logs, and returns; the records stay
        queued and are written once the lock is gone."""
        p = self.open(busy_timeout_ms=200)
        sdk.run_fake_agent(p)
        p.force_flush()
        locker = subprocess.Popen(
            [sys.executable, "-c",
             "import sqlite3, sys\n"
             "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
             "c.execute('BEGIN EXCLUSIVE')\n"
             "print('locked', flush=True)\n"
             "sys.stdin.readline()\n"
             "c.execute('ROLLBACK')\n", self.db],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(locker.stdout.readline().strip(), "locked")
            with self.assertLogs("tracebox", level="WARNING") as cm:
                t0 = time.monotonic()
                trace, spans = sdk.run_fake_agent(p, n_tool_calls=1)
                took = time.monotonic() - t0
            self.assertIn(trace.trace_id, "\n".join(cm.output))
            self.assertLess(took, 30.0)  # bounded (busy timeouts), not forever
        finally:
            locker.stdin.write("\n")
            locker.stdin.close()
            locker.wait(30)
            locker.stdout.close()
        p.force_flush()  # the helper tries again until the lock is gone
        want = {x["id"] for x in [stored_form(trace)] + [stored_form(s) for s in spans]}
        self.assertEqual(want - stored_ids(self.db), set())
        self.assertEqual(p.stats["failed"], 0)


class TestAsyncQueue(Base):
    def open(self, **kw):
        kw.setdefault("durability", "async")
        p = tracebox.OutboxProcessor(self.db, **kw)
        self.addCleanup(p.shutdown)
        return p

    def test_hooks_make_no_call_into_the_library(self):
        # the per-span path: encode and queue; the helper thread writes
        p = self.open()
        seen = []
        real = p._write_batch

        def on_helper(batch):
            seen.append(threading.current_thread() is not threading.main_thread())
            return real(batch)

        with mock.patch.object(p, "_put_json", side_effect=AssertionError("direct put")), \
                mock.patch.object(p, "_write_batch", side_effect=on_helper):
            trace, spans = sdk.run_fake_agent(p)
            p.force_flush()
        self.assertTrue(seen and all(seen), seen)
        exports = [stored_form(trace)] + [stored_form(s) for s in spans]
        self.assertRecordsMatch(exports)
        self.assertEqual(p.stats, {"written": len(exports), "failed": 0, "skipped": 0})

    def test_shutdown_writes_what_is_queued(self):
        p = self.open(flush_interval_ms=NEVER_MS)
        exports = []
        for _ in range(3):
            trace, spans = sdk.run_fake_agent(p)
            exports += [stored_form(trace)] + [stored_form(s) for s in spans]
        p.shutdown()
        self.assertRecordsMatch(exports)
        self.assertEqual(p.stats["written"], len(exports))

    def test_a_bad_record_is_counted_when_written(self):
        # validation happens in the library, on the helper's batch: the bad
        # record fails alone, logged, counted once flushed
        p = self.open()
        t = sdk.Trace(p, "w")

        class NoId:
            def export(self):
                return {"object": "trace.span", "trace_id": t.trace_id, "parent_id": None,
                        "started_at": None, "ended_at": None,
                        "span_data": {"type": "custom"}, "error": None}

        with self.assertLogs("tracebox", level="ERROR") as cm:
            t.start()
            p.on_span_end(NoId())
            good = span(p, t, "good")
            good.finish()
            p.force_flush()
        self.assertIn("not stored", "\n".join(cm.output))
        self.assertEqual(p.stats, {"written": 2, "failed": 1, "skipped": 0})
        self.assertEqual(stored_ids(self.db), {t.trace_id, good.span_id})

    def test_full_queue_drop_policy(self):
        p = self.open(queue_capacity=4, queue_policy="drop")
        t = sdk.Trace(p, "w")
        with p._wlock:  # the helper cannot take anything off the queue
            t.start()
            spans = [span(p, t, "s%d" % i) for i in range(6)]
            with self.assertLogs("tracebox", level="ERROR") as cm:
                for s in spans:
                    s.finish()
        self.assertEqual(len(cm.output), 3)  # trace + 3 spans queued, 3 dropped
        self.assertIn("queue full", cm.output[0])
        p.force_flush()
        self.assertEqual(stored_ids(self.db), {t.trace_id} | {s.span_id for s in spans[:3]})
        self.assertEqual(p.stats, {"written": 4, "failed": 3, "skipped": 0})
        # the drops are in the file's counters too, as the C queue's are
        p.shutdown()
        con = sqlite3.connect(self.db)
        try:
            n = con.execute("SELECT value FROM counters WHERE name = 'dropped_queue'").fetchone()[0]
        finally:
            con.close()
        self.assertEqual(n, 3)

    def test_full_queue_block_policy(self):
        p = self.open(queue_capacity=4)
        t = sdk.Trace(p, "w")
        spans = []
        lock = p._wlock
        lock.acquire()  # the helper cannot take anything off the queue
        try:
            t.start()

            def produce():
                for i in range(8):
                    s = span(p, t, "s%d" % i)
                    s.finish()
                    spans.append(s)

            th = threading.Thread(target=produce)
            th.start()
            # the producer fills the queue and then waits for room
            self.assertTrue(wait_until(lambda: p._blocked == 1))
            self.assertEqual(len(spans), 3)
        finally:
            lock.release()
        th.join(60)
        self.assertFalse(th.is_alive())
        p.force_flush()
        self.assertEqual(stored_ids(self.db), {t.trace_id} | {s.span_id for s in spans})
        self.assertEqual(p.stats, {"written": 9, "failed": 0, "skipped": 0})

    def test_many_threads(self):
        p = self.open()
        results = []

        def worker():
            for _ in range(5):
                results.append(sdk.run_fake_agent(p, n_tool_calls=3))

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        p.shutdown()
        exports = []
        for trace, spans in results:
            exports += [stored_form(trace)] + [stored_form(s) for s in spans]
        self.assertRecordsMatch(exports)
        self.assertEqual(p.stats, {"written": len(exports), "failed": 0, "skipped": 0})

    def test_no_writer_thread(self):
        # at interpreter shutdown no thread can start: nothing raises into
        # the run, and what is queued is written by force_flush, trace end
        # (trace mode) or shutdown on the calling thread
        for mode in ("async", "trace"):
            db = os.path.join(self.tmp.name, mode + ".db")
            p = tracebox.OutboxProcessor(db, durability=mode)
            with mock.patch.object(threading.Thread, "start",
                                   side_effect=RuntimeError("can't create new thread")), \
                    self.assertLogs("tracebox", level="WARNING"):
                trace, spans = sdk.run_fake_agent(p)
                want = {x["id"] for x in [stored_form(trace)] + [stored_form(s) for s in spans]}
                if mode == "trace":
                    self.assertEqual(want - stored_ids(db), set(), mode)
                more = sdk.Trace(p, "after")
                more.start()
                p.force_flush()
                self.assertIn(more.trace_id, stored_ids(db), mode)
                last = sdk.Trace(p, "last")
                last.start()
                p.shutdown()
            self.assertEqual((want | {more.trace_id, last.trace_id}) - stored_ids(db), set(), mode)
            self.assertEqual(p.stats["failed"], 0, mode)

    def test_after_shutdown(self):
        p = self.open()
        p.shutdown()
        with self.assertLogs("tracebox", level="WARNING"):
            span(p, sdk.Trace(p, "late"), "late").finish()
        p.force_flush()
        p.on_trace_end(sdk.Trace(p, "late"))
        self.assertEqual(p.stats["failed"], 1)


if __name__ == "__main__":
    unittest.main()
