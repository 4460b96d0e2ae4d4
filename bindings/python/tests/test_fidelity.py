"""Fidelity of what the Python binding stores (issue 13): the extension fields
of response spans, values JSON cannot carry (non-finite numbers, lone
surrogates), and ids of any shape. Every check reads records.body back from
the outbox file."""

import json
import logging
import os
import sys
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from test_processor import Base, rows, stored_form  # noqa: E402  (sets TRACEBOX_LIBRARY)

import tracebox  # noqa: E402
import tracebox.processor as tbp  # noqa: E402
import sdk_double as sdk  # noqa: E402


def strict_loads(text):
    """json.loads that refuses NaN/Infinity tokens (as JSON, RFC 8259, does)."""
    def bad(tok):
        raise ValueError("non-JSON token %s" % tok)
    return json.loads(text, parse_constant=bad)


class Stored(Base):
    """Helpers: write with a fresh processor, read bodies back by id. A
    subclass sets `durability` to run the same checks in another mode."""

    durability = None  # the default ("full")

    def open(self, **kw):
        if self.durability:
            kw.setdefault("durability", self.durability)
        self.p = tracebox.OutboxProcessor(self.db, **kw)
        self.addCleanup(self.p.shutdown)
        return self.p

    def bodies(self):
        if getattr(self, "p", None) is not None:
            self.p.force_flush()  # async/trace: what is queued is committed
        out = {}
        for r in rows(self.db, "SELECT span_id, trace_id, body FROM records"):
            out[r["span_id"] or r["trace_id"]] = r
        return out

    def body(self, rid):
        r = self.bodies().get(rid)
        self.assertIsNotNone(r, "record %s not stored" % rid)
        self.assertIsInstance(r["body"], str)
        return strict_loads(r["body"])

    def response_span(self, response=None, input=None, usage=None, trace=None):
        p = self.p
        if trace is None:
            trace = sdk.Trace(p, "w")
            trace.start()
        s = sdk.Span(p, trace, sdk.ResponseSpanData(usage=usage)).start()
        s.span_data.response = response
        s.span_data.input = input
        s.finish()
        return s


