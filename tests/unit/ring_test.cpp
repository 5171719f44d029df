// SPDX-License-Identifier: Apache-2.0
// The SPSC ring: wrap-around with pad records, full detection, record size limit, growth into an
// offered buffer, concurrent use; the mapper that prepares grown buffers off the drain.
#include <doctest/doctest.h>

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "harness.h"
#include "ring/doorbell.h"
#include "ring/drain_pacing.h"
#include "ring/ring_mapper.h"
#include "ring/spsc_ring.h"

using namespace tracecraft::detail;

namespace {
// Writes a record of `n` bytes whose payload is `tag`; false when the ring is full.
bool put(spsc_ring& r, std::uint32_t n, unsigned char tag) {
  unsigned char* p = r.try_reserve(n);
  if (!p) return false;
  record_header h{n, record_span, {0, 0, 0}};
  std::memcpy(p, &h, sizeof h);
  std::memset(p + sizeof h, tag, n - sizeof h);
  r.commit(n);
  return true;
}
// Reads every readable record as the drain does, following a switch to an offered buffer (or the
// standby); calls on_switch() just before following one (the drain takes over the buffer's memory
// there) and on_span(record, header) for each span record, then releases. Returns the switches
// followed.
template <class F, class S>
int read_all(spsc_ring& r, F&& on_span, S&& on_switch) {
  int followed = 0;
  std::uint64_t pos = r.read_pos();
  const std::uint64_t end = r.readable();
  const std::uint64_t sw = r.switch_pos();
  while (pos < end || pos == sw) {
    if (pos == sw) {
      on_switch();
      r.follow_switch();
      ++followed;
      if (pos == end) break;
    }
    record_header h;
    std::memcpy(&h, r.at(pos), sizeof h);
    REQUIRE(h.size >= 8);
    REQUIRE(h.size <= r.capacity());
    if (h.type == record_span) on_span(r.at(pos), h);
    pos += h.size;
  }
  r.release(pos);
  return followed;
}
template <class F>
int read_all(spsc_ring& r, F&& on_span) {
  return read_all(r, on_span, [] {});
}
// Payload tags of every record, in order.
std::vector<unsigned char> take(spsc_ring& r) {
  std::vector<unsigned char> tags;
  read_all(r, [&](const unsigned char* rec, const record_header&) { tags.push_back(rec[8]); });
  return tags;
}
}  // namespace

