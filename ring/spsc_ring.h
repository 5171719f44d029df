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

/// A mapped buffer any ring may take when full (the engine's, see spsc_ring's standby below).
struct standby_buffer {
  unsigned char* buf = nullptr;
  std::size_t cap = 0;
};

/// One producer thread writes records, the drain thread reads them. Indices are monotonic 64-bit
/// byte counts; a record never wraps (a pad record fills the tail instead). The producer and the
/// consumer indices live on separate 128-byte lines and each side caches the other's index, so
/// the producer touches shared memory only when its cached view says the ring is past half full
/// [quill]; then, if what it has committed still is, it rings the drain's doorbell (once per
/// drain progress): at the reserve after the record that crossed half, so the woken drain finds it.
///
/// Growth and shrinking: the consumer may offer another buffer, larger or smaller (offer()). The
/// producer takes it on its slow path (past half full by its cached read position, so at least
/// once per half buffer written), at a record boundary S, and writes from S on into the new
/// buffer at offset S & new_mask; it publishes S (switch_pos()). The consumer reads the old buffer
/// up to S, then follows (follow_switch()) and frees the old one once nothing points into it. A
/// record over a quarter of the offered buffer stays in the current one (the move waits for a
/// later record). An offer not yet taken can be withdrawn (withdraw()): producer and consumer each
/// take the pointer with an exchange, so exactly one of them owns the buffer. The hot path is
/// unchanged: a taken offer is one more load on the slow path.
///
/// The standby: a ring whose drain has not come by (a drain kept off its CPU, or a thread that
/// starts at full speed before its ring was ever grown) would drop once full. The engine keeps one
/// mapped buffer that any ring's producer may take at that moment (set_standby()): the producer
/// claims the offer slot with a mark (so no offer can be made meanwhile), takes the standby with an
/// exchange (one producer wins it), and moves to it exactly as to an offer. The consumer follows
/// that switch like any other (standby_taken() says which it was), clears the mark, and owns the
/// buffer from then on. Only the would-drop path changes: the hot path is the same.
///
/// Invariant: read_ <= write_; the bytes written into the current buffer since it was taken,
/// write_ - max(read_, base_), are at most its capacity; every record is 8-byte aligned and its
/// header's size is a multiple of 8.
class spsc_ring {
 public:
  /// `buf` has `capacity` bytes (a power of two >= 4096), owned by the caller.
  spsc_ring(unsigned char* buf, std::size_t capacity) noexcept
      : buf_(buf), cap_(capacity), mask_(capacity - 1), half_(capacity / 2), c_buf_(buf), c_mask_(capacity - 1) {}

  static constexpr std::uint64_t no_switch = ~std::uint64_t{0};
  /// Before the first record: the doorbell the producer rings when the ring passes half full.
  void set_doorbell(doorbell* bell) noexcept { bell_ = bell; }
  /// Before the first record: the slot of the engine's standby buffer (nullptr: none).
  void set_standby(std::atomic<standby_buffer*>* slot) noexcept { standby_ = slot; }
  /// Largest record accepted: a quarter of the producer's buffer, so one big record cannot
  /// starve the rest.
  std::size_t max_record() const noexcept { return cap_ / 4; }

  // ---- producer ------------------------------------------------------------------------

  /// Space for a record of `n` bytes (header included, multiple of 8), or nullptr when the ring
  /// has no room. Never blocks. Must be followed by commit(n) before the next try_reserve.
  unsigned char* try_reserve(std::size_t n) noexcept {
    if (TC_UNLIKELY(n > max_record())) return nullptr;
    const std::uint64_t w = w_local_;
    const std::size_t pos = static_cast<std::size_t>(w & mask_);
    const std::size_t tail = cap_ - pos;
    const std::size_t need = n <= tail ? n : tail + n;
    if (w + need - r_cached_ > half_) {  // past half full by the last read position seen
      // A buffer on offer (same line as read_): move to it, it is empty. (The mark is this
      // producer's own claim while a move to the standby waits to be followed.)
      if (unsigned char* o = offer_.load(std::memory_order_relaxed); TC_UNLIKELY(o != nullptr && o != standby_mark())) {
        if (unsigned char* p = reserve_in_offer(n)) return p;
      }
      // Pairs with the release store in release(): the consumer is done with those bytes. Bytes
      // before base_ are in a buffer this producer has left.
      const std::uint64_t r = read_.load(std::memory_order_acquire);
      r_cached_ = r > base_ ? r : base_;
      // Past half with the records already committed: wake the drain, once per position it has
      // read to (ring/doorbell.h). Not for the record about to cross half: rung before its
      // commit, the woken drain could read the ring one record short of half and judge it by that.
      if (w - r_cached_ > half_ && r_cached_ != r_rung_ && bell_ != nullptr) ring_bell();
      if (w + need - r_cached_ > cap_) return standby_ != nullptr ? reserve_in_standby(n) : nullptr;
    }
    return place(w, pos, tail, n);
  }

