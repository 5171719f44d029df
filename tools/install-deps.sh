#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs what building, testing and benchmarking TraceCraft needs, from Debian's packages.
set -euo pipefail
packages=(
  build-essential meson ninja-build pkg-config cmake
  libconcurrentqueue-dev libxxhash-dev libsimdjson-dev doctest-dev
  libhyperscan-dev libcurl4-openssl-dev zlib1g-dev libdeflate-dev
  openssl python3
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The official OpenTelemetry JavaScript packages the tests decode our output with (test-only).
js="$(cd "$(dirname "$0")/.." && pwd)/tests/otlp-js"
if [ ! -d "$js/node_modules/otlp-decoder/build/src/generated" ] || [ ! -d "$js/node_modules/@opentelemetry/exporter-trace-otlp-proto" ] \
   || [ "$js/package-lock.json" -nt "$js/node_modules" ]; then
  echo "install-deps: npm ci in tests/otlp-js"
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
fi
