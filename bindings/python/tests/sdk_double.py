"""A test double of the OpenAI Agents SDK's (Python) Trace and Span objects.

It follows src/agents/tracing/{traces,spans,span_data}.py: ids are
"trace_" + uuid4().hex and "span_" + uuid4().hex[:24]; timestamps are
datetime.now(timezone.utc).isoformat() (microseconds, "+00:00"); a trace is
exported once with no timestamps; a span's export carries top-level
"metadata" only when non-empty (the trace metadata's routing keys, then
span_data.metadata of agent/task/turn spans); task and turn spans are
exported as custom spans; NoOp traces and spans export None.
"""

import threading
import uuid
from datetime import datetime, timezone

_SPAN_METADATA_ROUTING_KEYS = ("agent_harness_id",)

_current = threading.local()


def _now():
    return datetime.now(timezone.utc).isoformat()


class Trace:
    def __init__(self, processor, workflow_name, group_id=None, metadata=None, trace_id=None):
        self._processor = processor
        self.trace_id = trace_id or "trace_" + uuid.uuid4().hex
        self.name = workflow_name
        self.group_id = group_id
        self.metadata = metadata

    def start(self):
        self._processor.on_trace_start(self)

    def finish(self):
        self._processor.on_trace_end(self)

    def export(self):
        return {
            "object": "trace",
            "id": self.trace_id,
            "workflow_name": self.name,
            "group_id": self.group_id,
            "metadata": self.metadata,
        }


class NoOpTrace(Trace):
    def __init__(self, processor):
        super().__init__(processor, "no-op", trace_id="no-op")

    def start(self):
        pass

    def finish(self):
        pass

    def export(self):
        return None


class SpanData:
    type = "custom"
    metadata = None

    def export(self):
        raise NotImplementedError


class AgentSpanData(SpanData):
    type = "agent"

    def __init__(self, name, handoffs=None, tools=None, output_type=None, metadata=None):
        self.name, self.handoffs, self.tools = name, handoffs, tools
        self.output_type, self.metadata = output_type, metadata

    def export(self):
        return {
            "type": self.type,
            "name": self.name,
            "handoffs": self.handoffs,
            "tools": self.tools,
            "output_type": self.output_type,
        }


class FunctionSpanData(SpanData):
    type = "function"

    def __init__(self, name, input, output, mcp_data=None):
        self.name, self.input, self.output, self.mcp_data = name, input, output, mcp_data

    def export(self):
        return {
            "type": self.type,
            "name": self.name,
            "input": self.input,
            "output": str(self.output) if self.output is not None else None,
            "mcp_data": self.mcp_data,
        }


class GenerationSpanData(SpanData):
    type = "generation"

    def __init__(self, input=None, output=None, model=None, model_config=None, usage=None):
        self.input, self.output, self.model = input, output, model
        self.model_config, self.usage = model_config, usage

    def export(self):
        return {
            "type": self.type,
            "input": self.input,
            "output": self.output,
            "model": self.model,
            "model_config": self.model_config,
            "usage": self.usage,
        }


class ResponseSpanData(SpanData):
    type = "response"

    def __init__(self, response_id=None, usage=None):
        self.response_id, self.usage = response_id, usage

    def export(self):
        return {"type": self.type, "response_id": self.response_id, "usage": self.usage}


class HandoffSpanData(SpanData):
    type = "handoff"

    def __init__(self, from_agent, to_agent):
        self.from_agent, self.to_agent = from_agent, to_agent

    def export(self):
        return {"type": self.type, "from_agent": self.from_agent, "to_agent": self.to_agent}


class CustomSpanData(SpanData):
    type = "custom"

    def __init__(self, name, data):
        self.name, self.data = name, data

    def export(self):
        return {"type": self.type, "name": self.name, "data": self.data}


class GuardrailSpanData(SpanData):
    type = "guardrail"

    def __init__(self, name, triggered=False):
        self.name, self.triggered = name, triggered

    def export(self):
        return {"type": self.type, "name": self.name, "triggered": self.triggered}


class TranscriptionSpanData(SpanData):
    type = "transcription"

    def __init__(self, input=None, input_format="pcm", output=None, model=None, model_config=None):
        self.input, self.input_format, self.output = input, input_format, output
        self.model, self.model_config = model, model_config

    def export(self):
        return {
            "type": self.type,
            "input": {"data": self.input or "", "format": self.input_format},
            "output": self.output,
            "model": self.model,
            "model_config": self.model_config,
        }


class SpeechSpanData(SpanData):
    type = "speech"

    def __init__(self, input=None, output=None, output_format="pcm", model=None,
                 model_config=None, first_content_at=None):
        self.input, self.output, self.output_format = input, output, output_format
        self.model, self.model_config = model, model_config
        self.first_content_at = first_content_at

    def export(self):
        return {
            "type": self.type,
            "input": self.input,
            "output": {"data": self.output or "", "format": self.output_format},
            "model": self.model,
            "model_config": self.model_config,
            "first_content_at": self.first_content_at,
        }


class SpeechGroupSpanData(SpanData):
    type = "speech_group"

    def __init__(self, input=None):
        self.input = input

    def export(self):
        return {"type": self.type, "input": self.input}


class MCPListToolsSpanData(SpanData):
    type = "mcp_tools"

    def __init__(self, server=None, result=None):
        self.server, self.result = server, result

    def export(self):
        return {"type": self.type, "server": self.server, "result": self.result}


