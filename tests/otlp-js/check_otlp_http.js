// SPDX-License-Identifier: Apache-2.0
// Checks what the engine POSTed to receiver.js: every protobuf body is decoded by the official
// OpenTelemetry definitions (verified, and re-encoded byte for byte); every JSON body is checked
// like a JSONL line (check_otlp_json.js runs on them separately); every span received equals, field
// for field, the same span in the engine's JSONL backup written beside it; and the HTTP rules of
// standards §2 hold (Content-Type, Content-Encoding, User-Agent, no Expect, the configured header).
//
// Usage: node check_otlp_http.js DIR BACKUP.jsonl MODE   (MODE: proto | json | proto-gzip)
'use strict';

const fs = require('fs');
const path = require('path');

const { decodeRequest, makeCompare } = require('./otlp_common');
const [dir, backupPath, mode] = process.argv.slice(2);
const errors = [];
const fail = (where, msg) => {
  if (errors.length < 50) errors.push(`${where}: ${msg}`);
};

const compare = makeCompare(fail, ['received request', 'backup']);

// Spans by id, with the resource and scope they came with.
function collect(request, into, where) {
  for (const rs of request.resourceSpans || [])
    for (const ss of rs.scopeSpans || [])
      for (const s of ss.spans || []) {
        if (into.has(s.spanId)) fail(where, `span ${s.spanId} received twice`);
        into.set(s.spanId, { span: s, resource: rs.resource, scope: ss.scope });
      }
}

const received = new Map();
const files = fs.readdirSync(dir).filter((f) => /^req-\d+\.(pb|json)$/.test(f)).sort();
const wantJson = mode === 'json';
const wantGzip = mode === 'proto-gzip';
const ports = new Set();
for (const f of files) {
  const meta = JSON.parse(fs.readFileSync(path.join(dir, f.replace(/\.(pb|json)$/, '.headers.json')), 'utf8'));
  const hdr = meta.headers;
  ports.add(meta.remotePort);
  const ct = hdr['content-type'];
  if (ct !== (wantJson ? 'application/json' : 'application/x-protobuf')) fail(f, `Content-Type ${ct}`);
  if ((hdr['content-encoding'] === 'gzip') !== wantGzip) fail(f, `Content-Encoding ${hdr['content-encoding']}`);
  if (!/^TraceCraft-OTLP-Exporter-Cpp\/\d+\.\d+\.\d+/.test(hdr['user-agent'] || '')) fail(f, `User-Agent ${hdr['user-agent']}`);
  if ('expect' in hdr) fail(f, `Expect header sent: ${hdr.expect}`);
  if (hdr['x-tenant'] !== 'acme, inc') fail(f, `configured header x-tenant: ${hdr['x-tenant']}`);
  const body = fs.readFileSync(path.join(dir, f));
  if (f.endsWith('.pb')) {
    const request = decodeRequest(body, f, fail);
    if (request) collect(request, received, f);
  } else {
    collect(JSON.parse(body.toString('utf8')), received, f);
  }
}
if (files.length === 0) fail(dir, 'no requests received');
// The requests follow each other within a second: one kept-alive connection carries them all.
if (ports.size !== 1) fail(dir, `${files.length} requests came over ${ports.size} connections, not one kept-alive connection`);

const backup = new Map();
fs.readFileSync(backupPath, 'utf8').split('\n').filter(Boolean).forEach((line, i) => collect(JSON.parse(line), backup, `backup line ${i + 1}`));
if (received.size !== backup.size) fail('spans', `received ${received.size}, backup has ${backup.size}`);
for (const [id, b] of backup) {
  const r = received.get(id);
  if (!r) {
    fail(`span ${id}`, 'in the backup, never received');
    continue;
  }
  compare(r, b, `span ${id} (${b.span.name})`);
}
if (errors.length) {
  console.error(errors.join('\n'));
  console.error(`FAIL (${mode}): ${errors.length} problem(s) in ${files.length} requests`);
  process.exit(1);
}
console.log(`ok (${mode}): ${files.length} HTTP requests over one connection, ${received.size} spans, each equal field for field to the JSONL backup`);
