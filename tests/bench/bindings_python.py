#!/usr/bin/env python3
"""Python binding benchmark (issue #15). Not run by ctest.

    TRACEBOX_LIBRARY=build/release/libtracebox.so python3 tests/bench/bindings_python.py [--quick]

Spans are made through the real `agents` package (openai-agents) when it is
importable, else through the tests' SDK double (bindings/python/tests/
sdk_double.py, the SDK's Trace/Span objects without its context variables;
`--double` forces it). Each trace is what a short agent run makes (as in
tests/bench/bindings_node.mjs): an agent span with K-1 generation / function
spans, one after the other; µs/span is the wall time of creating and ending
every trace and span, divided by the spans made (the trace's own start/end
included).

Cases, each in a fresh child process, rounds interleaved, median shown
(min–max beside it):
  none    no processor (the workload's own cost)
  batch   the SDK's BatchTraceProcessor with an in-memory exporter (its own
          class when the real SDK is importable; otherwise a stand-in that does
          what the SDK's does: queue.Queue(maxsize=8192).put_nowait per trace
          and span, drop + log a warning when full, a worker thread that wakes
          every 0.2 s and exports batches of 128, calling export() on each)
  batch-all
          the same with a queue of 1 048 576: it drops nothing, so it exports
          every span (the ratios stay against `batch`)
  async, trace, normal, full
          tracebox OutboxProcessor in that durability (`trace` only where the
          binding has it); the row names the encoder the binding used
          (orjson when it is installed, else the json module)
  async-json
          tracebox `async` with TRACEBOX_PYTHON_JSON=stdlib: the json module's
          encoder even where orjson is installed

"drain" is the time after the last span until everything is handed over
(force_flush: committed for tracebox; exported for batch) — the SDK's
processor does its export() calls there, on its worker thread.

The asyncio section runs C concurrent tasks on one event loop, each making
traces whose spans end one per loop step (`await asyncio.sleep(0)` between
start and end, as a model call would). "worst hook" is the longest single
processor call (on_span_end, on_trace_end, ...) on the loop thread: how long
the processor blocked the loop at once; "worst lag" is the longest a ticker
task (asyncio.sleep(0.001)) was late: the loop's responsiveness, whoever
blocked it. "trace end p99" is the 99th percentile of on_trace_end.

Options: --quick (2 000 spans), --spans N (default 20 000), --per-trace K
(default 10), --async-spans N (default spans/4), --tasks C (default 32),
--rounds R (default 3; --quick: 1), --modes none,batch,async,trace,normal,full,
--no-asyncio, --double, --binding DIR (the tracebox package's parent, default
bindings/python), --compare DIR (a second binding, e.g. an older checkout's
bindings/python: its tracebox rows are measured in the same run and shown
beside), --library PATH (default $TRACEBOX_LIBRARY, else
build/release/libtracebox.so). Temporary files live in one directory that is
removed at the end.
"""

import argparse
import asyncio
import gc
import json
import os
import platform
import queue
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DEFAULT_BINDING = os.path.join(ROOT, "bindings", "python")
DOUBLE_DIR = os.path.join(ROOT, "bindings", "python", "tests")
ALL_MODES = ["none", "batch", "batch-all", "async", "async-json", "trace", "normal", "full"]
TRACEBOX_MODES = ["async", "async-json", "trace", "normal", "full"]
perf = time.perf_counter

MESSAGES = [
    {"role": "system", "content": "You route customers to the right team."},
    {"role": "user", "content": "I want a refund for order 42 — it arrived broken."},
]
OUTPUT = [{"role": "assistant", "content": "Let me look that order up first."}]
MODEL_CONFIG = {"temperature": 0.2}
USAGE = {"input_tokens": 42, "output_tokens": 9}


# ---------------------------------------------------------------------------
# the SDK's BatchTraceProcessor, or a stand-in doing the same per span
# ---------------------------------------------------------------------------
class CountingExporter:
    """In-memory exporter: calls export() on each item (as the SDK's
    BackendSpanExporter does before it posts) and counts."""

    def __init__(self):
        self.items = 0

    def export(self, items):
        for item in items:
            item.export()
        self.items += len(items)

    def shutdown(self):
        pass


