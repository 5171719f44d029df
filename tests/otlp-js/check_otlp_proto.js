// SPDX-License-Identifier: Apache-2.0
// Decodes the engine's protobuf requests (DIR/batch-N.pb) with the official OpenTelemetry OTLP
// definitions and checks each against the OTLP/JSON encoding of the same batch (DIR/batch-N.json):
// both encoders must say exactly the same thing, field for field, in both directions.
//
// Usage: node check_otlp_proto.js DIR
'use strict';

const fs = require('fs');
const path = require('path');

const { decodeRequest, makeCompare } = require('./otlp_common');
const dir = process.argv[2];
const errors = [];
const fail = (where, msg) => {
  if (errors.length < 50) errors.push(`${where}: ${msg}`);
};

const compare = makeCompare(fail, ['protobuf encoding', 'JSON encoding']);

const batches = fs.readdirSync(dir).filter((f) => f.endsWith('.pb')).sort();
let spans = 0;
for (const f of batches) {
  const bytes = fs.readFileSync(path.join(dir, f));
  const fromPb = decodeRequest(bytes, f, fail);
  if (!fromPb) continue;
  const jsonPath = path.join(dir, f.replace(/\.pb$/, '.json'));
  if (!fs.existsSync(jsonPath)) {
    fail(f, 'no JSON encoding of this batch');
    continue;
  }
  const fromJson = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  compare(fromPb, fromJson, f);
  for (const rs of fromPb.resourceSpans) for (const ss of rs.scopeSpans) spans += ss.spans.length;
}
if (batches.length === 0) fail(dir, 'no batches');
if (errors.length) {
  console.error(errors.join('\n'));
  console.error(`FAIL: ${errors.length} problem(s) in ${batches.length} protobuf requests`);
  process.exit(1);
}
console.log(`ok: ${batches.length} protobuf requests, ${spans} spans decoded by the official OTLP definitions, identical to the JSON encoding`);