TEST_SUITE("ring") {
  TEST_CASE("records come out in order, across the wrap point") {
    auto buf = std::make_unique<unsigned char[]>(4096);
    spsc_ring r(buf.get(), 4096);
    unsigned char tag = 0;
    for (int round = 0; round < 100; ++round) {
      std::vector<unsigned char> expect;
      for (int i = 0; i < 7; ++i) {
        REQUIRE(put(r, 200, ++tag));
        expect.push_back(tag);
      }
      CHECK(take(r) == expect);
    }
  }

  TEST_CASE("a full ring refuses without blocking, and accepts again once read") {
    auto buf = std::make_unique<unsigned char[]>(4096);
    spsc_ring r(buf.get(), 4096);
    int n = 0;
    while (put(r, 512, 1)) ++n;
    CHECK(n == 8);
    CHECK_FALSE(put(r, 8, 1));
    CHECK(take(r).size() == 8);
    CHECK(put(r, 512, 2));
  }

  TEST_CASE("records larger than a quarter of the ring are refused") {
    auto buf = std::make_unique<unsigned char[]>(4096);
    spsc_ring r(buf.get(), 4096);
    CHECK(r.max_record() == 1024);
    CHECK_FALSE(put(r, 1032, 1));
    CHECK(put(r, 1024, 1));
  }

  TEST_CASE("growth: past half full, the producer moves to the offered buffer; the consumer follows in order") {
    auto small = std::make_unique<unsigned char[]>(4096);
    auto big = std::make_unique<unsigned char[]>(16384);
    spsc_ring r(small.get(), 4096);
    CHECK(r.can_offer());
    for (int i = 0; i < 4; ++i) REQUIRE(put(r, 512, 1));  // exactly half
    r.offer(big.get(), 16384);
    CHECK_FALSE(r.can_offer());              // one offer at a time
    CHECK(r.switch_pos() == spsc_ring::no_switch);  // not past half yet: not taken
    REQUIRE(put(r, 512, 2));                 // past half: taken, the record goes to the new buffer
    CHECK(r.switch_pos() == 2048);
    record_header h;
    std::memcpy(&h, big.get() + 2048, sizeof h);  // at offset 2048 & (16384 - 1)
    CHECK(h.size == 512);
    CHECK(big[2048 + 8] == 2);
    CHECK(r.max_record() == 4096);
    CHECK(r.capacity() == 4096);             // the consumer still reads the old buffer
    CHECK(take(r) == std::vector<unsigned char>{1, 1, 1, 1, 2});
    CHECK(r.capacity() == 16384);
    CHECK(r.switch_pos() == spsc_ring::no_switch);
    CHECK(r.can_offer());
    small.reset();  // the old buffer is no longer read: writes and reads below must not touch it
    int n = 0;
    while (put(r, 512, 3)) ++n;
    CHECK(n == 32);  // the whole new buffer
    CHECK(take(r).size() == 32);
  }

  TEST_CASE("growth while the consumer lags: unread old records stay readable, the new buffer holds its own bytes") {
    auto small = std::make_unique<unsigned char[]>(4096);
    auto big = std::make_unique<unsigned char[]>(8192);
    spsc_ring r(small.get(), 4096);
    for (int i = 0; i < 7; ++i) REQUIRE(put(r, 512, static_cast<unsigned char>(i)));  // 3584 unread
    r.offer(big.get(), 8192);
    int n = 0;
    while (put(r, 512, 100)) ++n;
    CHECK(r.switch_pos() == 3584);
    CHECK(n == 16);  // 8192 bytes: the old buffer's unread bytes do not count against the new one
    const auto tags = take(r);
    REQUIRE(tags.size() == 23);
    for (int i = 0; i < 7; ++i) CHECK(tags[static_cast<std::size_t>(i)] == i);
    for (std::size_t i = 7; i < 23; ++i) CHECK(tags[i] == 100);
  }

  TEST_CASE("growth where the record does not fit the new buffer's tail: a pad record, then offset 0") {
    auto small = std::make_unique<unsigned char[]>(4096);
    auto big = std::make_unique<unsigned char[]>(8192);
    spsc_ring r(small.get(), 4096);
    constexpr std::uint64_t target = 2 * 8192 - 128;  // 128 bytes before the new buffer's end
    // Advance to target - 2112 with everything read, then leave 2112 bytes (past half) unread.
    while (r.readable() < target - 2112) {
      REQUIRE(put(r, 64, 0));
      if (r.readable() - r.read_pos() >= 1024) take(r);
    }
    take(r);
    REQUIRE(r.readable() == target - 2112);
    for (int i = 0; i < 33; ++i) REQUIRE(put(r, 64, 1));
    REQUIRE(r.readable() == target);
    r.offer(big.get(), 8192);
    REQUIRE(put(r, 512, 2));
    CHECK(r.switch_pos() == target);
    record_header pad;
    std::memcpy(&pad, big.get() + (target & 8191), sizeof pad);
    CHECK(pad.type == record_pad);
    CHECK(pad.size == 128);
    CHECK(big[8] == 2);  // the record at offset 0
    const auto tags = take(r);
    REQUIRE(tags.size() == 34);
    CHECK(tags.back() == 2);
    CHECK(r.readable() == target + 128 + 512);
  }

  TEST_CASE("shrinking: the producer moves to a smaller offered buffer on its slow path; a record over a quarter of it waits") {
    auto big = std::make_unique<unsigned char[]>(16384);
    auto small = std::make_unique<unsigned char[]>(4096);
    spsc_ring r(big.get(), 16384);
    for (int i = 0; i < 16; ++i) REQUIRE(put(r, 512, 1));  // exactly half of 16 KiB
    take(r);
    r.offer(small.get(), 4096);
    // The cached read position is stale: the next record takes the slow path, which finds the offer.
    // A 2048-byte record is over a quarter of 4096: it stays in the big buffer and the offer stays out.
    REQUIRE(put(r, 2048, 2));
    CHECK(r.switch_pos() == spsc_ring::no_switch);
    CHECK(r.max_record() == 4096);
    CHECK_FALSE(r.can_offer());
    // 14 more records of 512 bytes: the slow path comes again past half, and a small record moves.
    int n = 0;
    while (r.switch_pos() == spsc_ring::no_switch && n < 64) {
      REQUIRE(put(r, 512, 3));
      ++n;
    }
    REQUIRE(r.switch_pos() != spsc_ring::no_switch);
    CHECK(r.max_record() == 1024);
    const std::uint64_t sw = r.switch_pos();
    const auto tags = take(r);
    CHECK(tags.size() == static_cast<std::size_t>(1 + n));
    CHECK(tags.front() == 2);
    CHECK(r.capacity() == 4096);
    CHECK(r.can_offer());
    big.reset();  // nothing reads or writes the old buffer any more
    int m = 0;
    while (put(r, 512, 4)) ++m;
    CHECK(m == 8);  // the whole 4 KiB buffer
    CHECK(r.readable() == sw + 512 + 4096);
    CHECK(take(r).size() == 8);
  }

  TEST_CASE("withdraw: an offer the producer has not taken comes back; one it has taken does not") {
    auto cur = std::make_unique<unsigned char[]>(16384);
    auto small = std::make_unique<unsigned char[]>(4096);
    spsc_ring r(cur.get(), 16384);
    CHECK_FALSE(r.withdraw());  // nothing offered
    r.offer(small.get(), 4096);
    CHECK(r.withdraw());
    CHECK(r.can_offer());
    for (int i = 0; i < 40; ++i) {  // 20 KiB through the 16 KiB ring, read as it goes: never moves
      REQUIRE(put(r, 512, 1));
      take(r);
    }
    CHECK(r.switch_pos() == spsc_ring::no_switch);
    CHECK(r.capacity() == 16384);
    r.offer(small.get(), 4096);
    int n = 0;
    while (r.switch_pos() == spsc_ring::no_switch && n < 64) {
      REQUIRE(put(r, 512, 2));
      ++n;
    }
    REQUIRE(r.switch_pos() != spsc_ring::no_switch);
    CHECK_FALSE(r.withdraw());  // taken: the switch is followed as usual
    CHECK(take(r).size() == static_cast<std::size_t>(n));
    CHECK(r.capacity() == 4096);
  }

  TEST_CASE("withdraw races the producer's take: exactly one side owns each offered buffer") {
    // The producer writes as fast as it can; the consumer offers a buffer (alternately smaller and
    // larger) and withdraws it at once, over and over. A withdrawn buffer is freed at once (ASan
    // would catch a producer still writing into it); a failed withdraw() means the producer moved,
    // so exactly that many switches are followed, and every record comes out once, in order.
    constexpr std::size_t caps[2] = {65536, 16384};
    auto cur = std::make_unique<unsigned char[]>(caps[0]);
    std::unique_ptr<unsigned char[]> offered;
    spsc_ring r(cur.get(), caps[0]);
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> produced{0};
    std::atomic<bool> hold{false}, held{false};  // the consumer may park the producer between records
    std::thread producer([&] {
      std::uint64_t k = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        if (hold.load(std::memory_order_acquire)) {
          held.store(true, std::memory_order_release);
          continue;
        }
        held.store(false, std::memory_order_relaxed);
        if (put(r, 64, static_cast<unsigned char>(k))) ++k;
      }
      produced.store(k);
    });
    std::uint64_t taken = 0, withdrawn = 0, withdrawn_racing = 0, followed = 0, consumed = 0;
    unsigned char expect = 0;
    bool ordered = true;
    auto on_span = [&](const unsigned char* rec, const record_header&) {
      ordered = ordered && rec[8] == expect;
      ++expect;
      ++consumed;
    };
    auto read = [&] {
      if (read_all(r, on_span) > 0) {
        cur = std::move(offered);  // the old buffer is no longer read
        ++followed;
      }
    };
    // Until both outcomes have happened often (a sanitizer slows both threads several times).
    const auto t0 = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; (withdrawn < 50 || taken < 50) && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20); ++i) {
      if (r.can_offer()) {
        const std::size_t next = caps[(i + 1) % 2];
        offered = std::make_unique<unsigned char[]>(next);
        // One offer in 8 is made and withdrawn with the producer parked: that withdrawal must win.
        const bool parked = i % 8 == 7;
        if (parked) {
          hold.store(true, std::memory_order_release);
          while (!held.load(std::memory_order_acquire)) std::this_thread::yield();
        }
        r.offer(offered.get(), next);
        // Otherwise, before withdrawing, let the producer write 0 to 600 more records (it reaches
        // its slow path at least once per 256 of them here), so that both outcomes happen.
        const std::uint64_t until = r.readable() + (parked ? 0 : (i % 7) * 100 * 64);
        for (auto t = std::chrono::steady_clock::now(); r.readable() < until && std::chrono::steady_clock::now() - t < std::chrono::milliseconds(100);)
          std::this_thread::yield();
        const bool back = r.withdraw();
        if (parked) {
          CHECK(back);
          held.store(false, std::memory_order_relaxed);
          hold.store(false, std::memory_order_release);
        }
        if (back) {
          ++withdrawn;
          if (!parked) ++withdrawn_racing;
          offered.reset();
        } else {
          ++taken;
        }
      }
      read();
    }
    stop.store(true);
    producer.join();
    read();
    CHECK(ordered);
    CHECK(consumed == produced.load());
    CHECK(followed == taken);
    CHECK(withdrawn > 0);
    CHECK(taken > 0);
    MESSAGE("offers withdrawn " << withdrawn << " (" << withdrawn_racing << " with the producer running), taken " << taken << ", records " << consumed);
  }

  TEST_CASE("standby: a full ring moves to the standby instead of dropping; the consumer follows in order") {
    auto small = std::make_unique<unsigned char[]>(4096);
    auto big = std::make_unique<unsigned char[]>(16384);
    auto other = std::make_unique<unsigned char[]>(8192);
    standby_buffer sb{big.get(), 16384};
    std::atomic<standby_buffer*> slot{nullptr};
    spsc_ring r(small.get(), 4096);
    r.set_standby(&slot);
    for (int i = 0; i < 8; ++i) REQUIRE(put(r, 512, 1));  // full, nothing read
    CHECK_FALSE(put(r, 512, 2));                           // no standby yet: dropped, as before
    slot.store(&sb);
    REQUIRE(put(r, 512, 2));  // full: moved to the standby at write position 4096
    CHECK(slot.load() == nullptr);
    CHECK(r.switch_pos() == 4096);
    CHECK_FALSE(r.can_offer());                    // the move is not followed yet: no offer...
    CHECK_FALSE(r.offer(other.get(), 8192));       // ...and one made anyway is refused
    for (int i = 0; i < 14; ++i) REQUIRE(put(r, 512, 3));  // the standby fills to half and beyond
    REQUIRE(put(r, 512, 3));
    CHECK(r.capacity() == 4096);  // the consumer still reads the old buffer
    std::vector<unsigned char> tags;
    read_all(r, [&](const unsigned char* rec, const record_header&) { tags.push_back(rec[8]); },
             [&] { CHECK(r.standby_taken() == &sb); });
    std::vector<unsigned char> want(8, 1);
    want.push_back(2);
    want.insert(want.end(), 15, 3);
    CHECK(tags == want);
    CHECK(r.capacity() == 16384);
    CHECK(r.can_offer());  // followed: offers again
    small.reset();         // no longer read or written
    // A standby no larger than the ring is left for another ring.
    auto same = std::make_unique<unsigned char[]>(16384);
    standby_buffer sb2{same.get(), 16384};
    slot.store(&sb2);
    int n = 0;
    while (put(r, 512, 4)) ++n;
    CHECK(n == 32);
    CHECK(slot.load() == &sb2);
    CHECK(r.switch_pos() == spsc_ring::no_switch);
  }

  TEST_CASE("standby: only a record that fits a quarter of it moves; an offer out is taken first") {
    auto small = std::make_unique<unsigned char[]>(4096);
    auto big = std::make_unique<unsigned char[]>(8192);
    auto offered = std::make_unique<unsigned char[]>(16384);
    standby_buffer sb{big.get(), 8192};
    std::atomic<standby_buffer*> slot{&sb};
    spsc_ring r(small.get(), 4096);
    r.set_standby(&slot);
    for (int i = 0; i < 3; ++i) REQUIRE(put(r, 1024, 1));
    CHECK_FALSE(put(r, 1024 + 8, 2));  // over a quarter of the ring: refused before any move
    CHECK(put(r, 1024, 2));            // full now
    CHECK(r.offer(offered.get(), 16384));
    REQUIRE(put(r, 512, 3));           // takes the offer, not the standby
    CHECK(slot.load() == &sb);
    CHECK(r.switch_pos() == 4096);
    CHECK(r.standby_taken() == nullptr);
    CHECK(take(r) == std::vector<unsigned char>{1, 1, 1, 2, 3});
    CHECK(r.capacity() == 16384);
  }

  TEST_CASE("standby races offers: the producer's move and the consumer's offer never both win") {
    // The producer writes as fast as it can into a ring the consumer reads slowly, so it is often
    // full. The consumer publishes a standby now and then (while none is left unread), and offers a
    // buffer whenever it may: of the small size once the ring is large (so it fills again), of a
    // middle size while it is small, racing the producer's claim of the slot. A refused offer is
    // freed at once (ASan would catch a producer writing into it). Every record comes out once, in
    // order, and each switch followed is the standby or the offer that was accepted.
    constexpr std::size_t small_cap = 4096, standby_cap = 16384, offer_cap = 8192;
    auto cur = std::make_unique<unsigned char[]>(small_cap);
    spsc_ring r(cur.get(), small_cap);
    std::atomic<standby_buffer*> slot{nullptr};
    r.set_standby(&slot);
    standby_buffer sb;
    std::unique_ptr<unsigned char[]> standby_mem, offered, left;
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> produced{0}, dropped{0};
    std::thread producer([&] {
      std::uint64_t k = 0, d = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        if (put(r, 64, static_cast<unsigned char>(k))) ++k;
        else ++d;
      }
      produced.store(k);
      dropped.store(d);
    });
    std::uint64_t consumed = 0, to_standby = 0, to_offer = 0, refused = 0, offers = 0;
    unsigned char expect = 0;
    bool ordered = true, right_standby = true;
    auto read = [&] {
      read_all(
          r,
          [&](const unsigned char* rec, const record_header&) {
            ordered = ordered && rec[8] == expect;
            ++expect;
            ++consumed;
          },
          [&] {
            left = std::move(cur);  // freed once this pass is done with it
            if (const standby_buffer* t = r.standby_taken()) {
              right_standby = right_standby && t == &sb && t->buf == standby_mem.get();
              cur = std::move(standby_mem);
              ++to_standby;
            } else {
              cur = std::move(offered);
              ++to_offer;
            }
          });
      left.reset();
    };
    const auto t0 = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; (to_standby < 30 || to_offer < 30) && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20); ++i) {
      if (!standby_mem && i % 4 == 0) {  // none waiting or unfollowed: publish the next
        standby_mem = std::make_unique<unsigned char[]>(standby_cap);
        sb = standby_buffer{standby_mem.get(), standby_cap};
        slot.store(&sb, std::memory_order_release);
      }
      if (r.can_offer()) {
        const std::size_t next = r.capacity() > small_cap ? small_cap : offer_cap;
        auto o = std::make_unique<unsigned char[]>(next);
        if (r.offer(o.get(), next)) {
          offered = std::move(o);
          ++offers;
        } else {
          ++refused;  // the producer claimed the slot between can_offer() and offer(): o is freed
        }
      }
      read();
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    stop.store(true);
    producer.join();
    read();
    CHECK(ordered);
    CHECK(right_standby);
    CHECK(consumed == produced.load());
    CHECK(to_standby >= 30);  // both kinds of move went on happening (a lost offer stalls them)
    CHECK(to_offer >= 30);
    MESSAGE("moves to the standby " << to_standby << ", to offers " << to_offer << " of " << offers
                                    << " offers, refused " << refused << ", records " << consumed << ", dropped " << dropped.load());
  }

  TEST_CASE("one producer and one consumer thread: every record once, in order") {
    auto buf = std::make_unique<unsigned char[]>(1 << 14);
    spsc_ring r(buf.get(), 1 << 14);
    constexpr int n = 200000;
    std::thread producer([&] {
      for (int i = 0; i < n;) {
        const std::uint32_t size = 16 + 8 * static_cast<std::uint32_t>(i % 37);
        unsigned char* p = r.try_reserve(size);
        if (!p) continue;  // full: retry (the engine drops instead)
        record_header h{size, record_span, {0, 0, 0}};
        std::memcpy(p, &h, sizeof h);
        std::memcpy(p + 8, &i, sizeof i);
        r.commit(size);
        ++i;
      }
    });
    int expect = 0;
    while (expect < n) {
      std::uint64_t pos = r.read_pos();
      const std::uint64_t end = r.readable();
      while (pos < end) {
        record_header h;
        std::memcpy(&h, r.at(pos), sizeof h);
        if (h.type == record_span) {
          int v;
          std::memcpy(&v, r.at(pos) + 8, sizeof v);
          REQUIRE(v == expect);
          ++expect;
        }
        pos += h.size;
      }
      r.release(pos);
    }
    producer.join();
    CHECK(expect == n);
  }

  TEST_CASE("one producer, one consumer that grows the ring three times: every record once, in order") {
    std::vector<std::unique_ptr<unsigned char[]>> bufs;
    bufs.push_back(std::make_unique<unsigned char[]>(4096));
    spsc_ring r(bufs.back().get(), 4096);
    constexpr int n = 300000;
    std::atomic<int> full{0};
    std::thread producer([&] {
      for (int i = 0; i < n;) {
        const std::uint32_t size = 16 + 8 * static_cast<std::uint32_t>(i % 61);
        unsigned char* p = r.try_reserve(size);
        if (!p) {
          full.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        record_header h{size, record_span, {0, 0, 0}};
        std::memcpy(p, &h, sizeof h);
        std::memcpy(p + 8, &i, sizeof i);
        std::memset(p + 12, static_cast<unsigned char>(i), size - 12);
        r.commit(size);
        ++i;
      }
    });
    int expect = 0, grown = 0, followed = 0;
    std::size_t cap = 4096;
    while (expect < n) {
      followed += read_all(r, [&](const unsigned char* rec, const record_header& h) {
        int v;
        std::memcpy(&v, rec + 8, sizeof v);
        REQUIRE(v == expect);
        bool intact = true;
        for (std::uint32_t b = 12; b < h.size; ++b) intact = intact && rec[b] == static_cast<unsigned char>(v);
        REQUIRE(intact);
        ++expect;
      });
      if (grown < 3 && expect > (grown + 1) * 50000 && r.can_offer()) {
        cap *= 4;
        bufs.push_back(std::make_unique<unsigned char[]>(cap));
        r.offer(bufs.back().get(), cap);
        ++grown;
      }
    }
    producer.join();
    CHECK(expect == n);
    CHECK(grown == 3);
    CHECK(followed == 3);
    CHECK(r.capacity() == 4096u * 64);
  }

  TEST_CASE("idle passes: the pace (at least the interval) for a second after records, then backing off to 50 ms") {
    using P = drain_pacing;
    // Busy, or idle for under a second: the interval (a burst between two passes finds it awake).
    CHECK(P::sleep_ms(true, 0, 2, 2) == 2);
    CHECK(P::sleep_ms(true, 5000, 50, 2) == 2);  // records again after a long idle: back at once
    CHECK(P::sleep_ms(false, 3, 2, 2) == 2);
    CHECK(P::sleep_ms(false, 999, 2, 2) == 2);
    // Idle for a second: doubling from the interval, up to 50 ms.
    std::uint32_t s = 2;
    std::vector<std::uint32_t> seen;
    for (int i = 0; i < 7; ++i) seen.push_back(s = P::sleep_ms(false, 1000 + 10 * i, s, 2));
    CHECK(seen == std::vector<std::uint32_t>{5, 11, 23, 47, 50, 50, 50});
    // Never below the configured interval, even one above 50 ms.
    CHECK(P::sleep_ms(false, 5000, 1000, 1000) == 1000);
    CHECK(P::sleep_ms(false, 10, 1000, 1000) == 1000);
    CHECK(P::sleep_ms(false, 5000, 40, 30) == 50);
    CHECK(P::sleep_ms(false, 5000, 0xFFFFFFFFu, 2) == 50);  // no overflow
  }

  TEST_CASE("while records flow the drain sleeps until the fastest-filling ring would be an eighth full: at least the interval, at most 50 ms") {
    using P = drain_pacing;
    // An eighth of 256 KiB is 32 KiB: at 2048 bytes per ms (4 KiB in 2 ms) that takes 16 ms.
    CHECK(P::ring_paced_ms(2048.0, 256 * 1024) == 16);
    CHECK(P::ring_paced_ms(16384.0, 256 * 1024) == 2);     // at the interval's rate already
    CHECK(P::ring_paced_ms(20.48, 256 * 1024) == 1600);    // slow: capped by sleep_ms below
    CHECK(P::ring_paced_ms(2048.0, 16 * 1024) == 1);       // the same rate into a 16 KiB buffer
    CHECK(P::ring_paced_ms(0.0, 256 * 1024) == ~std::uint64_t{0});    // never measured: no limit
    CHECK(P::ring_paced_ms(1e-300, 256 * 1024) == ~std::uint64_t{0});  // no overflow
    CHECK(P::sleep_ms(true, 0, 2, 2, 16) == 16);
    CHECK(P::sleep_ms(true, 0, 2, 2, 1) == 2);     // never below the interval
    CHECK(P::sleep_ms(true, 0, 2, 2, 0) == 2);     // no pace: the interval
    CHECK(P::sleep_ms(true, 0, 2, 2, 1600) == 50);
    CHECK(P::sleep_ms(true, 0, 2, 2, ~std::uint64_t{0}) == 50);
    CHECK(P::sleep_ms(true, 0, 2, 100, 30) == 100);  // a configured interval above the pace stays
    // An empty pass within a second of a busy one: the pace of the rings' measured rates, with the
    // buffers as they are now (not the sleep before, which a shrink may have made too long).
    CHECK(P::sleep_ms(false, 40, 30, 2, 9) == 9);
    CHECK(P::sleep_ms(false, 999, 50, 2, 50) == 50);
    CHECK(P::sleep_ms(false, 10, 50, 2, 0) == 2);
  }

  TEST_CASE("a ring's rate is averaged over its recent passes: a burst counts over the time it took to come, a rise restarts it") {
    constexpr std::uint64_t ms = 1'000'000, cap = 4096 * 1024;
    // One pass, as the drain makes it (the decay computed for the pass).
    auto one_pass = [](fill_rate_meter& m, std::uint64_t found, std::uint64_t elapsed_ns, std::uint64_t c) {
      m.add(found, elapsed_ns, fill_rate_meter::keep_for(elapsed_ns), c);
    };
    // A producer writing 216 KB every 100 ms (1000 spans at 10,000 spans/s) into a 4 MiB ring, the
    // drain passing every 2 ms at first: the pass after a burst finds all of it.
    fill_rate_meter m;
    std::uint64_t pace_after_burst = 0, pace_before_burst = 0;
    for (int period = 0; period < 20; ++period) {
      one_pass(m, 216'000, 2 * ms, cap);
      pace_after_burst = drain_pacing::ring_paced_ms(m.rate(), cap);
      for (int pass = 0; pass < 49; ++pass) one_pass(m, 0, 2 * ms, cap);
      pace_before_burst = drain_pacing::ring_paced_ms(m.rate(), cap);
    }
    // The rate is about 2,160 bytes per ms, so an eighth of the ring (512 KiB) takes about 240 ms,
    // over sleep_ms's 50 ms cap. The rate of the burst's own pass (108,000 bytes per ms) would
    // pace 4 ms, and kept through the empty passes, hold the drain near its interval until the next.
    CHECK(m.rate() > 2160 * 0.5);
    CHECK(m.rate() < 2160 * 1.5);
    CHECK(pace_after_burst > 150);
    CHECK(pace_before_burst > pace_after_burst);
    CHECK(drain_pacing::sleep_ms(true, 0, 2, 2, pace_after_burst) == 50);

    // Steady writing: the rate itself, whatever the passes' spacing.
    fill_rate_meter steady;
    for (int pass = 0; pass < 100; ++pass) one_pass(steady, pass % 2 ? 20'000 : 100'000, pass % 2 ? 2 * ms : 10 * ms, cap);
    CHECK(steady.rate() == doctest::Approx(10'000).epsilon(0.01));

    // From that to 1M spans/s: the pass that finds a quarter of the ring or more sets the rate alone
    // (averaged, the quiet quarter second before would hide the rise for as long).
    one_pass(m, cap / 4, 5 * ms, cap);
    CHECK(m.rate() == doctest::Approx(double(cap / 4) / 5));
    CHECK(drain_pacing::ring_paced_ms(m.rate(), cap) == 2);
    // Empty passes lower it again, gradually: no pass needed to find records for the pace to lengthen.
    const double risen = m.rate();
    one_pass(m, 0, 2 * ms, cap);
    CHECK(m.rate() < risen);
    CHECK(m.rate() > risen / 2);
    // Nothing measured: no rate, no limit; a pass with no time since the last changes nothing.
    fill_rate_meter none;
    one_pass(none, 1000, 0, cap);
    CHECK(none.rate() == 0);
    CHECK(drain_pacing::ring_paced_ms(none.rate(), cap) == ~std::uint64_t{0});
  }

  TEST_CASE("a producer rings the doorbell once when its ring passes half full, again after the drain read") {
    auto buf = std::make_unique<unsigned char[]>(4096);
    spsc_ring r(buf.get(), 4096);
    doorbell bell;
    r.set_doorbell(&bell);
    for (int i = 0; i < 4; ++i) REQUIRE(put(r, 512, 1));  // exactly half: no ring
    CHECK(bell.rings() == 0);
    REQUIRE(put(r, 16, 1));  // crosses half: not yet, the drain must find it committed
    CHECK(bell.rings() == 0);
    REQUIRE(put(r, 16, 1));  // the next record: past half by what is committed
    CHECK(bell.rings() == 1);
    while (put(r, 16, 1)) {
    }
    CHECK(bell.rings() == 1);  // not again until the drain has moved, full ring included
    CHECK_FALSE(put(r, 16, 1));
    CHECK(bell.rings() == 1);
    take(r);
    for (int i = 0; i < 4; ++i) REQUIRE(put(r, 512, 2));
    CHECK(bell.rings() == 1);
    REQUIRE(put(r, 16, 2));
    CHECK(bell.rings() == 1);
    REQUIRE(put(r, 16, 2));
    CHECK(bell.rings() == 2);
    spsc_ring quiet(buf.get(), 4096);  // no doorbell set: the same writes never ring
    while (put(quiet, 512, 3)) {
    }
    CHECK(bell.rings() == 2);
  }

  TEST_CASE("doorbell: a ring wakes the sleeper at once, never lost when it comes first") {
    using namespace std::chrono;
    doorbell bell;
    auto t0 = steady_clock::now();
    CHECK_FALSE(bell.wait(bell.seen(), milliseconds(30)));  // nobody rang: the timeout
    CHECK(steady_clock::now() - t0 >= milliseconds(25));

    const std::uint32_t seen = bell.seen();
    bell.ring();  // before the wait: the wait must not sleep
    t0 = steady_clock::now();
    CHECK(bell.wait(seen, seconds(30)));
    CHECK(steady_clock::now() - t0 < seconds(5));

    for (int i = 0; i < 50; ++i) {  // while asleep: woken long before the 30 s timeout
      const std::uint32_t s2 = bell.seen();
      std::thread ringer([&] {
        std::this_thread::sleep_for(microseconds(i * 40));
        bell.ring();
      });
      t0 = steady_clock::now();
      CHECK(bell.wait(s2, seconds(30)));
      CHECK(steady_clock::now() - t0 < seconds(5));
      ringer.join();
    }
  }

  // Waits (up to 10 s) until the mapper has nothing queued or in hand.
  bool settle(const ring_mapper& m) {
    for (int i = 0; i < 10000 && !m.idle(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return m.idle();
  }
  // ask() until it is not busy (the worker may hold the lock for a moment).
  ring_mapper::asked ask(ring_mapper& m, std::size_t bytes) {
    ring_mapper::asked a;
    while ((a = m.ask(bytes)) == ring_mapper::asked::busy) std::this_thread::yield();
    return a;
  }
  // take() once the mapper is idle (retried a little: a take that finds the lock busy is pending).
  ring_mapper::state take(ring_mapper& m, std::size_t bytes, ring_memory& out) {
    REQUIRE(settle(m));
    ring_mapper::state st = m.take(bytes, out);
    for (int i = 0; i < 100 && st == ring_mapper::state::pending; ++i) {
      std::this_thread::yield();
      st = m.take(bytes, out);
    }
    return st;
  }

  TEST_CASE("ring_mapper: a buffer asked for is mapped on its thread, zeroed and writable, then taken once") {
    ring_mapper m;
    CHECK(m.held_bytes() == 0);
    CHECK(m.start());  // the drain starts it early; again is harmless
    CHECK(m.start());
    CHECK(m.idle());
    CHECK(ask(m, 64 * 1024) == ring_mapper::asked::queued);
    REQUIRE(settle(m));
    CHECK(m.held_bytes() == 64 * 1024);  // ready, counted as ring memory
    ring_memory other;
    CHECK(m.take(128 * 1024, other) == ring_mapper::state::pending);  // sizes do not mix
    CHECK_FALSE(other);
    ring_memory got;
    CHECK(take(m, 64 * 1024, got) == ring_mapper::state::ready);
    REQUIRE(got);
    CHECK(got.size() == 64 * 1024);
    bool zero = true;
    for (std::size_t i = 0; i < got.size(); i += 512) zero = zero && got.get()[i] == 0;
    CHECK(zero);
    std::memset(got.get(), 0xab, got.size());
    CHECK(m.held_bytes() == 0);
    CHECK(take(m, 64 * 1024, got) == ring_mapper::state::pending);  // taken once
    CHECK(got.size() == 64 * 1024);  // untouched by the pending take
  }

  TEST_CASE("ring_mapper: buffers of a size serve whoever asked; an abandoned one is freed, never handed out") {
    ring_mapper m;
    // Three rings ask for 16 KiB; one goes away before its buffer is taken.
    for (int i = 0; i < 3; ++i) CHECK(ask(m, 16 * 1024) == ring_mapper::asked::queued);
    m.abandon(16 * 1024);
    REQUIRE(settle(m));
    CHECK(m.held_bytes() == 2 * 16 * 1024);
    ring_memory a, b, c;
    CHECK(take(m, 16 * 1024, a) == ring_mapper::state::ready);
    CHECK(take(m, 16 * 1024, b) == ring_mapper::state::ready);
    CHECK(take(m, 16 * 1024, c) == ring_mapper::state::pending);
    CHECK(a.get() != b.get());
    CHECK(m.held_bytes() == 0);
    // Abandoned once ready: freed at once.
    CHECK(ask(m, 32 * 1024) == ring_mapper::asked::queued);
    REQUIRE(settle(m));
    CHECK(m.held_bytes() == 32 * 1024);
    m.abandon(32 * 1024);
    CHECK(m.held_bytes() == 0);
    CHECK(take(m, 32 * 1024, c) == ring_mapper::state::pending);
    // Many asked and abandoned while the worker runs: nothing is left behind.
    for (int i = 0; i < 50; ++i) {
      CHECK(ask(m, 256 * 1024) == ring_mapper::asked::queued);
      if (i % 5 == 4) std::this_thread::sleep_for(std::chrono::microseconds(200));
      m.abandon(256 * 1024);
    }
    REQUIRE(settle(m));
    CHECK(m.held_bytes() == 0);
    CHECK(take(m, 256 * 1024, c) == ring_mapper::state::pending);
  }

  TEST_CASE("ring_mapper: a mapping the kernel refuses is reported once; after stop() nothing is asked or held") {
    ring_mapper m;
    const std::size_t huge = std::size_t{1} << 47;  // 128 TiB: more than a process's address space
    CHECK(ask(m, huge) == ring_mapper::asked::queued);
    ring_memory got;
    CHECK(take(m, huge, got) == ring_mapper::state::failed);
    CHECK_FALSE(got);
    CHECK(take(m, huge, got) == ring_mapper::state::pending);
    CHECK(m.held_bytes() == 0);

    CHECK(ask(m, 64 * 1024) == ring_mapper::asked::queued);
    REQUIRE(settle(m));
    CHECK(m.held_bytes() == 64 * 1024);
    m.stop(true);
    CHECK(m.held_bytes() == 0);  // the ready buffer was freed
    CHECK(m.ask(64 * 1024) == ring_mapper::asked::unavailable);
    CHECK_FALSE(m.start());
    CHECK(take(m, 64 * 1024, got) == ring_mapper::state::pending);
    m.stop(true);  // twice: harmless (the destructor calls it again)
  }

  TEST_CASE("ring_mapper: stopped while it maps, it finishes that mapping, frees it and ends") {
    ring_mapper m;
    for (int i = 0; i < 8; ++i) CHECK(ask(m, 4u * 1024 * 1024) == ring_mapper::asked::queued);
    std::this_thread::sleep_for(std::chrono::microseconds(300));
    m.stop(true);  // returns after at most the mapping in hand
    CHECK(m.held_bytes() == 0);
    CHECK(m.idle());
  }

  TEST_CASE("ring_mapper: start(spare) maps one buffer no ring asked for; the first ask of that size takes it, and it is replaced") {
    doorbell bell;
    ring_mapper m;
    m.set_doorbell(&bell);
    const std::uint32_t rung0 = bell.seen();
    REQUIRE(m.start(256 * 1024));
    REQUIRE(settle(m));
    CHECK(m.held_bytes() == 256 * 1024);  // held before anyone asks, counted as ring memory
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(bell.seen() == rung0);  // no ring waits for it: the drain is not woken
    ring_memory other;
    CHECK(m.take(64 * 1024, other) == ring_mapper::state::pending);  // a spare of one size only
    // A ring asks for that size: the spare is there to take; what it asked for replaces the spare.
    CHECK(ask(m, 256 * 1024) == ring_mapper::asked::queued);
    ring_memory got;
    ring_mapper::state st = m.take(256 * 1024, got);
    for (int i = 0; i < 100 && st == ring_mapper::state::pending; ++i) {  // pending only while the lock is busy
      std::this_thread::yield();
      st = m.take(256 * 1024, got);
    }
    CHECK(st == ring_mapper::state::ready);
    REQUIRE(got);
    CHECK(got.size() == 256 * 1024);
    std::memset(got.get(), 0x5a, got.size());
    REQUIRE(settle(m));
    CHECK(m.held_bytes() == 256 * 1024);  // the replacement
    for (int i = 0; i < 5000 && bell.seen() == rung0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    CHECK(bell.seen() == rung0 + 1);  // a buffer a ring asked for is announced
    m.stop(true);
    CHECK(m.held_bytes() == 0);
  }

  TEST_CASE("ring_mapper: a drain woken by a ready buffer takes it at once, even when its wake-up preempts the mapper") {
    // take() never waits, so the mapper must ring with its lock released. Here the waiter (the
    // drain's part) runs at real-time priority on the mapper's CPU, so its wake-up preempts the
    // mapper inside ring(): rung under the lock, every take() below found it held (pending).
    doorbell bell;
    ring_mapper m;
    m.set_doorbell(&bell);
    REQUIRE(m.start());
    pid_t mapper = 0;
    for (int i = 0; i < 1000 && mapper == 0; ++i) {
      mapper = static_cast<pid_t>(tct::thread_named("tc-ringmap"));
      if (mapper == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    REQUIRE(mapper != 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past run()'s own affinity call
    cpu_set_t allowed, cpu0;
    REQUIRE(sched_getaffinity(0, sizeof allowed, &allowed) == 0);
    int first = 0;
    while (first < CPU_SETSIZE - 1 && !CPU_ISSET(first, &allowed)) ++first;
    CPU_ZERO(&cpu0);
    CPU_SET(first, &cpu0);
    REQUIRE(sched_setaffinity(mapper, sizeof cpu0, &cpu0) == 0);

    constexpr int rounds = 20;
    std::atomic<int> armed{-1}, ready{0}, pending{0}, failed{0}, unrung{0};
    std::atomic<bool> realtime{false}, done{false};
    std::thread drain([&] {
      pthread_setaffinity_np(pthread_self(), sizeof cpu0, &cpu0);
      sched_param sp{};
      sp.sched_priority = 1;
      realtime = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
      for (int i = 0; i < rounds; ++i) {
        const std::uint32_t seen = bell.seen();
        armed = i;  // the main thread asks now
        for (int t = 0; t < 10 && bell.seen() == seen; ++t) bell.wait(seen, std::chrono::seconds(1));
        if (bell.seen() == seen) ++unrung;
        ring_memory got;
        switch (m.take(64 * 1024, got)) {  // once, as the drain does in the pass it was woken for
          case ring_mapper::state::ready: ++ready; break;
          case ring_mapper::state::pending: ++pending; break;
          case ring_mapper::state::failed: ++failed; break;
        }
        if (!got) {  // left for a later pass: taken now, so the next round starts empty
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          m.take(64 * 1024, got);
        }
      }
      done = true;
    });
    for (int i = 0; i < rounds; ++i) {
      while (armed.load() != i) std::this_thread::yield();
      CHECK(ask(m, 64 * 1024) == ring_mapper::asked::queued);
    }
    drain.join();
    REQUIRE(done.load());
    CHECK(failed.load() == 0);
    CHECK(unrung.load() == 0);
    if (!realtime.load()) {
      // Without SCHED_FIFO (not permitted here) the waiter need not preempt the mapper, and the
      // check below could pass with the lock held at the ring: say so instead of passing quietly.
      WARN_MESSAGE(false, "SCHED_FIFO not permitted: the preemption this test relies on is not forced");
    }
    CHECK(ready.load() == rounds);
    m.stop(true);
  }

  TEST_CASE("ring_mapper: a spare mapped by the caller (init()) is held before start(), which then maps none") {
    doorbell bell;
    ring_mapper m;
    m.set_doorbell(&bell);
    const std::uint32_t rung0 = bell.seen();
    CHECK_FALSE(m.adopt_spare(ring_memory{}));  // nothing to hold: start() would map it
    ring_memory mine = ring_memory::allocate(256 * 1024);
    REQUIRE(mine);
    unsigned char* const p = mine.get();
    REQUIRE(m.adopt_spare(std::move(mine)));
    CHECK(m.held_bytes() == 256 * 1024);  // counted as ring memory from init() on
    REQUIRE(m.start(256 * 1024));
    CHECK(m.idle());  // nothing queued: the spare is already held
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(m.held_bytes() == 256 * 1024);  // one spare, not two
    CHECK(bell.seen() == rung0);
    // The first ask of that size takes the very buffer adopted, and its replacement is mapped.
    CHECK(ask(m, 256 * 1024) == ring_mapper::asked::queued);
    ring_memory got;
    CHECK(take(m, 256 * 1024, got) == ring_mapper::state::ready);
    CHECK(got.get() == p);
    REQUIRE(settle(m));
    CHECK(m.held_bytes() == 256 * 1024);
    m.stop(true);
    CHECK(m.held_bytes() == 0);
    CHECK_FALSE(m.adopt_spare(ring_memory::allocate(64 * 1024)));  // stopped: not held (unmapped)
    CHECK(m.held_bytes() == 0);
  }
}
