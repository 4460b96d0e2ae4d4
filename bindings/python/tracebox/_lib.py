"""Loading libtracebox through ctypes and declaring the C API we use.

Lookup order (the same as the Node binding):
  1. $TRACEBOX_LIBRARY, a path to libtracebox.so;
  2. ctypes.util.find_library("tracebox") (ldconfig cache, LD_LIBRARY_PATH);
  3. the dynamic loader's own search for libtracebox.so.0 / libtracebox.so.
Otherwise TraceboxLibraryNotFound says how to point us at the library.
"""

import ctypes
import ctypes.util
import os
import threading

__all__ = [
    "TraceboxError",
    "TraceboxLibraryNotFound",
    "load_library",
    "OutboxOptions",
    "ShipOptions",
    "ShipReport",
    "PutResult",
    "TB_OK",
    "TB_TIMEOUT",
    "status_name",
]

TB_OK = 0
TB_TIMEOUT = 15

_STATUS_NAMES = {
    0: "TB_OK",
    1: "TB_ERROR",
    2: "TB_NOMEM",
    3: "TB_INVALID",
    4: "TB_BAD_RECORD",
    5: "TB_IO",
    6: "TB_FULL",
    7: "TB_BUSY",
    8: "TB_CORRUPT",
    9: "TB_NOT_OUTBOX",
    10: "TB_TOO_NEW",
    11: "TB_MISUSE",
    12: "TB_DISABLED",
    13: "TB_CONFIG",
    14: "TB_NOT_FOUND",
    15: "TB_TIMEOUT",
    16: "TB_CLOSED",
    17: "TB_HTTP",
    18: "TB_READONLY",
}


def status_name(status):
    return _STATUS_NAMES.get(status, "TB_%d" % status)


