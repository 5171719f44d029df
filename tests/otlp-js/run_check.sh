#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The engine's OTLP output, checked by the official OpenTelemetry JavaScript definitions.
# Usage: run_check.sh json FIXTURE DEMO   (JSONL lines from the fixture and from a demo run)
#        run_check.sh proto PROTO_FIXTURE (protobuf batches against their JSON encoding)
#        run_check.sh http FIXTURE         (real OTLP/HTTP posts to a Node receiver: protobuf, JSON, gzip,
#                                           mutual TLS, and through a forward proxy)
#        run_check.sh sdk SINK             (the official JS SDK's OTLP/HTTP exporter into tracecraft-sink)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$here/node_modules/otlp-decoder/build/src/generated" ] || [ ! -d "$here/node_modules/@opentelemetry/exporter-trace-otlp-proto" ]; then
  echo "FAIL: $here/node_modules is missing: run tools/install-deps.sh (it runs npm ci there)"
  exit 1
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
case "$1" in
  json)
    "$2" "$tmp/fixture.jsonl"
    node "$here/check_otlp_json.js" "$tmp/fixture.jsonl" --min-spans 16
    (cd "$tmp" && TRACECRAFT_JSONL_PATH="$tmp/demo.jsonl" TRACECRAFT_CAPTURE_PAYLOADS=true \
       "$3" --requests 60 --error-rate 0.2 --agent-rate 0.5 >/dev/null)
    node "$here/check_otlp_json.js" "$tmp/demo.jsonl" --min-spans 300
    ;;
  proto)
    "$2" "$tmp"
    node "$here/check_otlp_proto.js" "$tmp"
    ;;
  http)
    for mode in proto json proto-gzip; do
      mkdir -p "$tmp/$mode"
      node "$here/receiver.js" "$tmp/$mode" "$tmp/$mode.port" & receiver=$!
      for _ in $(seq 100); do [ -s "$tmp/$mode.port" ] && break; sleep 0.05; done
      "$2" "$tmp/$mode.jsonl" "http://127.0.0.1:$(cat "$tmp/$mode.port")" "$mode"
      kill "$receiver"; wait "$receiver" || true
      node "$here/check_otlp_http.js" "$tmp/$mode" "$tmp/$mode.jsonl" "$mode"
      if [ "$mode" = json ]; then  # the JSON bodies pass the same checks as JSONL lines
        for f in "$tmp/$mode"/req-*.json; do case "$f" in *.headers.json) ;; *) cat "$f"; echo ;; esac; done > "$tmp/bodies.jsonl"
        node "$here/check_otlp_json.js" "$tmp/bodies.jsonl" --min-spans 16
      fi
    done
    # https with mutual TLS: a throwaway CA signs the receiver's certificate (for 127.0.0.1) and
    # the engine's client certificate.
    tls="$tmp/tls"; mkdir -p "$tls" "$tmp/tls-ok" "$tmp/tls-nocert"
    (cd "$tls"
     openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=tc-test-ca 2>/dev/null
     openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
     printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
     openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext 2>/dev/null
     openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=tc-test-client 2>/dev/null
     openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 2>/dev/null)
    for case in ok nocert; do
      node "$here/receiver.js" "$tmp/tls-$case" "$tmp/tls-$case.port" "$tls" & receiver=$!
      for _ in $(seq 100); do [ -s "$tmp/tls-$case.port" ] && break; sleep 0.05; done
      url="https://127.0.0.1:$(cat "$tmp/tls-$case.port")"
      if [ $case = ok ]; then
        "$2" "$tmp/tls.jsonl" "$url" proto "$tls/ca.pem" "$tls/client.pem" "$tls/client.key"
      else
        "$2" "$tmp/tls-nocert.jsonl" "$url" proto "$tls/ca.pem" 2>/dev/null || true
      fi
      kill "$receiver"; wait "$receiver" || true
    done
    node "$here/check_otlp_http.js" "$tmp/tls-ok" "$tmp/tls.jsonl" proto
    if ls "$tmp/tls-nocert" | grep -q req-; then
      echo "FAIL: the receiver requires a client certificate, yet a request without one got through"; exit 1
    fi
    echo "ok (mTLS): a request without the client certificate is refused by the receiver"

    # Through a strict forward proxy (proxy.js), configured by the proxy variables only (the
    # fixture's configuration leaves them to the environment). The http:// endpoint names a host
    # only the proxy resolves; CONNECT is refused except to the TLS receiver's port.
    noproxy=(env -u http_proxy -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY -u no_proxy -u NO_PROXY)
    for case in http https direct; do
      mkdir -p "$tmp/px-$case" "$tmp/pxlog-$case"
      if [ $case = https ]; then
        node "$here/receiver.js" "$tmp/px-$case" "$tmp/px-$case.port" "$tls" & receiver=$!
      else
        node "$here/receiver.js" "$tmp/px-$case" "$tmp/px-$case.port" & receiver=$!
      fi
      for _ in $(seq 100); do [ -s "$tmp/px-$case.port" ] && break; sleep 0.05; done
      rport=$(cat "$tmp/px-$case.port")
      node "$here/proxy.js" "$tmp/pxlog-$case" "$tmp/pxlog-$case.port" "$rport" "$rport" & proxy=$!
      for _ in $(seq 100); do [ -s "$tmp/pxlog-$case.port" ] && break; sleep 0.05; done
      purl="http://127.0.0.1:$(cat "$tmp/pxlog-$case.port")"
      case $case in
        http) "${noproxy[@]}" http_proxy="http://tc:s%3Acret@${purl#http://}" \
                "$2" "$tmp/px-$case.jsonl" "http://otlp-collector.invalid:$rport" proto ;;
        https) "${noproxy[@]}" https_proxy="$purl" \
                "$2" "$tmp/px-$case.jsonl" "https://127.0.0.1:$rport" proto "$tls/ca.pem" "$tls/client.pem" "$tls/client.key" ;;
        direct) "${noproxy[@]}" http_proxy="$purl" no_proxy="localhost, 127.0.0.0/8" \
                "$2" "$tmp/px-$case.jsonl" "http://127.0.0.1:$rport" proto ;;
      esac
      kill "$proxy" "$receiver"; wait "$proxy" "$receiver" || true
      node "$here/check_otlp_http.js" "$tmp/px-$case" "$tmp/px-$case.jsonl" proto
    done
    node "$here/check_proxy_log.js" "$tmp/pxlog-http/proxy.log" absolute "http://otlp-collector.invalid:$(cat "$tmp/px-http.port")/v1/traces" "tc:s:cret"
    node "$here/check_proxy_log.js" "$tmp/pxlog-https/proxy.log" tunnel "127.0.0.1:$(cat "$tmp/px-https.port")"
    node "$here/check_proxy_log.js" "$tmp/pxlog-direct/proxy.log" none
    ;;
  sdk)
    "$2" --port 0 --port-file "$tmp/sink.port" --out "$tmp/sink.jsonl" --quiet & sink=$!
    for _ in $(seq 100); do [ -s "$tmp/sink.port" ] && break; sleep 0.05; done
    status=0
    node "$here/sdk_to_sink.js" "http://127.0.0.1:$(cat "$tmp/sink.port")" "$tmp/sink.jsonl" || status=$?
    kill "$sink"; wait "$sink" 2>/dev/null || true
    exit $status
    ;;
  *) echo "usage: run_check.sh json FIXTURE DEMO | proto PROTO_FIXTURE | http FIXTURE | sdk SINK"; exit 2 ;;
esac
