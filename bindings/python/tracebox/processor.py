"""OutboxProcessor: an OpenAI Agents SDK TracingProcessor that writes every
trace (at start) and span (at end) into a tracebox outbox file."""

import array
import atexit
import collections
import ctypes
import dataclasses
import json
import json.encoder
import itertools
import logging
import math
import os
import threading
import time
import weakref
import uuid
from enum import Enum

from . import _lib

logger = logging.getLogger("tracebox")

# "trace" is the binding's: records are queued as in "async", and
# on_trace_end waits for their commit (the C outbox is opened "normal")
_ASYNC, _TRACE = 2, 3
_DURABILITY = {"full": 0, "normal": 1, "async": _ASYNC, "trace": _TRACE}
_DURABILITY_NAME = {v: k for k, v in _DURABILITY.items()}
_C_DURABILITY = {0: 0, 1: 1, _ASYNC: 2, _TRACE: 1}
_QUEUE_POLICY = {"block": 0, "drop": 1}
_FULL_POLICY = {"refuse": 0, "purge_delivered": 1, "purge-delivered": 1}


def _enum(value, table, what):
    if isinstance(value, int) and value in table.values():
        return value
    try:
        return table[str(value).lower()]
    except KeyError:
        raise ValueError(
            "tracebox: %s must be one of %s, not %r" % (what, ", ".join(sorted(table)), value)
        ) from None


def _dump_model(o):
    """A pydantic model (or look-alike) as JSON-ready data, the way the openai
    client writes one (its BaseModel.to_dict): API names (aliases), the
    fields the API sent, nulls included, and unknown fields it sent; not the
    defaults of fields it did not send. Raises when `o` is not a model or
    cannot be dumped."""
    if hasattr(o, "__pydantic_serializer__"):  # pydantic 2
        return o.model_dump(mode="json", by_alias=True, exclude_unset=True, warnings=False)
    dump = getattr(o, "model_dump", None)  # openai's shim over pydantic 1, look-alikes
    if callable(dump):
        try:
            return dump(mode="json", by_alias=True, exclude_unset=True)
        except TypeError:  # a look-alike without these keywords
            return dump()
    dump = getattr(o, "dict", None)  # pydantic 1
    if callable(dump) and not isinstance(o, dict):
        try:
            return dump(by_alias=True, exclude_unset=True)
        except TypeError:
            return dump()
    raise TypeError("%s is not a model" % type(o).__name__)


def _json_default(o):
    # The SDK's export dicts are plain JSON. A pydantic model (an input item,
    # say) is written as its JSON; anything else (a datetime in user
    # metadata, a model that cannot be dumped) as its string form rather
    # than losing the record.
    if isinstance(o, Enum):
        return o.value
    try:
        return _dump_model(o)
    except Exception:
        pass
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    return str(o)


