// SPDX-License-Identifier: Apache-2.0
// ring/spsc_ring.h — a fixed-size single-producer single-consumer byte ring of variable-length records.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "ring/doorbell.h"
#include "ring/record.h"
#include "tracecraft/trace.h"

namespace tracecraft::detail {

/// One producer thread writes records, the drain thread reads them. Indices are monotonic 64-bit
/// byte counts; a record never wraps (a pad record fills the tail instead). The producer and the
/// consumer indices live on separate 128-byte lines and each side caches the other's index, so
/// the producer touches shared memory only when its cached view says the ring is past half full
/// [quill]; then, if it still is, it rings the drain's doorbell (once per drain progress).
///
/// Invariant: read_ <= write_ <= read_ + capacity; every record is 8-byte aligned and its
/// header's size is a multiple of 8.
class spsc_ring {
 public:
  /// `buf` has `capacity` bytes (a power of two >= 4096), owned by the caller.
  spsc_ring(unsigned char* buf, std::size_t capacity) noexcept
      : buf_(buf), cap_(capacity), mask_(capacity - 1), half_(capacity / 2) {}

  std::size_t capacity() const noexcept { return cap_; }
  /// Before the first record: the doorbell the producer rings when the ring passes half full.
  void set_doorbell(doorbell* bell) noexcept { bell_ = bell; }
  /// Largest record accepted: a quarter of the ring, so one big record cannot starve the rest.
  std::size_t max_record() const noexcept { return cap_ / 4; }

  // ---- producer ------------------------------------------------------------------------

  /// Space for a record of `n` bytes (header included, multiple of 8), or nullptr when the ring
  /// has no room. Never blocks. Must be followed by commit(n) before the next try_reserve.
  unsigned char* try_reserve(std::size_t n) noexcept {
    if (TC_UNLIKELY(n > max_record())) return nullptr;
    std::uint64_t w = w_local_;
    std::size_t pos = static_cast<std::size_t>(w & mask_);
    const std::size_t tail = cap_ - pos;
    const std::size_t need = n <= tail ? n : tail + n;
    if (w + need - r_cached_ > half_) {  // past half full by the last read position seen
      // Pairs with the release store in release(): the consumer is done with those bytes.
      r_cached_ = read_.load(std::memory_order_acquire);
      // Still past half: wake the drain, once per position it has read to (ring/doorbell.h).
      if (w + need - r_cached_ > half_ && r_cached_ != r_rung_ && bell_ != nullptr) ring_bell();
      if (w + need - r_cached_ > cap_) return nullptr;
    }
    if (n > tail) {  // pad the tail, start the record at offset 0
      record_header pad{static_cast<std::uint32_t>(tail), record_pad, {0, 0, 0}};
      std::memcpy(buf_ + pos, &pad, sizeof pad);
      w += tail;
      pos = 0;
    }
    w_pending_ = w;
    return buf_ + pos;
  }

  TC_NOINLINE_COLD void ring_bell() noexcept {
    r_rung_ = r_cached_;
    bell_->ring();
  }

  /// Publishes the record reserved last.
  void commit(std::size_t n) noexcept {
    w_local_ = w_pending_ + n;
    // Pairs with the acquire load in readable(): the record's bytes are visible before the index.
    write_.store(w_local_, std::memory_order_release);
  }

  /// Asks for write ownership of the next `bytes` of the ring (a hint, never a stall). The drain
  /// has read these lines on its own core since the last wrap; without the hint the next record's
  /// stores wait for each line to come back (measured: the larger part of a 4-attribute span's
  /// cost over the floor in tracecraft-bench).
  void prefetch_next(std::size_t bytes) const noexcept {
#if defined(__x86_64__)
    for (std::size_t o = 0; o < bytes; o += 64) asm volatile("prefetchw %0" ::"m"(*(buf_ + ((w_local_ + o) & mask_))));
#else
    for (std::size_t o = 0; o < bytes; o += 64) __builtin_prefetch(buf_ + ((w_local_ + o) & mask_), 1, 3);
#endif
  }

  // ---- consumer ------------------------------------------------------------------------

  /// [from, to) byte range the consumer may read now.
  std::uint64_t read_pos() const noexcept { return r_local_; }
  std::uint64_t readable() const noexcept { return write_.load(std::memory_order_acquire); }
  const unsigned char* at(std::uint64_t pos) const noexcept { return buf_ + (pos & mask_); }
  /// Gives bytes up to `pos` back to the producer (once per drain pass, not per record).
  void release(std::uint64_t pos) noexcept {
    r_local_ = pos;
    read_.store(pos, std::memory_order_release);
  }
  /// Bytes written and not yet released (approximate from any thread).
  std::uint64_t used() const noexcept {
    return write_.load(std::memory_order_acquire) - read_.load(std::memory_order_acquire);
  }
  /// Drops everything unread (fork child: the parent exports those records).
  void discard() noexcept {
    const std::uint64_t w = write_.load(std::memory_order_acquire);
    w_local_ = w;
    r_cached_ = w;
    release(w);
  }

 private:
  unsigned char* const buf_;
  const std::size_t cap_;
  const std::uint64_t mask_;
  const std::uint64_t half_;
  alignas(128) std::atomic<std::uint64_t> write_{0};
  std::uint64_t w_local_ = 0;
  std::uint64_t w_pending_ = 0;
  std::uint64_t r_cached_ = 0;
  std::uint64_t r_rung_ = ~std::uint64_t{0};  // the read position the bell was last rung at
  doorbell* bell_ = nullptr;
  alignas(128) std::atomic<std::uint64_t> read_{0};
  std::uint64_t r_local_ = 0;
};

}  // namespace tracecraft::detail
