"""tracebox: a durable SQLite outbox for OpenAI Agents SDK traces.

    from agents import add_trace_processor
    import tracebox
    add_trace_processor(tracebox.OutboxProcessor("traces.db"))

The C library libtracebox is loaded through ctypes: set
TRACEBOX_LIBRARY=/path/to/libtracebox.so when it is not installed where the
dynamic loader looks.
"""

from ._lib import TraceboxError, TraceboxLibraryNotFound, load_library
from .processor import OutboxProcessor
from .shipper import Shipper, ship_once

__version__ = "0.1.0"

__all__ = [
    "OutboxProcessor",
    "Shipper",
    "ship_once",
    "TraceboxError",
    "TraceboxLibraryNotFound",
    "library_version",
    "load_library",
]


def library_version():
    """The loaded libtracebox's version string."""
    return load_library().tb_version().decode()
