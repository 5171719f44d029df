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
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
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

/// What the engine sees of a trace when it judges it.
struct tail_trace {
  const std::vector<std::string>* records;  ///< stored entries (see tail_table::entry_record)
  bool error;      ///< some span failed
  bool slow;       ///< the root took at least the slow threshold
  bool root_seen;
  bool evicting;   ///< the table is full and this trace must go now
};

/// The engine: judges a trace, then exports or counts its records.
class tail_sink {
 public:
  virtual tail_decision judge(const tail_trace& t) noexcept = 0;
  virtual void settle(const tail_decision& d, const std::vector<std::string>& records) noexcept = 0;

 protected:
  ~tail_sink() = default;
};

class tail_table {
 public:
  tail_table(const tail_settings& s, tail_sink& sink) : s_(s), sink_(sink) {}

  /// One record (with the fragments it had, joined). `root` = a local root (it ends the trace
  /// here); `error` = status ERROR; `duration_ns` = the root's duration. A record of an already
  /// decided trace is settled at once.
  void add(const std::uint8_t trace_id[16], const unsigned char* rec, std::size_t size, std::string_view joined,
           bool root, bool error, std::uint64_t duration_ns, std::uint64_t now_ns, std::uint64_t pass);

  /// An entry is stored as [u64 length of the joined fragments][fragments, padded to 8][record].
  static std::string_view entry_joined(const std::string& e) noexcept;
  static std::string_view entry_record(const std::string& e) noexcept;

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
    tail_decision d;
    std::uint64_t until_ns;
  };
  using map = std::unordered_map<key, trace, key_hash>;

  void settle(map::iterator it, bool evicting, std::uint64_t now_ns);

  tail_settings s_;
  std::vector<std::string> one_;  // a late record settled alone
  tail_sink& sink_;
  map pending_;
  std::deque<key> order_;  // arrival order: eviction and the wait (may hold keys already decided)
  std::vector<std::pair<key, std::uint64_t>> ready_;  // traces whose root was read, with their decide pass
  std::unordered_map<key, memo, key_hash> decided_;
  std::deque<std::pair<key, std::uint64_t>> decided_order_;
  std::vector<std::vector<std::string>> spare_;  // record vectors kept for reuse
};

}  // namespace tracecraft::detail
