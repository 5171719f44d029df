// SPDX-License-Identifier: Apache-2.0
// sampler/tail.cpp — the pending-trace table (see tail.h). Nothing here allocates per record or
// per trace once the table has grown to its load: records go into per-trace buffers that are
// reused, traces into reused slots, ids into open-addressing tables.
#include "sampler/tail.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace tracecraft::detail {

namespace {
constexpr std::size_t padded(std::size_t n) noexcept { return (n + 7) & ~std::size_t{7}; }
std::uint64_t load64(const char* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
}  // namespace

// ---- tail_records --------------------------------------------------------------------------

tail_records::entry tail_records::iterator::operator*() const noexcept {
  const auto jn = static_cast<std::size_t>(load64(p_)), rn = static_cast<std::size_t>(load64(p_ + 8));
  return entry{std::string_view(p_ + 16, jn), std::string_view(p_ + 16 + padded(jn), rn)};
}

tail_records::iterator& tail_records::iterator::operator++() noexcept {
  p_ += 16 + padded(static_cast<std::size_t>(load64(p_))) + padded(static_cast<std::size_t>(load64(p_ + 8)));
  return *this;
}

tail_records::tail_records(tail_records&& o) noexcept : data_(o.data_), size_(o.size_), cap_(o.cap_), count_(o.count_) {
  o.data_ = nullptr;
  o.size_ = o.cap_ = o.count_ = 0;
}

tail_records& tail_records::operator=(tail_records&& o) noexcept {
  std::swap(data_, o.data_);
  std::swap(size_, o.size_);
  std::swap(cap_, o.cap_);
  std::swap(count_, o.count_);
  return *this;
}

tail_records::~tail_records() { std::free(data_); }

bool tail_records::append(std::string_view joined, const unsigned char* rec, std::size_t size) noexcept {
  const std::size_t need = 16 + padded(joined.size()) + padded(size);
  if (size_ + need > cap_) {
    // 256 bytes hold a skeleton or two (a trace of skeletons grows by doubling); the slot keeps it.
    std::size_t cap = std::max<std::size_t>(cap_ * 2, 256);
    if (cap < size_ + need) cap = size_ + need;
    void* p = std::realloc(data_, cap);  // malloc alignment (16): every entry stays 8-aligned
    if (p == nullptr) return false;
    data_ = static_cast<char*>(p);
    cap_ = cap;
  }
  char* o = data_ + size_;
  const std::uint64_t jn = joined.size(), rn = size;
  std::memcpy(o, &jn, 8);
  std::memcpy(o + 8, &rn, 8);
  if (!joined.empty()) std::memcpy(o + 16, joined.data(), joined.size());
  std::memcpy(o + 16 + padded(joined.size()), rec, size);
  size_ += need;
  ++count_;
  return true;
}

void tail_records::trim(std::size_t keep) noexcept {
  if (cap_ <= keep) return;
  std::free(data_);
  data_ = nullptr;
  size_ = cap_ = count_ = 0;
}

// ---- trace_id_map --------------------------------------------------------------------------

template <class V>
std::size_t trace_id_map<V>::home(const key& k) const noexcept {
  std::uint64_t w[2] = {k.hi, k.lo};
  return static_cast<std::size_t>(XXH3_64bits_withSeed(w, sizeof w, seed_)) & (b_.size() - 1);
}

template <class V>
V* trace_id_map<V>::find(const key& k) noexcept {
  if (size_ == 0) return nullptr;
  for (std::size_t i = home(k);; i = (i + 1) & (b_.size() - 1)) {
    bucket& b = b_[i];
    if (!b.used) return nullptr;
    if (b.k == k) return &b.v;
  }
}

template <class V>
V& trace_id_map<V>::operator[](const key& k) {
  if (V* v = find(k)) return *v;
  if (2 * (size_ + 1) > b_.size()) grow();  // load at most 1/2: short probes
  std::size_t i = home(k);
  while (b_[i].used) i = (i + 1) & (b_.size() - 1);
  b_[i].k = k;
  b_[i].v = V{};
  b_[i].used = true;
  ++size_;
  return b_[i].v;
}

template <class V>
void trace_id_map<V>::erase(const key& k) noexcept {
  if (size_ == 0) return;
  const std::size_t mask = b_.size() - 1;
  std::size_t i = home(k);
  for (;; i = (i + 1) & mask) {
    if (!b_[i].used) return;
    if (b_[i].k == k) break;
  }
  // Backward shift: later members of the probe run move into the hole when their home allows.
  std::size_t hole = i;
  for (std::size_t j = (i + 1) & mask; b_[j].used; j = (j + 1) & mask) {
    const std::size_t h = home(b_[j].k);
    // b_[j] may fill the hole when its home is not strictly between the hole and j (cyclically).
    const bool between = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
    if (!between) {
      b_[hole] = b_[j];
      hole = j;
    }
  }
  b_[hole].used = false;
  --size_;
}

template <class V>
void trace_id_map<V>::clear() noexcept {
  for (bucket& b : b_) b.used = false;
  size_ = 0;
}

template <class V>
void trace_id_map<V>::grow() {
  std::vector<bucket> old(std::max<std::size_t>(b_.size() * 2, 64));  // may throw: nothing changed yet
  old.swap(b_);
  size_ = 0;
  for (const bucket& b : old)
    if (b.used) {
      std::size_t i = home(b.k);
      while (b_[i].used) i = (i + 1) & (b_.size() - 1);
      b_[i] = b;
      ++size_;
    }
}

// ---- tail_table ----------------------------------------------------------------------------

namespace {
std::uint64_t process_seed() noexcept {
  try {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  } catch (...) {
    return reinterpret_cast<std::uintptr_t>(&process_seed) * 0x9E3779B97F4A7C15ull;
  }
}
}  // namespace

tail_table::tail_table(const tail_settings& s, tail_sink& sink)
    : s_(s), sink_(sink), pending_(process_seed()), decided_(process_seed()) {}

template <class T>
bool tail_table::fifo<T>::push_back(const T& x) noexcept {
  if (n_ == v_.size()) {
    try {
      std::vector<T> v(std::max<std::size_t>(v_.size() * 2, 64));
      for (std::size_t i = 0; i < n_; ++i) v[i] = v_[(head_ + i) & (v_.size() - 1)];
      v_.swap(v);
      head_ = 0;
    } catch (...) {
      return false;
    }
  }
  v_[(head_ + n_) & (v_.size() - 1)] = x;
  ++n_;
  return true;
}

std::uint32_t tail_table::take_slot() {
  if (!free_.empty()) {
    const std::uint32_t i = free_.back();
    free_.pop_back();
    return i;
  }
  if (free_.capacity() < slots_.size() + 1) free_.reserve(2 * slots_.size() + 64);  // giving a slot back never allocates
  slots_.emplace_back();
  return static_cast<std::uint32_t>(slots_.size() - 1);
}

void tail_table::unlink(std::uint32_t i) noexcept {
  trace& t = slots_[i];
  (t.prev != npos ? slots_[t.prev].next : oldest_) = t.next;
  (t.next != npos ? slots_[t.next].prev : newest_) = t.prev;
  t.prev = t.next = npos;
}

// The oldest remembered decision goes, unless the trace was decided again since (a later entry
// in the ring then owns its memo).
void tail_table::forget_oldest_decision() noexcept {
  const auto& f = decided_order_.front();
  const memo* m = decided_.find(f.first);
  if (m != nullptr && m->until_ns <= f.second) decided_.erase(f.first);
  decided_order_.pop_front();
}

void tail_table::settle(std::uint32_t i, bool evicting, std::uint64_t now_ns) noexcept {
  trace& t = slots_[i];
  const tail_decision d = sink_.judge(tail_trace{&t.records, t.error, t.slow, t.decide_pass != 0, evicting});
  sink_.settle(d, t.records);
  if (d.verdict != tail_verdict::evicted) {  // an evicted trace has no memo: its late spans go the same way
    // Remembered for 10 waits (at least a minute), at most max_traces decisions: spans that end
    // after their root (an async root ended early, a trace decided on the wait) follow it.
    const std::uint64_t until = now_ns + std::max<std::uint64_t>(10 * s_.wait_ns, 60000000000ull);
    try {
      if (decided_order_.push_back({t.k, until})) decided_[t.k] = memo{d, until};
    } catch (...) {  // out of memory: the trace's late spans are judged on their own
    }
    while (decided_order_.size() > s_.max_traces) forget_oldest_decision();
  }
  pending_.erase(t.k);
  unlink(i);
  t.records.clear();
  t.records.trim(16 * 1024);  // a rare large trace does not pin its memory in the slot
  free_.push_back(i);          // capacity reserved in take_slot()
}

bool tail_table::add(const std::uint8_t trace_id[16], const unsigned char* rec, std::size_t size, std::string_view joined,
                     bool root, bool error, std::uint64_t duration_ns, std::uint64_t now_ns, std::uint64_t pass) noexcept {
  key k;
  std::memcpy(&k.hi, trace_id, 8);
  std::memcpy(&k.lo, trace_id + 8, 8);
  std::uint32_t i;
  if (const std::uint32_t* at = pending_.find(k)) {
    i = *at;
  } else {
    if (const memo* m = decided_.find(k)) {  // a late span of a decided trace follows it ...
      one_.clear();
      if (!one_.append(joined, rec, size)) return false;
      tail_decision d = m->d;
      if (d.verdict != tail_verdict::keep && error) {  // ... unless it failed: judged alone then
        d = sink_.judge(tail_trace{&one_, true, false, false, false});
      }
      sink_.settle(d, one_);
      return true;
    }
    if (pending_.size() >= s_.max_traces && oldest_ != npos) settle(oldest_, true, now_ns);  // full: the oldest goes now
    try {
      i = take_slot();
    } catch (...) {
      return false;
    }
    try {
      pending_[k] = i;
    } catch (...) {
      free_.push_back(i);  // capacity reserved in take_slot()
      return false;
    }
    trace& t = slots_[i];
    t.k = k;
    t.first_ns = now_ns;
    t.decide_pass = 0;
    t.error = t.slow = false;
    t.prev = newest_;
    t.next = npos;
    (newest_ != npos ? slots_[newest_].next : oldest_) = i;
    newest_ = i;
  }
  trace& t = slots_[i];
  if (!t.records.append(joined, rec, size)) {
    if (t.records.empty()) {  // nothing of the trace held: it is not kept pending
      pending_.erase(k);
      unlink(i);
      free_.push_back(i);
    }
    return false;
  }
  t.error = t.error || error;
  if (root) {
    if (t.decide_pass == 0) {
      try {
        ready_.emplace_back(k, pass + 1);
      } catch (...) {  // decided on the wait instead
      }
    }
    t.decide_pass = pass + 1;
    t.slow = t.slow || duration_ns >= s_.slow_ns;
  }
  return true;
}

// Work in proportion to what is due, not to the table: roots read one pass ago (ready_), and
// the oldest traces past the wait (the arrival-order list).
void tail_table::decide(std::uint64_t now_ns, std::uint64_t pass, bool all) noexcept {
  if (all) {
    while (oldest_ != npos) settle(oldest_, false, now_ns);
    ready_.clear();
  }
  std::size_t keep = 0;
  for (std::size_t i = 0; i < ready_.size(); ++i) {
    if (ready_[i].second > pass) {
      ready_[keep++] = ready_[i];
      continue;
    }
    if (const std::uint32_t* at = pending_.find(ready_[i].first)) settle(*at, false, now_ns);
  }
  ready_.resize(keep);
  while (oldest_ != npos && now_ns >= slots_[oldest_].first_ns + s_.wait_ns) settle(oldest_, false, now_ns);
  while (!decided_order_.empty() && (all || decided_order_.front().second <= now_ns)) forget_oldest_decision();
}

// The tables the tail uses, emitted here: tests use trace_id_map<std::uint32_t> directly, and a
// build that inlines every call in this file would otherwise leave no definition to link.
template class trace_id_map<std::uint32_t>;

}  // namespace tracecraft::detail
