// SPDX-License-Identifier: Apache-2.0
// export/exporter.h — the sink interface: called on the drain thread only, never on a request thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "export/span_view.h"
#include "tracecraft/config.h"

namespace tracecraft::detail {

/// Counters readable from any thread (stats()), written by the drain thread.
struct exporter_counters {
  std::atomic<std::uint64_t> exported{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> bytes{0};
  static void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) noexcept {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
};

/// A sink for finished spans. Implementations encode in add() (the view dies after the call),
/// write in batches, and account every span they accepted as exported or failed.
/// Must not throw; the drain wraps calls anyway.
class exporter {
 public:
  virtual ~exporter() = default;
  virtual const char* name() const noexcept = 0;
  /// Accepts one span; `now_ns` is the drain's clock, for schedule delays.
  virtual void add(const span_view& s, std::uint64_t now_ns) noexcept = 0;
  /// Writes batches whose schedule delay has passed.
  virtual void tick(std::uint64_t now_ns) noexcept = 0;
  /// Writes everything buffered.
  virtual void flush() noexcept = 0;
  /// In a fork child: release OS resources inherited from the parent without writing anything.
  virtual void close_in_child() noexcept {}

  exporter_counters counters;
};

/// Resource attributes, already decided (standards §7).
struct resource_info {
  std::vector<std::pair<std::string, std::string>> strings;
  std::int64_t pid = 0;
};

std::unique_ptr<exporter> make_jsonl_exporter(const config& cfg, const resource_info& res);
std::unique_ptr<exporter> make_console_exporter(const config& cfg, const resource_info& res);

}  // namespace tracecraft::detail
