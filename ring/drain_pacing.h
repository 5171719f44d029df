// SPDX-License-Identifier: Apache-2.0
// ring/drain_pacing.h — how long the drain sleeps between passes.
//
// A busy pass (it read records) sleeps at least the configured interval (TRACECRAFT_DRAIN_INTERVAL_MS):
// a drain that chases producers record by record slows them several times. Longer when the rings
// fill slowly: until the fastest-filling ring would be an eighth full at its rate over the last
// quarter second or so (fill_rate_meter), up to 50 ms. Each wake-up has a fixed cost (14–30 us of
// the drain's CPU on the 2-vCPU VMs this was measured on), which at 10,000 spans/s and a 2 ms
// interval was most of the engine's CPU per span. A ring that fills faster than its pace rings the
// doorbell at half full. An idle process should cost next to nothing, so idle passes back off,
// doubling up to 50 ms — but only once the rings have been empty for k_idle_before_backoff_ms.
// Backing off at the first empty pass lost spans from bursty producers: a thread writing a burst
// of 1000 spans (82% of the default 256 KiB ring) every 3.3 ms found the drain asleep for 5 ms
// after an empty pass in between, and lost 26% of its spans (tracecraft-export-bench --ring-kb 256
// --rate 300000); keeping the interval lost none.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace tracecraft::detail {

/// A ring's fill rate as the drain paces by it: bytes over time, both decayed with a time constant
/// of k_window_ms, so every pass counts for the time it covered, an empty one too. The first
/// version took the last pass that found records for the ring's rate: a burst's bytes over the
/// few milliseconds since the pass before. A producer writing 1000 spans every 100 ms (10,000
/// spans/s, the export bench) then kept the drain at the 2 ms interval until the next burst, in
/// 2 of 14 rounds. Averaged, a burst counts over the time it took to come. A pass that
/// finds a quarter of the buffer or more (where the growth rule starts) is a rise the average
/// would follow too slowly: the rate restarts from that pass alone.
struct fill_rate_meter {
  static constexpr double k_window_ms = 250;
  double bytes = 0;  ///< decayed bytes found
  double ms = 0;     ///< decayed time they came over
  /// The decay over one pass `elapsed_ns` long: the same for every ring of a pass, so the drain
  /// computes it once per pass.
  static double keep_for(std::uint64_t elapsed_ns) noexcept { return std::exp(-double(elapsed_ns) * 1e-6 / k_window_ms); }
  /// One pass: `found` bytes written since the pass before, `elapsed_ns` ago (`keep`: its
  /// keep_for), into a buffer of `cap` bytes.
  void add(std::uint64_t found, std::uint64_t elapsed_ns, double keep, std::uint64_t cap) noexcept {
    if (elapsed_ns == 0) return;
    const double t = double(elapsed_ns) * 1e-6;
    if (found >= cap / 4) {
      bytes = double(found);
      ms = t;
      return;
    }
    bytes = bytes * keep + double(found);
    ms = ms * keep + t;
  }
  /// Bytes per ms (0: nothing measured yet).
  double rate() const noexcept { return ms > 0 ? bytes / ms : 0; }
};

struct drain_pacing {
  static constexpr std::uint32_t k_idle_before_backoff_ms = 1000;
  static constexpr std::uint32_t k_max_idle_sleep_ms = 50;
  /// A busy pass sleeps until the fastest-filling ring would be this fraction of its capacity at
  /// its measured rate (1/8: half the growth rule's quarter, a quarter of the doorbell's half).
  static constexpr std::uint32_t k_paced_fill_div = 8;

  /// The sleep after a pass. `busy`: the pass read records; `idle_for_ms`: time since the last
  /// pass that did; `prev_ms`: the previous sleep; `paced_ms`: the time the fastest-filling ring
  /// takes to reach 1/k_paced_fill_div of its capacity at its measured rate (0: no ring has
  /// one). Never shorter than the interval. While records flow or lately did (a second), up to
  /// `paced_ms`, at most k_max_idle_sleep_ms: a ring filling faster than its pace rings the
  /// doorbell at half full. After a second without records, doubling up to k_max_idle_sleep_ms.
  static constexpr std::uint32_t sleep_ms(bool busy, std::uint64_t idle_for_ms, std::uint32_t prev_ms,
                                          std::uint32_t interval_ms, std::uint64_t paced_ms = 0) noexcept {
    if (busy || idle_for_ms < k_idle_before_backoff_ms)
      return std::max<std::uint32_t>(interval_ms, static_cast<std::uint32_t>(std::min<std::uint64_t>(paced_ms, k_max_idle_sleep_ms)));
    const std::uint64_t doubled = std::uint64_t{std::max(prev_ms, interval_ms)} * 2 + 1;
    return std::max<std::uint32_t>(interval_ms, static_cast<std::uint32_t>(std::min<std::uint64_t>(doubled, k_max_idle_sleep_ms)));
  }
  /// paced_ms for one ring: `rate` bytes per ms written into a buffer of `cap` bytes (the smaller
  /// one when a smaller one is on offer). No rate: no limit.
  static constexpr std::uint64_t ring_paced_ms(double rate, std::uint64_t cap) noexcept {
    if (!(rate > 0)) return ~std::uint64_t{0};
    const double ms = double(cap / k_paced_fill_div) / rate;
    return ms >= 1e18 ? ~std::uint64_t{0} : static_cast<std::uint64_t>(ms);
  }
};

}  // namespace tracecraft::detail