# Encoding a record (the per-span path): one json.dumps in C, no walk in
# Python. Only a record JSON cannot carry takes the slow path:
# - a non-finite number (json.dumps would write NaN/Infinity, which JSON
#   lacks): _sanitised() copies the record with null in its place, as
#   JavaScript's JSON.stringify does;
# - a lone surrogate (str can hold one, UTF-8 cannot): replaced by U+FFFD in
#   the encoded text (a high+low pair held as two code points becomes the
#   character it encodes).
_json_encoder = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default
)
try:
    # The C encoder json.dumps builds on every call, built once: no
    # per-call setup and no markers dict (a circular reference then ends in
    # RecursionError, which _encode_record sends to _sanitised, where it
    # becomes the same ValueError as before)
    _c_encode = json.encoder.c_make_encoder(
        None, _json_default, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
    if _c_encode is None:  # pragma: no cover - a Python without _json
        raise TypeError

    def _dumps(o, _enc=_c_encode, _join="".join):
        if o.__class__ is str:  # as JSONEncoder.encode
            return json.encoder.encode_basestring(o)
        return _join(_enc(o, 0))

    _dumps({"check": [1, 2.5, None, True, "x\u00e9"]})
except Exception:  # pragma: no cover - an interpreter without the C encoder
    _dumps = _json_encoder.encode
_NONFINITE_KEY = {float("inf"): "Infinity", float("-inf"): "-Infinity"}

# orjson, when the application has it (it is optional: `pip install orjson`),
# encodes a record about four times faster than the json module, and the
# async helper encodes on a thread that holds the GIL the application needs.
# It writes what the json path writes, with two exceptions that keep the
# value: a number in exponent form is written as orjson writes it (1e-7 for
# 1e-07), and a float subclass is written as its float. Values are routed so
# that nothing else differs: datetimes and dataclasses go to _json_default,
# as in the json path; whatever orjson refuses (a lone surrogate, an integer
# beyond 64 bits, a key that is not a string, nesting past 254 levels) takes
# the json path. TRACEBOX_PYTHON_JSON=stdlib turns it off.
try:
    if os.environ.get("TRACEBOX_PYTHON_JSON", "").lower() == "stdlib":
        raise ImportError("turned off")
    import orjson as _orjson

    _ORJSON_OPT = _orjson.OPT_PASSTHROUGH_DATETIME | _orjson.OPT_PASSTHROUGH_DATACLASS

    def _orjson_default(o):
        if isinstance(o, float):  # a float subclass (numpy.float64): its value
            return float(o)
        return _json_default(o)

    def _fast_dumps(o, _d=_orjson.dumps, _default=_orjson_default, _opt=_ORJSON_OPT):
        try:
            return _d(o, default=_default, option=_opt)
        except Exception:  # orjson.JSONEncodeError (or anything): the json path decides
            return None

    if _fast_dumps({"check": [1, 2.5, None, True, "x\u00e9"]}) is None:
        raise ImportError("orjson does not work here")
    JSON_ENCODER = "orjson %s" % getattr(_orjson, "__version__", "?")
except Exception:
    _fast_dumps = None
    JSON_ENCODER = "json (the standard library)"

# A response's JSON comes straight from pydantic's serializer (half the cost
# of model_dump + json.dumps): the record is encoded with this string in its
# place, then the text replaces it. The string has NULs and a random part: no
# value in a record holds it.
_SLOT = "\x00tracebox:raw:%s\x00" % uuid.uuid4().hex
_SLOT_JSON = _dumps(_SLOT)
_SLOT_JSON_BYTES = _SLOT_JSON.encode("ascii")


def _sanitised(o, _active=None):
    """A copy of `o` with every non-finite float replaced by None (a key: by
    its JavaScript name), keys json refuses by their str(), and every value
    json cannot write natively passed through _json_default. Raises
    ValueError on a circular reference."""
    if o is None or isinstance(o, (str, int)):  # bool is an int
        return o
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if _active is None:
        _active = set()
    if isinstance(o, (dict, list, tuple)):
        if id(o) in _active:
            raise ValueError("Circular reference detected")
        _active.add(id(o))
        try:
            if isinstance(o, dict):
                out = {}
                for k, v in o.items():
                    if isinstance(k, float):
                        if not math.isfinite(k):
                            k = _NONFINITE_KEY.get(k, "NaN")
                    elif not (k is None or isinstance(k, (str, int))):
                        k = str(k)  # a key json refuses (a tuple, say)
                    out[k] = _sanitised(v, _active)
                return out
            return [_sanitised(v, _active) for v in o]
        finally:
            _active.discard(id(o))
    if id(o) in _active:
        raise ValueError("Circular reference detected")
    _active.add(id(o))
    try:
        return _sanitised(_json_default(o), _active)
    finally:
        _active.discard(id(o))


def _utf8(text):
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates -> U+FFFD
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").encode(
            "utf-8"
        )


def _encode_record(record, raw=None):
    """The UTF-8 JSON bytes stored for `record` (a dict, JSON text or bytes);
    `raw` is JSON text that takes the place of the _SLOT value in it."""
    if record.__class__ is not dict:  # (the per-span case first)
        if isinstance(record, (bytes, bytearray)):
            return bytes(record)
        if isinstance(record, str):
            return _utf8(record)
    if _fast_dumps is not None:
        data = _fast_dumps(record)
        if data is not None:
            if raw is not None:
                data = data.replace(_SLOT_JSON_BYTES, _utf8(raw), 1)
            return data
    try:
        text = _dumps(record)
    except (ValueError, TypeError, RecursionError):
        # a non-finite number, a key json refuses, a circular reference
        # (which raises ValueError from _sanitised)
        text = _dumps(_sanitised(record))
    if raw is not None:
        text = text.replace(_SLOT_JSON, raw, 1)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return _utf8(text)


def _response_json(o):
    """The JSON text pydantic 2 writes for a model (as _dump_model would
    dump it), or None where that path does not apply or fails (a lone
    surrogate, say; the caller then dumps it to data)."""
    if not hasattr(o, "__pydantic_serializer__"):
        return None
    try:
        text = o.model_dump_json(by_alias=True, exclude_unset=True, warnings=False)
    except Exception:
        return None
    # pydantic writes non-finite numbers as null unless a model's config says
    # otherwise: then (or for such a word in a string) take the data path
    if "NaN" in text or "Infinity" in text:
        return None
    return text


