#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A meson project consumes TraceCraft as a subproject (dependency() with forced fallback, which
# uses meson.override_dependency) and runs.
# Usage: subproject_test.sh SOURCE_DIR
set -euo pipefail
src=$(realpath "$1")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/subprojects"
ln -s "$src" "$tmp/subprojects/tracecraft"
cp "$src/tests/install/consumer.cpp" "$tmp/"
cat > "$tmp/meson.build" <<MESON
project('consumer', 'cpp', default_options: ['cpp_std=c++20'])
tc = dependency('tracecraft', allow_fallback: true)
executable('consumer', 'consumer.cpp', dependencies: tc)
MESON
meson setup "$tmp/build" "$tmp" --force-fallback-for=tracecraft >/dev/null
ninja -C "$tmp/build" >/dev/null
(cd "$tmp" && OTEL_TRACES_EXPORTER=jsonl TRACECRAFT_JSONL_PATH="$tmp/out.jsonl" ./build/consumer)
n=$(grep -o '"name":"consumer-[a-z]*"' "$tmp/out.jsonl" | wc -l)
[ "$n" -eq 2 ] || { echo "FAIL: expected 2 spans, found $n"; exit 1; }
# The subproject builds the library only: no tests, tools or benchmarks of ours.
[ ! -e "$tmp/build/subprojects/tracecraft/tests" ] || { echo "FAIL: tests built in a subproject"; exit 1; }
echo "PASS: consumed as a meson subproject"
