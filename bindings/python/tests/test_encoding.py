"""The two record encoders of the Python binding (processor.py): orjson, used
when the application has it, and the json module. They must store the same
record: the same bytes, except where orjson writes a number in exponent form
its own way (1e-7 for 1e-07) or a float subclass as its float; the same value
always. Without orjson installed, the orjson half is skipped (ctest also runs
the whole suite with TRACEBOX_PYTHON_JSON=stdlib, the json path alone)."""

import dataclasses
import datetime
import enum
import json
import os
import re
import sys
import unittest
import uuid
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from test_processor import Base  # noqa: E402  (sets TRACEBOX_LIBRARY)

import tracebox.processor as tbp  # noqa: E402
import sdk_double as sdk  # noqa: E402

try:
    import orjson  # noqa: F401

    HAVE_ORJSON = True
except ImportError:
    HAVE_ORJSON = False

# a number in exponent form, as either encoder writes it
EXPONENT = re.compile(rb"-?[0-9]+(?:\.[0-9]+)?e[-+]?[0-9]+")


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


@dataclasses.dataclass
class Point:
    x: int
    y: float


class Money(float):
    pass


class Model:
    """A pydantic-like model (what _json_default dumps)."""

    def model_dump(self, mode=None, by_alias=None, exclude_unset=None):
        return {"type": "message", "content": [{"type": "output_text", "text": "hi"}]}


def corpus():
    """Records of what an app puts in spans, the awkward values included."""
    out = []
    trace, spans = sdk.run_fake_agent(_NullProcessor())
    out.append(trace.export())
    out.extend(s.export() for s in spans)
    meta = {
        "when": datetime.datetime(2026, 11, 30, 16, 0, 1, 250000),
        "day": datetime.date(2026, 11, 30),
        "colour": Colour.RED,
        "level": Level.HIGH,
        "point": Point(1, 2.5),
        "money": Money(19.99),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "model": Model(),
        "set": {1},
        "bytes": b"\x00\xff",
        "tuple": (1, "two", 3.0),
        "big": 2**63 - 1,
        "neg": -(2**63),
        "floats": [0.1, 2.5, 1e-7, 1e16, 1.5e300, -0.0, 5e-324, 123456.789],
        "text": "\x00\x1f\"\\ é \u2028 😀 \x7f",
        "nested": {"a": [{"b": [None, True, False, {}]}]},
        "empty": [],
    }
    out.append({"object": "trace", "id": "trace_" + "b" * 32, "metadata": meta})
    # what orjson refuses: the json path decides (and sanitises where it must)
    out.append({"object": "trace", "id": "t", "metadata": {"huge": 2**70}})
    out.append({"object": "trace", "id": "t", "metadata": {1: "int key", None: "x"}})
    out.append({"object": "trace", "id": "t", "metadata": {"s": "lone \ud800 surrogate"}})
    out.append({"object": "trace", "id": "t", "metadata": {"n": float("nan"), "i": float("inf")}})
    deep = leaf = {}
    for _ in range(300):
        leaf["d"] = {}
        leaf = leaf["d"]
    out.append({"object": "trace", "id": "t", "metadata": deep})
    return out


class _NullProcessor:
    def on_trace_start(self, t):
        pass

    def on_trace_end(self, t):
        pass

    def on_span_start(self, s):
        pass

    def on_span_end(self, s):
        pass


def stdlib_encode(record, raw=None):
    with mock.patch.object(tbp, "_fast_dumps", None):
        return tbp._encode_record(record, raw)


@unittest.skipUnless(HAVE_ORJSON, "orjson is not installed")
class TestOrjsonPath(Base):
    def test_in_use_unless_turned_off(self):
        if os.environ.get("TRACEBOX_PYTHON_JSON", "").lower() == "stdlib":
            self.assertIsNone(tbp._fast_dumps)
            self.assertTrue(tbp.JSON_ENCODER.startswith("json"))
        else:
            self.assertIsNotNone(tbp._fast_dumps)
            self.assertTrue(tbp.JSON_ENCODER.startswith("orjson"))

    def test_same_record_as_the_json_path(self):
        if tbp._fast_dumps is None:
            self.skipTest("turned off (TRACEBOX_PYTHON_JSON=stdlib)")
        n_same_bytes = n_exponent = 0
        for rec in corpus():
            fast = tbp._encode_record(rec)
            slow = stdlib_encode(rec)
            self.assertIsInstance(fast, bytes)
            # the same value, read back by a strict reader
            self.assertEqual(json.loads(fast), json.loads(slow), rec.get("id"))
            if fast == slow:
                n_same_bytes += 1
            else:
                # only numbers in exponent form may be written differently
                self.assertTrue(EXPONENT.search(slow), (fast, slow))
                self.assertEqual(EXPONENT.sub(b"N", fast), EXPONENT.sub(b"N", slow))
                n_exponent += 1
        self.assertGreater(n_same_bytes, 5)
        self.assertEqual(n_exponent, 1)  # the metadata record with "floats"

    def test_awkward_values_as_the_json_path_writes_them(self):
        if tbp._fast_dumps is None:
            self.skipTest("turned off (TRACEBOX_PYTHON_JSON=stdlib)")
        meta = corpus()[-6]["metadata"]  # the record with every awkward value
        got = json.loads(tbp._encode_record({"m": meta}))["m"]
        self.assertEqual(got["when"], "2026-11-30 16:00:01.250000")  # str(), not ISO 8601
        self.assertEqual(got["day"], "2026-11-30")
        self.assertEqual(got["colour"], "red")
        self.assertEqual(got["level"], 3)
        self.assertEqual(got["point"], {"x": 1, "y": 2.5})
        self.assertEqual(got["money"], 19.99)  # a number, not its string
        self.assertEqual(got["id"], "12345678-1234-5678-1234-567812345678")
        self.assertEqual(got["model"]["type"], "message")
        self.assertEqual(got["set"], "{1}")
        self.assertEqual(got["tuple"], [1, "two", 3.0])

    def test_response_text_takes_its_slot(self):
        if tbp._fast_dumps is None:
            self.skipTest("turned off (TRACEBOX_PYTHON_JSON=stdlib)")
        raw = '{"id":"resp_1","output":[{"text":"é"}]}'
        rec = {"span_data": {"type": "response", "response": tbp._SLOT}}
        self.assertEqual(tbp._encode_record(rec, raw), stdlib_encode(rec, raw))
        self.assertEqual(json.loads(tbp._encode_record(rec, raw))["span_data"]["response"]["id"],
                         "resp_1")

    def test_what_orjson_refuses_goes_the_json_way(self):
        if tbp._fast_dumps is None:
            self.skipTest("turned off (TRACEBOX_PYTHON_JSON=stdlib)")
        huge, keys, surrogate, nonfinite, deep = corpus()[-5:]
        for rec in (huge, keys, surrogate, deep):
            self.assertIsNone(tbp._fast_dumps(rec))
            self.assertEqual(tbp._encode_record(rec), stdlib_encode(rec))
        # non-finite numbers: orjson writes null itself, as the json path does
        self.assertEqual(tbp._encode_record(nonfinite), stdlib_encode(nonfinite))
        self.assertEqual(json.loads(tbp._encode_record(nonfinite))["metadata"],
                         {"n": None, "i": None})
        self.assertIn("\ufffd", json.loads(tbp._encode_record(surrogate))["metadata"]["s"])


if __name__ == "__main__":
    unittest.main()