def _extension_value(value):
    """An extension field's value as JSON-ready data. Raises when it is
    neither JSON-ready nor a model that can be dumped."""
    if isinstance(value, (str, list, dict, int, float)):
        return value  # models nested in it are dumped by _json_default
    if isinstance(value, tuple):
        return list(value)
    return _dump_model(value)


def _with_response_extensions(span, record, exported):
    """(record, raw) for a response span: the record plus the documented
    extension fields span_data.response (the Responses API object as JSON)
    and span_data.input (its input), each only when the SDK set it and
    export() does not carry it; raw is the response's JSON text when it
    stands in the record as _SLOT. The export's own fields are left as
    they are."""
    data = getattr(span, "span_data", None)
    response = getattr(data, "response", None)
    inp = getattr(data, "input", None)
    raw = None
    if response is None and inp is None:
        return record, raw
    sd = dict(exported)  # export() may hand out a dict it keeps
    for key, value in (("response", response), ("input", inp)):
        if value is None or key in sd:
            continue
        if key == "response":
            raw = _response_json(value)
            if raw is not None:
                sd[key] = _SLOT
                continue
        try:
            sd[key] = _extension_value(value)
        except Exception as e:
            logger.warning(
                "span %s: span_data.%s (%s %s) cannot be written as JSON (%s: %s); "
                "storing the span without it",
                record.get("id"),
                key,
                type(value).__name__,
                getattr(value, "id", ""),
                type(e).__name__,
                e,
            )
    record = dict(record)
    record["span_data"] = sd
    return record, raw


try:  # subclass the SDK's ABC when the SDK is installed (for type checkers)
    from agents.tracing import TracingProcessor as _Base
except Exception:  # the SDK is optional: the protocol is duck-typed
    _Base = object


_TB_BUSY = 7
_RAISED = object()  # what _export_raw returns when export() raised
# A batch the helper hands to tb_outbox_put_json_many at most: bounds how
# long it holds the GIL building the arrays (the C call itself releases it).
_MAX_BATCH = 512
_INTS_PER_RESULT = ctypes.sizeof(_lib.PutResult) // ctypes.sizeof(ctypes.c_int)


def _array_code(size):
    """The `array` type code of an unsigned integer of `size` bytes."""
    for code in "BHILQ":
        if array.array(code).itemsize == size:
            return code
    raise RuntimeError("no array type code for %d-byte integers" % size)


_SIZE_T_CODE = _array_code(ctypes.sizeof(ctypes.c_size_t))
_PTR_CODE = _array_code(ctypes.sizeof(ctypes.c_void_p))


