#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The engine's OTLP output, checked by the official OpenTelemetry JavaScript definitions.
# Usage: run_check.sh json FIXTURE DEMO   (JSONL lines from the fixture and from a demo run)
#        run_check.sh proto PROTO_FIXTURE (protobuf batches against their JSON encoding)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$here/node_modules/otlp-decoder/build/src/generated" ]; then
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
  *) echo "usage: run_check.sh json FIXTURE DEMO | proto PROTO_FIXTURE"; exit 2 ;;
esac