class TestResponseExtensions(Stored):
    """span_data.response / span_data.input: what ResponseSpanData.export()
    drops, captured for the platforms that need it."""

    def test_response_and_input_are_stored(self):
        self.open()
        rj = sdk.response_json()
        items = sdk.input_items()
        s = self.response_span(sdk.Response.from_api(rj), items, usage=dict(sdk.USAGE))
        body = self.body(s.span_id)
        sd = body["span_data"]
        # export() is untouched: same keys, same values, in its order first
        exported = s.export()["span_data"]
        self.assertEqual(list(sd)[:len(exported)], list(exported))
        for k, v in exported.items():
            self.assertEqual(sd[k], v, k)
        self.assertEqual(sd["response_id"], rj["id"])
        self.assertEqual(set(sd) - set(exported), {"response", "input"})
        # the response is the API's JSON: nulls the API sent are kept, API
        # names (not Python field names), unknown fields kept
        self.assertEqual(sd["response"], rj)
        self.assertIsNone(sd["response"]["previous_response_id"])
        self.assertIn("schema", sd["response"]["text"]["format"])
        self.assertNotIn("schema_", sd["response"]["text"]["format"])
        self.assertEqual(sd["response"]["reasoning"], {"effort": None, "summary": None})
        self.assertEqual(sd["response"]["output"][0]["content"][0]["text"],
                         "Your refund is on its way ✓")
        # the input: dict items as they were, the model item as its JSON
        self.assertEqual(sd["input"][0], {"role": "user", "content": "héllo ✓ — refund?"})
        self.assertEqual(sd["input"][1], sdk.api_json(items[1]))
        self.assertEqual(sd["input"], stored_form(s)["span_data"]["input"])
        self.assertEqual(body, stored_form(s))
        # the rest of the record is the export
        e = s.export()
        for k in ("object", "id", "trace_id", "parent_id", "started_at", "ended_at", "error"):
            self.assertEqual(body[k], e[k], k)
        self.assertEqual(self.p.stats["failed"], 0)

    def test_whole_run_has_them(self):
        self.open()
        trace, spans = sdk.run_fake_agent(self.p)
        self.p.shutdown()
        resp = [s for s in spans if s.span_data.type == "response"]
        self.assertEqual(len(resp), 1)
        sd = self.body(resp[0].span_id)["span_data"]
        self.assertEqual(sd["response"], sdk.api_json(resp[0].span_data.response))
        self.assertEqual(len(sd["input"]), 4)
        # only response spans get extension fields
        for s in spans:
            if s is not resp[0]:
                self.assertEqual(self.body(s.span_id), s.export())

    def test_string_input(self):
        self.open()
        rj = sdk.response_json()
        s = self.response_span(sdk.Response.from_api(rj), "What is my refund status?")
        sd = self.body(s.span_id)["span_data"]
        self.assertEqual(sd["input"], "What is my refund status?")
        self.assertEqual(sd["response"], rj)

    def test_absent_means_absent(self):
        # tracing without data (include_data() false), or an error before
        # the response: the record is exactly the export
        self.open()
        s = self.response_span(None, None, usage=None)
        body = self.body(s.span_id)
        self.assertEqual(body, s.export())
        self.assertEqual(body["span_data"], {"type": "response", "response_id": None,
                                             "usage": None})
        # input only
        s2 = self.response_span(None, [{"role": "user", "content": "hi"}])
        sd = self.body(s2.span_id)["span_data"]
        self.assertNotIn("response", sd)
        self.assertEqual(sd["input"], [{"role": "user", "content": "hi"}])

    def test_plain_dict_response(self):
        self.open()
        rj = sdk.response_json()

        class Dictish(dict):  # a dict that also has an .id, as export() needs
            id = property(lambda self: self["id"])

        s = self.response_span(Dictish(rj), [])
        sd = self.body(s.span_id)["span_data"]
        self.assertEqual(sd["response"], rj)
        self.assertEqual(sd["input"], [])

    def test_pydantic_v1_style_dict(self):
        self.open()
        rj = sdk.response_json()
        calls = []

        class V1Model:  # pydantic v1: .dict(), no model_dump()
            id = rj["id"]

            def dict(self, **kw):
                calls.append(kw)
                return dict(rj)

        s = self.response_span(V1Model(), "hi")
        sd = self.body(s.span_id)["span_data"]
        self.assertEqual(sd["response"], rj)
        self.assertEqual(calls[0].get("by_alias"), True)

    def test_undumpable_response_is_dropped_not_the_span(self):
        self.open()

        class Broken:
            id = "resp_broken"

            def model_dump(self, **kw):
                raise RuntimeError("cannot serialize")

        class Opaque:  # neither a model nor JSON
            id = "resp_opaque"

        with self.assertLogs("tracebox", level="WARNING") as cm:
            s1 = self.response_span(Broken(), "kept")
            s2 = self.response_span(Opaque(), ["kept too"])
            # async/trace export on the writer thread (as the SDK's batch
            # processor does on its worker): the warning comes by the flush
            self.p.force_flush()
        self.assertIn("resp_broken", "\n".join(cm.output))
        for s, inp in ((s1, "kept"), (s2, ["kept too"])):
            sd = self.body(s.span_id)["span_data"]
            self.assertNotIn("response", sd)
            self.assertEqual(sd["input"], inp)
            self.assertEqual(sd["response_id"], s.span_data.response.id)
        self.assertEqual(self.p.stats["failed"], 0)

    @unittest.skipUnless(sdk.HAVE_PYDANTIC, "pydantic 2 is not installed")
    def test_pydantic_serialization_error_keeps_the_span(self):
        self.open()
        rj = sdk.response_json()
        rj["tools"] = [{"type": "function", "callable": object()}]  # not serialisable
        r = sdk.Response.model_validate(rj)
        with self.assertLogs("tracebox", level="WARNING"):
            s = self.response_span(r, "x")
            self.p.force_flush()  # async/trace: exported on the writer thread
        sd = self.body(s.span_id)["span_data"]
        self.assertNotIn("response", sd)
        self.assertEqual(sd["response_id"], rj["id"])
        self.assertEqual(sd["input"], "x")

    def test_undumpable_input_item_becomes_its_string(self):
        # nested values that are not JSON follow the record-wide rule: a
        # model is dumped, anything else is kept as its str()
        self.open()

        class Thing:
            def __str__(self):
                return "<thing>"

        s = self.response_span(None, [{"role": "user", "content": "a"}, Thing()])
        sd = self.body(s.span_id)["span_data"]
        self.assertEqual(sd["input"], [{"role": "user", "content": "a"}, "<thing>"])

    def test_export_of_a_newer_sdk_wins(self):
        # should export() itself one day carry "input", it is kept as exported
        self.open()

        class NewerData(sdk.ResponseSpanData):
            def export(self):
                d = super().export()
                d["input"] = "as exported"
                return d

        t = sdk.Trace(self.p, "w")
        t.start()
        s = sdk.Span(self.p, t, NewerData(input="attribute")).start()
        s.finish()
        self.assertEqual(self.body(s.span_id)["span_data"]["input"], "as exported")

    def test_span_export_is_not_mutated(self):
        # a span whose export() hands out the same dict each time
        self.open()
        rj = sdk.response_json()
        cached = {"object": "trace.span", "id": "span_cccccccccccccccccccccccc",
                  "trace_id": "trace_" + "1" * 32, "parent_id": None,
                  "started_at": None, "ended_at": None,
                  "span_data": {"type": "response", "response_id": rj["id"], "usage": None},
                  "error": None}
        snapshot = json.dumps(cached)

        class CachedSpan:
            span_data = sdk.ResponseSpanData(sdk.Response.from_api(rj), "hi")

            def export(self):
                return cached

        self.p.on_span_end(CachedSpan())
        self.assertEqual(json.dumps(cached), snapshot)
        self.assertEqual(self.body("span_cccccccccccccccccccccccc")["span_data"]["response"], rj)


