// SPDX-License-Identifier: Apache-2.0
// A small OTLP/HTTP receiver in Node for the interop test: it accepts the engine's real HTTP
// posts, gunzips them, and stores each body (DIR/req-N.pb or DIR/req-N.json) with its headers
// and the client's port (DIR/req-N.headers.json; one port: one connection). It answers with an
// ExportTraceServiceResponse encoded by the official OpenTelemetry definitions. Decoding and
// checking happen afterwards (check_otlp_http.js).
//
// Usage: node receiver.js DIR PORT_FILE [TLS_DIR]   (TLS_DIR: https with ca.pem, server.pem,
//        server.key, and a client certificate signed by ca.pem required: mutual TLS)
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');
const path = require('path');
const zlib = require('zlib');
const root = require(path.join(__dirname, 'node_modules/otlp-decoder/build/src/generated/root'));

const Response = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
const [dir, portFile, tlsDir] = process.argv.slice(2);
let n = 0;

const handler = (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== '/v1/traces') {
      res.writeHead(404).end();
      return;
    }
    let body = Buffer.concat(chunks);
    const wireBytes = body.length;
    if ((req.headers['content-encoding'] || '') === 'gzip') body = zlib.gunzipSync(body);
    const json = (req.headers['content-type'] || '').startsWith('application/json');
    const id = String(n++).padStart(4, '0');
    fs.writeFileSync(path.join(dir, `req-${id}.${json ? 'json' : 'pb'}`), body);
    fs.writeFileSync(path.join(dir, `req-${id}.headers.json`), JSON.stringify({ headers: req.headers, wireBytes, remotePort: req.socket.remotePort }));
    if (json) {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(Response.toObject(Response.fromObject({}))));
    } else {
      res.writeHead(200, { 'Content-Type': 'application/x-protobuf' }).end(Buffer.from(Response.encode({}).finish()));
    }
  });
};
const server = tlsDir
  ? https.createServer({
    key: fs.readFileSync(path.join(tlsDir, 'server.key')),
    cert: fs.readFileSync(path.join(tlsDir, 'server.pem')),
    ca: fs.readFileSync(path.join(tlsDir, 'ca.pem')),
    requestCert: true,
    rejectUnauthorized: true,
  }, handler)
  : http.createServer(handler);
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(portFile + '.tmp', String(server.address().port));
  fs.renameSync(portFile + '.tmp', portFile);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
