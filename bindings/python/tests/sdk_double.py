"""A test double of the OpenAI Agents SDK's (Python) Trace and Span objects.

It follows src/agents/tracing/{traces,spans,span_data}.py: ids are
"trace_" + uuid4().hex and "span_" + uuid4().hex[:24]; timestamps are
datetime.now(timezone.utc).isoformat() (microseconds, "+00:00"); a trace is
exported once with no timestamps; a span's export carries top-level
"metadata" only when non-empty (the trace metadata's routing keys, then
span_data.metadata of agent/task/turn spans); task and turn spans are
exported as custom spans; NoOp traces and spans export None.

Response spans: the SDK's OpenAIResponsesModel sets span_data.response (an
openai.types.responses.Response, a pydantic model parsed from the API's JSON)
and span_data.input (the str or list of input items it sent) when tracing
includes data; ResponseSpanData.export() carries neither (only the type, the
response's id and usage). `Response` below stands in for the openai model:
a pydantic v2 model with the same shape rules (extra fields allowed, API
names as aliases, only the keys the API sent are "set"), or, without
pydantic, a plain object with the same model_dump().
"""

import copy
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
            "output": str(self.output) if self.output else None,
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

    def __init__(self, response=None, input=None, usage=None, metadata=None):
        self.response = response  # openai.types.responses.Response | None
        # "not used by the OpenAI trace processors, but is useful for other
        # tracing processor implementations" (the SDK's comment)
        self.input = input        # str | list[ResponseInputItemParam] | None
        self.usage, self.metadata = usage, metadata

    def export(self):
        return {
            "type": self.type,
            "response_id": self.response.id if self.response else None,
            "usage": self.usage,
        }


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


# ---- openai.types.responses stand-ins (see the module docstring) ----
try:
    import pydantic

    HAVE_PYDANTIC = int(pydantic.VERSION.split(".")[0]) >= 2
except Exception:  # pragma: no cover - depends on the machine
    pydantic = None
    HAVE_PYDANTIC = False

if HAVE_PYDANTIC:
    from typing import Any, Dict, List, Literal, Optional, Union

    try:
        from typing import Annotated
    except ImportError:  # Python 3.8
        from typing_extensions import Annotated

    class _OpenAIModel(pydantic.BaseModel):
        # openai._models.BaseModel: unknown fields from the API are kept
        model_config = pydantic.ConfigDict(extra="allow")
        _api_json = pydantic.PrivateAttr(default=None)

        @classmethod
        def from_api(cls, data):
            # the openai client builds models from the response JSON; the
            # fields it sets are exactly the keys the API sent
            m = cls.model_validate(data)
            m._api_json = copy.deepcopy(data)
            return m

    class ResponseOutputText(_OpenAIModel):
        annotations: List[Dict[str, Any]]
        text: str
        type: Literal["output_text"]
        logprobs: Optional[List[Dict[str, Any]]] = None

    class ResponseOutputMessage(_OpenAIModel):
        id: str
        content: List[ResponseOutputText]
        role: Literal["assistant"]
        status: Literal["in_progress", "completed", "incomplete"]
        type: Literal["message"]

    class ResponseFunctionToolCall(_OpenAIModel):
        arguments: str
        call_id: str
        name: str
        type: Literal["function_call"]
        id: Optional[str] = None
        status: Optional[Literal["in_progress", "completed", "incomplete"]] = None

    class InputTokensDetails(_OpenAIModel):
        cached_tokens: int

    class OutputTokensDetails(_OpenAIModel):
        reasoning_tokens: int

    class ResponseUsage(_OpenAIModel):
        input_tokens: int
        input_tokens_details: InputTokensDetails
        output_tokens: int
        output_tokens_details: OutputTokensDetails
        total_tokens: int

    class ResponseFormatTextJSONSchemaConfig(_OpenAIModel):
        name: str
        schema_: Dict[str, Any] = pydantic.Field(alias="schema")  # API name: "schema"
        type: Literal["json_schema"]
        description: Optional[str] = None
        strict: Optional[bool] = None

    class ResponseTextConfig(_OpenAIModel):
        format: Optional[ResponseFormatTextJSONSchemaConfig] = None

    ResponseOutputItem = Annotated[
        Union[ResponseOutputMessage, ResponseFunctionToolCall],
        pydantic.Field(discriminator="type"),
    ]

    class Response(_OpenAIModel):
        id: str
        created_at: float
        error: Optional[Dict[str, Any]] = None
        incomplete_details: Optional[Dict[str, Any]] = None
        instructions: Union[str, List[Dict[str, Any]], None] = None
        metadata: Optional[Dict[str, str]] = None
        model: str
        object: Literal["response"]
        output: List[ResponseOutputItem]
        parallel_tool_calls: bool
        temperature: Optional[float] = None
        tool_choice: Any
        tools: List[Dict[str, Any]]
        top_p: Optional[float] = None
        max_output_tokens: Optional[int] = None
        previous_response_id: Optional[str] = None
        status: Optional[str] = None
        text: Optional[ResponseTextConfig] = None
        usage: Optional[ResponseUsage] = None
        user: Optional[str] = None

