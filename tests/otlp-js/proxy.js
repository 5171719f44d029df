// SPDX-License-Identifier: Apache-2.0
// A forward HTTP proxy in Node for the interop test, strict like a corporate one: requests in
// absolute form are forwarded (over one kept-alive connection) to the upstream port given, which
// stands in for every host name (the engine's endpoint names a host only this proxy "resolves");
// CONNECT is allowed only to the ports listed; a request in origin form is refused (400), as a
// proxy cannot tell where it should go. Every request is logged to DIR/proxy.log, one JSON line:
// { method, url, host, proxyAuthorization, clientPort, status }.
//
// Usage: node proxy.js DIR PORT_FILE UPSTREAM_PORT [CONNECT_PORT...]
'use strict';

const fs = require('fs');
const http = require('http');
const net = require('net');
const path = require('path');

const [dir, portFile, upstreamPort, ...connectPorts] = process.argv.slice(2);
const log = (entry) => fs.appendFileSync(path.join(dir, 'proxy.log'), JSON.stringify(entry) + '\n');
const upstream = new http.Agent({ keepAlive: true, maxSockets: 1 });
const hopByHop = new Set(['proxy-authorization', 'proxy-connection', 'connection', 'keep-alive', 'te', 'trailer', 'upgrade']);

const server = http.createServer((req, res) => {
  const entry = {
    method: req.method,
    url: req.url,
    host: req.headers.host,
    proxyAuthorization: req.headers['proxy-authorization'] || null,
    clientPort: req.socket.remotePort,
  };
  let target;
  try {
    target = new URL(req.url);
  } catch {
    target = null;
  }
  if (!target || target.protocol !== 'http:') {
    entry.status = 400;
    log(entry);
    req.resume();
    res.writeHead(400, { 'Content-Length': 0 }).end();
    return;
  }
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) if (!hopByHop.has(k)) headers[k] = v;
  const out = http.request({
    host: '127.0.0.1', port: Number(upstreamPort), method: req.method,
    path: target.pathname + target.search, headers, agent: upstream,
  }, (up) => {
    entry.status = up.statusCode;
    log(entry);
    const back = {};
    for (const [k, v] of Object.entries(up.headers)) if (!hopByHop.has(k)) back[k] = v;
    res.writeHead(up.statusCode, back);
    up.pipe(res);
  });
  out.on('error', () => {
    entry.status = 502;
    log(entry);
    res.writeHead(502, { 'Content-Length': 0 }).end();
  });
  req.pipe(out);
});

server.on('connect', (req, client, head) => {
  const [host, port] = req.url.split(':');
  const entry = { method: 'CONNECT', url: req.url, host: req.headers.host, proxyAuthorization: req.headers['proxy-authorization'] || null, clientPort: client.remotePort };
  if (!connectPorts.includes(port)) {
    entry.status = 403;
    log(entry);
    client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  const up = net.connect(Number(port), host === 'localhost' ? '127.0.0.1' : host, () => {
    entry.status = 200;
    log(entry);
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head && head.length) up.write(head);
    up.pipe(client);
    client.pipe(up);
  });
  up.on('error', () => client.destroy());
  client.on('error', () => up.destroy());
});

server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(portFile + '.tmp', String(server.address().port));
  fs.renameSync(portFile + '.tmp', portFile);
});
process.on('SIGTERM', () => {
  upstream.destroy();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
});
