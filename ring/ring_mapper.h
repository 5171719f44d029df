// SPDX-License-Identifier: Apache-2.0
// ring/ring_mapper.h — maps the buffers of growing rings on a thread of its own, not the drain's.
//
// A ring that grows needs a buffer with every page mapped (ring/ring_memory.h): 0.3–0.6 ms for
// 1 MiB and 1–1.8 ms for 4 MiB on these VMs. Mapped on the drain, that time stalled every other
// ring: four threads at 500,000 spans/s each, growing in the same passes, lost 787–4225 spans per
// round (tracecraft-export-bench --threads 4 --rate 2000000). Here the drain asks for a size and
// offers the buffer on a later pass, reading every ring meanwhile. The worker thread starts at the
// first request, so a process whose rings never grow never has one.
//
// Buffers are interchangeable by size. Each waiting ring has asked once and takes once, so the
// buffers of a size queued, being mapped and ready are never fewer than the rings waiting for one;
// a ring that goes away while it waits gives its unit back (abandon()).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "ring/ring_memory.h"

namespace tracecraft::detail {

class ring_mapper {
 public:
  ring_mapper() = default;
  ring_mapper(const ring_mapper&) = delete;
  ring_mapper& operator=(const ring_mapper&) = delete;
  ~ring_mapper() { stop(true); }

  enum class asked { queued, busy, unavailable };
  enum class state { pending, ready, failed };

  /// Queues one buffer of `bytes`. Never waits: `busy` when the worker holds the lock (ask again
  /// later); `unavailable` when no worker can run (the thread did not start, or stop() was
  /// called): the caller maps the buffer itself or does without.
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

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::size_t> queued_;   // sizes asked for, not yet mapped
  std::vector<ring_memory> ready_;    // mapped, not yet taken
  std::vector<std::size_t> failed_;   // mappings the kernel refused, not yet reported
  std::vector<std::size_t> unwanted_; // abandoned while being mapped: freed when done
  std::size_t mapping_ = 0;           // size being mapped now (0: none)
  bool started_ = false;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace tracecraft::detail