  /// The ring is full and the drain has not come by: moves to the engine's standby buffer if it
  /// is there, larger than this one and no other move is pending; nullptr otherwise (the record
  /// is dropped, as before).
  TC_NOINLINE_COLD unsigned char* reserve_in_standby(std::size_t n) noexcept {
    // Pairs with follow_switch()'s release store: a move not yet followed means no second one.
    if (switch_at_.load(std::memory_order_acquire) != no_switch) return nullptr;
    unsigned char* none = nullptr;
    // The mark in the offer slot: the consumer cannot offer until it has followed this move.
    if (!offer_.compare_exchange_strong(none, standby_mark(), std::memory_order_acq_rel, std::memory_order_relaxed))
      return nullptr;  // an offer arrived: the next record takes it
    standby_buffer* sb = standby_->exchange(nullptr, std::memory_order_acq_rel);
    if (sb == nullptr || sb->cap <= cap_ || n > sb->cap / 4) {
      if (sb != nullptr) standby_->store(sb, std::memory_order_release);  // not for this ring: back
      offer_.store(nullptr, std::memory_order_release);
      return nullptr;
    }
    taken_ = sb;  // published by the switch_at_ store below
    return move_to(sb->buf, sb->cap, n);
  }

  /// Takes the offered buffer at the current write position and reserves `n` bytes in it; nullptr
  /// (the current buffer goes on) when the consumer withdrew it first, or when `n` is over a
  /// quarter of it (a smaller buffer: it is left on offer for a later record).
  TC_NOINLINE_COLD unsigned char* reserve_in_offer(std::size_t n) noexcept {
    // Pairs with offer()'s release store: offer_cap_ is the size of this buffer. The consumer
    // writes offer_cap_ again only after this offer is followed or withdrawn.
    unsigned char* nb = offer_.exchange(nullptr, std::memory_order_acquire);
    if (nb == nullptr) return nullptr;  // withdrawn
    const std::size_t nc = offer_cap_;
    if (n > nc / 4) {
      offer_.store(nb, std::memory_order_release);  // still the consumer's offer, untouched
      return nullptr;
    }
    return move_to(nb, nc, n);
  }

