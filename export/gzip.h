// SPDX-License-Identifier: Apache-2.0
// export/gzip.h — gzip for OTLP request bodies (Content-Encoding: gzip), one compressor per
// exporter, drain/export thread only. Two implementations are measured by tracecraft-bench
// (gzip_zlib, gzip_libdeflate); the exporter uses libdeflate, the faster one here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tracecraft::detail {

class gzip_compressor {
 public:
  enum class impl { zlib, libdeflate };
  explicit gzip_compressor(impl which = impl::libdeflate, int level = 1);
  ~gzip_compressor();
  gzip_compressor(const gzip_compressor&) = delete;
  gzip_compressor& operator=(const gzip_compressor&) = delete;

  /// Compresses `in` into `out` (resized to the result). False when compression failed (out of
  /// memory); `out` is then unspecified. Reuses `out`'s capacity.
  bool compress(std::string_view in, std::string& out) noexcept;

 private:
  impl impl_;
  int level_;
  void* state_ = nullptr;  // libdeflate_compressor*, or nullptr for zlib (stateless use)
};

/// gunzip, for tests and the sink: false on a malformed stream or when the result would pass
/// `max_out` bytes (a gzip bomb).
bool gunzip(std::string_view in, std::string& out, std::size_t max_out = SIZE_MAX) noexcept;

}  // namespace tracecraft::detail
