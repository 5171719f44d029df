#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Usage: check.sh SOURCE_DIR COMPILER...  — control.cpp must compile, every other file must not.
set -uo pipefail
src=$1; shift
flags=(-std=c++20 -fsyntax-only -I "$src/core/include")
"$@" "${flags[@]}" "$src/tests/compile_fail/control.cpp" || { echo "FAIL: control.cpp does not compile"; exit 1; }
for f in "$src"/tests/compile_fail/*.cpp; do
  [ "$(basename "$f")" = control.cpp ] && continue
  if "$@" "${flags[@]}" "$f" 2>/dev/null; then echo "FAIL: $(basename "$f") compiled"; exit 1; fi
  echo "ok: $(basename "$f") is rejected"
done
