// SPDX-License-Identifier: Apache-2.0
// export/gzip.cpp — gzip with libdeflate (one-shot, fast at low levels) or zlib (streaming).
#include "export/gzip.h"

#include <libdeflate.h>
#include <zlib.h>

#include <cstring>

namespace tracecraft::detail {

gzip_compressor::gzip_compressor(impl which, int level) : impl_(which), level_(level) {
  if (impl_ == impl::libdeflate) state_ = libdeflate_alloc_compressor(level_);
}

gzip_compressor::~gzip_compressor() {
  if (state_ != nullptr) libdeflate_free_compressor(static_cast<libdeflate_compressor*>(state_));
}

bool gzip_compressor::compress(std::string_view in, std::string& out) noexcept {
  try {
    if (impl_ == impl::libdeflate) {
      auto* c = static_cast<libdeflate_compressor*>(state_);
      if (c == nullptr) return false;
      out.resize(libdeflate_gzip_compress_bound(c, in.size()));
      const std::size_t n = libdeflate_gzip_compress(c, in.data(), in.size(), out.data(), out.size());
      if (n == 0) return false;
      out.resize(n);
      return true;
    }
    z_stream zs{};
    // windowBits 15 + 16: a gzip header and trailer rather than zlib's.
    if (deflateInit2(&zs, level_, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
    out.resize(deflateBound(&zs, static_cast<uLong>(in.size())) + 32);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return rc == Z_STREAM_END;
  } catch (...) {  // std::bad_alloc from resize
    return false;
  }
}

bool gunzip(std::string_view in, std::string& out, std::size_t max_out) noexcept {
  try {
    z_stream zs{};
    if (inflateInit2(&zs, 15 + 16) != Z_OK) return false;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    out.clear();
    char buf[65536];
    int rc;
    do {
      zs.next_out = reinterpret_cast<Bytef*>(buf);
      zs.avail_out = sizeof buf;
      rc = inflate(&zs, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END) {
        inflateEnd(&zs);
        return false;
      }
      out.append(buf, sizeof buf - zs.avail_out);
      if (out.size() > max_out) {
        inflateEnd(&zs);
        return false;
      }
    } while (rc != Z_STREAM_END);
    inflateEnd(&zs);
    return zs.avail_in == 0;
  } catch (...) {
    return false;
  }
}

}  // namespace tracecraft::detail