  /// Moves the producer to the empty buffer `nb` of `nc` bytes at the current write position and
  /// reserves `n` bytes (at most a quarter of it) there.
  unsigned char* move_to(unsigned char* nb, std::size_t nc, std::size_t n) noexcept {
    const std::uint64_t w = w_local_;  // every reserved record is committed: a record boundary
    buf_ = nb;
    cap_ = nc;
    mask_ = nc - 1;
    half_ = nc / 2;
    base_ = w;
    r_cached_ = w;
    r_rung_ = ~std::uint64_t{0};
    // Seen by the consumer before any record at or after w: commit()'s release store follows.
    switch_at_.store(w, std::memory_order_release);
    const std::size_t pos = static_cast<std::size_t>(w & mask_);
    return place(w, pos, cap_ - pos, n);  // the new buffer is empty and n <= a quarter of it: it fits
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
  /// The buffer the consumer reads (it changes at follow_switch()).
  const unsigned char* at(std::uint64_t pos) const noexcept { return c_buf_ + (pos & c_mask_); }
  std::size_t capacity() const noexcept { return c_mask_ + 1; }

  /// Offers the producer a buffer of `cap` bytes (a power of two >= 4096, larger or smaller than
  /// the current one, zeroed, its pages mapped). Only while can_offer(); the caller owns the memory.
  /// c_next_ is set by offer() and cleared only by follow_switch() or a successful withdraw(), so
  /// it is null exactly when no offer is out (offer_) and no switch to an offered buffer is waiting
  /// to be followed (switch_at_). While the producer's move to the standby waits to be followed
  /// (the mark in the offer slot), no offer either.
  bool can_offer() const noexcept {
    return c_next_ == nullptr && offer_.load(std::memory_order_acquire) != standby_mark();
  }
  /// False (nothing offered, the caller keeps `buf`) when the producer has just claimed the slot
  /// to move to the standby.
  bool offer(unsigned char* buf, std::size_t cap) noexcept {
    offer_cap_ = cap;  // the producer reads it only after taking buf, and follow_switch() below
    unsigned char* none = nullptr;
    if (!offer_.compare_exchange_strong(none, buf, std::memory_order_acq_rel, std::memory_order_relaxed)) return false;
    c_next_ = buf;
    return true;
  }
  /// Takes back the buffer offered last if the producer has not taken it: true, and can_offer()
  /// again. False while the producer holds it: either it moves (the switch is followed as usual)
  /// or, declining a record too large for it, puts it back (a later withdraw() can take it).
  bool withdraw() noexcept {
    if (c_next_ == nullptr || offer_.exchange(nullptr, std::memory_order_acquire) == nullptr) return false;
    c_next_ = nullptr;
    return true;
  }
  /// The write position where the producer moved to the offered buffer, or no_switch. Read after
  /// readable(): records at or after it are in the new buffer.
  std::uint64_t switch_pos() const noexcept { return switch_at_.load(std::memory_order_acquire); }
  /// At switch_pos(): the buffer the producer moved to was the standby (not an offer); valid until
  /// follow_switch().
  const standby_buffer* standby_taken() const noexcept { return c_next_ == nullptr ? taken_ : nullptr; }
  /// Called when the read position has reached switch_pos(): reads continue in the new buffer.
  void follow_switch() noexcept {
    if (c_next_ == nullptr) {  // the standby: taken_ was published by switch_at_ (read in switch_pos())
      c_buf_ = taken_->buf;
      c_mask_ = taken_->cap - 1;
      switch_at_.store(no_switch, std::memory_order_release);
      offer_.store(nullptr, std::memory_order_release);  // the mark: offers (and moves) again
      return;
    }
    c_buf_ = c_next_;
    c_mask_ = offer_cap_ - 1;
    c_next_ = nullptr;
    switch_at_.store(no_switch, std::memory_order_release);
  }
  /// Gives bytes up to `pos` back to the producer (once per drain pass, not per record).
  void release(std::uint64_t pos) noexcept {
    r_local_ = pos;
    read_.store(pos, std::memory_order_release);
  }
  /// Bytes written and not yet released (approximate from any thread).
  std::uint64_t used() const noexcept {
    return write_.load(std::memory_order_acquire) - read_.load(std::memory_order_acquire);
  }
 private:
  /// The offer slot's value while the producer's move to the standby is pending: never a buffer
  /// (buffers are at least 8-byte aligned), and the same value in every binary that includes this.
  static unsigned char* standby_mark() noexcept { return reinterpret_cast<unsigned char*>(std::uintptr_t{1}); }
  /// The record's place at write position `w` (offset `pos`, `tail` bytes to the buffer's end):
  /// a tail too short for `n` bytes gets a pad record and the record starts at offset 0.
  TC_ALWAYS_INLINE unsigned char* place(std::uint64_t w, std::size_t pos, std::size_t tail, std::size_t n) noexcept {
    if (n > tail) {
      record_header pad{static_cast<std::uint32_t>(tail), record_pad, {0, 0, 0}};
      std::memcpy(buf_ + pos, &pad, sizeof pad);
      w += tail;
      pos = 0;
    }
    w_pending_ = w;
    return buf_ + pos;
  }

  // The producer's line: its buffer and indices.
  unsigned char* buf_;
  std::size_t cap_;
  std::uint64_t mask_;
  std::uint64_t half_;
  alignas(128) std::atomic<std::uint64_t> write_{0};
  std::uint64_t w_local_ = 0;
  std::uint64_t w_pending_ = 0;
  std::uint64_t r_cached_ = 0;
  std::uint64_t r_rung_ = ~std::uint64_t{0};  // the read position the bell was last rung at
  std::uint64_t base_ = 0;                    // the write position the current buffer was taken at
  doorbell* bell_ = nullptr;
  std::atomic<standby_buffer*>* standby_ = nullptr;
  standby_buffer* taken_ = nullptr;  // the standby moved to (producer), read at the switch (consumer)
  std::atomic<std::uint64_t> switch_at_{no_switch};  // written by the producer, cleared by the consumer
  // The consumer's line: what the producer reads on its slow path (read_, offer_) sits together.
  alignas(128) std::atomic<std::uint64_t> read_{0};
  std::atomic<unsigned char*> offer_{nullptr};
  std::size_t offer_cap_ = 0;
  std::uint64_t r_local_ = 0;
  const unsigned char* c_buf_;
  std::uint64_t c_mask_;
  unsigned char* c_next_ = nullptr;  // offered, not yet followed
};

}  // namespace tracecraft::detail
