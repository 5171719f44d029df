// SPDX-License-Identifier: Apache-2.0
// sampler/tail.h — keeping the tail: the drain's table of traces the rate dropped but whose
// skeletons (ids, names, times, status, error message) wait for their root to end.
//
// A trace is decided one whole drain pass after the pass that read its local root: records
// published before the root's (children that ended earlier, on any thread) are all read by then.
// Kept when a span at any depth failed, or the root took at least the slow threshold; otherwise
// discarded (counted as sampled out). A trace whose root never comes is decided after the wait
// with what it has. A full table evicts its oldest trace (counted). Decisions are remembered (10
// waits, at least a minute, at most max_traces of them), so a span that ends after its trace was
// decided follows it. Drain thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

namespace tracecraft::detail {

enum class tail_verdict : std::uint8_t { keep_error, keep_slow, discard, evicted };

struct tail_settings {
  std::size_t max_traces = 10000;  ///< TRACECRAFT_PENDING_TRACES
  std::uint64_t wait_ns = 0;       ///< TRACECRAFT_DECISION_WAIT_MS
  bool keep_errors = true;         ///< TRACECRAFT_ALWAYS_KEEP_ERRORS
  bool keep_slow = false;          ///< TRACECRAFT_ALWAYS_KEEP_SLOW
  std::uint64_t slow_ns = 0;       ///< TRACECRAFT_SLOW_THRESHOLD_MS (inclusive)
};

/// Receives every decided trace (the engine: exports kept records, counts the others).
class tail_sink {
 public:
  virtual void settle(tail_verdict v, const std::vector<std::string>& records) noexcept = 0;

 protected:
  ~tail_sink() = default;
};

class tail_table {
 public:
  tail_table(const tail_settings& s, tail_sink& sink) : s_(s), sink_(sink) {}

  /// One skeleton record. `root` = a local root (it ends the trace here); `error` = status ERROR;
  /// `duration_ns` = the root's duration. A record of an already decided trace is settled at once.
  void add(const std::uint8_t trace_id[16], const unsigned char* rec, std::size_t size, bool root, bool error,
           std::uint64_t duration_ns, std::uint64_t now_ns, std::uint64_t pass);

  /// Decides what is due at the end of drain pass `pass`: traces whose root was read in an
  /// earlier pass, and traces past the wait (every trace when `all`: shutdown).
  void decide(std::uint64_t now_ns, std::uint64_t pass, bool all);

  std::size_t pending_traces() const noexcept { return pending_.size(); }

 private:
  struct key {
    std::uint64_t hi, lo;
    bool operator==(const key& o) const noexcept { return hi == o.hi && lo == o.lo; }
  };
  struct key_hash {
    std::size_t operator()(const key& k) const noexcept { return static_cast<std::size_t>(k.lo ^ (k.hi * 0x9E3779B97F4A7C15ull)); }
  };
  struct trace {
    std::vector<std::string> records;
    std::uint64_t first_ns = 0;
    std::uint64_t decide_pass = 0;  // the pass after the one that read the root; 0 = no root yet
    bool error = false;
    bool slow = false;
  };
  struct memo {
    tail_verdict verdict;
    std::uint64_t until_ns;
  };
  using map = std::unordered_map<key, trace, key_hash>;

  tail_verdict verdict_of(const trace& t) const noexcept;
  void settle(map::iterator it, tail_verdict v, std::uint64_t now_ns);

  tail_settings s_;
  tail_sink& sink_;
  map pending_;
  std::deque<key> order_;  // arrival order, for eviction (may hold keys already decided)
  std::unordered_map<key, memo, key_hash> decided_;
  std::deque<std::pair<key, std::uint64_t>> decided_order_;
  std::vector<std::vector<std::string>> spare_;  // record vectors kept for reuse
};

}  // namespace tracecraft::detail
