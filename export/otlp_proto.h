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

/// Encodes one Span message: plan() computes every size once (strings after UTF-8 repair),
/// write() then writes exactly that many bytes. Reused across spans (no allocation once warm).
class span_encoder {
 public:
  struct attr_plan {
    std::uint32_t key = 0;    ///< key bytes after repair
    std::uint32_t str = 0;    ///< string value bytes after repair
    std::uint32_t value = 0;  ///< AnyValue body size
    std::uint32_t kv = 0;     ///< KeyValue body size
  };
  /// Size of the Span message body for `s` (without its own tag and length).
  std::size_t plan(const span_view& s);
  /// Writes the body planned last for `s`; returns the end.
  char* write(char* p, const span_view& s) noexcept;
  /// One KeyValue: plan it (appends to the plan, returns its size with tag and length) ...
  std::size_t plan_attr(const attr_view& a);
  const attr_plan& planned(std::size_t i) const noexcept { return plan_[i]; }
  /// ... and write it under `tag`.
  static char* write_attr(char* p, unsigned char tag, const attr_view& a, const attr_plan& pl) noexcept;

 private:
  std::vector<attr_plan> plan_;     // span attributes, then event and link attributes, in order
  std::vector<std::uint32_t> sub_;  // event body size and name size, link body size, in order
  std::uint32_t name_ = 0, status_msg_ = 0;
  std::size_t size_ = 0;
  std::size_t skip_ = 0;         // leading attributes written from kind_bytes_
  std::string kind_bytes_[16];   // the encoded fixed attributes of each kind (span_view::fixed_attrs)
};

/// Builds one ExportTraceServiceRequest from spans added one by one. The spans are encoded into
/// a body that keeps headroom in front; seal() writes the envelope (ResourceSpans, the
/// precomputed Resource, ScopeSpans, the precomputed scope) backwards into that headroom, so the
/// finished request is contiguous without copying the spans. No allocation once the buffer has
/// grown to the batch size.
class otlp_proto_batch {
 public:
  explicit otlp_proto_batch(const resource_info& res);

  void clear() noexcept;
  /// Appends one span unless the request would then exceed `max_request` bytes (returns false,
  /// nothing added). Throws std::bad_alloc only when the buffer cannot grow.
  bool add(const span_view& s, std::size_t max_request = SIZE_MAX);
  std::size_t spans() const noexcept { return spans_; }
  /// Bytes of span data so far (the request is a few hundred bytes more).
  std::size_t span_bytes() const noexcept { return buf_.size() - headroom_; }
  /// The encoded request; valid until the next clear() or add().
  std::string_view seal() noexcept;

 private:
  std::string resource_;  // Resource message body (ResourceSpans.resource), precomputed
  std::string scope_;     // InstrumentationScope message body, precomputed
  span_encoder enc_;
  std::size_t headroom_;
  out_buffer buf_;
  std::size_t spans_ = 0;
};

}  // namespace tracecraft::detail
