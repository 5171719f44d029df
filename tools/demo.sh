#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job on a fresh Debian machine: install dependencies, build, run the demo inference
# server with the embedded defaults. Traces land in traces/tracecraft.jsonl (OTLP/JSON lines).
# Extra arguments go to tracecraft-demo (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build
./build/tools/tracecraft-demo --summary-json traces/summary.json "$@"
echo "traces: $(wc -l < traces/tracecraft.jsonl) JSONL lines in traces/tracecraft.jsonl; summary in traces/summary.json"
