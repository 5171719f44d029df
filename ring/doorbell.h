// SPDX-License-Identifier: Apache-2.0
// ring/doorbell.h — how a producer thread wakes the drain early without ever blocking: a sequence
// word bumped by ring() and a futex the one waiter sleeps on. A producer rings when its ring passes
// half full (spsc_ring), so a burst larger than what one drain interval leaves room for is read
// while it is being written instead of overflowing; flush() and shutdown() ring it too.
//
// ring() is one atomic increment plus, only while the drain sleeps, one FUTEX_WAKE system call
// (it never waits for anything). A wake-up can never be lost: the waiter publishes `sleeping_` and then
// re-reads the sequence, the ringer bumps the sequence and then reads `sleeping_` (both seq_cst),
// so at least one of them sees the other; and FUTEX_WAIT itself sleeps only while the word still
// holds the value the waiter last saw.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>

namespace tracecraft::detail {

class doorbell {
 public:
  /// Any thread, never blocks.
  void ring() noexcept {
    seq_.fetch_add(1, std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_seq_cst))
      ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&seq_), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }
  /// The waiter, before it checks for work: a ring() after this makes the next wait() return at once.
  std::uint32_t seen() const noexcept { return seq_.load(std::memory_order_seq_cst); }
  /// The waiter: sleeps up to `timeout` unless rung since `seen` (spurious returns are harmless).
  /// True when it was rung.
  bool wait(std::uint32_t seen, std::chrono::nanoseconds timeout) noexcept {
    sleeping_.store(true, std::memory_order_seq_cst);
    if (seq_.load(std::memory_order_seq_cst) == seen) {
      const auto ns = timeout.count() > 0 ? timeout.count() : 0;
      timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
      ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&seq_), FUTEX_WAIT_PRIVATE, seen, &ts, nullptr, 0);
    }
    sleeping_.store(false, std::memory_order_relaxed);
    return seq_.load(std::memory_order_acquire) != seen;
  }
  /// How often ring() was called (for tests).
  std::uint32_t rings() const noexcept { return seq_.load(std::memory_order_relaxed); }

 private:
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t), "a futex word is 32 bits");
  alignas(64) std::atomic<std::uint32_t> seq_{0};
  std::atomic<bool> sleeping_{false};
};

}  // namespace tracecraft::detail
