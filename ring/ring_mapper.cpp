// SPDX-License-Identifier: Apache-2.0
#include "ring/ring_mapper.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <utility>

namespace tracecraft::detail {

namespace {
// Removes one element equal to `v`; false when there is none.
bool erase_one(std::vector<std::size_t>& xs, std::size_t v) noexcept {
  const auto it = std::find(xs.begin(), xs.end(), v);
  if (it == xs.end()) return false;
  xs.erase(it);
  return true;
}
}  // namespace

bool ring_mapper::queue_locked(std::size_t bytes) noexcept {
  try {
    // Room for every unit outstanding, so that run() records each outcome without allocating.
    const std::size_t units = queued_.size() + ready_.size() + failed_.size() + (mapping_ != 0 ? 1 : 0) + 1;
    ready_.reserve(units);
    failed_.reserve(units);
    unwanted_.reserve(units);
    queued_.push_back(bytes);
  } catch (...) {
    return false;
  }
  if (start_locked()) return true;
  queued_.pop_back();
  return false;
}

ring_mapper::asked ring_mapper::ask(std::size_t bytes) noexcept {
  // The drain never waits here: the worker holds the lock only to move a vector element, but a
  // worker preempted inside that window would hold it for a time slice.
  std::unique_lock<std::mutex> lk(mu_, std::try_to_lock);
  if (!lk.owns_lock()) return asked::busy;
  if (stopping_ || !queue_locked(bytes)) return asked::unavailable;
  lk.unlock();
  cv_.notify_one();
  return asked::queued;
}

ring_mapper::state ring_mapper::take(std::size_t bytes, ring_memory& out) noexcept {
  ring_memory got;
  {
    std::unique_lock<std::mutex> lk(mu_, std::try_to_lock);  // as in ask(): never wait
    if (!lk.owns_lock()) return state::pending;
    const auto it = std::find_if(ready_.begin(), ready_.end(), [&](const ring_memory& m) { return m.size() == bytes; });
    if (it == ready_.end()) return erase_one(failed_, bytes) ? state::failed : state::pending;
    got = std::move(*it);
    ready_.erase(it);
  }
  out = std::move(got);  // frees what `out` held outside the lock
  return state::ready;
}

void ring_mapper::abandon(std::size_t bytes) noexcept {
  ring_memory freed;
  std::lock_guard<std::mutex> lk(mu_);
  if (erase_one(queued_, bytes) || erase_one(failed_, bytes)) return;
  const auto it = std::find_if(ready_.begin(), ready_.end(), [&](const ring_memory& m) { return m.size() == bytes; });
  if (it != ready_.end()) {
    freed = std::move(*it);
    ready_.erase(it);
    return;
  }
  // The buffer in hand: freed when mapped. One at a time, so one such entry at most.
  if (mapping_ == bytes && unwanted_.empty()) unwanted_.push_back(bytes);  // capacity reserved by ask()
}

std::uint64_t ring_mapper::held_bytes() const noexcept {
  std::lock_guard<std::mutex> lk(mu_);
  std::uint64_t n = mapping_;
  for (const auto& m : ready_) n += m.size();
  return n;
}

bool ring_mapper::adopt_spare(ring_memory m) noexcept {
  std::lock_guard<std::mutex> lk(mu_);
  if (!m || stopping_) return false;
  try {
    ready_.push_back(std::move(m));
  } catch (...) {
    return false;  // `m` unmaps its buffer
  }
  return true;
}

bool ring_mapper::start(std::size_t spare) noexcept {
  std::unique_lock<std::mutex> lk(mu_);
  if (stopping_ || !start_locked()) return false;
  const bool held = std::any_of(ready_.begin(), ready_.end(), [&](const ring_memory& m) { return m.size() == spare; });
  if (spare != 0 && !held && queue_locked(spare)) {
    quiet_ = true;  // no ring waits for it: the drain is not woken when it is ready
    lk.unlock();
    cv_.notify_one();
  }
  return true;
}

bool ring_mapper::start_locked() noexcept {
  if (started_) return true;
  try {
    worker_ = std::thread([this] { run(); });
    started_ = true;
  } catch (...) {
  }
  return started_;
}

bool ring_mapper::idle() const noexcept {
  std::lock_guard<std::mutex> lk(mu_);
  return queued_.empty() && mapping_ == 0;
}

void ring_mapper::stop(bool join) noexcept {
  std::vector<ring_memory> freed;
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
    queued_.clear();
    freed.swap(ready_);
  }
  cv_.notify_one();
  if (worker_.joinable()) {
    if (join) worker_.join();
    else worker_.detach();
  }
}

void ring_mapper::run() noexcept {
  pthread_setname_np(pthread_self(), "tc-ringmap");
  // Any CPU: it inherits the drain's mask, and a pinned drain would share its core with it.
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c = 0; c < CPU_SETSIZE; ++c) CPU_SET(c, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [this] { return stopping_ || !queued_.empty(); });
    if (stopping_) return;
    const std::size_t bytes = queued_.front();
    queued_.erase(queued_.begin());
    mapping_ = bytes;
    lk.unlock();
    ring_memory m = ring_memory::allocate(bytes);
    lk.lock();
    mapping_ = 0;
    const bool quiet = std::exchange(quiet_, false);  // this one was the spare
    if (stopping_ || erase_one(unwanted_, bytes)) {
      lk.unlock();
      m.reset();
      lk.lock();
      continue;
    }
    if (m) ready_.push_back(std::move(m));  // capacity reserved by ask(): no allocation
    else failed_.push_back(bytes);
    // The spare wakes the drain only if a ring has asked for its size meanwhile (it serves that one).
    if (bell_ == nullptr || (quiet && std::find(queued_.begin(), queued_.end(), bytes) == queued_.end())) continue;
    // Rung with the lock released: the drain it wakes may take this core at once, and would then
    // find the lock held by the thread it preempted (take() does not wait: the buffer would wait
    // for a later pass, as it did in the first rounds of tracecraft-export-bench).
    lk.unlock();
    bell_->ring();
    lk.lock();
  }
}

}  // namespace tracecraft::detail
