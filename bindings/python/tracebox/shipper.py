"""Shipper: the C shipper thread (delivery from the outbox to every
configured destination), started and stopped from Python; ship_once: one
drain, like `tracebox ship --once`."""

import atexit
import ctypes
import logging
import os
import threading
import weakref

from . import _lib

logger = logging.getLogger("tracebox")

_live = weakref.WeakSet()
_live_lock = threading.Lock()


def _stop_all_at_exit():
    with _live_lock:
        shippers = list(_live)
    for s in shippers:
        s.stop(timeout=5.0)


atexit.register(_stop_all_at_exit)


def _forget_parents_shippers():
    # A forked child has none of the parent's shipper threads: its copies
    # stop at once (the C library knows) and are not stopped again at exit;
    # the locks another thread may have held are made new.
    global _live, _live_lock
    for s in list(_live):
        s._lock = threading.Lock()
    _live = weakref.WeakSet()
    _live_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parents_shippers)


class _Config:
    """An owned tb_config*."""

    def __init__(self, lib, config=None, config_text=None):
        self._lib = lib
        handle = ctypes.c_void_p()
        if config_text is not None:
            if config is not None:
                raise ValueError("tracebox: give config (a file) or config_text, not both")
            st = lib.tb_config_parse(
                ctypes.byref(handle), config_text.encode("utf-8"), b"<config_text>"
            )
        else:
            path = None if config is None else os.fsencode(config)
            st = lib.tb_config_load(ctypes.byref(handle), path)
        if st != _lib.TB_OK or not handle.value:
            raise _lib.TraceboxError(
                "tracebox: bad configuration: %s" % _lib.last_error(lib, st), st
            )
        self.handle = handle

    def free(self):
        h, self.handle = self.handle, None
        if h:
            self._lib.tb_config_free(h)

    def leak(self):
        # The C shipper may still read the config after a timed-out stop.
        self.handle = None


def _ship_options(destination=None, max_time=None, verbose=0):
    opts = _lib.ShipOptions.defaults()
    opts.destination = None if destination is None else destination.encode("utf-8")
    opts.max_time_ms = 0 if max_time is None else int(max_time * 1000)
    opts.verbose = int(verbose)
    return opts


class Shipper:
    """Run tracebox's shipper thread inside this process.

        shipper = tracebox.Shipper("traces.db", config="tracebox.ini")
        ...
        shipper.stop()

    config: path to an INI file; None means $TRACEBOX_CONFIG, else
    ./tracebox.ini, else destinations from the environment. config_text: the
    INI text itself, instead of a file. The thread starts in the constructor
    unless start=False. Errors at start raise TraceboxError (setup time);
    stop() never raises.
    """

    def __init__(
        self,
        db_path,
        config=None,
        *,
        config_text=None,
        destination=None,
        verbose=0,
        start=True,
    ):
        self._lib = _lib.load_library()
        self.db_path = os.fspath(db_path)
        self._config_arg = (None if config is None else os.fspath(config), config_text)
        self._destination = destination
        self._verbose = verbose
        self._lock = threading.Lock()
        self._handle = None
        self._config = None
        self._opts = None
        if start:
            self.start()

    @property
    def running(self):
        return self._handle is not None

    def start(self):
        with self._lock:
            if self._handle is not None:
                return
            cfg = _Config(self._lib, *self._config_arg)
            opts = _ship_options(self._destination, None, self._verbose)
            h = ctypes.c_void_p()
            st = self._lib.tb_shipper_start(
                ctypes.byref(h), os.fsencode(self.db_path), cfg.handle, ctypes.byref(opts)
            )
            if st != _lib.TB_OK or not h.value:
                msg = _lib.last_error(self._lib, st)
                cfg.free()
                raise _lib.TraceboxError(
                    "tracebox: cannot start the shipper for %s: %s" % (self.db_path, msg), st
                )
            self._handle, self._config, self._opts = h, cfg, opts
        with _live_lock:
            _live.add(self)

    def wake(self):
        """Ship now rather than at the next poll (e.g. after a burst)."""
        h = self._handle
        if h is not None:
            self._lib.tb_shipper_wake(h)

    def stop(self, timeout=10.0):
        """Stop the thread, waiting at most `timeout` seconds (None: wait).
        Returns True when it stopped in time. Idempotent; never raises."""
        try:
            with self._lock:
                h, self._handle = self._handle, None
                cfg, self._config = self._config, None
            if h is None:
                return True
            ms = (1 << 40) if timeout is None else max(0, int(timeout * 1000))
            st = self._lib.tb_shipper_stop(h, ms)
            if st == _lib.TB_OK:
                cfg.free()
                return True
            if st == _lib.TB_TIMEOUT:
                cfg.leak()
                logger.warning(
                    "shipper for %s did not stop within %ss; left to finish "
                    "on its own",
                    self.db_path,
                    timeout,
                )
                return False
            cfg.free()
            logger.warning(
                "stopping the shipper for %s: %s",
                self.db_path,
                _lib.last_error(self._lib, st),
            )
            return False
        except Exception:
            logger.exception("shipper stop failed")
            return False
        finally:
            with _live_lock:
                _live.discard(self)

    def __enter__(self):
        if self._handle is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def ship_once(db_path, config=None, *, config_text=None, destination=None, max_time=None):
    """Drain once, like `tracebox ship --once`. Returns a dict report
    (delivered, dead, pending, batches, failures, backing_off); raises
    TraceboxError when the configuration or the outbox is unusable."""
    lib = _lib.load_library()
    cfg = _Config(lib, None if config is None else os.fspath(config), config_text)
    try:
        opts = _ship_options(destination, max_time)
        rep = _lib.ShipReport()
        st = lib.tb_ship_once(
            os.fsencode(os.fspath(db_path)), cfg.handle, ctypes.byref(opts), ctypes.byref(rep)
        )
        if st != _lib.TB_OK:
            raise _lib.TraceboxError(
                "tracebox: ship failed: %s" % _lib.last_error(lib, st), st
            )
        return {name: getattr(rep, name) for name, _ in _lib.ShipReport._fields_}
    finally:
        cfg.free()
