// SPDX-License-Identifier: Apache-2.0
// Checks TraceCraft's JSONL output with the official OpenTelemetry JavaScript OTLP definitions
// (the generated protobuf root of @opentelemetry/otlp-transformer 0.216.0, aliased otlp-decoder): every line must map onto
// ExportTraceServiceRequest, survive encode -> decode unchanged (a field the official schema does
// not know is dropped by fromObject, so a misspelt or mistyped field shows up as a difference),
// and obey the rules of the OTLP specification (standards note §1-§2).
//
// Usage: node check_otlp_json.js FILE.jsonl [--min-spans N]
'use strict';

const fs = require('fs');
const path = require('path');
const root = require(path.join(__dirname, 'node_modules/otlp-decoder/build/src/generated/root'));

const Request = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

const file = process.argv[2];
const minSpans = process.argv[3] === '--min-spans' ? Number(process.argv[4]) : 1;
const errors = [];
const fail = (where, msg) => {
  if (errors.length < 50) errors.push(`${where}: ${msg}`);
};

// OTLP/JSON differs from protobuf's canonical JSON: ids are hex, not base64 (standards §2).
const ID_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId']);
function hexToBytes(hex, where) {
  if (typeof hex !== 'string' || !/^[0-9a-f]*$/.test(hex) || hex.length % 2) {
    fail(where, `id is not lowercase hex: ${JSON.stringify(hex)}`);
    return Buffer.alloc(0);
  }
  return Buffer.from(hex, 'hex');
}
function toProtoShape(v, where) {
  if (Array.isArray(v)) return v.map((x, i) => toProtoShape(x, `${where}[${i}]`));
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = ID_FIELDS.has(k) ? hexToBytes(x, `${where}.${k}`) : toProtoShape(x, `${where}.${k}`);
    return out;
  }
  return v;
}
function fromProtoShape(v) {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(fromProtoShape);
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = fromProtoShape(x);
    return out;
  }
  return v;
}
// Our writer quotes 64-bit integers (standards §2); compare numbers and decimal strings as one.
function same(a, b) {
  if (typeof a === 'string' && typeof b === 'number') return a === String(b);
  if (typeof a === 'number' && typeof b === 'string') return String(a) === b;
  if (typeof a === 'number' && typeof b === 'number') return a === b || (Number.isNaN(a) && Number.isNaN(b));
  return a === b;
}
function diff(orig, back, where) {
  if (Array.isArray(orig)) {
    if (!Array.isArray(back) || back.length !== orig.length) return fail(where, `array length ${orig.length} came back as ${back && back.length}`);
    orig.forEach((x, i) => diff(x, back[i], `${where}[${i}]`));
    return;
  }
  if (orig && typeof orig === 'object') {
    if (!back || typeof back !== 'object') return fail(where, 'object lost in the round trip');
    for (const k of Object.keys(orig)) {
      if (!(k in back)) {
        // proto3 drops zero scalars outside oneofs; anything else lost is unknown to the schema.
        if (orig[k] === 0 || orig[k] === '0' || orig[k] === '' || (Array.isArray(orig[k]) && orig[k].length === 0)) continue;
        fail(`${where}.${k}`, 'not a field of the official schema (dropped by the decoder)');
        continue;
      }
      diff(orig[k], back[k], `${where}.${k}`);
    }
    return;
  }
  if (!same(orig, back)) fail(where, `${JSON.stringify(orig)} came back as ${JSON.stringify(back)}`);
}

function checkKeysUnique(attrs, where) {
  const seen = new Set();
  for (const kv of attrs || []) {
    if (seen.has(kv.key)) fail(where, `duplicate attribute key ${kv.key}`);
    seen.add(kv.key);
    const set = Object.keys(kv.value || {});
    if (set.length !== 1) fail(`${where}.${kv.key}`, `AnyValue must set exactly one member, has ${set}`);
  }
}
const nonZero = (hex) => /[1-9a-f]/.test(hex);

