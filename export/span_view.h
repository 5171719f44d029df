// SPDX-License-Identifier: Apache-2.0
// export/span_view.h — one decoded span as exporters see it (drain thread only; views die after the pass).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tracecraft/trace.h"

namespace tracecraft::detail {

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
  std::vector<attr_view> attrs;
  std::vector<attr_view> nested;  ///< event and link attributes
  std::vector<event_view> events;
  std::vector<link_view> links;
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
