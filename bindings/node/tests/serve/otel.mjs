// The OpenTelemetry JS SDK side of the serve programs: a BasicTracerProvider
// with a resource, two instrumentation scopes, and a unit of work that makes
// five real SDK spans (a server span under a remote parent with a tracestate,
// a link to the previous unit, client and internal children, events, an
// exception, an error status, every attribute type the API takes).
import { SpanKind, SpanStatusCode, context, createTraceState, trace } from '@opentelemetry/api';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';

export const SPANS_PER_UNIT = 5;

/** A SpanProcessor that hands every ended span to `sink`. */
export class EndedSpans {
  constructor(sink) {
    this.sink = sink;
  }
  onStart() {}
  onEnd(span) {
    this.sink(span);
  }
  forceFlush() {
    return Promise.resolve();
  }
  shutdown() {
    return Promise.resolve();
  }
}

export function makeProvider(serviceName, spanProcessors) {
  const resource = defaultResource().merge(
    resourceFromAttributes(
      {
        'service.name': serviceName,
        'service.version': '1.4.2',
        'service.instance.id': `inst-${process.pid}`,
        'deployment.environment.name': 'test',
        'host.cores': 2,
        'tb.labels': ['a', 'b'],
      },
      { schemaUrl: 'https://opentelemetry.io/schemas/1.26.0' },
    ),
  );
  return new BasicTracerProvider({ resource, spanProcessors });
}

const hex = (n, width) => n.toString(16).padStart(width, '0').slice(-width);

/** A unit maker bound to a provider: each call ends SPANS_PER_UNIT spans. */
export function unitMaker(provider) {
  const api = provider.getTracer('tracebox.serve.test', '2.0.1', { schemaUrl: 'https://opentelemetry.io/schemas/1.24.0' });
  const db = provider.getTracer('tracebox.serve.db');
  let prev = null;
  let n = 0;
  return function unit() {
    const i = n++;
    // a remote parent (as if propagated from an upstream service) with a tracestate
    const remote = {
      traceId: `${hex(process.pid, 8)}${hex(Date.now(), 12)}${hex(i, 12)}`,
      spanId: `ab${hex(i, 14)}`,
      traceFlags: 1,
      isRemote: true,
      traceState: createTraceState(`tb=u${i},vendor=x`),
    };
    const parentCtx = trace.setSpanContext(context.active(), remote);
    const links = prev ? [{ context: prev, attributes: { 'link.reason': 'previous request', 'link.index': i - 1 } }] : [];
    const root = api.startSpan(
      `POST /orders/${i % 7}`,
      {
        kind: SpanKind.SERVER,
        links,
        attributes: {
          'http.request.method': 'POST',
          'http.response.status_code': 200,
          'url.path': `/orders/${i % 7}`,
          'tb.seq': i,
          'tb.ratio': 0.25 + i / 1000,
          'tb.ok': i % 2 === 0,
          'tb.tags': ['alpha', 'beta', 'γάμμα'],
          'tb.ints': [1, -2, 3 * i],
          'tb.doubles': [1.5, -2.25],
          'tb.bools': [true, false],
          'tb.unicode': 'héllo ✓ 日本語 \u{1F600}',
          'tb.empty': '',
          'tb.big': Number.MAX_SAFE_INTEGER,
          'tb.neg': -42,
        },
      },
      parentCtx,
    );
    prev = root.spanContext();
    const ctx = trace.setSpan(parentCtx, root);
    root.addEvent('request.received', { 'body.bytes': 512 + i, 'content.type': 'application/json' });

    const q = db.startSpan('SELECT orders', { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'postgresql', 'db.query.text': 'SELECT * FROM orders WHERE id = $1', 'db.rows': i % 5 } }, ctx);
    q.addEvent('retry', { attempt: 2, 'delay.ms': 12.5 });
    q.end();

    const call = api.startSpan('call billing', { kind: SpanKind.CLIENT, attributes: { 'peer.service': 'billing', 'rpc.method': 'Refund' } }, ctx);
    if (i % 3 === 0) {
      call.recordException(Object.assign(new Error(`billing timed out (${i})`), { name: 'TimeoutError' }));
      call.setStatus({ code: SpanStatusCode.ERROR, message: 'deadline exceeded' });
    } else {
      call.setStatus({ code: SpanStatusCode.OK });
    }
    call.end();

    const prod = api.startSpan('publish order.updated', { kind: SpanKind.PRODUCER, attributes: { 'messaging.system': 'kafka' } }, ctx);
    prod.end();

    const work = api.startSpan('render', { kind: SpanKind.INTERNAL }, ctx);
    work.addEvent('cache.miss');
    work.setAttribute('tb.late', 'set after start');
    work.end();

    root.end();
  };
}
