// SPDX-License-Identifier: Apache-2.0
// ring/thread_state.h — one producer thread's ring and counters, shared by the thread and the drain.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "ring/drain_pacing.h"
#include "ring/ring_memory.h"
#include "ring/spsc_ring.h"
#include "tracecraft/trace.h"

namespace tracecraft::detail {

/// Owned jointly by its thread (through t_tls) and by the engine's registry: `refs` starts at 2
/// and whoever drops it to 0 frees the block. The thread sets `closed` when it exits; the drain
/// reclaims a closed ring once it has read it to the end, so an exiting thread loses nothing.
///
/// Counters are written by the owner thread only (load + store, no RMW) and read by anyone.
struct thread_state : thread_hot {
  explicit thread_state(std::size_t ring_bytes) noexcept;
  ~thread_state();
  thread_state(const thread_state&) = delete;
  thread_state& operator=(const thread_state&) = delete;

  static thread_state* create(std::size_t ring_bytes) noexcept;  // nullptr when out of memory
  void release() noexcept {
    // acq_rel: the last owner sees all writes of the other before freeing.
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  static void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) noexcept {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }

  ring_memory storage;  ///< the buffer the drain reads
  spsc_ring ring;
  // The drain's side of ring growth (spsc_ring::offer): the buffer offered or switched to, and the
  // one left behind, freed once the pass that followed the switch no longer points into it.
  ring_memory next_storage;
  ring_memory retired_storage;
  std::atomic<std::uint64_t> bytes{0};          ///< ring memory held (all of the above)
  std::uint64_t full_seen = 0;                  ///< the drain's last look at ring_full
  std::size_t growth_asked = 0;                 ///< a buffer of this size asked of the engine's ring_mapper (drain)
  std::size_t growth_goal = 0;                  ///< the capacity a growth that is under way goes on to (drain)
  fill_rate_meter fill_rate;                    ///< bytes per ms written, averaged over passes (drain)
  // The drain's side of shrinking a grown ring (engine::maybe_shrink).
  std::uint64_t quiet_since_ns = 0;             ///< start of the current window without growth pressure (0: none)
  std::uint64_t quiet_from = 0;                 ///< the read position at its start
  std::uint64_t quiet_peak = 0;                 ///< the largest fill a pass found in it
  std::uint64_t offer_seen_ns = 0;              ///< a smaller buffer on offer: when records last arrived since
  std::uint64_t offer_seen_pos = 0;             ///< ... and the read position then
  bool shrinking = false;                       ///< the buffer asked for or offered is a smaller one
  alignas(128) std::atomic<std::uint64_t> written{0};    ///< span records committed
  std::atomic<std::uint64_t> ring_full{0};               ///< span records dropped: no room
  std::atomic<std::uint64_t> fragments_lost{0};          ///< fragments dropped: no room
  std::atomic<bool> closed{false};
  std::atomic<int> refs{2};
};

}  // namespace tracecraft::detail
