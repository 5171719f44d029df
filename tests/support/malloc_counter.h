// SPDX-License-Identifier: Apache-2.0
// tests/support/malloc_counter.h — counts heap allocations made by the calling thread, by
// interposing malloc, calloc and realloc for the whole process (an executable's definitions win
// over libc's, also for calls from libtracecraft.so). Include in exactly one file of an
// executable. Cannot be combined with a sanitizer's own malloc.
#pragma once

#include <atomic>
#include <cstddef>

extern "C" void* __libc_malloc(std::size_t);
extern "C" void* __libc_calloc(std::size_t, std::size_t);
extern "C" void* __libc_realloc(void*, std::size_t);

namespace tc_malloc {
inline thread_local bool counting = false;  ///< count allocations made by this thread
inline std::atomic<long> allocations{0};
inline void note() noexcept {
  if (counting) allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace tc_malloc

extern "C" void* malloc(std::size_t n) {
  tc_malloc::note();
  return __libc_malloc(n);
}
extern "C" void* calloc(std::size_t a, std::size_t b) {
  tc_malloc::note();
  return __libc_calloc(a, b);
}
extern "C" void* realloc(void* p, std::size_t n) {
  tc_malloc::note();
  return __libc_realloc(p, n);
}
