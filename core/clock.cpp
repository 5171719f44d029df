// SPDX-License-Identifier: Apache-2.0
// core/clock.cpp — clock source choice and TSC calibration.
#include "core/clock.h"

#include <cstdio>
#include <cstring>

namespace tracecraft::detail {

std::atomic<bool> g_use_tsc{false};

namespace {

bool kernel_uses_tsc() noexcept {
#if TC_HAVE_TSC
  std::FILE* f = std::fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
  if (f == nullptr) return false;
  char buf[32] = {};
  const bool ok = std::fgets(buf, sizeof buf, f) != nullptr && std::strncmp(buf, "tsc", 3) == 0;
  std::fclose(f);
  return ok;
#else
  return false;
#endif
}

// A (tick, ns) pair read as close together as possible: the tightest of a few tries.
void paired_read(std::uint64_t& tick, std::uint64_t& ns) noexcept {
  std::uint64_t best = ~0ull;
  for (int i = 0; i < 8; ++i) {
    const std::uint64_t a = ticks();
    const std::uint64_t n = realtime_ns();
    const std::uint64_t b = ticks();
    if (b - a < best) {
      best = b - a;
      tick = a + (b - a) / 2;
      ns = n;
    }
  }
}

}  // namespace

clock_calibration calibrate_clock() noexcept {
  static const bool use = kernel_uses_tsc();
  g_use_tsc.store(use, std::memory_order_relaxed);
  clock_calibration c;
  if (!use) {
    c.tick0 = 0;
    c.ns0 = 0;
    c.ns_per_tick = 1.0;
    return c;
  }
  paired_read(c.tick0, c.ns0);
  std::uint64_t t1 = 0, n1 = 0;
  do {
    paired_read(t1, n1);
  } while (n1 - c.ns0 < 2000000);  // 2 ms baseline: ~1e-4 relative, refined later
  c.ns_per_tick = static_cast<double>(n1 - c.ns0) / static_cast<double>(t1 - c.tick0);
  return c;
}

void refine_clock(clock_calibration& c) noexcept {
  if (!g_use_tsc.load(std::memory_order_relaxed)) return;
  std::uint64_t t = 0, n = 0;
  paired_read(t, n);
  if (t > c.tick0 && n > c.ns0) c.ns_per_tick = static_cast<double>(n - c.ns0) / static_cast<double>(t - c.tick0);
}

}  // namespace tracecraft::detail
