// SPDX-License-Identifier: Apache-2.0
// export/json_writer.h — OTLP/JSON encoding (standards §2: hex ids, integer enums, lowerCamelCase,
// 64-bit integers as decimal strings) into a reused buffer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "export/exporter.h"
#include "export/span_view.h"

namespace tracecraft::detail {

/// Appends JSON fragments to a std::string that the caller reuses (no allocation once it has
/// grown to the batch size).
class json_writer {
 public:
  explicit json_writer(std::string& out) noexcept : out_(out) {}
  /// A JSON string literal: quotes, escapes, invalid UTF-8 replaced by U+FFFD.
  void str(std::string_view s);
  void hex(const std::uint8_t* bytes, std::size_t n);
  void u64_quoted(std::uint64_t v);
  void i64_quoted(std::int64_t v);
  void u64(std::uint64_t v);
  void dbl(double v);
  void raw(std::string_view s) { out_.append(s); }
  void ch(char c) { out_.push_back(c); }
  void any_value(const attr_view& a);
  void attributes(const attr_view* a, std::size_t n);
  /// One OTLP/JSON Span object.
  void span(const span_view& s);

 private:
  std::string& out_;
};

/// `{"resourceSpans":[{"resource":{...},"scopeSpans":[{"scope":{...},"spans":[` — the prefix of
/// every ExportTraceServiceRequest line; `json_suffix` closes it.
std::string json_request_prefix(const resource_info& res);
inline constexpr std::string_view json_suffix = "]}]}]}\n";

}  // namespace tracecraft::detail
