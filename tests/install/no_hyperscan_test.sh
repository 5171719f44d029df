#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Built without Hyperscan (-Dhyperscan=disabled): the library and tools still build and link
# without libhs, tracecraft-envcheck reports redaction as unavailable, the engine warns at start-up,
# and captured payloads are dropped unless TRACECRAFT_REDACT_ALLOW_UNREDACTED=true (fail closed).
# Usage: no_hyperscan_test.sh SOURCE_DIR
set -euo pipefail
src=$(realpath "$1")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
meson setup "$tmp/build" "$src" -Dhyperscan=disabled -Dbenchmarks=false -Dbuildtype=debugoptimized >/dev/null
ninja -C "$tmp/build" tools/tracecraft-envcheck tools/tracecraft-demo >/dev/null
fail() { echo "FAIL: $*"; exit 1; }

lib=$(find "$tmp/build" -maxdepth 1 -name 'libtracecraft.so*' -type f | head -1)
[ -n "$lib" ] || fail "no libtracecraft.so built"
if ldd "$lib" | grep -q libhs; then fail "the library links libhs"; fi

envcheck=$("$tmp/build/tools/tracecraft-envcheck" 2>&1 || true)
echo "$envcheck" | grep -q '^redaction: UNAVAILABLE' || fail "envcheck does not report redaction as unavailable: $envcheck"

cd "$tmp"
printf 'mail jane.doe@example.com about card 4111 1111 1111 1111\n' > prompts.txt
TRACECRAFT_CAPTURE_PAYLOADS=true TRACECRAFT_JSONL_PATH="$tmp/closed.jsonl" \
  "$tmp/build/tools/tracecraft-demo" --requests 5 --prompts prompts.txt 2> closed.err >/dev/null
grep -q 'redaction is unavailable' closed.err || fail "no start-up warning: $(cat closed.err)"
[ -s closed.jsonl ] || fail "no spans exported"
if grep -q 'input.value' closed.jsonl; then fail "a captured payload was exported unredacted"; fi
if grep -q 'jane.doe@example.com' closed.jsonl; then fail "the prompt's e-mail address was exported"; fi

TRACECRAFT_CAPTURE_PAYLOADS=true TRACECRAFT_REDACT_ALLOW_UNREDACTED=true TRACECRAFT_JSONL_PATH="$tmp/open.jsonl" \
  "$tmp/build/tools/tracecraft-demo" --requests 5 --prompts prompts.txt 2>/dev/null >/dev/null
grep -q 'jane.doe@example.com' open.jsonl || fail "TRACECRAFT_REDACT_ALLOW_UNREDACTED=true did not export the payload"
echo "PASS: built without Hyperscan; redaction unavailable, payloads dropped unless allowed"
