// SPDX-License-Identifier: Apache-2.0
// Checks what proxy.js saw of the engine's requests.
// Usage: node check_proxy_log.js LOG absolute URL USER:PASSWORD   every request a POST of URL in
//                                                                 absolute form with these proxy
//                                                                 credentials, over one connection
//        node check_proxy_log.js LOG tunnel HOST:PORT             only CONNECT tunnels to HOST:PORT
//        node check_proxy_log.js LOG none                         the proxy saw nothing
'use strict';

const fs = require('fs');

const [logPath, kind, target, credentials] = process.argv.slice(2);
const entries = fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
const errors = [];
const fail = (msg) => {
  if (errors.length < 20) errors.push(msg);
};

if (kind === 'none') {
  if (entries.length) fail(`${entries.length} request(s) went through the proxy, which no_proxy should have bypassed`);
} else if (entries.length === 0) {
  fail('no request reached the proxy');
}
if (kind === 'absolute') {
  const want = new URL(target);
  const auth = 'Basic ' + Buffer.from(credentials).toString('base64');
  for (const e of entries) {
    if (e.method !== 'POST' || e.url !== target) fail(`${e.method} ${e.url}: expected POST ${target}`);
    if (e.host !== want.host) fail(`Host ${e.host}: expected ${want.host}`);
    if (e.proxyAuthorization !== auth) fail(`Proxy-Authorization ${e.proxyAuthorization}: expected ${auth}`);
    if (e.status !== 200) fail(`forwarded request answered ${e.status}`);
  }
  const ports = new Set(entries.map((e) => e.clientPort));
  if (ports.size !== 1) fail(`${entries.length} requests came over ${ports.size} connections to the proxy, not one kept-alive connection`);
} else if (kind === 'tunnel') {
  for (const e of entries)
    if (e.method !== 'CONNECT' || e.url !== target || e.status !== 200) fail(`${e.method} ${e.url} (${e.status}): expected one CONNECT ${target}`);
}
if (errors.length) {
  console.error(errors.join('\n'));
  console.error(`FAIL (proxy, ${kind}): ${errors.length} problem(s) in ${entries.length} proxy log entries`);
  process.exit(1);
}
console.log(`ok (proxy, ${kind}): ${entries.length} proxy log entries as expected`);