else:

    class _OpenAIModel:
        """Without pydantic: the same id attribute and model_dump()."""

        def __init__(self, data):
            self._api_json = copy.deepcopy(data)
            self.id = data.get("id")

        @classmethod
        def from_api(cls, data):
            return cls(data)

        def model_dump(self, *, mode="python", by_alias=False, exclude_unset=False, **_kw):
            return copy.deepcopy(self._api_json)

    class Response(_OpenAIModel):
        pass

    class ResponseOutputMessage(_OpenAIModel):
        pass


def api_json(model):
    """The JSON the API sent that `model` was built from."""
    return copy.deepcopy(model._api_json)


def response_json(response_id=None, text="Your refund is on its way ✓", usage=True):
    """A Responses API response body (POST /v1/responses), as the API sends it:
    every documented field present, nulls included."""
    rid = response_id or "resp_" + uuid.uuid4().hex
    return {
        "id": rid,
        "object": "response",
        "created_at": 1741476542,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": "You are a triage agent.",
        "max_output_tokens": None,
        "model": "gpt-4o-2024-08-06",
        "output": [
            {"type": "message", "id": "msg_" + rid[5:], "status": "completed",
             "role": "assistant",
             "content": [{"type": "output_text", "text": text, "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "lookup",
             "arguments": "{\"order\": 1}", "status": "completed"},
        ],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "json_schema", "name": "Answer", "strict": True,
                            "schema": {"type": "object",
                                       "properties": {"a": {"type": "string"}}}}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": ({"input_tokens": 120, "input_tokens_details": {"cached_tokens": 0},
                   "output_tokens": 30, "output_tokens_details": {"reasoning_tokens": 0},
                   "total_tokens": 150} if usage else None),
        "user": None,
        "metadata": {},
    }


def input_items():
    """Model input as the Runner passes it to the Responses model: input item
    dicts (TypedDicts), one of them a previous turn's output message object."""
    prev = ResponseOutputMessage.from_api(
        {"type": "message", "id": "msg_prev", "status": "completed", "role": "assistant",
         "content": [{"type": "output_text", "text": "Which order?", "annotations": []}]})
    return [
        {"role": "user", "content": "héllo ✓ — refund?"},
        prev,
        {"role": "user", "content": [{"type": "input_text", "text": "order 1"}]},
        {"type": "function_call_output", "call_id": "call_0",
         "output": "{\"status\": \"shipped\"}"},
    ]


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
    resp = span(ResponseSpanData(usage=dict(USAGE)), turn)
    # as OpenAIResponsesModel.get_response does when tracing includes data
    resp.span_data.response = Response.from_api(response_json())
    resp.span_data.input = input_items()
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