class TraceboxError(RuntimeError):
    """A libtracebox call failed; .status is the tb_status code."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class TraceboxLibraryNotFound(TraceboxError, OSError):
    pass


_NOT_FOUND_HINT = (
    "set TRACEBOX_LIBRARY=/path/to/libtracebox.so (after `cmake --build`, it is "
    "build/release/libtracebox.so in the tracebox tree), or install libtracebox "
    "where the dynamic loader finds it"
)


class OutboxOptions(ctypes.Structure):
    # struct tb_outbox_options, TB_OUTBOX_OPTIONS_VERSION 1
    _fields_ = [
        ("version", ctypes.c_uint),
        ("durability", ctypes.c_int),
        ("busy_timeout_ms", ctypes.c_int),
        ("max_size", ctypes.c_int64),
        ("full_policy", ctypes.c_int),
        ("queue_capacity", ctypes.c_size_t),
        ("queue_policy", ctypes.c_int),
        ("flush_interval_ms", ctypes.c_int),
        ("readonly", ctypes.c_int),
        # tb_outbox_open copies the whole struct: every field of the header's
        # struct must be here (redact used to land in padding, zero by luck)
        ("redact", ctypes.c_int),
    ]

    @classmethod
    def defaults(cls):
        # TB_OUTBOX_OPTIONS_INIT
        return cls(1, 0, 10000, 0, 0, 0, 0, 5, 0, 0)


class PutResult(ctypes.Structure):
    # struct tb_put_result: one record's outcome in tb_outbox_put_json_many
    _fields_ = [
        ("status", ctypes.c_int),
        ("id", ctypes.c_char * 256),
        ("error", ctypes.c_char * 512),
    ]


class ShipOptions(ctypes.Structure):
    # struct tb_ship_options, TB_SHIP_OPTIONS_VERSION 1
    _fields_ = [
        ("version", ctypes.c_uint),
        ("destination", ctypes.c_char_p),
        ("max_time_ms", ctypes.c_int64),
        ("verbose", ctypes.c_int),
    ]

    @classmethod
    def defaults(cls):
        return cls(1, None, 0, 0)


class ShipReport(ctypes.Structure):
    _fields_ = [
        ("delivered", ctypes.c_int64),
        ("dead", ctypes.c_int64),
        ("pending", ctypes.c_int64),
        ("batches", ctypes.c_int64),
        ("failures", ctypes.c_int64),
        ("backing_off", ctypes.c_int),
    ]


_lock = threading.Lock()
_lib = None
_lib_path = None


def _candidates():
    env = os.environ.get("TRACEBOX_LIBRARY")
    if env:
        # An explicit path is authoritative: no silent fallback to another copy.
        return [env], True
    out = []
    found = ctypes.util.find_library("tracebox")
    if found:
        out.append(found)
    out += ["libtracebox.so.0", "libtracebox.so"]
    return out, False


def _declare(lib):
    c_void_pp = ctypes.POINTER(ctypes.c_void_p)
    sigs = {
        "tb_version": (ctypes.c_char_p, []),
        "tb_status_str": (ctypes.c_char_p, [ctypes.c_int]),
        "tb_last_error": (ctypes.c_char_p, []),
        "tb_outbox_open": (
            ctypes.c_int,
            [c_void_pp, ctypes.c_char_p, ctypes.POINTER(OutboxOptions)],
        ),
        "tb_outbox_close": (None, [ctypes.c_void_p]),
        "tb_outbox_errmsg": (ctypes.c_char_p, [ctypes.c_void_p]),
        "tb_outbox_put_json": (
            ctypes.c_int,
            [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p],
        ),
        "tb_outbox_put_json_many": (
            ctypes.c_int,
            [
                ctypes.c_void_p,
                ctypes.POINTER(ctypes.c_char_p),
                ctypes.POINTER(ctypes.c_size_t),
                ctypes.c_size_t,
                ctypes.POINTER(PutResult),
            ],
        ),
        "tb_outbox_flush": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int64]),
        "tb_outbox_count_dropped": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int64]),
        "tb_config_load": (ctypes.c_int, [c_void_pp, ctypes.c_char_p]),
        "tb_config_parse": (
            ctypes.c_int,
            [c_void_pp, ctypes.c_char_p, ctypes.c_char_p],
        ),
        "tb_config_free": (None, [ctypes.c_void_p]),
        "tb_shipper_start": (
            ctypes.c_int,
            [c_void_pp, ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ShipOptions)],
        ),
        "tb_shipper_stop": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int64]),
        "tb_shipper_wake": (None, [ctypes.c_void_p]),
        "tb_ship_once": (
            ctypes.c_int,
            [
                ctypes.c_char_p,
                ctypes.c_void_p,
                ctypes.POINTER(ShipOptions),
                ctypes.POINTER(ShipReport),
            ],
        ),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)  # AttributeError: not a libtracebox
        fn.restype = restype
        fn.argtypes = argtypes


def load_library():
    """Return the loaded libtracebox (a ctypes.CDLL), loading it once."""
    global _lib, _lib_path
    with _lock:
        if _lib is not None:
            return _lib
        names, explicit = _candidates()
        errors = []
        for name in names:
            try:
                lib = ctypes.CDLL(name)
            except OSError as e:
                errors.append("%s: %s" % (name, e))
                continue
            try:
                _declare(lib)
            except AttributeError as e:
                errors.append("%s: not libtracebox (%s)" % (name, e))
                continue
            _lib, _lib_path = lib, name
            return lib
        if explicit:
            msg = "tracebox: cannot load TRACEBOX_LIBRARY=%s (%s); %s" % (
                names[0],
                "; ".join(errors),
                "set TRACEBOX_LIBRARY=/path/to/libtracebox.so to a built libtracebox",
            )
        else:
            msg = "tracebox: libtracebox not found; " + _NOT_FOUND_HINT
        raise TraceboxLibraryNotFound(msg)


def library_path():
    """The name or path the library was loaded from (None before loading)."""
    return _lib_path


def decode(b):
    if b is None:
        return ""
    return b.decode("utf-8", "replace")


def last_error(lib, status):
    msg = decode(lib.tb_last_error())
    return msg or decode(lib.tb_status_str(status))