function checkSemantics(req, where) {
  let spans = 0;
  if (!req.resourceSpans || req.resourceSpans.length === 0) fail(where, 'no resourceSpans');
  for (const [ri, rs] of (req.resourceSpans || []).entries()) {
    const rw = `${where}.resourceSpans[${ri}]`;
    checkKeysUnique(rs.resource && rs.resource.attributes, `${rw}.resource`);
    const res = Object.fromEntries(((rs.resource && rs.resource.attributes) || []).map((kv) => [kv.key, kv.value]));
    if (!res['service.name'] || !res['service.name'].stringValue) fail(rw, 'resource lacks service.name');
    if (!res['telemetry.sdk.name'] || res['telemetry.sdk.name'].stringValue !== 'tracecraft') fail(rw, 'telemetry.sdk.name must be tracecraft');
    for (const [si, ss] of (rs.scopeSpans || []).entries()) {
      const sw = `${rw}.scopeSpans[${si}]`;
      if (!ss.scope || ss.scope.name !== 'tracecraft') fail(sw, 'scope name must be tracecraft');
      if (!ss.spans || ss.spans.length === 0) fail(sw, 'envelope with zero spans');
      for (const [i, s] of (ss.spans || []).entries()) {
        const w = `${sw}.spans[${i}] (${s.name})`;
        spans++;
        if (typeof s.traceId !== 'string' || s.traceId.length !== 32 || !nonZero(s.traceId)) fail(w, `bad traceId ${s.traceId}`);
        if (typeof s.spanId !== 'string' || s.spanId.length !== 16 || !nonZero(s.spanId)) fail(w, `bad spanId ${s.spanId}`);
        if ('parentSpanId' in s && (s.parentSpanId.length !== 16 || !nonZero(s.parentSpanId))) fail(w, `bad parentSpanId ${s.parentSpanId}`);
        if (!s.name) fail(w, 'empty name');
        if ('traceState' in s) {
          // W3C tracestate: 1..32 key=value members, at most 512 chars; an `ot` entry holds k:v sub-keys.
          const members = s.traceState.split(',');
          if (s.traceState.length > 512 || members.length > 32) fail(w, `traceState too long: ${s.traceState}`);
          for (const m of members) {
            if (!/^[a-z0-9][a-z0-9_\-*\/@]{0,255}=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/.test(m))
              fail(w, `traceState member ${m}`);
            if (m.startsWith('ot=') && !/^ot=[a-z][a-z0-9]*:[A-Za-z0-9._-]+(;[a-z][a-z0-9]*:[A-Za-z0-9._-]+)*$/.test(m))
              fail(w, `ot entry ${m}`);
          }
        }
        if (![1, 2, 3, 4, 5].includes(s.kind)) fail(w, `kind must be 1..5, is ${s.kind}`);
        try {
          if (BigInt(s.endTimeUnixNano) < BigInt(s.startTimeUnixNano)) fail(w, 'end before start');
          if (BigInt(s.startTimeUnixNano) < 1600000000000000000n) fail(w, 'start time is not UNIX ns');
        } catch (e) {
          fail(w, `start/end time missing or not an integer: ${e.message}`);
        }
        if ((s.flags & ~0x3ff) !== 0 || (s.flags & 0x100) === 0) fail(w, `flags ${s.flags}: bit 8 must be set, bits 10-31 clear`);
        if (s.status && ![1, 2].includes(s.status.code)) fail(w, `status code ${s.status.code}`);
        if (s.status && s.status.message && s.status.code !== 2) fail(w, 'status message without ERROR');
        checkKeysUnique(s.attributes, w);
        for (const [ei, e] of (s.events || []).entries()) {
          checkKeysUnique(e.attributes, `${w}.events[${ei}]`);
          if (!e.name) fail(`${w}.events[${ei}]`, 'event without name');
        }
        for (const [li, l] of (s.links || []).entries()) {
          checkKeysUnique(l.attributes, `${w}.links[${li}]`);
          if (l.traceId.length !== 32 || l.spanId.length !== 16) fail(`${w}.links[${li}]`, 'bad link ids');
        }
      }
    }
  }
  return spans;
}

const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length);
let spans = 0;
lines.forEach((line, n) => {
  const where = `${path.basename(file)}:${n + 1}`;
  let orig;
  try {
    orig = JSON.parse(line);
  } catch (e) {
    return fail(where, `not JSON: ${e.message}`);
  }
  spans += checkSemantics(orig, where);
  const msg = Request.fromObject(toProtoShape(orig, where));
  const verr = Request.verify(msg);
  if (verr) fail(where, `official schema: ${verr}`);
  const bytes = Request.encode(msg).finish();
  const back = fromProtoShape(Request.toObject(Request.decode(bytes), { longs: String, enums: Number, arrays: true }));
  diff(orig, back, where);
});

if (spans < minSpans) fail(file, `only ${spans} spans (expected at least ${minSpans})`);
if (errors.length) {
  console.error(errors.join('\n'));
  console.error(`FAIL: ${errors.length} problem(s) in ${lines.length} lines`);
  process.exit(1);
}
console.log(`ok: ${lines.length} ExportTraceServiceRequest lines, ${spans} spans decoded by the official OTLP definitions`);
