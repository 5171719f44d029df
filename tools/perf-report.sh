#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Regenerates the README's Performance figures and the latency plots from a fresh benchmark run:
#   tools/perf-report.sh            (about 3 minutes on a 2-vCPU VM)
# Writes bench/results/bench.json and e2e.json (the raw figures), bench/results/latency-*.svg
# (per-op cost distribution per scenario, gnuplot) and rewrites the block between the
# perf markers in README.md. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v gnuplot >/dev/null; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
fi
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null
out=bench/results
dist=$(mktemp -d)
trap 'rm -rf "$dist"' EXIT
mkdir -p "$out"
echo "perf-report: hot path and drain (tracecraft-bench --json)"
build/bench/tracecraft-bench --json --dist "$dist" >"$out/bench.json"
echo "perf-report: end to end (tracecraft-bench --e2e)"
build/bench/tracecraft-bench --e2e --demo build/tools/tracecraft-demo --sink build/tools/tracecraft-sink --json >"$out/e2e.json"
rm -f "$out"/latency-*.svg
for f in "$dist"/*.dat; do
  name=$(basename "$f" .dat)
  gnuplot <<GP
set terminal svg size 640,360 font "sans,11" background rgb "white"
set termoption noenhanced
set output "$out/latency-$name.svg"
set title "$name: per-op cost (batches of 16, TSC), last round"
set xlabel "ns per operation"
set ylabel "fraction of batches at or below"
set logscale x
set grid
set key off
plot "$f" using 2:1 with lines lw 2 lc rgb "#1f77b4"
GP
done
# One overview: the hot-path scenarios side by side.
plot=""
for name in floor unsampled_child sampled_0attr sampled_4attr sampled_event async_end_other_thread adopt_context; do
  [ -f "$dist/$name.dat" ] && plot="$plot${plot:+, }\"$dist/$name.dat\" using 2:1 with lines lw 2 title \"$name\""
done
gnuplot <<GP
set terminal svg size 800,420 font "sans,11" background rgb "white"
set termoption noenhanced
set output "$out/latency-overview.svg"
set title "Per-op cost distribution (batches of 16, TSC), tracecraft-bench"
set xlabel "ns per operation"
set ylabel "fraction of batches at or below"
set logscale x
set grid
set key right bottom
plot $plot
GP
python3 tools/perf_readme.py "$out/bench.json" "$out/e2e.json" README.md
echo "perf-report: README.md and $out/ updated"
