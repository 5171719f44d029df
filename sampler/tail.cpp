// SPDX-License-Identifier: Apache-2.0
// sampler/tail.cpp — the pending-trace table of skeletons (see tail.h).
#include "sampler/tail.h"

#include <algorithm>
#include <cstring>

namespace tracecraft::detail {

tail_verdict tail_table::verdict_of(const trace& t) const noexcept {
  if (t.error && s_.keep_errors) return tail_verdict::keep_error;
  if (t.slow && s_.keep_slow) return tail_verdict::keep_slow;
  return tail_verdict::discard;
}

void tail_table::settle(map::iterator it, tail_verdict v, std::uint64_t now_ns) {
  sink_.settle(v, it->second.records);
  it->second.records.clear();
  if (spare_.size() < 1024) spare_.push_back(std::move(it->second.records));
  if (v != tail_verdict::evicted) {  // an evicted trace has no memo: its late spans go the same way
    // Remembered for 10 waits (at least a minute), at most max_traces decisions: spans that end
    // after their root (an async root ended early, a trace decided on the wait) follow it.
    const std::uint64_t until = now_ns + std::max<std::uint64_t>(10 * s_.wait_ns, 60000000000ull);
    decided_[it->first] = memo{v, until};
    decided_order_.emplace_back(it->first, until);
    if (decided_order_.size() > s_.max_traces) {
      decided_.erase(decided_order_.front().first);
      decided_order_.pop_front();
    }
  }
  pending_.erase(it);
}

void tail_table::add(const std::uint8_t trace_id[16], const unsigned char* rec, std::size_t size, bool root, bool error,
                     std::uint64_t duration_ns, std::uint64_t now_ns, std::uint64_t pass) {
  key k;
  std::memcpy(&k.hi, trace_id, 8);
  std::memcpy(&k.lo, trace_id + 8, 8);
  std::vector<std::string> one;
  auto it = pending_.find(k);
  if (it == pending_.end()) {
    auto m = decided_.find(k);
    if (m != decided_.end()) {  // a late span of a decided trace follows it
      one.emplace_back(reinterpret_cast<const char*>(rec), size);
      tail_verdict v = m->second.verdict;
      if (v == tail_verdict::discard && error && s_.keep_errors) v = tail_verdict::keep_error;  // too late for the rest
      sink_.settle(v, one);
      return;
    }
    if (pending_.size() >= s_.max_traces) {
      // Full: the oldest trace goes now. Decided as usual when its root was read (only children
      // still unread could be missed), kept when it already failed, otherwise evicted (counted).
      while (!order_.empty() && pending_.find(order_.front()) == pending_.end()) order_.pop_front();
      if (!order_.empty()) {
        auto old = pending_.find(order_.front());
        order_.pop_front();
        const trace& o = old->second;
        const tail_verdict v = o.decide_pass != 0 || (o.error && s_.keep_errors) ? verdict_of(o) : tail_verdict::evicted;
        settle(old, v, now_ns);
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
  t.records.emplace_back(reinterpret_cast<const char*>(rec), size);
  t.error = t.error || error;
  if (root) {
    t.decide_pass = pass + 1;
    t.slow = t.slow || duration_ns >= s_.slow_ns;
  }
}

void tail_table::decide(std::uint64_t now_ns, std::uint64_t pass, bool all) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    const trace& t = it->second;
    const bool root_done = t.decide_pass != 0 && t.decide_pass <= pass;
    const bool waited = now_ns >= t.first_ns + s_.wait_ns;
    auto next = std::next(it);
    if (all || root_done || waited) settle(it, verdict_of(t), now_ns);
    it = next;
  }
  while (!order_.empty() && pending_.find(order_.front()) == pending_.end()) order_.pop_front();
  while (!decided_order_.empty() && (all || decided_order_.front().second <= now_ns)) {
    auto m = decided_.find(decided_order_.front().first);
    if (m != decided_.end() && m->second.until_ns <= decided_order_.front().second) decided_.erase(m);
    decided_order_.pop_front();
  }
}

}  // namespace tracecraft::detail