class OutboxProcessor(_Base):
    """A TracingProcessor for the OpenAI Agents SDK (Python).

        from agents import add_trace_processor
        import tracebox
        add_trace_processor(tracebox.OutboxProcessor("traces.db"))

    on_trace_start stores trace.export(); on_span_end stores span.export(),
    plus, for a response span, the extension fields span_data.response (the
    Responses API object as the API's JSON) and span_data.input (the model
    input) when the SDK set them. Non-finite numbers are stored as null and
    lone surrogates as U+FFFD; ids of any shape are stored as given. The
    other hooks do nothing, except on_trace_end with durability "trace".

    durability:
      "full" (default)  each hook returns after its record is committed to
                        disk (synchronous=FULL; concurrent threads share one
                        commit);
      "normal"          the same with synchronous=NORMAL (survives a process
                        crash, not a power cut);
      "async"           a hook encodes the record and queues it in memory; a
                        helper thread commits the queue (synchronous=NORMAL)
                        within flush_interval_ms;
      "trace"           as "async", and on_trace_end returns once every record
                        queued before it (the trace and its ended spans) is
                        committed: one commit per trace, made off the calling
                        thread. For event loops (asyncio): the durable point
                        is the trace's end.

    Nothing here raises into the agent run: failures are logged on the
    "tracebox" logger and counted in .stats. The constructor does raise
    (TraceboxError) when the library cannot be loaded or the file cannot be
    opened: that is setup, not the agent run.
    """

    def __init__(
        self,
        path,
        durability="full",
        *,
        busy_timeout_ms=None,
        max_size=None,
        full_policy=None,
        queue_capacity=None,
        queue_policy=None,
        flush_interval_ms=None,
    ):
        self._lib = _lib.load_library()
        self.path = os.fspath(path)
        mode = _enum(durability, _DURABILITY, "durability")
        self.durability = _DURABILITY_NAME[mode]
        opts = _lib.OutboxOptions.defaults()
        opts.durability = _C_DURABILITY[mode]
        if busy_timeout_ms is not None:
            opts.busy_timeout_ms = int(busy_timeout_ms)
        if max_size is not None:
            opts.max_size = int(max_size)
        if full_policy is not None:
            opts.full_policy = _enum(full_policy, _FULL_POLICY, "full_policy")
        if queue_capacity is not None:
            opts.queue_capacity = int(queue_capacity)
        if queue_policy is not None:
            opts.queue_policy = _enum(queue_policy, _QUEUE_POLICY, "queue_policy")
        if flush_interval_ms is not None:
            opts.flush_interval_ms = int(flush_interval_ms)
        handle = ctypes.c_void_p()
        st = self._lib.tb_outbox_open(
            ctypes.byref(handle), os.fsencode(self.path), ctypes.byref(opts)
        )
        if st != _lib.TB_OK or not handle.value:
            raise _lib.TraceboxError(
                "tracebox: cannot open outbox %s: %s (%s)"
                % (self.path, _lib.last_error(self._lib, st), _lib.status_name(st)),
                st,
            )
        self._handle = handle
        self._put_json = self._lib.tb_outbox_put_json
        # Calls into the C outbox run without any Python lock (ctypes drops
        # the GIL), so threads commit together. The condition guards close
        # against calls still in flight, and the counters.
        self._cv = threading.Condition(threading.Lock())
        self._active = 0
        self._closed = False
        self._stats = {"written": 0, "failed": 0, "skipped": 0}
        # async / trace: the hooks append encoded records (bytes) to _q and
        # return; the helper thread hands them to tb_outbox_put_json_many in
        # batches (committed when it returns). A barrier (a held lock) in
        # _q is released once everything queued before it is committed.
        self._deferred = mode in (_ASYNC, _TRACE)
        self._wait_at_trace_end = mode == _TRACE
        self._capacity = opts.queue_capacity if opts.queue_capacity > 0 else 8192
        self._drop_when_full = opts.queue_policy == _QUEUE_POLICY["drop"]
        self._interval = (opts.flush_interval_ms if opts.flush_interval_ms > 0 else 5) / 1000.0
        # how long on_trace_end waits for its commit at most (a file another
        # connection keeps locked): the busy timeout, as a full-mode put
        self._trace_wait = (opts.busy_timeout_ms if opts.busy_timeout_ms > 0 else 10000) / 1000.0
        self._new_queue_state()
        _processors.add(self)

    def _new_queue_state(self):
        self._q = collections.deque()
        self._wake = threading.Event()
        self._space = threading.Condition(threading.Lock())
        self._helper = None
        self._helper_lock = threading.Lock()
        # held by whoever takes records off _q until they are written: the
        # helper, or on_trace_end writing what is queued itself
        self._wlock = threading.Lock()
        self._sleeping = False
        self._stopping = False
        self._blocked = 0
        self._results = None
        self._results_cap = 0
        self._retry_wait = 0.0
        self._retry_until = 0.0

    def _after_fork_in_child(self):
        # Only the forking thread came along: calls another thread had in
        # flight will never leave, and the condition may have been held. The
        # C outbox re-arms itself (a fresh connection and writer); the
        # counters start again for this process. Records the parent had
        # queued are the parent's to write; the child starts its own helper
        # at its first record.
        self._cv = threading.Condition(threading.Lock())
        self._active = 0
        self._stats = {"written": 0, "failed": 0, "skipped": 0}
        self._new_queue_state()

    # ---- the TracingProcessor protocol ----
    def on_trace_start(self, trace):
        if self._deferred:
            self._queue_from(trace, "trace")
        else:
            self._put_from(trace, "trace")

    def on_trace_end(self, trace):
        if self._wait_at_trace_end:
            try:
                if not self._commit_queued(self._trace_wait):
                    logger.warning(
                        "trace %s: its records are not committed to %s after %.1f s "
                        "(another connection holding the file locked?); they stay queued",
                        getattr(trace, "trace_id", "?"),
                        self.path,
                        self._trace_wait,
                    )
            except Exception:  # never into the agent run
                logger.exception("on_trace_end failed")

    def on_span_start(self, span):
        pass

    def on_span_end(self, span):
        if self._deferred:
            self._queue_from(span, "span")
        else:
            self._put_from(span, "span")

    def force_flush(self):
        """Wait until every record accepted so far is committed (it already is
        in full/normal mode)."""
        try:
            if self._deferred:
                self._wait_queued(None)
            h = self._enter()
            if h is None:
                return
            try:
                st = self._lib.tb_outbox_flush(h, -1)
                if st != _lib.TB_OK:
                    logger.warning(
                        "flush of %s failed: %s",
                        self.path,
                        _lib.decode(self._lib.tb_outbox_errmsg(h)),
                    )
            finally:
                self._leave()
        except Exception:  # never into the agent run
            logger.exception("force_flush failed")

    def shutdown(self, timeout=None):
        """Flush and close the outbox. Idempotent; later calls to the hooks
        are counted as failed and logged once at debug level each."""
        try:
            with self._cv:
                if self._closed:
                    return
                self._closed = True
            deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
            if self._deferred and not self._stop_helper(deadline):
                logger.warning(
                    "shutdown of %s timed out with %d record(s) still queued; "
                    "leaving the file open",
                    self.path,
                    sum(1 for x in list(self._q) if x.__class__ in (bytes, tuple)),
                )
                return
            with self._cv:
                # Wait for calls in flight (each is bounded by busy_timeout).
                waited = self._cv.wait_for(
                    lambda: self._active == 0,
                    None if deadline is None else max(deadline - time.monotonic(), 0.0),
                )
                handle, self._handle = self._handle, None
            if not waited:
                logger.warning(
                    "shutdown of %s timed out with writes in flight; "
                    "leaving the file open",
                    self.path,
                )
                return
            ms = -1 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            st = self._lib.tb_outbox_flush(handle, ms)
            if st != _lib.TB_OK:
                logger.warning(
                    "final flush of %s: %s",
                    self.path,
                    _lib.decode(self._lib.tb_outbox_errmsg(handle)),
                )
            self._lib.tb_outbox_close(handle)
        except Exception:
            logger.exception("shutdown failed")

    # ---- extras ----
    def put(self, record):
        """Store one export object (a dict or a JSON str) now, on the calling
        thread, durable per the outbox's mode ("trace": as "normal"). Returns
        True when stored; logs and returns False otherwise. Never raises."""
        try:
            return self._put(record)
        except Exception:
            self._count("failed")
            logger.exception("could not store a record")
            return False

    @property
    def stats(self):
        """Counters: written, failed, skipped (export() returned None). In
        async/trace mode a record counts once the helper has committed it (or
        failed to); force_flush() settles them."""
        with self._cv:
            return dict(self._stats)

    @property
    def closed(self):
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()
        return False

    def __repr__(self):
        return "OutboxProcessor(%r%s)" % (self.path, ", closed" if self._closed else "")

    # ---- internals ----
    def _count(self, key, n=1):
        with self._cv:
            self._stats[key] += n

    def _enter(self):
        with self._cv:
            if self._closed:
                return None
            self._active += 1
            return self._handle

    def _leave(self):
        with self._cv:
            self._active -= 1
            if self._active == 0:
                self._cv.notify_all()

    def _export_raw(self, obj, what):
        """obj.export(), or _RAISED (counted and logged here)."""
        try:
            return obj.export()
        except Exception:
            self._count("failed")
            logger.exception("%s.export() raised; record not stored", what)
            return _RAISED

    def _export(self, obj, what):
        """(record, raw) for obj, or None when there is nothing to store
        (counted and logged here)."""
        record = self._export_raw(obj, what)
        return None if record is _RAISED else self._exported(obj, what, record)

    def _exported(self, obj, what, record):
        """_export() after obj.export() returned `record`."""
        if record is None:  # a NoOpTrace/NoOpSpan (tracing disabled)
            self._count("skipped")
            return None
        raw = None
        if what == "span" and isinstance(record, dict):
            sd = record.get("span_data")
            if isinstance(sd, dict) and sd.get("type") == "response":
                try:
                    record, raw = _with_response_extensions(obj, record, sd)
                except Exception:  # the span itself is still stored
                    logger.exception("span %s: extension fields not added", record.get("id"))
        return record, raw

    def _put_from(self, obj, what):
        got = self._export(obj, what)
        if got is None:
            return
        try:
            self._put(*got)
        except Exception:
            self._count("failed")
            logger.exception("could not store a record")

    def _put(self, record, raw=None):
        data = _encode_record(record, raw)
        cv = self._cv
        with cv:
            h = None if self._closed else self._handle
            if h is not None:
                self._active += 1
        if h is None:
            self._count("failed")
            self._warn_closed(record)
            return False
        st = None
        try:
            st = self._put_json(h, data, len(data), None)
            err = None if st == _lib.TB_OK else _lib.decode(self._lib.tb_outbox_errmsg(h))
        finally:
            with cv:  # one lock for leaving and counting
                self._active -= 1
                if st == _lib.TB_OK:
                    self._stats["written"] += 1
                elif st is not None:  # (a raise is counted by the caller)
                    self._stats["failed"] += 1
                if self._closed and self._active == 0:
                    cv.notify_all()
        if st == _lib.TB_OK:
            return True
        logger.error(
            "record %s not stored in %s: %s (%s)",
            _record_id(record),
            self.path,
            err or _lib.decode(self._lib.tb_status_str(st)),
            _lib.status_name(st),
        )
        return False

    def _warn_closed(self, record):
        logger.warning(
            "record %s arrived after shutdown of %s; not stored",
            record if isinstance(record, str) else _record_id(record),
            self.path,
        )

    # ---- async / trace: the queue and its helper thread ----
    def _queue_from(self, obj, what):
        # The per-span path: no lock, no C call, no export: the span object
        # itself goes into the queue, and whoever writes the queue (the
        # helper thread, or on_trace_end in trace mode) calls export() and
        # encodes it, as the SDK's BatchTraceProcessor calls export() on its
        # worker thread. A span is not changed after on_span_end, nor a
        # trace's export fields after on_trace_start.
        if self._closed:
            self._count("failed")
            self._warn_closed(_obj_id(obj))
            return
        try:
            q = self._q
            if len(q) >= self._capacity and not self._make_room(_obj_id(obj)):
                return
            q.append((obj, what))
            if self._helper is None:
                self._start_helper()
            elif self._sleeping or len(q) >= self._capacity >> 1:
                self._wake.set()
        except Exception:  # never into the agent run
            logger.exception("could not queue a record")

    def _make_room(self, record_id):
        """The queue is full: wait for room (policy block) or drop the record
        (policy drop: counted and logged). True when there is room."""
        self._wake.set()
        if self._drop_when_full:
            self._count("failed")
            # and in the file's dropped_queue counter, as the C queue counts
            # its own (no I/O here: written with the next batch)
            h = self._enter()
            if h is not None:
                try:
                    self._lib.tb_outbox_count_dropped(h, 1)
                finally:
                    self._leave()
            logger.error(
                "record %s not stored in %s: async queue full (%d records): record "
                "dropped and counted (TB_FULL)",
                record_id,
                self.path,
                self._capacity,
            )
            return False
        with self._space:
            self._blocked += 1
        try:
            while len(self._q) >= self._capacity and not self._closed:
                if not self._start_helper():
                    # no helper can run (interpreter shutdown): write here
                    self._commit_queued(self._trace_wait)
                    continue
                with self._space:
                    if len(self._q) >= self._capacity and not self._closed:
                        self._wake.set()
                        self._space.wait(0.05)
        finally:
            with self._space:
                self._blocked -= 1
        if self._closed:  # shut down while waiting for room
            self._count("failed")
            self._warn_closed(record_id)
            return False
        return True

    def _start_helper(self):
        """Start the helper thread unless it runs. True when it runs."""
        with self._helper_lock:
            if self._helper is not None:
                return True
            if self._stopping:
                return False
            t = threading.Thread(
                target=self._helper_main, name="tracebox-writer %s" % self.path, daemon=True
            )
            self._helper = t
            try:
                t.start()
            except Exception as e:  # at interpreter shutdown: no new threads
                self._helper = None
                logger.warning("cannot start the tracebox writer thread (%s); records are "
                               "written at trace end, force_flush or shutdown", e)
                return False
            return True

    def _wait_queued(self, timeout):
        """Wait until every record queued before this call is committed (or
        has failed). False when `timeout` (seconds, None: no limit) passed
        first."""
        if self._closed or (not self._q and self._helper is None):
            return True  # (shutdown wrote or counted everything)
        barrier = threading.Lock()
        barrier.acquire()
        self._q.append(barrier)
        if not self._start_helper():  # no helper can run: write here
            return self._commit_queued(timeout)
        self._wake.set()
        return barrier.acquire(True, -1 if timeout is None else max(timeout, 0.0))

    def _stop_helper(self, deadline):
        """Shutdown: let the helper write what is queued and end. False when
        the deadline passed first."""
        with self._helper_lock:
            self._retry_until = time.monotonic() + 2 * self._trace_wait + 1.0
            self._stopping = True
            t = self._helper
        if t is None:
            if self._q:  # no helper could run (interpreter shutdown): write here
                self._write_queued(
                    None if deadline is None else max(deadline - time.monotonic(), 0.0)
                )
                self._drop_leftovers()
            return True
        self._wake.set()
        t.join(None if deadline is None else max(deadline - time.monotonic(), 0.0))
        if t.is_alive():
            return False
        self._drop_leftovers()
        return True

    def _drop_leftovers(self):
        n = 0
        while True:
            try:
                x = self._q.popleft()
            except IndexError:
                break
            if x.__class__ is bytes or x.__class__ is tuple:
                n += 1
            else:
                x.release()
        if n:
            self._count("failed", n)
            logger.warning("%d record(s) arrived after shutdown of %s; not stored", n, self.path)

    def _helper_main(self):
        q = self._q
        wake = self._wake
        idle = 0.0
        # As the C writer: while records keep coming it wakes every
        # flush_interval_ms and writes what is queued (one transaction per
        # _MAX_BATCH), so producers never pay for a wake-up; after a second
        # with nothing to do it sleeps until a producer sets _wake. A queue
        # half full, a barrier (force_flush) or shutdown wakes it at once.
        try:
            while True:
                if q:
                    idle = 0.0
                    retry = False
                    try:
                        left = len(q)
                        while left > 0 and not retry:
                            with self._wlock:
                                taken, retry = self._write_some(q, left)
                            if not taken:
                                break
                            left -= taken
                    except Exception:  # keep going: a barrier may be waiting
                        logger.exception("tracebox writer thread: unexpected error")
                    if retry:
                        # a pause before trying the locked file again (50 ms,
                        # doubling to 1 s, as the C writer does)
                        self._retry_wait = min(max(self._retry_wait * 2, 0.05), 1.0)
                        time.sleep(self._retry_wait)
                        continue
                elif self._stopping:
                    return
                else:
                    idle += self._interval
                if self._stopping:
                    continue
                if idle < 1.0:
                    wake.wait(self._interval)
                else:
                    self._sleeping = True
                    if not q and not self._stopping:
                        wake.wait()
                    self._sleeping = False
                    idle = 0.0
                wake.clear()
        finally:
            with self._helper_lock:
                if self._helper is threading.current_thread():
                    self._helper = None

    def _commit_queued(self, timeout):
        """trace mode's on_trace_end: write what is queued now on this thread
        (ctypes drops the GIL; one commit) after a write in flight on the
        helper. True once every record queued before the call is committed
        (or failed); False when the file is locked or `timeout` passed."""
        if self._closed:
            return True  # (shutdown wrote or counted everything)
        return self._write_queued(timeout)

    def _write_queued(self, timeout):
        if not self._wlock.acquire(True, -1 if timeout is None else max(timeout, 0.0)):
            return False
        try:
            q = self._q
            left = len(q)
            while left > 0:
                popped, retry = self._write_some(q, left)
                if retry:  # the helper tries again
                    self._wake.set()
                    return False
                if not popped:
                    break
                left -= popped
            return True
        finally:
            self._wlock.release()

    def _write_some(self, q, limit):
        """Take up to `limit` entries (at most _MAX_BATCH) off the queue and
        write them (self._wlock held). Returns (taken, retry): retry when the
        file was locked and records went back to the front of the queue."""
        batch = []
        barriers = []
        pop = q.popleft
        taken = 0
        for _ in range(min(len(q), limit, _MAX_BATCH)):
            try:
                x = pop()
            except IndexError:  # (shutdown's leftovers)
                break
            taken += 1
            if x.__class__ is tuple:  # a span or trace queued as it is: export it now
                data = self._encode_queued(*x)
                if data is not None:
                    batch.append(data)
            elif x.__class__ is bytes:  # (put back after a locked file)
                batch.append(x)
            else:
                barriers.append(x)
        if self._blocked:
            with self._space:
                self._space.notify_all()
        retry = self._write_batch(batch) if batch else None
        if retry and self._stopping and time.monotonic() >= self._retry_until:
            # closing, and the file stayed locked (twice the busy timeout, as
            # the C writer gives up): say so, with the count
            self._count("failed", len(retry))
            logger.error(
                "%s stayed locked by another connection while closing: %d acknowledged "
                "record(s) could not be written",
                self.path,
                len(retry),
            )
            retry = None
        if retry:
            # the file is locked by another connection: these records were
            # acknowledged, so they go back to the front of the queue (the
            # barriers behind them too) and are tried again after a pause
            q.extendleft(reversed(retry + barriers))
            return taken, True
        self._retry_wait = 0.0
        for b in barriers:
            b.release()
        return taken, False

    def _encode_queued(self, obj, what):
        """A queued span or trace as the JSON text to store, or None (counted
        and logged: export() raised or returned None, or it did not encode)."""
        record = self._export_raw(obj, what)
        if record is _RAISED:
            return None
        # the helper's common case, without the layers below (they were a
        # fifth of its time holding the GIL): a plain record, not a response
        # span (which gains extension fields), that orjson encodes
        if record.__class__ is dict and _fast_dumps is not None:
            sd = record.get("span_data")
            if not isinstance(sd, dict) or sd.get("type") != "response":
                data = _fast_dumps(record)
                if data is not None:
                    return data
        got = self._exported(obj, what, record)
        if got is None:
            return None
        try:
            return _encode_record(*got)
        except Exception:
            self._count("failed")
            logger.exception("could not store a record")
            return None

    def _write_batch(self, batch):
        """Hand `batch` to tb_outbox_put_json_many (committed when it
        returns); count and log. Returns the records to try again (the file
        was locked), or None."""
        with self._cv:
            h = self._handle
            if h is None:
                self._stats["failed"] += len(batch)
                return None
            self._active += 1
        try:
            n = len(batch)
            if n > self._results_cap:
                cap = max(n, 64)
                self._results = (_lib.PutResult * cap)()
                self._status = (ctypes.c_int * (cap * _INTS_PER_RESULT)).from_buffer(
                    self._results
                )
                self._results_cap = cap
            res = self._results
            # one buffer and two arrays built in C (array, accumulate): a
            # ctypes array made from n objects cost 0.65 µs a record of the
            # helper's time holding the GIL; `text` outlives the call below
            text = b"".join(batch)
            lens = array.array(_SIZE_T_CODE, map(len, batch))
            base = ctypes.cast(ctypes.c_char_p(text), ctypes.c_void_p).value
            ptrs = array.array(_PTR_CODE, itertools.accumulate(lens, initial=base))
            st = self._lib.tb_outbox_put_json_many(
                h,
                (ctypes.c_char_p * (n + 1)).from_buffer(ptrs),
                (ctypes.c_size_t * n).from_buffer(lens),
                n,
                res,
            )
            if st != _lib.TB_OK:
                err = _lib.decode(self._lib.tb_outbox_errmsg(h))
                statuses = None
            else:
                statuses = self._status[0 : n * _INTS_PER_RESULT : _INTS_PER_RESULT]
        finally:
            with self._cv:
                self._active -= 1
                if self._closed and self._active == 0:
                    self._cv.notify_all()
        if statuses is None:
            self._count("failed", n)
            logger.error(
                "%d record(s) not stored in %s: %s (%s)", n, self.path, err, _lib.status_name(st)
            )
            return None
        if not any(statuses):
            self._count("written", n)
            return None
        retry = [batch[i] for i, s in enumerate(statuses) if s == _TB_BUSY]
        bad = 0
        for i, s in enumerate(statuses):
            if s and s != _TB_BUSY:
                bad += 1
                r = res[i]
                logger.error(
                    "record %s not stored in %s: %s (%s)",
                    repr(_lib.decode(r.id)) if r.id else "(json text)",
                    self.path,
                    _lib.decode(r.error) or _lib.decode(self._lib.tb_status_str(s)),
                    _lib.status_name(s),
                )
        with self._cv:
            self._stats["written"] += n - bad - len(retry)
            self._stats["failed"] += bad
        return retry or None


_processors = weakref.WeakSet()


def _rearm_after_fork():
    for p in list(_processors):
        p._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_rearm_after_fork)


@atexit.register
def _flush_at_exit():
    # async / trace: what the helper thread (a daemon) still holds is written
    # before the interpreter goes (shutdown() does this too)
    for p in list(_processors):
        if p._deferred and not p._closed and (p._q or p._helper is not None):
            try:
                p._wait_queued(p._trace_wait)
            except Exception:
                pass


def _obj_id(obj):
    """A queued span's or trace's id for a message (its export is not made
    yet)."""
    for attr in ("span_id", "trace_id"):
        v = getattr(obj, attr, None)
        if isinstance(v, str):
            return repr(v)
    return "(unexported)"


def _record_id(record):
    if isinstance(record, dict):
        return repr(record.get("id"))
    return "(json text)"
