// SPDX-License-Identifier: Apache-2.0
// ring/drain_pacing.h — how long the drain sleeps between passes.
//
// A busy pass (it read records) sleeps the configured interval (TRACECRAFT_DRAIN_INTERVAL_MS): a
// drain that chases producers record by record slows them several times. An idle process should
// cost next to nothing, so idle passes back off, doubling up to 50 ms — but only once the rings
// have been empty for k_idle_before_backoff_ms. Backing off at the first empty pass lost spans
// from bursty producers: a thread writing a burst of 1000 spans (82% of the default 256 KiB ring)
// every 3.3 ms found the drain asleep for 5 ms after an empty pass in between, and lost 26% of its
// spans (tracecraft-export-bench --ring-kb 256 --rate 300000); keeping the interval lost none.
#pragma once

#include <algorithm>
#include <cstdint>

namespace tracecraft::detail {

struct drain_pacing {
  static constexpr std::uint32_t k_idle_before_backoff_ms = 1000;
  static constexpr std::uint32_t k_max_idle_sleep_ms = 50;

  /// The sleep after a pass. `busy`: the pass read records; `idle_for_ms`: time since the last
  /// pass that did; `prev_ms`: the previous sleep. Never shorter than the interval.
  static constexpr std::uint32_t sleep_ms(bool busy, std::uint64_t idle_for_ms, std::uint32_t prev_ms,
                                          std::uint32_t interval_ms) noexcept {
    if (busy || idle_for_ms < k_idle_before_backoff_ms) return interval_ms;
    const std::uint64_t doubled = std::uint64_t{std::max(prev_ms, interval_ms)} * 2 + 1;
    return std::max<std::uint32_t>(interval_ms, static_cast<std::uint32_t>(std::min<std::uint64_t>(doubled, k_max_idle_sleep_ms)));
  }
};

}  // namespace tracecraft::detail
