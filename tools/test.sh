#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite on a fresh Debian machine: install dependencies, build with warnings as
# errors, run every test, then again built with ASan+UBSan and with TSan.
# Ends with one line "N passed, N failed" counted from meson's test logs; exits non-zero on any
# failure.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

status=0
build_failures=0
logs=()
run_suite() {  # name, build dir, meson setup options...
  local name=$1 dir=$2
  shift 2
  echo "=== $name ($dir)"
  if [ ! -d "$dir" ]; then
    meson setup "$dir" "$@" >/dev/null || { echo "meson setup failed for $dir"; status=1; build_failures=$((build_failures + 1)); return; }
  else
    meson configure "$dir" "$@" >/dev/null || { status=1; build_failures=$((build_failures + 1)); return; }
  fi
  if ! ninja -C "$dir"; then
    echo "build failed: $dir (counted as one failure)"
    status=1
    build_failures=$((build_failures + 1))
    return
  fi
  meson test -C "$dir" --print-errorlogs --num-processes 2 || status=1
  logs+=("$dir/meson-logs/testlog.json")
}

run_suite "release, warnings as errors" build-ci -Dwerror=true -Dbuildtype=release
run_suite "ASan + UBSan" build-ci-asan -Dwerror=true -Dbuildtype=debugoptimized \
  -Db_sanitize=address,undefined -Db_lundef=false -Dbenchmarks=false
# -Wno-tsan: GCC warns that TSan cannot model atomic_thread_fence, which moodycamel's queue
# uses; that is a limit of the tool, not a finding, and -Werror would stop the build.
TSAN_OPTIONS="halt_on_error=1" run_suite "TSan" build-ci-tsan -Dwerror=true -Dbuildtype=debugoptimized \
  -Db_sanitize=thread -Db_lundef=false -Dbenchmarks=false -Dcpp_args=-Wno-tsan

# Count from meson's own results (one JSON object per test and log).
read -r passed failed < <(python3 - "${logs[@]}" <<'PY'
import json, sys
p = f = 0
for path in sys.argv[1:]:
    try:
        for line in open(path):
            r = json.loads(line)
            if r.get("result") in ("OK", "EXPECTEDFAIL"): p += 1
            elif r.get("result") != "SKIP": f += 1
    except OSError:
        f += 1
print(p, f)
PY
)
failed=$(( ${failed:-1} + build_failures ))
[ "$failed" -eq 0 ] && [ "${passed:-0}" -gt 0 ] || status=1
echo "${passed:-0} passed, ${failed} failed"
exit $status
