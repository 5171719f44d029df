// SPDX-License-Identifier: Apache-2.0
// export/span_view.h — one decoded span as exporters see it (drain thread only; views die after the pass).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "tracecraft/trace.h"

namespace tracecraft::detail {

/// A growable array of trivially copyable items for the decoded view. Unlike std::vector, an
/// append is a compare, a store and an increment written in place (the decoder makes one per
/// attribute: about 50 instructions each through vector's out-of-line emplace_back), and it never
/// throws: when memory cannot grow, push_back returns false and the caller counts what it lost.
template <class T>
class view_list {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  view_list() noexcept = default;
  view_list(const view_list& o) noexcept { copy_from(o); }
  view_list(view_list&& o) noexcept : p_(o.p_), n_(o.n_), cap_(o.cap_) { o.p_ = nullptr, o.n_ = o.cap_ = 0; }
  view_list& operator=(const view_list& o) noexcept {
    if (this != &o) copy_from(o);
    return *this;
  }
  view_list& operator=(view_list&& o) noexcept {
    swap(o);
    return *this;
  }
  ~view_list() { std::free(p_); }
  void swap(view_list& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    std::swap(cap_, o.cap_);
  }
  friend void swap(view_list& a, view_list& b) noexcept { a.swap(b); }

  bool push_back(const T& x) noexcept {
    if (__builtin_expect(n_ == cap_, 0) && !grow(n_ + 1)) return false;
    p_[n_++] = x;
    return true;
  }
  /// Appends an item left for the caller to fill (built in place: an item built elsewhere and
  /// copied in is read back through a store-forwarding stall). nullptr when memory cannot grow.
  T* emplace() noexcept {
    if (__builtin_expect(n_ == cap_, 0) && !grow(n_ + 1)) return nullptr;
    return p_ + n_++;
  }
  /// Capacity for `n` items; false when memory could not grow.
  bool reserve(std::size_t n) noexcept { return n <= cap_ || grow(n); }
  /// Shrinks, or grows with value-initialised items (false: could not grow, size unchanged).
  bool resize(std::size_t n) noexcept {
    if (n > cap_ && !grow(n)) return false;
    for (std::size_t i = n_; i < n; ++i) p_[i] = T{};
    n_ = n;
    return true;
  }
  void clear() noexcept { n_ = 0; }
  /// Gives the memory back.
  void release() noexcept {
    std::free(p_);
    p_ = nullptr;
    n_ = cap_ = 0;
  }
  std::size_t size() const noexcept { return n_; }
  bool empty() const noexcept { return n_ == 0; }
  T* data() noexcept { return p_; }
  const T* data() const noexcept { return p_; }
  T& operator[](std::size_t i) noexcept { return p_[i]; }
  const T& operator[](std::size_t i) const noexcept { return p_[i]; }
  T& back() noexcept { return p_[n_ - 1]; }
  T* begin() noexcept { return p_; }
  T* end() noexcept { return p_ + n_; }
  const T* begin() const noexcept { return p_; }
  const T* end() const noexcept { return p_ + n_; }

 private:
  __attribute__((noinline)) bool grow(std::size_t want) noexcept {
    std::size_t cap = cap_ < 8 ? 8 : cap_ * 2;
    if (cap < want) cap = want;
    void* p = std::realloc(static_cast<void*>(p_), cap * sizeof(T));
    if (p == nullptr) return false;
    p_ = static_cast<T*>(p);
    cap_ = cap;
    return true;
  }
  void copy_from(const view_list& o) noexcept {
    n_ = 0;
    if (!reserve(o.n_)) return;
    if (o.n_ > 0) std::memcpy(static_cast<void*>(p_), o.p_, o.n_ * sizeof(T));
    n_ = o.n_;
  }
  T* p_ = nullptr;
  std::size_t n_ = 0, cap_ = 0;
};

struct attr_view {
  std::string_view key;
  value::type type;
  bool b = false;
  std::int64_t i = 0;
  double d = 0;
  std::string_view s;
};

struct event_view {
  std::string_view name;
  std::uint64_t time_ns;
  std::uint32_t first_attr;  ///< index into span_view::nested
  std::uint32_t attr_count;
  std::uint32_t dropped_attrs;
};

struct link_view {
  const std::uint8_t* trace_id;
  const std::uint8_t* span_id;
  std::uint8_t flags;  ///< W3C flags
  bool remote;
  std::uint32_t first_attr;
  std::uint32_t attr_count;
  std::uint32_t dropped_attrs;
};

/// OTel SpanKind numbers (standards §1).
enum otel_kind : std::uint8_t { otel_internal = 1, otel_server = 2, otel_client = 3, otel_producer = 4, otel_consumer = 5 };

struct span_view {
  const std::uint8_t* trace_id;
  const std::uint8_t* span_id;
  const std::uint8_t* parent_id;  ///< nullptr for a root
  std::string_view trace_state;   ///< W3C tracestate of the span's context (empty: none)
  bool parent_remote;
  std::string_view name;
  kind step;            ///< the engine's kind (step type)
  std::uint8_t otel;    ///< otel_kind
  std::uint8_t trace_flags;
  std::uint64_t start_ns;
  std::uint64_t end_ns;
  std::uint8_t status;  ///< 0 unset, 1 ok, 2 error
  std::string_view status_message;
  view_list<attr_view> attrs;
  view_list<attr_view> nested;  ///< event and link attributes
  view_list<event_view> events;
  view_list<link_view> links;
  std::uint32_t dropped_attrs;
  std::uint32_t dropped_events;
  std::uint32_t dropped_links;
  /// The first `fixed_attrs` attributes are this kind's derived attributes, unchanged by the host:
  /// the same bytes for every span of the kind, so encoders may cache their encoding per kind.
  std::uint8_t fixed_attrs;
  /// The engine's own attributes (the kind's, run_id, the sampling reason) come first; their
  /// values are engine text, never scanned by redaction. `derived_values` holds their pointers.
  std::uint8_t derived_count;
  const char* derived_values[6];
  bool name_runtime;  ///< the name was set at run time (copied), not a literal
  bool local_root() const noexcept { return parent_id == nullptr || parent_remote; }
  /// OTLP Span.flags: W3C flags | has-remote-bit | is-remote-bit (standards §1).
  std::uint32_t otlp_flags() const noexcept {
    return (trace_flags & 0x03u) | 0x100u | (parent_remote ? 0x200u : 0u);
  }
};

}  // namespace tracecraft::detail