class BatchStandIn:
    """The per-span behaviour of the SDK's BatchTraceProcessor, written for
    this benchmark: a hook only puts the object in a bounded queue.Queue
    (8192) without waiting, counting it as dropped when the queue is full;
    one daemon thread, started on first use, takes batches of up to 128 off
    the queue every few seconds (sooner when the queue is 70 % full) and
    hands them to the exporter. Nothing is serialised in the hook."""

    def __init__(self, exporter, capacity=8192, batch=128, every=5.0, trigger=0.7):
        self.exporter = exporter
        self.q = queue.Queue(maxsize=capacity)
        self.batch = batch
        self.every = every
        self.trigger = max(1, int(capacity * trigger))
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.thread = None
        self.dropped = 0

    def _offer(self, obj):
        if self.thread is None:
            with self.lock:
                if self.thread is None:
                    self.thread = threading.Thread(target=self._drain_loop, daemon=True)
                    self.thread.start()
        try:
            self.q.put_nowait(obj)
        except queue.Full:
            self.dropped += 1

    def on_trace_start(self, trace):
        self._offer(trace)

    def on_trace_end(self, trace):
        pass

    def on_span_start(self, span):
        pass

    def on_span_end(self, span):
        self._offer(span)

    def _drain(self, everything):
        while True:
            got = []
            while everything or len(got) < self.batch:
                try:
                    got.append(self.q.get_nowait())
                except queue.Empty:
                    break
            if not got:
                return
            self.exporter.export(got)

    def _drain_loop(self):
        due = time.monotonic() + self.every
        while not self.stop.is_set():
            if time.monotonic() >= due or self.q.qsize() >= self.trigger:
                self._drain(False)
                due = time.monotonic() + self.every
            else:
                self.stop.wait(0.2)
        self._drain(True)

    def force_flush(self):
        self._drain(True)

    def shutdown(self, timeout=None):
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=timeout)
        else:
            self._drain(True)


# ---------------------------------------------------------------------------
# the workload: through the SDK double or the real SDK
# ---------------------------------------------------------------------------
class DoubleSDK:
    def __init__(self):
        sys.path.insert(0, DOUBLE_DIR)
        import sdk_double

        self.sdk = sdk_double
        self.proc = None
        self.label = "SDK double (bindings/python/tests/sdk_double.py)"

    def set_processor(self, proc):
        self.proc = proc if proc is not None else _NullProcessor()

    def batch(self, capacity=8192):
        exp = CountingExporter()
        return (BatchStandIn(exp, capacity=capacity), exp,
                "stand-in for BatchTraceProcessor (the SDK is not installed)")

    def one_trace(self, t, k):
        sdk, proc = self.sdk, self.proc
        tr = sdk.Trace(proc, "bench-%d" % t, group_id="thread_%d" % (t % 100),
                       metadata={"customer": "c-%d" % t})
        tr.start()
        agent = sdk.Span(proc, tr, sdk.AgentSpanData(
            "Triage", handoffs=["Billing"], tools=["lookup_order"], output_type="text")).start()
        for i in range(1, k):
            if i % 2:
                data = sdk.GenerationSpanData(input=MESSAGES, output=OUTPUT, model="gpt-4.1",
                                              model_config=MODEL_CONFIG, usage=USAGE)
            else:
                data = sdk.FunctionSpanData("lookup_order", '{"order":%d}' % t,
                                            "order %d: delivered, $19.99" % t)
            sdk.Span(proc, tr, data, agent).start().finish()
        agent.finish()
        tr.finish()

    async def one_trace_async(self, t, k):
        sdk, proc = self.sdk, self.proc
        tr = sdk.Trace(proc, "bench-%d" % t, group_id="thread_%d" % (t % 100),
                       metadata={"customer": "c-%d" % t})
        tr.start()
        agent = sdk.Span(proc, tr, sdk.AgentSpanData(
            "Triage", handoffs=["Billing"], tools=["lookup_order"], output_type="text")).start()
        for i in range(1, k):
            if i % 2:
                data = sdk.GenerationSpanData(input=MESSAGES, output=OUTPUT, model="gpt-4.1",
                                              model_config=MODEL_CONFIG, usage=USAGE)
            else:
                data = sdk.FunctionSpanData("lookup_order", '{"order":%d}' % t,
                                            "order %d: delivered, $19.99" % t)
            s = sdk.Span(proc, tr, data, agent).start()
            await asyncio.sleep(0)  # the model call / the tool
            s.finish()
        agent.finish()
        tr.finish()


