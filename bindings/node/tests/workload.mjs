// The workload of the comparison tests (reference.test.mjs, langfuse.test.mjs):
// real @openai/agents-core 0.20.0 runs with the real @openai/agents-openai
// models — OpenAIResponsesModel for a triage agent, OpenAIChatCompletionsModel
// for a billing agent — on a stub OpenAI client (no network; realistic
// Responses / ChatCompletion objects with tool calls, usage with cached and
// reasoning tokens, instructions, tools), an in-process MCP server, a
// handoff, a tool that fails, input and output guardrails, a tripped
// guardrail, and voice spans made with the SDK's own span functions.
// Three traces: `refund-flow` (group `thread_42`), `gate`, `voice-refund`
// (group `call_77`).
import assert from 'node:assert/strict';

import {
  Agent,
  InputGuardrailTripwireTriggered,
  Runner,
  createSpeechGroupSpan,
  createSpeechSpan,
  createTranscriptionSpan,
  tool,
  withCustomSpan,
  withTrace,
} from '@openai/agents-core';
import { OpenAIChatCompletionsModel, OpenAIResponsesModel } from '@openai/agents-openai';
import { z } from 'zod';

// The refund run: what the user says, what the billing agent finally answers.
export const WORKFLOW = 'refund-flow';
export const GROUP_ID = 'thread_42';
export const USER_INPUT = 'I want a refund for order 42';
export const FINAL_ANSWER = 'Your refund of $19.99 for order 42 is issued.';

// ---------------------------------------------------------------------------
// A stub OpenAI client: scripted Responses API and Chat Completions answers
// ---------------------------------------------------------------------------

let created = 1764470000;

function responsesUsage(input, output, cached, reasoning) {
  return {
    input_tokens: input, input_tokens_details: { cached_tokens: cached },
    output_tokens: output, output_tokens_details: { reasoning_tokens: reasoning },
    total_tokens: input + output,
  };
}

