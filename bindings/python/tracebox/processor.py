"""OutboxProcessor: an OpenAI Agents SDK TracingProcessor that writes every
trace (at start) and span (at end) into a tracebox outbox file."""

import ctypes
import json
import logging
import os
import threading

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


def _json_default(o):
    # The SDK's export dicts are plain JSON; anything else (a datetime in user
    # metadata, say) is kept as its string form rather than losing the record.
    return str(o)


try:  # subclass the SDK's ABC when the SDK is installed (for type checkers)
    from agents.tracing import TracingProcessor as _Base
except Exception:  # the SDK is optional: the protocol is duck-typed
    _Base = object


class OutboxProcessor(_Base):
    """A TracingProcessor for the OpenAI Agents SDK (Python).

        from agents import add_trace_processor
        import tracebox
        add_trace_processor(tracebox.OutboxProcessor("traces.db"))

    on_trace_start stores trace.export(); on_span_end stores span.export();
    the other hooks do nothing. With durability "full" (the default) each
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
        self.put(record)

    def _put(self, record):
        if isinstance(record, (bytes, bytearray)):
            data = bytes(record)
        elif isinstance(record, str):
            data = record.encode("utf-8")
        else:
            data = json.dumps(
                record, ensure_ascii=False, separators=(",", ":"), default=_json_default
            ).encode("utf-8")
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


def _record_id(record):
    if isinstance(record, dict):
        return repr(record.get("id"))
    return "(json text)"
