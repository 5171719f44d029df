// SPDX-License-Identifier: Apache-2.0
// sampler/tail.h — the drain's table of traces waiting for a decision at their end: skeletons of
// traces the rate dropped (kept if they fail or are slow), and, when sampling rules exist, the
// full records of traces provisionally kept at the edge (the rules and the rate decide).
//
// A trace is decided one whole drain pass after the pass that read its local root: records
// published before the root's (children that ended earlier, on any thread) are all read by then.
// A trace whose root never comes is decided after the wait with what it has. A full table
// evicts its oldest trace (decided early when it can be, otherwise counted as evicted).
// Decisions are remembered (10 waits, at least a minute, at most max_traces of them), so a span
// that ends after its trace was decided follows it. Drain thread only. The judging itself is the
// engine's (tail_sink): errors, slow roots, rules, the rate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace tracecraft::detail {

enum class tail_verdict : std::uint8_t { keep, discard, evicted };

/// A decision: keep (with the reason the root records and, for a probability decision, the
/// threshold its trace state carries), discard (sampled out) or evicted (dropped, counted).
struct tail_decision {
  tail_verdict verdict = tail_verdict::discard;
  std::uint8_t reason = 0;
  bool has_th = false;
  std::uint64_t th = 0;
};

struct tail_settings {
  std::size_t max_traces = 10000;  ///< TRACECRAFT_PENDING_TRACES
  std::uint64_t wait_ns = 0;       ///< TRACECRAFT_DECISION_WAIT_MS
  std::uint64_t slow_ns = 0;       ///< TRACECRAFT_SLOW_THRESHOLD_MS (inclusive)
};

/// The records of one trace, back to back in one buffer that is reused for later traces (no
/// allocation per record once it has grown): each entry is [u64 joined length][u64 record
/// length][joined fragments, padded to 8][record, padded to 8], so every record stays 8-byte
/// aligned (the decoder reads it through a span_data pointer).
class tail_records {
 public:
  struct entry {
    std::string_view joined;  ///< the record's fragments, joined (empty: none)
    std::string_view record;
  };
  class iterator {
   public:
    explicit iterator(const char* p) noexcept : p_(p) {}
    entry operator*() const noexcept;
    iterator& operator++() noexcept;
    bool operator!=(const iterator& o) const noexcept { return p_ != o.p_; }

   private:
    const char* p_;
  };

  tail_records() noexcept = default;
  tail_records(tail_records&& o) noexcept;
  tail_records& operator=(tail_records&& o) noexcept;
  tail_records(const tail_records&) = delete;
  tail_records& operator=(const tail_records&) = delete;
  ~tail_records();

  /// Appends one record; false when memory cannot grow (nothing appended).
  bool append(std::string_view joined, const unsigned char* rec, std::size_t size) noexcept;
  void clear() noexcept { size_ = count_ = 0; }
  /// Gives the memory back when it holds more than `keep` bytes (a rare large trace's).
  void trim(std::size_t keep) noexcept;
  std::size_t count() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  entry front() const noexcept { return *begin(); }
  iterator begin() const noexcept { return iterator(data_); }
  iterator end() const noexcept { return iterator(data_ + size_); }

 private:
  char* data_ = nullptr;
  std::size_t size_ = 0, cap_ = 0, count_ = 0;
};

/// What the engine sees of a trace when it judges it.
struct tail_trace {
  const tail_records* records;
  bool error;      ///< some span failed
  bool slow;       ///< the root took at least the slow threshold
  bool root_seen;
  bool evicting;   ///< the table is full and this trace must go now
};

/// The engine: judges a trace, then exports or counts its records.
class tail_sink {
 public:
  virtual tail_decision judge(const tail_trace& t) noexcept = 0;
  virtual void settle(const tail_decision& d, const tail_records& records) noexcept = 0;

 protected:
  ~tail_sink() = default;
};