class _NullProcessor:
    def on_trace_start(self, trace):
        pass

    def on_trace_end(self, trace):
        pass

    def on_span_start(self, span):
        pass

    def on_span_end(self, span):
        pass


class RealSDK:
    def __init__(self):
        import agents  # noqa: F401
        from agents import tracing

        self.t = tracing
        try:
            import importlib.metadata as md

            ver = md.version("openai-agents")
        except Exception:
            ver = "?"
        self.label = "openai-agents %s (the real SDK)" % ver
        os.environ.pop("OPENAI_AGENTS_DISABLE_TRACING", None)
        try:
            tracing.set_tracing_disabled(False)
        except Exception:
            pass

    def set_processor(self, proc):
        self.t.set_trace_processors([proc] if proc is not None else [])

    def batch(self, capacity=8192):
        from agents.tracing.processors import BatchTraceProcessor

        exp = CountingExporter()
        return (BatchTraceProcessor(exp, max_queue_size=capacity), exp,
                "agents.tracing.processors.BatchTraceProcessor")

    def _spans(self, t, k):
        tr = self.t
        for i in range(1, k):
            if i % 2:
                yield tr.generation_span(input=MESSAGES, output=OUTPUT, model="gpt-4.1",
                                         model_config=MODEL_CONFIG, usage=USAGE)
            else:
                yield tr.function_span("lookup_order", input='{"order":%d}' % t,
                                       output="order %d: delivered, $19.99" % t)

    def one_trace(self, t, k):
        tr = self.t
        with tr.trace("bench-%d" % t, group_id="thread_%d" % (t % 100),
                      metadata={"customer": "c-%d" % t}):
            with tr.agent_span("Triage", handoffs=["Billing"], tools=["lookup_order"],
                               output_type="text"):
                for cm in self._spans(t, k):
                    with cm:
                        pass

    async def one_trace_async(self, t, k):
        tr = self.t
        with tr.trace("bench-%d" % t, group_id="thread_%d" % (t % 100),
                      metadata={"customer": "c-%d" % t}):
            with tr.agent_span("Triage", handoffs=["Billing"], tools=["lookup_order"],
                               output_type="text"):
                for cm in self._spans(t, k):
                    with cm:
                        await asyncio.sleep(0)


def make_sdk(force_double):
    if not force_double:
        try:
            return RealSDK()
        except ImportError:
            pass
    return DoubleSDK()


class TimedProcessor:
    """Wraps a processor; records how long each hook held the caller."""

    def __init__(self, inner):
        self.inner = inner
        self.worst = 0.0
        self.worst_hook = ""
        self.trace_end = []

    def _time(self, name, fn, obj):
        t0 = perf()
        fn(obj)
        d = perf() - t0
        if d > self.worst:
            self.worst, self.worst_hook = d, name
        return d

    def on_trace_start(self, trace):
        self._time("on_trace_start", self.inner.on_trace_start, trace)

    def on_trace_end(self, trace):
        self.trace_end.append(self._time("on_trace_end", self.inner.on_trace_end, trace))

    def on_span_start(self, span):
        self._time("on_span_start", self.inner.on_span_start, span)

    def on_span_end(self, span):
        self._time("on_span_end", self.inner.on_span_end, span)

    def force_flush(self):
        self.inner.force_flush()

    def shutdown(self, timeout=None):
        self.inner.shutdown()


