// SPDX-License-Identifier: Apache-2.0
// The official OpenTelemetry JavaScript SDK sends spans with its OTLP/HTTP protobuf exporter
// (@opentelemetry/exporter-trace-otlp-proto) to tracecraft-sink; the sink's stored OTLP/JSON must
// equal, field for field, the SDK's own OTLP/JSON encoding of the same spans (JsonTraceSerializer
// of @opentelemetry/otlp-transformer), taken from an in-memory exporter beside it.
//
// Usage: node sdk_to_sink.js SINK_ENDPOINT SINK_OUT.jsonl
'use strict';

const fs = require('fs');
const api = require('@opentelemetry/api');
const { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor, InMemorySpanExporter } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { JsonTraceSerializer } = require('@opentelemetry/otlp-transformer');
const { resourceFromAttributes } = require('@opentelemetry/resources');

const [endpoint, sinkOut] = process.argv.slice(2);
const errors = [];
const fail = (where, msg) => {
  if (errors.length < 50) errors.push(`${where}: ${msg}`);
};

async function main() {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'js-sdk-interop',
      'deployment.environment.name': 'test',
      'host.tags': ['a', 'b'],
      'process.pid': 4242,
    }),
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${endpoint}/v1/traces` }), { maxExportBatchSize: 7, scheduledDelayMillis: 50 }),
      new SimpleSpanProcessor(memory),
    ],
  });
  const tracer = provider.getTracer('interop-scope', '1.2.3');
  const root = tracer.startSpan('POST /v1/chat/completions', {
    kind: api.SpanKind.SERVER,
    attributes: {
      'http.route': '/v1/chat/completions', 'gen_ai.request.max_tokens': 256, 'gen_ai.request.temperature': 0.25,
      'gen_ai.request.stream': true, 'gen_ai.request.stop_sequences': ['\n\n', 'END'], 'scores': [0.5, -1.25, 3e10],
      'flags': [true, false], 'counts': [1, 2, 3], 'unicode': 'naïve – 日本語 – 🚀', 'empty': '',
    },
  });
  const rootCtx = api.trace.setSpan(api.context.active(), root);
  root.addEvent('queued', { 'queue.depth': 3 });
  for (let i = 0; i < 20; ++i) {
    const step = tracer.startSpan(`decode ${i}`, { kind: api.SpanKind.INTERNAL, attributes: { 'step': i, 'big': 2 ** 53 - i } }, rootCtx);
    if (i % 5 === 0) step.addEvent('first_token', { 'gen_ai.response.time_to_first_chunk': 0.031 });
    if (i === 7) step.setStatus({ code: api.SpanStatusCode.ERROR, message: 'kv cache full: 日本' });
    if (i === 8) step.setStatus({ code: api.SpanStatusCode.OK });
    step.end();
  }
  const client = tracer.startSpan('chat llama', {
    kind: api.SpanKind.CLIENT,
    links: [{ context: root.spanContext(), attributes: { 'link.reason': 'retry' } }],
  }, rootCtx);
  client.end();
  tracer.startSpan('enqueue', { kind: api.SpanKind.PRODUCER }, rootCtx).end();
  tracer.startSpan('dequeue', { kind: api.SpanKind.CONSUMER }, rootCtx).end();
  root.end();
  await provider.forceFlush();
  const sdkSpans = memory.getFinishedSpans();  // before shutdown, which clears the memory exporter
  await provider.shutdown();

  const expected = JSON.parse(Buffer.from(JsonTraceSerializer.serializeRequest(sdkSpans)).toString('utf8'));
  const want = new Map();
  let resourceWant, scopeWant;
  for (const rs of expected.resourceSpans)
    for (const ss of rs.scopeSpans) {
      resourceWant = rs.resource;
      scopeWant = ss.scope;
      for (const s of ss.spans) want.set(s.spanId, s);
    }

  // The sink writes each request as it arrives: wait for all of them.
  let got = new Map();
  let lines = [];
  for (let tries = 0; tries < 100 && got.size < want.size; ++tries) {
    await new Promise((r) => setTimeout(r, 50));
    lines = fs.existsSync(sinkOut) ? fs.readFileSync(sinkOut, 'utf8').split('\n').filter(Boolean) : [];
    got = new Map();
    for (const line of lines) {
      const req = JSON.parse(line);
      for (const rs of req.resourceSpans) {
        compare(rs.resource, resourceWant, 'resource');
        for (const ss of rs.scopeSpans) {
          compare(ss.scope, scopeWant, 'scope');
          for (const s of ss.spans) got.set(s.spanId, s);
        }
      }
    }
  }
  if (got.size !== want.size) fail('spans', `sink stored ${got.size}, the SDK exported ${want.size}`);
  for (const [id, w] of want) {
    if (!got.has(id)) fail(`span ${id}`, 'never stored by the sink');
    else compare(got.get(id), w, `span ${w.name}`);
  }
  if (lines.length < 3) fail('requests', `expected several batches, got ${lines.length}`);
  if (errors.length) {
    console.error(errors.slice(0, 50).join('\n'));
    console.error(`FAIL: ${errors.length} difference(s)`);
    process.exit(1);
  }
  console.log(`ok: ${want.size} spans from the official JS SDK stored by tracecraft-sink in ${lines.length} requests, equal field for field`);
}

// The SDK's JSON writes 64-bit values as numbers or strings; ids as hex in both.
const isDefault = (x) => x === 0 || x === '0' || x === '' || x === undefined || (Array.isArray(x) && x.length === 0) ||
  (x && typeof x === 'object' && !Array.isArray(x) && Object.keys(x).length === 0);
function compare(a, b, where) {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return fail(where, `length ${a && a.length} vs ${b && b.length}`);
    return a.forEach((x, i) => compare(x, b[i], `${where}[${i}]`));
  }
  if ((a && typeof a === 'object') || (b && typeof b === 'object')) {
    if (!a || !b || typeof a !== 'object' || typeof b !== 'object') return fail(where, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (!(k in a) || !(k in b)) {
        if (isDefault(k in a ? a[k] : b[k])) continue;  // proto3 default either way
        fail(`${where}.${k}`, `only ${k in a ? 'in the sink' : 'in the SDK'}: ${JSON.stringify(k in a ? a[k] : b[k])}`);
        continue;
      }
      compare(a[k], b[k], `${where}.${k}`);
    }
    return;
  }
  // A 64-bit integer may be a decimal string on one side and a number on the other.
  const same = typeof a === 'number' || typeof b === 'number' ? String(a) === String(b) || Number(a) === Number(b) : a === b;
  if (!same) fail(where, `sink ${JSON.stringify(a)} vs SDK ${JSON.stringify(b)}`);
}

main().catch((e) => {
  console.error(`FAIL: ${e.stack || e}`);
  process.exit(1);
});
