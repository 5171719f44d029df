// SPDX-License-Identifier: Apache-2.0
// sampler/tail.cpp — the pending-trace table (see tail.h).
#include "sampler/tail.h"

#include <algorithm>
#include <cstring>

namespace tracecraft::detail {

// [u64 length of the joined fragments][fragments, padded to 8][record]: the record stays 8-byte
// aligned (heap strings are), as the decoder reads it through a span_data pointer.
namespace {
std::size_t padded(std::size_t n) noexcept { return (n + 7) & ~std::size_t{7}; }
}  // namespace

std::string_view tail_table::entry_joined(const std::string& e) noexcept {
  std::uint64_t n = 0;
  std::memcpy(&n, e.data(), 8);
  return std::string_view(e.data() + 8, static_cast<std::size_t>(n));
}

std::string_view tail_table::entry_record(const std::string& e) noexcept {
  std::uint64_t n = 0;
  std::memcpy(&n, e.data(), 8);
  const std::size_t at = 8 + padded(static_cast<std::size_t>(n));
  return std::string_view(e.data() + at, e.size() - at);
}

void tail_table::settle(map::iterator it, bool evicting, std::uint64_t now_ns) {
  const trace& t = it->second;
  const tail_decision d = sink_.judge(tail_trace{&t.records, t.error, t.slow, t.decide_pass != 0, evicting});
  sink_.settle(d, t.records);
  it->second.records.clear();
  if (spare_.size() < 1024) spare_.push_back(std::move(it->second.records));
  if (d.verdict != tail_verdict::evicted) {  // an evicted trace has no memo: its late spans go the same way
    // Remembered for 10 waits (at least a minute), at most max_traces decisions: spans that end
    // after their root (an async root ended early, a trace decided on the wait) follow it.
    const std::uint64_t until = now_ns + std::max<std::uint64_t>(10 * s_.wait_ns, 60000000000ull);
    decided_[it->first] = memo{d, until};
    decided_order_.emplace_back(it->first, until);
    if (decided_order_.size() > s_.max_traces) {
      decided_.erase(decided_order_.front().first);
      decided_order_.pop_front();
    }
  }
  pending_.erase(it);
}

void tail_table::add(const std::uint8_t trace_id[16], const unsigned char* rec, std::size_t size, std::string_view joined,
                     bool root, bool error, std::uint64_t duration_ns, std::uint64_t now_ns, std::uint64_t pass) {
  key k;
  std::memcpy(&k.hi, trace_id, 8);
  std::memcpy(&k.lo, trace_id + 8, 8);
  std::string entry;
  const std::uint64_t jn = joined.size();
  entry.reserve(8 + padded(joined.size()) + size);
  entry.append(reinterpret_cast<const char*>(&jn), 8);
  entry.append(joined);
  entry.append(padded(joined.size()) - joined.size(), '\0');
  entry.append(reinterpret_cast<const char*>(rec), size);
  auto it = pending_.find(k);
  if (it == pending_.end()) {
    auto m = decided_.find(k);
    if (m != decided_.end()) {  // a late span of a decided trace follows it ...
      one_.clear();
      one_.push_back(std::move(entry));
      tail_decision d = m->second.d;
      if (d.verdict != tail_verdict::keep && error) {  // ... unless it failed: judged alone then
        d = sink_.judge(tail_trace{&one_, true, false, false, false});
      }
      sink_.settle(d, one_);
      return;
    }
    if (pending_.size() >= s_.max_traces) {  // full: the oldest trace goes now
      while (!order_.empty() && pending_.find(order_.front()) == pending_.end()) order_.pop_front();
      if (!order_.empty()) {
        auto old = pending_.find(order_.front());
        order_.pop_front();
        settle(old, true, now_ns);
      }
    }
    trace t;
    if (!spare_.empty()) {
      t.records = std::move(spare_.back());
      spare_.pop_back();
    }
    t.first_ns = now_ns;
    it = pending_.emplace(k, std::move(t)).first;
    order_.push_back(k);
  }
  trace& t = it->second;
  t.records.push_back(std::move(entry));
  t.error = t.error || error;
  if (root) {
    if (t.decide_pass == 0) ready_.emplace_back(k, pass + 1);
    t.decide_pass = pass + 1;
    t.slow = t.slow || duration_ns >= s_.slow_ns;
  }
}

// Work in proportion to what is due, not to the table: roots read one pass ago (ready_), and
// the oldest traces past the wait (order_ is arrival order).
void tail_table::decide(std::uint64_t now_ns, std::uint64_t pass, bool all) {
  if (all) {
    while (!pending_.empty()) settle(pending_.begin(), false, now_ns);
    ready_.clear();
    order_.clear();
  }
  std::size_t keep = 0;
  for (std::size_t i = 0; i < ready_.size(); ++i) {
    if (ready_[i].second > pass) {
      ready_[keep++] = ready_[i];
      continue;
    }
    auto it = pending_.find(ready_[i].first);
    if (it != pending_.end()) settle(it, false, now_ns);
  }
  ready_.resize(keep);
  while (!order_.empty()) {
    auto it = pending_.find(order_.front());
    if (it != pending_.end()) {
      if (now_ns < it->second.first_ns + s_.wait_ns) break;
      settle(it, false, now_ns);
    }
    order_.pop_front();
  }
  while (!decided_order_.empty() && (all || decided_order_.front().second <= now_ns)) {
    auto m = decided_.find(decided_order_.front().first);
    if (m != decided_.end() && m->second.until_ns <= decided_order_.front().second) decided_.erase(m);
    decided_order_.pop_front();
  }
}

}  // namespace tracecraft::detail