NAN, INF = float("nan"), float("inf")


class TestNonFiniteAndSurrogates(Stored):
    """Non-finite numbers are stored as null (JSON.stringify's rule); lone
    surrogates as U+FFFD. The span is never lost to its values."""

    def test_non_finite_numbers_become_null(self):
        self.open()
        t = sdk.Trace(self.p, "w", metadata={"nan": NAN, "inf": INF, "-inf": -INF, "ok": 1.5})
        t.start()
        s = sdk.Span(self.p, t, sdk.CustomSpanData("scores", {
            "list": [1, NAN, [INF, {"x": -INF}]], "tuple": (NAN, 2), "fine": 0.25,
            "int": 10 ** 20, "bool": True, "none": None})).start()
        s.finish()
        g = sdk.Span(self.p, t, sdk.GenerationSpanData(
            model="m", model_config={"temperature": NAN}, usage={"input_tokens": 1})).start()
        g.finish()
        self.assertEqual(self.body(t.trace_id)["metadata"],
                         {"nan": None, "inf": None, "-inf": None, "ok": 1.5})
        self.assertEqual(self.body(s.span_id)["span_data"]["data"], {
            "list": [1, None, [None, {"x": None}]], "tuple": [None, 2], "fine": 0.25,
            "int": 10 ** 20, "bool": True, "none": None})
        self.assertEqual(self.body(g.span_id)["span_data"]["model_config"],
                         {"temperature": None})
        self.assertEqual(self.p.stats, {"written": 3, "failed": 0, "skipped": 0})

    def test_binding_never_hands_nan_tokens_to_the_library(self):
        # independent of what the C decoder accepts
        data = tbp._encode_record({"a": [NAN, INF, -INF], NAN: 1, INF: 2, "s": "\ud800"})
        text = data.decode("utf-8")  # valid UTF-8
        self.assertEqual(strict_loads(text),
                         {"a": [None, None, None], "NaN": 1, "Infinity": 2, "s": "\ufffd"})

    def test_lone_surrogates_become_replacement_characters(self):
        self.open()
        t = sdk.Trace(self.p, "w\udfff", metadata={"k\ud800": "v\udc00x", "ok": "✓ 😀"})
        t.start()
        s = sdk.Span(self.p, t, sdk.FunctionSpanData(
            "lookup", "{\"q\": \"\ud83d\"}", "out \ud800\ud800 end")).start()
        s.finish()
        pair = sdk.Span(self.p, t, sdk.CustomSpanData(
            "pair", {"emoji": "\ud83d\ude00", "mixed": "\ud83d\ud83d\ude00"})).start()
        pair.finish()
        tb = self.body(t.trace_id)
        self.assertEqual(tb["workflow_name"], "w\ufffd")
        self.assertEqual(tb["metadata"], {"k\ufffd": "v\ufffdx", "ok": "✓ 😀"})
        sd = self.body(s.span_id)["span_data"]
        self.assertEqual(sd["input"], "{\"q\": \"\ufffd\"}")
        self.assertEqual(sd["output"], "out \ufffd\ufffd end")
        # a high+low pair held as two code points is the character it encodes
        self.assertEqual(self.body(pair.span_id)["span_data"]["data"],
                         {"emoji": "😀", "mixed": "\ufffd😀"})
        self.assertEqual(self.p.stats, {"written": 3, "failed": 0, "skipped": 0})

    def test_both_in_one_record_and_in_the_extensions(self):
        self.open()
        rj = sdk.response_json(text="bad \ud800 text")
        rj["temperature"] = NAN
        s = self.response_span(sdk.Response.from_api(rj), [{"role": "user", "content": "\udc00"}],
                               usage={"score": INF})
        sd = self.body(s.span_id)["span_data"]
        self.assertEqual(sd["usage"], {"score": None})
        self.assertIsNone(sd["response"]["temperature"])
        self.assertEqual(sd["response"]["output"][0]["content"][0]["text"], "bad \ufffd text")
        self.assertEqual(sd["input"], [{"role": "user", "content": "\ufffd"}])

    def test_non_finite_beside_a_clean_response(self):
        # the response's own JSON (straight from its serializer) and a
        # record that needs the slow path
        self.open()
        rj = sdk.response_json()
        s = self.response_span(sdk.Response.from_api(rj), ["x"], usage={"n": NAN})
        sd = self.body(s.span_id)["span_data"]
        self.assertEqual(sd["response"], rj)
        self.assertEqual(sd["usage"], {"n": None})
        self.assertNotIn("tracebox:raw", rows(self.db, "SELECT body FROM records")[-1]["body"])

    @unittest.skipUnless(sdk.HAVE_PYDANTIC, "pydantic 2 is not installed")
    def test_model_that_writes_nan_tokens(self):
        import pydantic

        class Loose(sdk.Response):
            model_config = pydantic.ConfigDict(extra="allow", ser_json_inf_nan="constants")

        rj = sdk.response_json()
        rj["temperature"] = NAN
        self.open()
        s = self.response_span(Loose.model_validate(rj), "x")
        got = self.body(s.span_id)["span_data"]["response"]  # strict parse
        self.assertIsNone(got["temperature"])
        self.assertEqual(got["id"], rj["id"])

    def test_json_text_given_to_put(self):
        self.open()
        rec = {"object": "trace", "id": "trace_" + "a" * 32, "workflow_name": "x\ud800",
               "group_id": None, "metadata": None}
        self.assertTrue(self.p.put(json.dumps(rec, ensure_ascii=False)))
        self.assertEqual(self.body(rec["id"])["workflow_name"], "x\ufffd")

    def test_common_case_does_not_walk_the_record(self):
        # the per-span cost: plain records go through one json.dumps, never
        # the Python sanitising walk
        self.open()
        with mock.patch.object(tbp, "_sanitised", side_effect=AssertionError("walked")) as walk:
            trace, spans = sdk.run_fake_agent(self.p)
            self.p.force_flush()
        walk.assert_not_called()
        self.assertEqual(self.p.stats["written"], 1 + len(spans))
        self.assertEqual(self.p.stats["failed"], 0)

    def test_keys_json_refuses_become_strings(self):
        self.open()
        t = sdk.Trace(self.p, "w", metadata={("a", 1): "tuple key", 2: "int key"})
        t.start()
        self.assertEqual(self.body(t.trace_id)["metadata"],
                         {"('a', 1)": "tuple key", "2": "int key"})

    def test_circular_value_is_logged_not_raised(self):
        self.open()
        loop = {"a": 1}
        loop["self"] = loop
        t = sdk.Trace(self.p, "w", metadata={"loop": loop, "n": NAN})
        with self.assertLogs("tracebox", level="ERROR"):
            t.start()  # must not raise (nor recurse forever)
            self.p.force_flush()  # async: encoded (and logged) on the writer thread
        self.assertEqual(self.p.stats["failed"], 1)
        self.assertEqual(rows(self.db, "SELECT seq FROM records"), [])