# ---------------------------------------------------------------------------
# one case, in a child process
# ---------------------------------------------------------------------------
def child(spec):
    binding = spec["binding"]
    sys.path.insert(0, binding)
    sdk = make_sdk(spec["double"])
    mode, n_traces, k = spec["mode"], spec["traces"], spec["per_trace"]
    out = {"sdk": sdk.label}
    proc, stored, close, db = None, None, None, None
    if mode == "none":
        pass
    elif mode in ("batch", "batch-all"):
        # batch-all: a queue no run fills, so it drops nothing and exports
        # every span (what storing every span costs the SDK's processor)
        proc, exp, out["batch"] = sdk.batch(1 << 20 if mode == "batch-all" else 8192)
        stored = lambda e=exp: e.items  # noqa: E731
        close = proc.shutdown
    else:
        if mode == "async-json":
            os.environ["TRACEBOX_PYTHON_JSON"] = "stdlib"
            mode = "async"
        import tracebox
        import tracebox.processor

        out["library"] = tracebox.library_version()
        out["encoder"] = getattr(tracebox.processor, "JSON_ENCODER", "json")
        db = os.path.join(spec["tmp"], "%s-%d.db" % (mode, os.getpid()))
        try:
            proc = tracebox.OutboxProcessor(db, durability=mode)
        except ValueError:
            out["unsupported"] = True
            print(json.dumps(out))
            return
        stored = lambda p=proc: p.stats["written"]  # noqa: E731
        close = proc.shutdown
    timed = None
    if spec["asyncio"] and proc is not None:
        timed = proc = TimedProcessor(proc)
    sdk.set_processor(proc)
    gc.collect()
    if spec["asyncio"]:
        t_run, lag = run_asyncio(sdk, n_traces, k, spec["tasks"])
        out["worst_lag_ms"] = lag * 1e3
    else:
        t0, c0 = perf(), time.thread_time()
        for t in range(n_traces):
            sdk.one_trace(t, k)
        t_run, cpu = perf() - t0, time.thread_time() - c0
        out["cpu_us"] = cpu / (n_traces * k) * 1e6
    t0 = perf()
    if proc is not None:
        proc.force_flush()
    out["drain_ms"] = (perf() - t0) * 1e3
    n_spans = n_traces * k
    out["us"] = t_run / n_spans * 1e6
    out["us_drained"] = (t_run * 1e6 + out["drain_ms"] * 1e3) / n_spans
    out["expected"] = n_spans + n_traces
    if timed is not None:
        out["worst_hook_ms"] = timed.worst * 1e3
        out["worst_hook"] = timed.worst_hook
        te = sorted(timed.trace_end)
        if te:
            out["trace_end_med_ms"] = te[len(te) // 2] * 1e3
            out["trace_end_p99_ms"] = te[min(len(te) - 1, int(len(te) * 0.99))] * 1e3
            out["trace_end_max_ms"] = te[-1] * 1e3
    if close is not None:
        close()
        sdk.set_processor(None)
        out["stored"] = stored()
        if mode in ("batch", "batch-all"):
            out["dropped"] = getattr(timed.inner if timed else proc, "dropped", None)
    if db is not None:
        con = sqlite3.connect(db)
        try:
            out["rows"] = con.execute("SELECT count(*) FROM records").fetchone()[0]
        finally:
            con.close()
    print(json.dumps(out))


def run_asyncio(sdk, n_traces, k, tasks):
    async def main():
        stop = asyncio.Event()
        worst = [0.0]

        async def ticker():
            while not stop.is_set():
                t0 = perf()
                await asyncio.sleep(0.001)
                late = perf() - t0 - 0.001
                if late > worst[0]:
                    worst[0] = late

        next_t = [0]

        async def worker():
            while next_t[0] < n_traces:
                t = next_t[0]
                next_t[0] += 1
                await sdk.one_trace_async(t, k)
                await asyncio.sleep(0)

        tick = asyncio.ensure_future(ticker())
        await asyncio.sleep(0)
        t0 = perf()
        await asyncio.gather(*(worker() for _ in range(tasks)))
        took = perf() - t0
        stop.set()
        await tick
        return took, worst[0]

    return asyncio.run(main())


# ---------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------
def run_child(spec, timeout):
    env = dict(os.environ)
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)],
                       capture_output=True, text=True, env=env, timeout=timeout)
    if p.returncode != 0:
        sys.stderr.write(p.stderr[-4000:])
        raise SystemExit("bench child failed: %s %s" % (spec["mode"], spec["binding"]))
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["stderr_lines"] = len(p.stderr.splitlines())
    return res


