// SPDX-License-Identifier: Apache-2.0
// export/exporter.h — the sink interface: called on the drain thread only, never on a request thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "export/span_view.h"
#include "tracecraft/config.h"
#include "tracecraft/status.h"

namespace tracecraft::detail {

/// Counters readable from any thread (stats()). Each is written by one thread (bump: a plain
/// relaxed load and store) unless noted; `queued` and `too_large` are shared (add: fetch_add).
struct exporter_counters {
  std::atomic<std::uint64_t> exported{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> batches{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<std::uint64_t> retries{0};
  std::atomic<std::uint64_t> queue_full{0};
  std::atomic<std::uint64_t> rate_limited{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> retry_exhausted{0};
  std::atomic<std::uint64_t> too_large{0};         // drain (one span too big) and export thread (413)
  std::atomic<std::uint64_t> shutdown_deadline{0};
  std::atomic<std::uint64_t> queued{0};            // drain adds, export thread subtracts
  std::atomic<std::uint64_t> queued_bytes{0};      // the same spans' encoded bytes
  std::uint64_t queue_capacity = 0;
  std::uint64_t queue_bytes_capacity = 0;

  static void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) noexcept {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
  static void add(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) noexcept {
    c.fetch_add(by, std::memory_order_relaxed);
  }
  /// Records the latest failure (printf-style; never a header value or a payload).
  void set_error(const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));
  /// Copies everything into `out` (name excepted).
  void read(exporter_stats& out) const noexcept;

 private:
  mutable std::mutex error_mu_;
  char last_error_[128] = {};
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
  /// Writes everything buffered, waiting for it (network exporters) until `until`. With `final`
  /// (shutdown), whatever is still unsent at `until` is counted as shutdown_deadline and the
  /// exporter's own threads are stopped. Returns false when something was left unsent.
  virtual bool flush(std::chrono::steady_clock::time_point until, bool final) noexcept = 0;
  /// Called once by init(), on the caller's thread, before the drain starts (never in a fork
  /// child): work that would otherwise fall on the drain's first passes, while a small ring is
  /// filling, such as faulting in the first request buffers.
  virtual void prepare() noexcept {}
  /// Called once on the drain thread before its first pass (start threads here, not in the
  /// constructor: a fork child builds its engine inside the fork handler).
  virtual void start() noexcept {}
  /// False when a thread of the exporter died or its queue is 90% full (healthy()).
  virtual bool healthy() const noexcept { return true; }
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
/// OTLP/HTTP (protobuf or JSON) with libcurl on its own thread behind a bounded queue.
std::unique_ptr<exporter> make_otlp_exporter(const config& cfg, const resource_info& res);

}  // namespace tracecraft::detail
