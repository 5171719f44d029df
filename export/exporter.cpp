// SPDX-License-Identifier: Apache-2.0
// export/exporter.cpp — the counters every exporter keeps.
#include "export/exporter.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace tracecraft::detail {

void exporter_counters::set_error(const char* fmt, ...) noexcept {
  if (fmt == nullptr) return;
  char buf[sizeof last_error_];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::lock_guard<std::mutex> lk(error_mu_);
  std::memcpy(last_error_, buf, sizeof buf);
}

void exporter_counters::read(exporter_stats& out) const noexcept {
  constexpr auto r = std::memory_order_relaxed;
  out.spans_exported = exported.load(r);
  out.batches = batches.load(r);
  out.bytes = bytes.load(r);
  out.retries = retries.load(r);
  out.queued = queued.load(r);
  out.queue_capacity = queue_capacity;
  out.queued_bytes = queued_bytes.load(r);
  out.queue_bytes_capacity = queue_bytes_capacity;
  out.dropped.export_failed = failed.load(r);
  out.dropped.queue_full = queue_full.load(r);
  out.dropped.rate_limited = rate_limited.load(r);
  out.dropped.rejected = rejected.load(r);
  out.dropped.retry_exhausted = retry_exhausted.load(r);
  out.dropped.too_large = too_large.load(r);
  out.dropped.shutdown_deadline = shutdown_deadline.load(r);
  std::lock_guard<std::mutex> lk(error_mu_);
  std::memcpy(out.last_error, last_error_, sizeof out.last_error);
}

}  // namespace tracecraft::detail