/// An open-addressing table (linear probing, backward-shift deletion) from a 128-bit trace id to
/// a small value, hashed with a per-process seed (trace ids can come from outside). Grows by
/// doubling; a table whose size is bounded stops allocating once it has grown.
/// A trace id as two words.
struct trace_key {
  std::uint64_t hi = 0, lo = 0;
  bool operator==(const trace_key& o) const noexcept { return hi == o.hi && lo == o.lo; }
};

template <class V>
class trace_id_map {
 public:
  using key = trace_key;
  explicit trace_id_map(std::uint64_t seed) noexcept : seed_(seed) {}
  /// The value of `k`, or nullptr.
  V* find(const key& k) noexcept;
  /// The value of `k`, inserted (value-initialised) if missing. Throws std::bad_alloc when it
  /// cannot grow.
  V& operator[](const key& k);
  /// Removes `k` if present.
  void erase(const key& k) noexcept;
  std::size_t size() const noexcept { return size_; }
  void clear() noexcept;

 private:
  struct bucket {
    key k;
    V v;
    bool used;
  };
  std::size_t home(const key& k) const noexcept;
  void grow();
  std::vector<bucket> b_;
  std::size_t size_ = 0;
  std::uint64_t seed_;
};

class tail_table {
 public:
  tail_table(const tail_settings& s, tail_sink& sink);

  /// One record (with the fragments it had, joined). `root` = a local root (it ends the trace
  /// here); `error` = status ERROR; `duration_ns` = the root's duration. A record of an already
  /// decided trace is settled at once. False when memory cannot grow: the record is lost (the
  /// caller counts it).
  bool add(const std::uint8_t trace_id[16], const unsigned char* rec, std::size_t size, std::string_view joined,
           bool root, bool error, std::uint64_t duration_ns, std::uint64_t now_ns, std::uint64_t pass) noexcept;

  /// Decides what is due at the end of drain pass `pass`: traces whose root was read in an
  /// earlier pass, and traces past the wait (every trace when `all`: shutdown).
  void decide(std::uint64_t now_ns, std::uint64_t pass, bool all) noexcept;

  std::size_t pending_traces() const noexcept { return pending_.size(); }

 private:
  using key = trace_key;
  static constexpr std::uint32_t npos = 0xFFFFFFFFu;
  struct trace {
    key k;
    tail_records records;
    std::uint64_t first_ns = 0;
    std::uint64_t decide_pass = 0;  // the pass after the one that read the root; 0 = no root yet
    bool error = false;
    bool slow = false;
    std::uint32_t prev = npos, next = npos;  // arrival order (pending traces only)
  };
  struct memo {
    tail_decision d;
    std::uint64_t until_ns = 0;
  };
  /// A first-in first-out ring that keeps its memory.
  template <class T>
  class fifo {
   public:
    bool push_back(const T& x) noexcept;
    T& front() noexcept { return v_[head_]; }
    void pop_front() noexcept {
      head_ = (head_ + 1) & (v_.size() - 1);
      --n_;
    }
    std::size_t size() const noexcept { return n_; }
    bool empty() const noexcept { return n_ == 0; }
    void clear() noexcept { head_ = n_ = 0; }

   private:
    std::vector<T> v_;  // size a power of two (or 0)
    std::size_t head_ = 0, n_ = 0;
  };

  void settle(std::uint32_t slot, bool evicting, std::uint64_t now_ns) noexcept;
  std::uint32_t take_slot();  // a free trace slot (throws std::bad_alloc)
  void unlink(std::uint32_t slot) noexcept;
  void forget_oldest_decision() noexcept;

  tail_settings s_;
  tail_sink& sink_;
  tail_records one_;                    // a late record settled alone
  std::vector<trace> slots_;            // at most max_traces, reused through free_
  std::vector<std::uint32_t> free_;
  trace_id_map<std::uint32_t> pending_; // trace id -> slot
  std::uint32_t oldest_ = npos, newest_ = npos;  // the arrival-order list of pending traces
  std::vector<std::pair<key, std::uint64_t>> ready_;  // traces whose root was read, with their decide pass
  trace_id_map<memo> decided_;
  fifo<std::pair<key, std::uint64_t>> decided_order_;
};

}  // namespace tracecraft::detail