def summarise(results):
    us = [r["us"] for r in results]
    return {"us": statistics.median(us), "all": us, "r": results}


def print_table(title, rows, batch, base, asyncio_cols):
    def med(r, key):
        xs = [x[key] for x in r if key in x]
        return statistics.median(xs) if xs else None

    def spread(r, key, f="%.1f"):
        xs = [x[key] for x in r if key in x]
        if not xs:
            return ""
        m = (f % statistics.median(xs))
        return m + ((" (" + f + "–" + f + ")") % (min(xs), max(xs)) if len(xs) > 1 else "")

    print("\n## %s\n" % title)
    if asyncio_cols:
        cols = ["processor", "µs/span", "× batch", "µs over none", "worst hook (ms)",
                "trace end median / p99 / max (ms)", "worst loop lag (ms)", "stored"]
    else:
        cols = ["processor", "µs/span", "× batch", "µs over none", "µs/span with drain",
                "× batch with drain", "CPU µs/span (this thread)", "drain (ms)", "stored"]
    print("| " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * (len(cols) - 1))
    for name, s in rows:
        if s is None:
            print("| %s | n/a (not in this binding) |%s" % (name, " |" * (len(cols) - 2)))
            continue
        r = s["r"]
        cells = [name, spread(r, "us"),
                 "%.2f×" % (s["us"] / batch["us"]) if batch else "",
                 "%.1f" % (s["us"] - base["us"]) if base else ""]
        if asyncio_cols:
            cells.append(spread(r, "worst_hook_ms", "%.2f"))
            if med(r, "trace_end_med_ms") is not None and name.startswith("tracebox `trace`"):
                cells.append("%.2f / %.2f / %.2f" % (med(r, "trace_end_med_ms"),
                                                     med(r, "trace_end_p99_ms"),
                                                     max(x["trace_end_max_ms"] for x in r)))
            else:
                cells.append("")
            cells.append(spread(r, "worst_lag_ms", "%.2f"))
        else:
            d = med(r, "us_drained")
            bd = med(batch["r"], "us_drained") if batch else None
            cells += [spread(r, "us_drained"), "%.2f×" % (d / bd) if bd else "",
                      spread(r, "cpu_us"), "%.0f" % med(r, "drain_ms")]
        if "stored" in r[0]:
            st = sorted({x["stored"] for x in r})
            extra = ""
            if r[0].get("dropped") is not None:
                extra = ", dropped %s" % "/".join(str(x["dropped"]) for x in r)
            if "rows" in r[0] and any(x["rows"] != x["expected"] for x in r):
                extra += ", rows %s" % "/".join(str(x["rows"]) for x in r)
            cells.append("%s of %d%s" % ("/".join(map(str, st)), r[0]["expected"], extra))
        else:
            cells.append("")
        print("| " + " | ".join(cells) + " |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--spans", type=int)
    ap.add_argument("--per-trace", type=int, default=10)
    ap.add_argument("--async-spans", type=int)
    ap.add_argument("--tasks", type=int, default=32)
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--modes", default=",".join(ALL_MODES))
    ap.add_argument("--no-asyncio", action="store_true")
    ap.add_argument("--double", action="store_true", help="use the SDK double even when the "
                    "real SDK is importable")
    ap.add_argument("--binding", default=DEFAULT_BINDING)
    ap.add_argument("--compare")
    ap.add_argument("--library")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per case")
    a = ap.parse_args()
    if a.child:
        child(json.loads(a.child))
        return

    if a.library:
        os.environ["TRACEBOX_LIBRARY"] = os.path.abspath(a.library)
    elif not os.environ.get("TRACEBOX_LIBRARY"):
        cand = os.path.join(ROOT, "build", "release", "libtracebox.so")
        if os.path.exists(cand):
            os.environ["TRACEBOX_LIBRARY"] = cand
    spans = a.spans or (2000 if a.quick else 20000)
    k = max(2, a.per_trace)
    n_traces = max(1, round(spans / k))
    a_spans = a.async_spans or max(k, spans // 4)
    a_traces = max(1, round(a_spans / k))
    rounds = a.rounds or (1 if a.quick else 3)
    modes = a.modes.split(",")
    for m in modes:
        if m not in ALL_MODES:
            raise SystemExit("unknown mode %s (one of %s)" % (m, ",".join(ALL_MODES)))
    bindings = [("", os.path.abspath(a.binding))]
    if a.compare:
        bindings = [(" [%s]" % os.path.abspath(a.compare), os.path.abspath(a.compare)),
                    (" [%s]" % os.path.abspath(a.binding), os.path.abspath(a.binding))]

    tmp = tempfile.mkdtemp(prefix="tracebox-bench-py-")
    # SIGTERM ends the run through the finally below (the temporary files go)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        sdk = make_sdk(a.double)
        print("# tracebox Python binding: %d spans (%d traces of %d), %d round(s), median shown "
              "(min–max)" % (n_traces * k, n_traces, k, rounds))
        print("Python %s, %d CPUs, spans made through the %s; libtracebox %s" % (
            platform.python_version(), os.cpu_count() or 0, sdk.label,
            os.environ.get("TRACEBOX_LIBRARY", "(system search)")))
        if isinstance(sdk, DoubleSDK):
            print("The BatchTraceProcessor row is a STAND-IN (the real SDK is not importable): "
                  "a copy of what agents.tracing.processors.BatchTraceProcessor does per span.")
        sections = [("create + end, one thread", False, n_traces)]
        if not a.no_asyncio:
            sections.append(("asyncio: %d tasks on one loop, %d spans (%d traces of %d), one span "
                             "end per loop step" % (a.tasks, a_traces * k, a_traces, k),
                             True, a_traces))
        for title, is_async, traces in sections:
            cases = []
            for m in modes:
                if m in TRACEBOX_MODES:
                    cases += [(m, b) for b in bindings]
                else:
                    cases.append((m, bindings[-1]))
            res = {c: [] for c in cases}
            # warm-up (page cache, imports), not measured
            for m, b in cases:
                run_child({"mode": m, "binding": b[1], "traces": max(2, traces // 20),
                           "per_trace": k, "tmp": tmp, "double": a.double,
                           "asyncio": is_async, "tasks": a.tasks}, a.timeout)
            for _ in range(rounds):
                for m, b in cases:
                    res[(m, b)].append(run_child(
                        {"mode": m, "binding": b[1], "traces": traces, "per_trace": k,
                         "tmp": tmp, "double": a.double, "asyncio": is_async,
                         "tasks": a.tasks}, a.timeout))
                    for f in os.listdir(tmp):
                        os.unlink(os.path.join(tmp, f))
            summ = {}
            for c, rs in res.items():
                summ[c] = None if any(r.get("unsupported") for r in rs) else summarise(rs)
            batch = next((summ[c] for c in cases if c[0] == "batch"), None)
            none = next((summ[c] for c in cases if c[0] == "none"), None)
            rows = []
            for m, b in cases:
                if m == "none":
                    name = "no processor"
                elif m in ("batch", "batch-all"):
                    r0 = res[(m, b)][0]
                    name = ("BatchTraceProcessor" if "stand-in" not in r0.get("batch", "")
                            else "BatchTraceProcessor (stand-in)")
                    if m == "batch-all":
                        name += ", queue of 1 048 576 (drops nothing)"
                else:
                    enc = res[(m, b)][0].get("encoder", "json").split()[0]
                    name = "tracebox `%s` (%s)%s" % (m.replace("-json", ""), enc, b[0])
                rows.append((name, summ[(m, b)]))
            print_table(title, rows, batch, none, is_async)
        print("\nµs/span: create + end of every span and trace, per span (wall time). × batch: "
              "against the BatchTraceProcessor row of the same run. drain: force_flush after the "
              "last span (tracebox: committed; batch: exported; what the batch processor dropped "
              "is never exported); 'with drain' adds it. CPU µs/span: the thread making the "
              "spans (time.thread_time), without the time it waited. worst hook: the longest "
              "single processor call on the loop thread; worst loop lag: how late a 1 ms ticker "
              "task woke. Figures vary between runs and machines (the medians of interleaved "
              "rounds, min–max beside them); compare the ratios.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
