// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the checks: the official OTLP definitions, bytes to hex, and a field-by-field
// comparison where a proto3 default (0, "", []) counts as absent.
'use strict';

const path = require('path');
const root = require(path.join(__dirname, 'node_modules/otlp-decoder/build/src/generated/root'));

const Request = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;

function hexify(v) {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(hexify);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, hexify(x)]));
  return v;
}

const isDefault = (x) => x === 0 || x === '0' || x === '' || (Array.isArray(x) && x.length === 0);

// compare(a, b, where) reports each difference through fail(where, message); `names` says what
// the two sides are ([left, right]) in those messages.
function makeCompare(fail, names) {
  const same = (a, b) => {
    if (typeof a === 'number' || typeof b === 'number') {
      if (Number.isNaN(Number(a)) && Number.isNaN(Number(b))) return true;
      return String(a) === String(b);
    }
    return a === b;
  };
  const compare = (a, b, where) => {
    if (Array.isArray(a)) {
      if (!Array.isArray(b) || a.length !== b.length) return fail(where, `length ${a.length} vs ${b && b.length}`);
      return a.forEach((x, i) => compare(x, b[i], `${where}[${i}]`));
    }
    if (a && typeof a === 'object') {
      if (!b || typeof b !== 'object') return fail(where, 'missing object');
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
        if (!(k in a) || !(k in b)) {
          if (isDefault(k in a ? a[k] : b[k])) continue;  // proto3 default either way
          fail(`${where}.${k}`, `only in the ${k in a ? names[0] : names[1]}`);
          continue;
        }
        compare(a[k], b[k], `${where}.${k}`);
      }
      return;
    }
    if (!same(a, b)) fail(where, `${names[0]} ${JSON.stringify(a)} vs ${names[1]} ${JSON.stringify(b)}`);
  };
  return compare;
}

// Decodes one protobuf ExportTraceServiceRequest with the official code: verified, and re-encoded
// byte for byte (field order, varints). Returns it as an object with hex ids, or null (reported).
function decodeRequest(bytes, where, fail) {
  let msg;
  try {
    msg = Request.decode(bytes);
  } catch (e) {
    fail(where, `the official decoder rejects it: ${e.message}`);
    return null;
  }
  const verr = Request.verify(msg);
  if (verr) fail(where, `verify: ${verr}`);
  const again = Buffer.from(Request.encode(msg).finish());
  if (!again.equals(bytes)) fail(where, `re-encoded by the official code the request differs (${again.length} vs ${bytes.length} bytes)`);
  return hexify(Request.toObject(msg, { longs: String, enums: Number, arrays: true }));
}

module.exports = { Request, root, hexify, makeCompare, decodeRequest };
