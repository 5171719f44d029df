#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `meson install` puts headers, the library and tracecraft.pc in place; a program is then built
# against the installed copy through pkg-config (plain compiler and CMake) and run.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(realpath "$1"); src=$(realpath "$2")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
dest="$tmp/dest"
meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >/dev/null
pc=$(find "$dest" -name tracecraft.pc | head -1)
[ -n "$pc" ] || { echo "FAIL: tracecraft.pc not installed"; exit 1; }
for h in trace.h config.h status.h macros.h; do
  [ -n "$(find "$dest" -path "*/include/tracecraft/$h")" ] || { echo "FAIL: header $h not installed"; exit 1; }
done
export PKG_CONFIG_PATH=$(dirname "$pc") PKG_CONFIG_SYSROOT_DIR="$dest"
libdir=$(pkg-config --variable=libdir tracecraft)
case "$libdir" in "$dest"*) ;; *) libdir="$dest$libdir" ;; esac  # pkgconf applies the sysroot, pkg-config does not
echo "pkg-config: $(pkg-config --cflags --libs tracecraft)"

# 1. plain compiler + pkg-config
c++ -std=c++20 -O2 "$src/tests/install/consumer.cpp" $(pkg-config --cflags --libs tracecraft) -o "$tmp/consumer"
(cd "$tmp" && LD_LIBRARY_PATH="$libdir" OTEL_TRACES_EXPORTER=jsonl TRACECRAFT_JSONL_PATH="$tmp/out.jsonl" ./consumer)
n=$(grep -o '"name":"consumer-[a-z]*"' "$tmp/out.jsonl" | wc -l)
[ "$n" -eq 2 ] || { echo "FAIL: expected 2 spans in the JSONL, found $n"; exit 1; }

# 2. CMake through pkg_check_modules
mkdir -p "$tmp/cmake"
cat > "$tmp/cmake/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.16)
project(consumer CXX)
set(CMAKE_CXX_STANDARD 20)
find_package(PkgConfig REQUIRED)
pkg_check_modules(TRACECRAFT REQUIRED IMPORTED_TARGET tracecraft)
add_executable(consumer $src/tests/install/consumer.cpp)
target_link_libraries(consumer PRIVATE PkgConfig::TRACECRAFT)
CMAKE
cmake -S "$tmp/cmake" -B "$tmp/cmake/build" >/dev/null
cmake --build "$tmp/cmake/build" >/dev/null
(cd "$tmp" && LD_LIBRARY_PATH="$libdir" OTEL_TRACES_EXPORTER=jsonl TRACECRAFT_JSONL_PATH="$tmp/cmake.jsonl" ./cmake/build/consumer)
n=$(grep -o '"name":"consumer-[a-z]*"' "$tmp/cmake.jsonl" | wc -l)
[ "$n" -eq 2 ] || { echo "FAIL: CMake consumer exported $n spans, expected 2"; exit 1; }
echo "PASS: installed library consumed through pkg-config and CMake"
