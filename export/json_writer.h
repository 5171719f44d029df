// SPDX-License-Identifier: Apache-2.0
// export/json_writer.h — OTLP/JSON encoding (standards §2: hex ids, integer enums, lowerCamelCase,
// 64-bit integers as decimal strings) into a reused buffer.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>

#include "export/exporter.h"
#include "export/span_view.h"

namespace tracecraft::detail {

/// A growable byte buffer without zero-fill; reused across batches (no allocation in steady state).
class out_buffer {
 public:
  out_buffer() = default;
  out_buffer(const out_buffer&) = delete;
  out_buffer& operator=(const out_buffer&) = delete;
  ~out_buffer() { std::free(data_); }
  /// Room for `n` more bytes (throws std::bad_alloc when memory is exhausted).
  char* ensure(std::size_t n) {
    if (size_ + n > cap_) grow(size_ + n);
    return data_ + size_;
  }
  void commit(std::size_t n) noexcept { size_ += n; }
  void append(std::string_view s) {
    std::memcpy(ensure(s.size()), s.data(), s.size());
    size_ += s.size();
  }
  void push_back(char c) {
    *ensure(1) = c;
    ++size_;
  }
  void clear() noexcept { size_ = 0; }
  /// Capacity for `n` bytes in all, each page written once so that filling it takes no page
  /// faults (throws std::bad_alloc when memory is exhausted).
  void prefault(std::size_t n);
  /// Drops everything after the first `n` bytes (n <= size()).
  void truncate(std::size_t n) noexcept { size_ = n < size_ ? n : size_; }
  void release_memory() noexcept {
    std::free(data_);
    data_ = nullptr;
    size_ = cap_ = 0;
  }
  const char* data() const noexcept { return data_; }
  char* data() noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return cap_; }
  std::string_view view() const noexcept { return {data_, size_}; }

 private:
  void grow(std::size_t need);
  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t cap_ = 0;
};

/// Appends JSON fragments to an out_buffer that the caller reuses.
class json_writer {
 public:
  explicit json_writer(out_buffer& out) noexcept : out_(out) {}
  /// A JSON string literal: quotes, escapes, invalid UTF-8 replaced by U+FFFD.
  void str(std::string_view s);
  void hex(const std::uint8_t* bytes, std::size_t n);
  void u64_quoted(std::uint64_t v);
  void i64_quoted(std::int64_t v);
  void u64(std::uint64_t v);
  void dbl(double v);
  void raw(std::string_view s) { out_.append(s); }
  /// Literal fragments: the length is a constant, so the copy is a few inline moves.
  template <std::size_t N>
  void raw(const char (&s)[N]) {
    std::memcpy(out_.ensure(N - 1), s, N - 1);
    out_.commit(N - 1);
  }
  void ch(char c) { out_.push_back(c); }
  void any_value(const attr_view& a);
  void attributes(const attr_view* a, std::size_t n);
  /// One OTLP/JSON Span object.
  void span(const span_view& s);

 private:
  out_buffer& out_;
};

/// `{"resourceSpans":[{"resource":{...},"scopeSpans":[{"scope":{...},"spans":[` — the prefix of
/// every ExportTraceServiceRequest line; `json_suffix` closes it.
std::string json_request_prefix(const resource_info& res);
inline constexpr std::string_view json_suffix = "]}]}]}\n";

}  // namespace tracecraft::detail
