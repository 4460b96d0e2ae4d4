// A loopback OTLP/HTTP trace receiver for the serve programs. Bodies are
// decoded with the OpenTelemetry JS project's own generated protobufjs types
// (@opentelemetry/otlp-transformer 0.216.0's root:
// opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest):
// application/x-protobuf directly, application/json (OTLP/JSON: hex ids,
// otherwise the proto3 JSON mapping) through the same type's fromObject.
// gzip bodies are accepted. Every span is kept in a normalized form keyed by
// its span id. For a window of time the receiver can reset every connection:
// the socket is destroyed with an RST, without an answer.
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import zlib from 'node:zlib';

const require = createRequire(import.meta.url);
// 0.216.0 is the last otlp-transformer whose generated root holds the trace types.
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root.js');
export const ExportTraceServiceRequest = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
const ExportTraceServiceResponse = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
const { ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer');

const TO_OBJECT = { longs: String, enums: Number, bytes: String, defaults: false, arrays: true };
const b64hex = (s) => Buffer.from(s || '', 'base64').toString('hex');

/** AnyValue → a plain tagged value that keeps the type ({int: "3"} is not {double: 3}). */
function normValue(v) {
  if (!v) return { empty: true };
  if ('stringValue' in v) return { string: v.stringValue };
  if ('boolValue' in v) return { bool: v.boolValue };
  if ('intValue' in v) return { int: String(v.intValue) };
  if ('doubleValue' in v) return { double: v.doubleValue };
  if ('bytesValue' in v) return { bytes: v.bytesValue };
  if ('arrayValue' in v) return { array: (v.arrayValue.values || []).map(normValue) };
  if ('kvlistValue' in v) return { kvlist: normAttrs(v.kvlistValue.values) };
  return { empty: true };
}

/** KeyValue list → {key: tagged value}; a key twice is an error. */
export function normAttrs(kvs) {
  const m = {};
  for (const kv of kvs || []) {
    assert.ok(!Object.hasOwn(m, kv.key), `attribute ${kv.key} appears twice`);
    m[kv.key] = normValue(kv.value);
  }
  return m;
}

function normSpan(s) {
  return {
    traceId: b64hex(s.traceId),
    spanId: b64hex(s.spanId),
    parentSpanId: b64hex(s.parentSpanId),
    traceState: s.traceState || '',
    flags: s.flags || 0,
    name: s.name || '',
    kind: s.kind || 0,
    startTimeUnixNano: String(s.startTimeUnixNano || '0'),
    endTimeUnixNano: String(s.endTimeUnixNano || '0'),
    attributes: normAttrs(s.attributes),
    droppedAttributesCount: s.droppedAttributesCount || 0,
    events: (s.events || []).map((e) => ({
      timeUnixNano: String(e.timeUnixNano || '0'),
      name: e.name || '',
      attributes: normAttrs(e.attributes),
      droppedAttributesCount: e.droppedAttributesCount || 0,
    })),
    droppedEventsCount: s.droppedEventsCount || 0,
    links: (s.links || []).map((l) => ({
      traceId: b64hex(l.traceId),
      spanId: b64hex(l.spanId),
      traceState: l.traceState || '',
      attributes: normAttrs(l.attributes),
      droppedAttributesCount: l.droppedAttributesCount || 0,
      flags: l.flags || 0,
    })),
    droppedLinksCount: s.droppedLinksCount || 0,
    status: { code: s.status?.code || 0, message: s.status?.message || '' },
  };
}

/** A decoded ExportTraceServiceRequest → [{resource, scope, span}] in normalized form. */
export function flattenRequest(msg) {
  const obj = ExportTraceServiceRequest.toObject(msg, TO_OBJECT);
  const out = [];
  for (const rs of obj.resourceSpans || []) {
    const resource = {
      attributes: normAttrs(rs.resource?.attributes),
      droppedAttributesCount: rs.resource?.droppedAttributesCount || 0,
      schemaUrl: rs.schemaUrl || '',
    };
    for (const ss of rs.scopeSpans || []) {
      const scope = {
        name: ss.scope?.name || '',
        version: ss.scope?.version || '',
        attributes: normAttrs(ss.scope?.attributes),
        droppedAttributesCount: ss.scope?.droppedAttributesCount || 0,
        schemaUrl: ss.schemaUrl || '',
      };
      for (const s of ss.spans || []) out.push({ resource, scope, span: normSpan(s) });
    }
  }
  return out;
}

/** What the OTel SDK sends for these ReadableSpans, through the SDK's own
 * protobuf serializer, decoded and normalized like a received body. */
export function expectedFromSdk(readableSpans) {
  const bytes = ProtobufTraceSerializer.serializeRequest(readableSpans);
  return flattenRequest(ExportTraceServiceRequest.decode(bytes));
}

const hexToB64 = (h) => (typeof h === 'string' && /^[0-9a-fA-F]*$/.test(h) ? Buffer.from(h, 'hex').toString('base64') : h);

/** OTLP/JSON (hex trace and span ids) → the generated type. */
export function decodeOtlpJson(text) {
  const j = JSON.parse(text);
  for (const rs of j.resourceSpans || []) {
    for (const ss of rs.scopeSpans || []) {
      for (const s of ss.spans || []) {
        for (const k of ['traceId', 'spanId', 'parentSpanId']) if (k in s) s[k] = hexToB64(s[k]);
        for (const l of s.links || []) for (const k of ['traceId', 'spanId']) if (k in l) l[k] = hexToB64(l[k]);
      }
    }
  }
  const msg = ExportTraceServiceRequest.fromObject(j);
  const err = ExportTraceServiceRequest.verify(msg);
  if (err) throw new Error(`OTLP/JSON body does not verify: ${err}`);
  return msg;
}

/** A protobuf body → the generated type; it must re-encode to the same bytes
 * (no field the spec does not define, no wrong wire type). */
export function decodeOtlpProtobuf(body) {
  const msg = ExportTraceServiceRequest.decode(body);
  const err = ExportTraceServiceRequest.verify(msg);
  if (err) throw new Error(`protobuf body does not verify: ${err}`);
  const again = Buffer.from(ExportTraceServiceRequest.encode(msg).finish());
  if (!again.equals(body)) throw new Error(`protobuf body (${body.length} bytes) does not round-trip through ExportTraceServiceRequest (${again.length} bytes)`);
  return msg;
}

/**
 * Starts the receiver on 127.0.0.1 (port chosen by the kernel). Returns
 *  - port, url ('http://127.0.0.1:PORT'; OTLP posts go to url + '/v1/traces')
 *  - spans: Map spanIdHex → the last normalized {resource, scope, span}
 *  - copies: Map spanIdHex → how many times it was received
 *  - stats: {requests, answered, resets, errors: [..], contentTypes: {..}}
 *  - resetUntil(epochMs): reset every connection and request before that time
 *  - close()
 */
export function startReceiver({ path = '/v1/traces' } = {}) {
  const spans = new Map();
  const copies = new Map();
  const stats = { requests: 0, answered: 0, resets: 0, errors: [], contentTypes: {} };
  let resetBefore = 0;
  const resetting = () => Date.now() < resetBefore;
  const reset = (sock) => {
    stats.resets++;
    if (typeof sock.resetAndDestroy === 'function') sock.resetAndDestroy();
    else sock.destroy();
  };

  const server = http.createServer((req, res) => {
    stats.requests++;
    if (resetting()) {
      reset(req.socket);
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (resetting()) {
        reset(req.socket);
        return;
      }
      const ctype = String(req.headers['content-type'] || '').split(';')[0].trim();
      const enc = String(req.headers['content-encoding'] || 'identity');
      stats.contentTypes[`${ctype} ${enc}`] = (stats.contentTypes[`${ctype} ${enc}`] || 0) + 1;
      let got;
      try {
        if (req.method !== 'POST' || req.url !== path) throw new Error(`${req.method} ${req.url}: expected POST ${path}`);
        let body = Buffer.concat(chunks);
        if (enc === 'gzip') body = zlib.gunzipSync(body);
        else if (enc !== 'identity') throw new Error(`content-encoding ${enc}`);
        if (ctype === 'application/x-protobuf') got = flattenRequest(decodeOtlpProtobuf(body));
        else if (ctype === 'application/json') got = flattenRequest(decodeOtlpJson(body.toString('utf8')));
        else throw new Error(`content-type ${ctype}`);
      } catch (e) {
        stats.errors.push(e.message);
        res.writeHead(400, { 'content-type': 'text/plain' }).end(e.message);
        return;
      }
      for (const s of got) {
        spans.set(s.span.spanId, s);
        copies.set(s.span.spanId, (copies.get(s.span.spanId) || 0) + 1);
      }
      stats.answered++;
      if (ctype === 'application/json') res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.from(ExportTraceServiceResponse.encode({}).finish()));
    });
  });
  server.on('connection', (sock) => {
    if (resetting()) reset(sock);
  });
  server.keepAliveTimeout = 5000;

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        port,
        url: `http://127.0.0.1:${port}`,
        spans,
        copies,
        stats,
        resetUntil(epochMs) {
          resetBefore = epochMs;
        },
        close() {
          server.closeAllConnections?.();
          return new Promise((r) => server.close(() => r()));
        },
      });
    });
  });
}
