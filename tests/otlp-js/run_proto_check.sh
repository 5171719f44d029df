#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The protobuf encoder's requests decoded by the official OpenTelemetry JS definitions.
# Usage: run_proto_check.sh PROTO_FIXTURE
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$here/node_modules/otlp-decoder/build/src/generated" ]; then
  echo "FAIL: $here/node_modules is missing: run tools/install-deps.sh (it runs npm ci there)"
  exit 1
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
"$1" "$tmp"
node "$here/check_otlp_proto.js" "$tmp"
