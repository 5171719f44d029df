// SPDX-License-Identifier: Apache-2.0
// ring/ring_mapper.h — maps the buffers of growing rings on a thread of its own, not the drain's.
//
// A ring that grows needs a buffer with every page mapped (ring/ring_memory.h): 0.3–0.6 ms for
// 1 MiB and 1–1.8 ms for 4 MiB on these VMs. Mapped on the drain, that time is a stall for every
// other ring, and it adds up: sixteen threads growing to 1 MiB (tracecraft-export-bench --threads
// 16, two rounds) cost the drain 21–27 ms of CPU (25–37 ms of wall time) in its growth step; with
// the mapper 0.1–0.5 ms (0.7–1.1 ms). Here the drain asks for a size and offers the buffer when the
// worker rings the drain's doorbell, reading every ring meanwhile.
//
// The drain starts the worker when rings may grow (start()): created at the first ask() instead,
// its creation delayed the first growth, and a thread bursting at 1M spans/s from its first span
// lost 125–327 spans in 6 of 16 first rounds (0 of 16 mapping on the drain, 0 of 16 started
// early). It runs at normal priority: as SCHED_IDLE it waited for idle CPU time and lost 819 in 1
// of 8.
//
// Buffers are interchangeable by size. Each waiting ring has asked once and takes once, so the
// buffers of a size queued, being mapped and ready are never fewer than the rings waiting for one;
// a ring that goes away while it waits gives its unit back (abandon()). The mapper also holds one
// spare of a fresh ring's first growth step (start(spare)): a ring that asks for that size takes
// the spare in the same pass, and what it asked for becomes the next spare. Without it the first
// step waited for its mapping (0.3–0.9 ms here) while a 256 KiB ring at 1M spans/s holds 1.2 ms.
// init() maps the spare itself and hands it over (adopt_spare()), so that mapping does not run
// beside the first spans; a fork child's engine, which skips that step, has start() map it.
//
// The worker rings the doorbell with its lock released: the drain it wakes can preempt it on its
// core, and would otherwise find the lock held by the thread it preempted. take() does not wait,
// so that buffer waited for a later pass; in the export bench's first rounds, a pass-by-pass log
// showed it twice in a row while a 256 KiB ring overflowed. ring_test forces that preemption (a
// SCHED_FIFO waiter on the mapper's CPU): rung under the lock, 0 of 20 takes found the buffer.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "ring/doorbell.h"
#include "ring/ring_memory.h"

namespace tracecraft::detail {

class ring_mapper {
 public:
  ring_mapper() = default;
  ring_mapper(const ring_mapper&) = delete;
  ring_mapper& operator=(const ring_mapper&) = delete;
  ~ring_mapper() { stop(true); }

  /// Before the first ask(): the doorbell rung when a buffer is ready, so the drain offers it at
  /// once instead of on its next timed pass (the ring it is for may be overflowing meanwhile).
  void set_doorbell(doorbell* bell) noexcept { bell_ = bell; }

  /// Starts the worker thread now rather than at the first ask(); false when it cannot start.
  /// `spare`: also maps one buffer of that size that no ring has asked for (first, ringing the
  /// doorbell only if a ring has asked for that size meanwhile), so that the first ring to ask
  /// for that size can take() it at once; every ask() maps one more, so the spare is replaced as
  /// soon as a ring takes it. A spare is asked for once, before any ask().
  bool start(std::size_t spare = 0) noexcept;
  /// Before start(), from any thread: `m`, mapped by the caller, held as the spare, so that
  /// start() maps none of that size (init() maps it before the first spans, when no ring is
  /// filling). False when `m` is empty or cannot be held (start() then maps the spare).
  bool adopt_spare(ring_memory m) noexcept;

  enum class asked { queued, busy, unavailable };
  enum class state { pending, ready, failed };

  /// Queues one buffer of `bytes` (starting the worker if start() was not called). Never waits:
  /// `busy` when the worker holds the lock (ask again later); `unavailable` when no worker can
  /// run (the thread did not start, or stop() was called): the caller maps the buffer itself.
  asked ask(std::size_t bytes) noexcept;
  /// One buffer of `bytes` asked for earlier: `ready` moves it into `out`; `failed` means the
  /// kernel refused the mapping (ask again later); `pending` means not yet (or the lock was busy).
  state take(std::size_t bytes, ring_memory& out) noexcept;
  /// One buffer of `bytes` asked for is no longer wanted (its ring went away).
  void abandon(std::size_t bytes) noexcept;
  /// Bytes the mapper holds: ready buffers and the one being mapped.
  std::uint64_t held_bytes() const noexcept;
  /// Nothing queued or being mapped.
  bool idle() const noexcept;
  /// Stops the worker once its mapping in hand is done and frees what it holds. `join`: waits
  /// for the thread (at most one mapping); otherwise detaches it (the mapper must outlive it).
  void stop(bool join) noexcept;

 private:
  void run() noexcept;
  bool start_locked() noexcept;
  bool queue_locked(std::size_t bytes) noexcept;  // false: could not queue (nothing changed)

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::size_t> queued_;   // sizes asked for, not yet mapped
  std::vector<ring_memory> ready_;    // mapped, not yet taken
  std::vector<std::size_t> failed_;   // mappings the kernel refused, not yet reported
  std::vector<std::size_t> unwanted_; // abandoned while being mapped: freed when done
  std::size_t mapping_ = 0;           // size being mapped now (0: none)
  bool quiet_ = false;                // the mapping in hand or next is start()'s spare: no doorbell
  bool started_ = false;
  bool stopping_ = false;
  doorbell* bell_ = nullptr;
  std::thread worker_;
};

}  // namespace tracecraft::detail