class TaskSpanData(SpanData):
    type = "task"

    def __init__(self, name, usage=None, metadata=None):
        self.name, self.usage, self.metadata = name, usage, metadata

    def export(self):
        data = {"sdk_span_type": "task", "name": self.name}
        if self.usage is not None:
            data["usage"] = self.usage
        return {"type": "custom", "name": "task", "data": data}


class TurnSpanData(SpanData):
    type = "turn"

    def __init__(self, turn, agent_name, usage=None, metadata=None):
        self.turn, self.agent_name, self.usage = turn, agent_name, usage
        self.metadata = metadata

    def export(self):
        data = {"sdk_span_type": "turn", "turn": self.turn, "agent_name": self.agent_name}
        if self.usage is not None:
            data["usage"] = self.usage
        return {"type": "custom", "name": "turn", "data": data}


class Span:
    def __init__(self, processor, trace, span_data, parent=None, span_id=None):
        self._processor = processor
        self.trace_id = trace.trace_id
        self.trace_metadata = trace.metadata
        self.span_id = span_id or "span_" + uuid.uuid4().hex[:24]
        self.parent_id = parent.span_id if isinstance(parent, Span) else None
        self.span_data = span_data
        self.started_at = None
        self.ended_at = None
        self.error = None

    def start(self):
        if self.started_at is None:
            self.started_at = _now()
            self._processor.on_span_start(self)
        return self

    def finish(self):
        if self.ended_at is None:
            self.ended_at = _now()
            self._processor.on_span_end(self)

    def set_error(self, message, data=None):
        self.error = {"message": message, "data": data}

    def _metadata(self):
        out = {}
        if self.trace_metadata:
            for k in _SPAN_METADATA_ROUTING_KEYS:
                if k in self.trace_metadata:
                    out[k] = self.trace_metadata[k]
        md = getattr(self.span_data, "metadata", None)
        if isinstance(md, dict):
            for k, v in md.items():
                out.setdefault(k, v)
        return out

    def export(self):
        d = {
            "object": "trace.span",
            "id": self.span_id,
            "trace_id": self.trace_id,
            "parent_id": self.parent_id,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "span_data": self.span_data.export(),
            "error": self.error,
        }
        md = self._metadata()
        if md:
            d["metadata"] = md
        return d


class NoOpSpan(Span):
    def __init__(self, processor, span_data):
        super().__init__(processor, NoOpTrace(processor), span_data, span_id="no-op")
        self.trace_id = "no-op"

    def start(self):
        return self

    def finish(self):
        pass

    def export(self):
        return None


USAGE = {
    "requests": 1,
    "input_tokens": 120,
    "output_tokens": 30,
    "total_tokens": 150,
    "cached_input_tokens": 0,
    "cache_write_input_tokens": 0,
}


def run_fake_agent(processor, n_tool_calls=2, metadata=None):
    """Emit the span tree one Runner.run would: trace > task > agent > turn >
    generation/response/function/handoff/guardrail/..., plus the voice and
    MCP span types. Returns (trace, [spans in end order])."""
    ended = []

    def span(data, parent):
        s = Span(processor, trace, data, parent)
        s.start()
        return s

    def end(s):
        s.finish()
        ended.append(s)

    trace = Trace(processor, "Customer support", group_id="thread_" + uuid.uuid4().hex[:8],
                  metadata=metadata or {"user": "42", "agent_harness_id": "harness-1"})
    trace.start()
    task = span(TaskSpanData("triage", usage=dict(USAGE)), None)
    agent = span(AgentSpanData("Triage", handoffs=["Billing"], tools=["lookup"],
                               output_type="str", metadata={"usage": dict(USAGE)}), task)
    turn = span(TurnSpanData(1, "Triage", usage={"input_tokens": 120, "output_tokens": 30,
                                                 "cached_input_tokens": 0,
                                                 "cache_write_input_tokens": 0}), agent)
    g = span(GuardrailSpanData("no_pii", triggered=False), turn)
    end(g)
    mcp = span(MCPListToolsSpanData(server="files", result=["read", "write"]), turn)
    end(mcp)
    gen = span(GenerationSpanData(
        input=[{"role": "user", "content": "héllo ✓ — refund?"}],
        output=[{"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}]}],
        model="gpt-4o", model_config={"temperature": 0.2, "base_url": "https://api.openai.com/v1/"},
        usage={"input_tokens": 10, "output_tokens": 5, "total_tokens": 15, "requests": 1}), turn)
    end(gen)
    for i in range(n_tool_calls):
        f = span(FunctionSpanData("lookup", '{"order": %d}' % i, {"status": "shipped"}), turn)
        if i == 0:
            f.set_error("Error running tool", {"tool_name": "lookup", "error": "timeout"})
        end(f)
    resp = span(ResponseSpanData(response_id="resp_" + uuid.uuid4().hex, usage=dict(USAGE)), turn)
    end(resp)
    h = span(HandoffSpanData("Triage", "Billing"), turn)
    end(h)
    c = span(CustomSpanData("cache_lookup", {"hit": True, "n": 3}), turn)
    end(c)
    sg = span(SpeechGroupSpanData(input="Your refund is on its way."), turn)
    sp = span(SpeechSpanData(input="Your refund is on its way.", output="AAAA", model="tts-1",
                             first_content_at=_now()), sg)
    end(sp)
    end(sg)
    tr = span(TranscriptionSpanData(input="UklGRg==", output="refund please", model="whisper-1"),
              turn)
    end(tr)
    end(turn)
    end(agent)
    end(task)
    trace.finish()
    return trace, ended