function chatUsage(prompt, completion, cached, reasoning) {
  return {
    prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: reasoning, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/** A Responses API `Response` as the openai package returns it for this request. */
function response(req, n, output, usage, extra = {}) {
  const text = output.filter((o) => o.type === 'message').flatMap((o) => o.content).filter((c) => c.type === 'output_text').map((c) => c.text).join('');
  return {
    id: `resp_${n}${'0'.repeat(8)}`, object: 'response', created_at: created++, status: 'completed',
    background: false, error: null, incomplete_details: null, instructions: req.instructions ?? null,
    max_output_tokens: req.max_output_tokens ?? null, model: 'gpt-4.1-2025-04-14', output,
    parallel_tool_calls: req.parallel_tool_calls ?? true, previous_response_id: null,
    reasoning: { effort: null, summary: null }, service_tier: 'default', store: true,
    temperature: req.temperature ?? 1, text: { format: { type: 'text' }, verbosity: 'medium' },
    tool_choice: req.tool_choice ?? 'auto', tools: req.tools ?? [], top_p: req.top_p ?? 1, truncation: 'disabled',
    usage, user: null, metadata: {}, output_text: text, ...extra,
  };
}

/** A ChatCompletion as the openai package returns it. */
function chatCompletion(n, message, finishReason, usage) {
  return {
    id: `chatcmpl-${n}abc`, object: 'chat.completion', created: created++, model: 'gpt-4o-mini-2024-07-18',
    choices: [{ index: 0, message: { refusal: null, annotations: [], ...message }, logprobs: null, finish_reason: finishReason }],
    usage, service_tier: 'default', system_fingerprint: 'fp_0ba0d124f1',
  };
}

/** client.responses.create / client.chat.completions.create answer from
 * scripts, in order; `requests` and `answers` keep what was asked and what
 * the stub returned. */
export function stubOpenAI({ responses = [], completions = [] }) {
  const requests = { responses: [], completions: [] };
  const answers = { responses: [], completions: [] };
  const client = {
    baseURL: 'http://127.0.0.1:9/v1', // never contacted
    responses: {
      create: async (req) => {
        requests.responses.push(req);
        const step = responses[requests.responses.length - 1];
        if (!step) throw new Error(`stub: no scripted response #${requests.responses.length}`);
        const answer = step(req, requests.responses.length);
        answers.responses.push(answer);
        return answer;
      },
    },
    chat: {
      completions: {
        create: async (req) => {
          requests.completions.push(req);
          const step = completions[requests.completions.length - 1];
          if (!step) throw new Error(`stub: no scripted chat completion #${requests.completions.length}`);
          const answer = step(req, requests.completions.length);
          answers.completions.push(answer);
          return answer;
        },
      },
    },
  };
  return { client, requests, answers };
}

// ---------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------

/** An MCP server in-process: one tool, listed and called the way agents-core does. */
export const policyServer = {
  name: 'policies',
  cacheToolsList: false,
  async connect() {},
  async close() {},
  async invalidateToolsCache() {},
  async listTools() {
    return [{
      name: 'read_policy', description: 'Read a store policy',
      inputSchema: { type: 'object', properties: { topic: { type: 'string' } }, required: ['topic'], additionalProperties: false },
    }];
  },
  async callTool(name, args) {
    return [{ type: 'text', text: `policy ${args.topic}: refunds within 30 days` }];
  },
};

export function makeRefundAgents() {
  const triageAI = stubOpenAI({
    responses: [
      // reasoning, then a function call
      (req, n) => response(req, n, [
        { type: 'reasoning', id: 'rs_01', summary: [{ type: 'summary_text', text: 'Look the order up first.' }] },
        { type: 'function_call', id: 'fc_01', call_id: 'call_lookup_1', name: 'lookup_order', arguments: '{"order":42}', status: 'completed' },
      ], responsesUsage(120, 30, 40, 12)),
      // an MCP tool
      (req, n) => response(req, n, [
        { type: 'function_call', id: 'fc_02', call_id: 'call_policy_1', name: 'read_policy', arguments: '{"topic":"refunds"}', status: 'completed' },
      ], responsesUsage(160, 20, 0, 0)), // zero cached and reasoning tokens
      // text and the handoff
      (req, n) => response(req, n, [
        { type: 'message', id: 'msg_03', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Passing you to billing.', annotations: [] }] },
        { type: 'function_call', id: 'fc_03', call_id: 'call_handoff_1', name: 'transfer_to_Billing', arguments: '{}', status: 'completed' },
      ], responsesUsage(200, 25, 100, 5)),
    ],
  });
  const billingAI = stubOpenAI({
    completions: [
      // two tool calls in one message
      (req, n) => chatCompletion(n, {
        role: 'assistant', content: null,
        tool_calls: [
          { id: 'call_refund_1', type: 'function', function: { name: 'issue_refund', arguments: '{"order":42,"amount":19.99}' } },
          { id: 'call_fraud_1', type: 'function', function: { name: 'check_fraud', arguments: '{"order":42}' } },
        ],
      }, 'tool_calls', chatUsage(300, 40, 128, 16)),
      (req, n) => chatCompletion(n, { role: 'assistant', content: FINAL_ANSWER }, 'stop', chatUsage(380, 14, 256, 0)),
    ],
  });
  const lookupOrder = tool({
    name: 'lookup_order', description: 'Look an order up', parameters: z.object({ order: z.number() }),
    execute: async ({ order }) => `order ${order}: delivered, $19.99`,
  });
  const issueRefund = tool({
    name: 'issue_refund', description: 'Refund an order', parameters: z.object({ order: z.number(), amount: z.number() }),
    // a custom span from inside a tool, as applications do
    execute: async ({ order, amount }) => withCustomSpan(async () => `refunded $${amount} on order ${order}`,
      { data: { name: 'ledger_write', data: { order, amount, currency: 'USD' } } }),
  });
  const checkFraud = tool({
    name: 'check_fraud', description: 'Fraud check', parameters: z.object({ order: z.number() }),
    execute: async () => {
      throw new Error('fraud service unavailable');
    },
  });
  const billing = new Agent({
    name: 'Billing',
    instructions: 'You issue refunds.',
    model: new OpenAIChatCompletionsModel(billingAI.client, 'gpt-4o-mini'),
    modelSettings: { temperature: 0.3, maxTokens: 400 },
    tools: [issueRefund, checkFraud],
    outputGuardrails: [{ name: 'no_card_numbers', execute: async () => ({ tripwireTriggered: false, outputInfo: { checked: true } }) }],
  });
  const triage = new Agent({
    name: 'Triage',
    instructions: 'Route the customer to the right team.',
    model: new OpenAIResponsesModel(triageAI.client, 'gpt-4.1'),
    modelSettings: { temperature: 0.2 },
    tools: [lookupOrder],
    mcpServers: [policyServer],
    handoffs: [billing],
    inputGuardrails: [{ name: 'no_pii', execute: async () => ({ tripwireTriggered: false, outputInfo: { pii: false } }) }],
  });
  return { triage, triageAI, billingAI };
}

export function makeGatekeeper() {
  const ai = stubOpenAI({
    responses: [(req, n) => response(req, n, [
      { type: 'message', id: 'msg_g1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Sure.', annotations: [] }] },
    ], responsesUsage(50, 3, 0, 0))],
  });
  const agent = new Agent({
    name: 'Gatekeeper',
    instructions: 'Answer briefly.',
    model: new OpenAIResponsesModel(ai.client, 'gpt-4.1-mini'),
    inputGuardrails: [{
      name: 'block_card_numbers', runInParallel: false,
      execute: async () => ({ tripwireTriggered: true, outputInfo: { reason: 'card number' } }),
    }],
  });
  return { agent, ai };
}

/** Voice spans (no Runner makes them in agents-core): the SDK's own span functions. */
export async function voiceTrace() {
  await withTrace('voice-refund', async () => {
    const group = createSpeechGroupSpan({ data: { input: 'I want a refund for order 42' } });
    group.start();
    const stt = createTranscriptionSpan({
      data: { input: { data: 'UklGRiQAAABXQVZFZm10IBAAAAABAAEAgD4AAAB9AAACABAAZGF0YQAAAAA=', format: 'pcm' }, output: 'I want a refund for order 42', model: 'gpt-4o-transcribe', model_config: { language: 'en' } },
    }, group);
    stt.start();
    stt.end();
    const tts = createSpeechSpan({
      data: { input: 'Your refund is on its way.', output: { data: 'AAAAAAAAAAA=', format: 'pcm' }, model: 'gpt-4o-mini-tts', model_config: { voice: 'alloy' } },
    }, group);
    tts.start();
    tts.end();
    group.end();
  }, { groupId: 'call_77' });
}

/**
 * Runs the whole workload on the SDK's global trace provider (whatever
 * processors the caller registered): the refund run (WORKFLOW, GROUP_ID), the
 * tripped guardrail (`gate`) and the voice trace. Returns the run's result
 * and the stub clients (their requests and answers).
 */
export async function runWorkload() {
  // 1. a triage agent on the Responses API hands off to a billing agent on Chat Completions
  const { triage, triageAI, billingAI } = makeRefundAgents();
  const result = await new Runner({ workflowName: WORKFLOW, groupId: GROUP_ID }).run(triage, USER_INPUT);
  assert.equal(result.finalOutput, FINAL_ANSWER);
  assert.equal(triageAI.requests.responses.length, 3);
  assert.equal(billingAI.requests.completions.length, 2);
  // 2. an input guardrail trips
  const gate = makeGatekeeper();
  await assert.rejects(new Runner({ workflowName: 'gate' }).run(gate.agent, 'my card is 4111 1111 1111 1111'), InputGuardrailTripwireTriggered);
  // 3. voice
  await voiceTrace();
  return { result, triageAI, billingAI, gate };
}
