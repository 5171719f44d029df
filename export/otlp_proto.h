// SPDX-License-Identifier: Apache-2.0
// export/otlp_proto.h — hand-written protobuf encoding of ExportTraceServiceRequest (standards §1),
// no libprotobuf: exact sizes are computed from the span view, then bytes are written once into a
// reused buffer. Drain thread only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "export/exporter.h"
#include "export/json_writer.h"  // out_buffer
#include "export/span_view.h"

namespace tracecraft::detail {

/// Encodes one Span message in one pass (each string scanned once for UTF-8, each message written
/// once; a message whose size is not known in advance is written behind a hole for its length,
/// then moved down). Reused across spans: no allocation once every kind has been seen.
class span_encoder {
 public:
  /// Bytes write() may use for `s` at most (tag and length included). Reads every attribute.
  static std::size_t bound(const span_view& s) noexcept;
  /// Bytes write(p, s, true) may use at most: the bound when every attribute encodes within
  /// k_attr_reserve bytes (the usual case), computed from the counts without reading them.
  static std::size_t quick_bound(const span_view& s) noexcept;
  /// Writes `s` as ScopeSpans.spans (tag, length, Span); needs bound(s) bytes, or quick_bound(s)
  /// with `quick` (then nullptr when an attribute needs more than its reserve: write again
  /// with bound(s)); returns the end. Throws std::bad_alloc only the first time a kind is seen
  /// (its cached attributes).
  char* write(char* p, const span_view& s, bool quick = false);
  /// quick_bound()'s reserve per attribute: the largest attribute the direct path writes (an ASCII key
  /// under 64 bytes and an ASCII string under 58: 128 bytes) and any attribute whose bound fits.
  static constexpr std::size_t k_attr_reserve = 128;
  /// One KeyValue under `tag` (needs 3 * (key + value bytes) + 40 at most).
  static char* write_attr(char* p, unsigned char tag, const attr_view& a) noexcept;

 private:
  const std::string& kind_bytes(const span_view& s);
  std::string kind_bytes_[16];  // the encoded fixed attributes of each kind (span_view::fixed_attrs)
};

/// Builds one ExportTraceServiceRequest from spans added one by one. The spans are encoded into
/// a body that keeps headroom in front; seal() writes the envelope (ResourceSpans, the
/// precomputed Resource, ScopeSpans, the precomputed scope) backwards into that headroom, so the
/// finished request is contiguous without copying the spans. `front` more bytes are kept free in
/// front of the request for the HTTP head (http_transport::post), so that head and body leave in
/// one send. No allocation once the buffer has grown to the batch size.
class otlp_proto_batch {
 public:
  explicit otlp_proto_batch(const resource_info& res, std::size_t front = 0);

  void clear() noexcept;
  /// Capacity for `span_bytes` of spans, its pages faulted in (see out_buffer::prefault).
  void prefault(std::size_t span_bytes) { buf_.prefault(headroom_ + span_bytes); }
  /// Appends one span unless the request would then exceed `max_request` bytes (returns false,
  /// nothing added). Throws std::bad_alloc only when the buffer cannot grow.
  bool add(const span_view& s, std::size_t max_request = SIZE_MAX);
  std::size_t spans() const noexcept { return spans_; }
  /// Bytes of span data so far (the request is a few hundred bytes more).
  std::size_t span_bytes() const noexcept { return buf_.size() - headroom_; }
  /// Bytes the buffer holds allocated.
  std::size_t capacity() const noexcept { return buf_.capacity(); }
  /// The encoded request; valid until the next clear() or add(). The bytes from room() up to
  /// its start (at least `front`) are free for the caller to write.
  std::string_view seal() noexcept;
  char* room() noexcept { return buf_.data(); }

 private:
  std::string resource_;  // Resource message body (ResourceSpans.resource), precomputed
  std::string scope_;     // InstrumentationScope message body, precomputed
  span_encoder enc_;
  std::size_t front_;
  std::size_t headroom_;
  out_buffer buf_;
  std::size_t spans_ = 0;
};

}  // namespace tracecraft::detail
