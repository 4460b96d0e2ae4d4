"""OutboxProcessor: an OpenAI Agents SDK TracingProcessor that writes every
trace (at start) and span (at end) into a tracebox outbox file."""

import ctypes
import dataclasses
import json
import logging
import math
import os
import threading
import weakref
import uuid
from enum import Enum

from . import _lib

logger = logging.getLogger("tracebox")

_DURABILITY = {"full": 0, "normal": 1, "async": 2}
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
_dumps = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default
).encode
_NONFINITE_KEY = {float("inf"): "Infinity", float("-inf"): "-Infinity"}

# A response's JSON comes straight from pydantic's serializer (half the cost
# of model_dump + json.dumps): the record is encoded with this string in its
# place, then the text replaces it. The string has NULs and a random part: no
# value in a record holds it.
_SLOT = "\x00tracebox:raw:%s\x00" % uuid.uuid4().hex
_SLOT_JSON = _dumps(_SLOT)


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
    if isinstance(record, (bytes, bytearray)):
        return bytes(record)
    if isinstance(record, str):
        return _utf8(record)
    try:
        text = _dumps(record)
    except (ValueError, TypeError):  # a non-finite number, a key json refuses
        text = _dumps(_sanitised(record))  # (a circular reference raises again)
    if raw is not None:
        text = text.replace(_SLOT_JSON, raw, 1)
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
    other hooks do nothing. With durability "full" (the default) each
    call returns after the record is committed to disk (concurrent threads
    share one commit). Nothing here raises into the agent run: failures are
    logged on the "tracebox" logger and counted in .stats.

    The constructor does raise (TraceboxError) when the library cannot be
    loaded or the file cannot be opened: that is setup, not the agent run.
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
        opts = _lib.OutboxOptions.defaults()
        opts.durability = _enum(durability, _DURABILITY, "durability")
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
        # Calls into the C outbox run without any Python lock (ctypes drops
        # the GIL), so threads commit together. The condition only guards
        # close against calls still in flight.
        self._cv = threading.Condition()
        self._active = 0
        self._closed = False
        self._stats = {"written": 0, "failed": 0, "skipped": 0}
        _processors.add(self)

    def _after_fork_in_child(self):
        # Only the forking thread came along: calls another thread had in
        # flight will never leave, and the condition may have been held. The
        # C outbox re-arms itself (a fresh connection and writer); the
        # counters start again for this process.
        self._cv = threading.Condition()
        self._active = 0
        self._stats = {"written": 0, "failed": 0, "skipped": 0}

    # ---- the TracingProcessor protocol ----
    def on_trace_start(self, trace):
        self._put_from(trace, "trace")

    def on_trace_end(self, trace):
        pass

    def on_span_start(self, span):
        pass

    def on_span_end(self, span):
        self._put_from(span, "span")

    def force_flush(self):
        """Wait until every record accepted so far is committed (it already is
        in full/normal mode)."""
        try:
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
                ms = -1 if timeout is None else max(0, int(timeout * 1000))
                # Wait for calls in flight (each is bounded by busy_timeout).
                waited = self._cv.wait_for(
                    lambda: self._active == 0, None if timeout is None else max(timeout, 0.0)
                )
                handle, self._handle = self._handle, None
            if not waited:
                logger.warning(
                    "shutdown of %s timed out with writes in flight; "
                    "leaving the file open",
                    self.path,
                )
                return
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
        """Store one export object (a dict or a JSON str). Returns True when
        stored; logs and returns False otherwise. Never raises."""
        try:
            return self._put(record)
        except Exception:
            self._count("failed")
            logger.exception("could not store a record")
            return False

    @property
    def stats(self):
        """Counters: written, failed, skipped (export() returned None)."""
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
    def _count(self, key):
        with self._cv:
            self._stats[key] += 1

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

    def _put_from(self, obj, what):
        try:
            record = obj.export()
        except Exception:
            self._count("failed")
            logger.exception("%s.export() raised; record not stored", what)
            return
        if record is None:  # a NoOpTrace/NoOpSpan (tracing disabled)
            self._count("skipped")
            return
        raw = None
        if what == "span" and isinstance(record, dict):
            sd = record.get("span_data")
            if isinstance(sd, dict) and sd.get("type") == "response":
                try:
                    record, raw = _with_response_extensions(obj, record, sd)
                except Exception:  # the span itself is still stored
                    logger.exception("span %s: extension fields not added", record.get("id"))
        try:
            self._put(record, raw)
        except Exception:
            self._count("failed")
            logger.exception("could not store a record")

    def _put(self, record, raw=None):
        data = _encode_record(record, raw)
        h = self._enter()
        if h is None:
            self._count("failed")
            logger.warning(
                "record %s arrived after shutdown of %s; not stored",
                _record_id(record),
                self.path,
            )
            return False
        try:
            st = self._lib.tb_outbox_put_json(h, data, len(data), None)
            err = None if st == _lib.TB_OK else _lib.decode(self._lib.tb_outbox_errmsg(h))
        finally:
            self._leave()
        if st == _lib.TB_OK:
            self._count("written")
            return True
        self._count("failed")
        logger.error(
            "record %s not stored in %s: %s (%s)",
            _record_id(record),
            self.path,
            err or _lib.decode(self._lib.tb_status_str(st)),
            _lib.status_name(st),
        )
        return False


_processors = weakref.WeakSet()


def _rearm_after_fork():
    for p in list(_processors):
        p._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_rearm_after_fork)


def _record_id(record):
    if isinstance(record, dict):
        return repr(record.get("id"))
    return "(json text)"
