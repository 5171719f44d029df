// SPDX-License-Identifier: Apache-2.0
// tracecraft/status.h — result codes of the cold API and the statistics snapshot.
#pragma once

#include <cstdint>

#include "tracecraft/macros.h"

namespace tracecraft {

/// Result of `init()`. Every value except `ok` leaves the engine in its no-op state, which is
/// always safe to use.
enum class status : std::uint8_t {
  ok = 0,
  disabled,          ///< OTEL_SDK_DISABLED=true: spans cost one branch and record nothing
  already_running,   ///< init() while running: the running engine is kept
  thread_failed,     ///< the drain thread could not be started
  out_of_memory,
};

/// A human-readable name for a status value (static storage).
TC_API const char* status_message(status s) noexcept;

/// Reasons a recorded span was not exported. Each span created is counted exactly once:
/// created = exported + sum(dropped) + sampled_out (once everything pending has drained).
struct dropped_counts {
  std::uint64_t ring_full = 0;          ///< the producer's ring had no room (never blocks)
  std::uint64_t export_failed = 0;      ///< the exporter could not write the batch (file, encoding)
  std::uint64_t no_exporter = 0;        ///< OTEL_TRACES_EXPORTER=none
  std::uint64_t shutdown_deadline = 0;  ///< still pending when shutdown's deadline passed
  std::uint64_t queue_full = 0;         ///< the export queue (OTEL_BSP_MAX_QUEUE_SIZE) was full
  std::uint64_t rate_limited = 0;       ///< over TRACECRAFT_EXPORT_RATE
  std::uint64_t rejected = 0;           ///< refused by the collector (4xx other than 429, partial success)
  std::uint64_t retry_exhausted = 0;    ///< retryable failures until retries or OTEL_BSP_EXPORT_TIMEOUT ran out
  std::uint64_t too_large = 0;          ///< one span over the request limit, or 413 from the collector
  std::uint64_t tail_evicted = 0;       ///< a skeleton trace pushed out of a full TRACECRAFT_PENDING_TRACES table
  std::uint64_t total() const noexcept {
    return ring_full + export_failed + no_exporter + shutdown_deadline + queue_full + rate_limited + rejected +
           retry_exhausted + too_large + tail_evicted;
  }
};

/// Per-exporter figures. Every span handed to an exporter ends in exactly one of spans_exported,
/// the drop counts, or (for now) queued.
struct exporter_stats {
  char name[16] = {};
  std::uint64_t spans_exported = 0;
  std::uint64_t batches = 0;     ///< requests (or lines) written successfully
  std::uint64_t bytes = 0;       ///< bytes sent (after compression)
  std::uint64_t retries = 0;     ///< requests sent again after a retryable failure
  std::uint64_t queued = 0;      ///< spans in batches handed to the network side, not yet settled
  std::uint64_t queue_capacity = 0;
  std::uint64_t queued_bytes = 0;          ///< encoded bytes of those spans (the batch being filled is not counted)
  std::uint64_t queue_bytes_capacity = 0;  ///< TRACECRAFT_EXPORT_QUEUE_BYTES (0: no byte bound)
  dropped_counts dropped;        ///< only the export reasons are used here
  char last_error[128] = {};     ///< the most recent failure, empty if none
};

/// What redaction did (TRACECRAFT_REDACT).
struct redaction_stats {
  bool available = false;               ///< a pattern database is compiled and scanning
  std::uint64_t values_scanned = 0;
  std::uint64_t bytes_scanned = 0;
  std::uint64_t failures = 0;           ///< values the scanner failed on (exported as [REDACTION_FAILED])
  std::uint64_t payloads_dropped = 0;   ///< captured payloads dropped because redaction was unavailable
  std::uint32_t pattern_count = 0;
  struct pattern {
    char name[24] = {};
    std::uint64_t matches = 0;
  } patterns[48];
};

/// A consistent-enough snapshot (each counter is read atomically; counters move while it is
/// taken). After `flush()` returns true, the accounting identity holds exactly.
struct stats_snapshot {
  std::uint64_t spans_created = 0;
  std::uint64_t spans_exported = 0;  ///< by the first configured exporter
  std::uint64_t spans_sampled_out = 0;
  dropped_counts dropped;            ///< from the first configured exporter's view
  std::uint64_t traces_exported = 0; ///< local root spans exported (one per trace per process)
  std::uint64_t attributes_dropped = 0;  ///< over OTEL_*_COUNT_LIMIT (attributes, events, links)
  std::uint64_t fragments_lost = 0;      ///< spans exported without some of their overflow data
  std::uint64_t tail_kept = 0;           ///< skeleton spans exported because their trace failed or was slow
  std::uint64_t tail_pending = 0;        ///< skeleton traces waiting for their root to end
  std::uint64_t tracestate_lost = 0;    ///< spans exported without their incoming tracestate (its table slot was reused)
  redaction_stats redaction;
  std::uint64_t spans_pending = 0;       ///< written to rings, not yet exported
  std::uint32_t threads = 0;             ///< producer threads with a live ring
  std::uint64_t ring_bytes = 0;          ///< memory held by rings (grown ones included)
  std::uint64_t rings_grown = 0;         ///< times a ring was given a larger buffer (TRACECRAFT_RING_MAX_KB)
  std::uint64_t standby_moves = 0;        ///< full rings whose thread moved to the standby buffer instead of dropping (counted in rings_grown too)
  std::uint64_t rings_shrunk = 0;        ///< times a grown ring moved to a smaller buffer (TRACECRAFT_RING_SHRINK_AFTER_MS)
  std::uint64_t drain_passes = 0;
  std::uint64_t drain_early_wakes = 0;   ///< drain sleeps cut short: a ring passed half full (or flush, shutdown)
  /// The longest time between two drain passes, the later of which found records: how long the
  /// rings had to hold what their threads wrote. While spans flow the drain passes every
  /// TRACECRAFT_DRAIN_INTERVAL_MS, or up to 50 ms apart while rings fill slowly (each then about an
  /// eighth full at its average rate), sooner when a ring passes half full; far more means the drain
  /// thread did not get a CPU (an overloaded host, a hypervisor's steal) or an exporter blocked it
  /// (a file that would not take writes). A thread that writes more than its ring holds in that
  /// time drops (ring_full): size TRACECRAFT_RING_MAX_KB for it.
  std::uint64_t drain_longest_gap_us = 0;
  bool running = false;
  bool drain_alive = false;
  std::uint32_t exporter_count = 0;
  exporter_stats exporters[4];
};

}  // namespace tracecraft