class TestIds(Stored):
    """Caller ids of any shape (the SDKs accept them) are stored as given."""

    def test_custom_trace_and_span_ids(self):
        self.open()
        t = sdk.Trace(self.p, "custom ids", trace_id="trace_my-app-1234")
        t.start()
        root = sdk.Span(self.p, t, sdk.AgentSpanData("A"), span_id="span_req-42").start()
        child = sdk.Span(self.p, t, sdk.FunctionSpanData("f", "{}", "ok"), parent=root,
                         span_id="span_Req.42:child_1").start()
        auto = sdk.Span(self.p, t, sdk.CustomSpanData("c", {}), parent=child).start()
        auto.finish()
        child.finish()
        root.finish()
        t.finish()
        self.p.shutdown()
        self.assertEqual(self.p.stats, {"written": 4, "failed": 0, "skipped": 0})
        got = {r["span_id"] or r["trace_id"]: r for r in rows(
            self.db, "SELECT kind, trace_id, span_id, parent_id, body FROM records")}
        self.assertEqual(set(got), {"trace_my-app-1234", "span_req-42",
                                    "span_Req.42:child_1", auto.span_id})
        self.assertEqual(got["trace_my-app-1234"]["kind"], "trace")
        self.assertEqual(got["span_req-42"]["trace_id"], "trace_my-app-1234")
        self.assertIsNone(got["span_req-42"]["parent_id"])
        self.assertEqual(got["span_Req.42:child_1"]["parent_id"], "span_req-42")
        self.assertEqual(got[auto.span_id]["parent_id"], "span_Req.42:child_1")
        for s in (root, child, auto):
            self.assertEqual(json.loads(got[s.span_id]["body"]), s.export())


# The same checks through the queue of async / trace mode (the record is
# encoded on the hook's thread and written by the helper or at trace end).
class TestResponseExtensionsAsync(TestResponseExtensions):
    durability = "async"


class TestNonFiniteAndSurrogatesAsync(TestNonFiniteAndSurrogates):
    durability = "async"


class TestIdsAsync(TestIds):
    durability = "async"


class TestResponseExtensionsTraceMode(TestResponseExtensions):
    durability = "trace"


class TestNonFiniteAndSurrogatesTraceMode(TestNonFiniteAndSurrogates):
    durability = "trace"


class TestIdsTraceMode(TestIds):
    durability = "trace"


if __name__ == "__main__":
    logging.basicConfig()
    unittest.main()
