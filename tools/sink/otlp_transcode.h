// SPDX-License-Identifier: Apache-2.0
// tools/sink/otlp_transcode.h — ExportTraceServiceRequest protobuf -> OTLP/JSON (standards §1,
// §2), driven by a field table of the trace messages. Used by tracecraft-sink; it never trusts its
// input: every length is checked, nesting is bounded, unknown fields are skipped, strings with
// invalid UTF-8 are repaired, and the result is always valid JSON.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tracecraft::sink {

struct transcode_result {
  bool ok = false;
  std::uint64_t spans = 0;
  std::string error;  ///< why the input was refused (when !ok)
};

/// Decodes `pb`; appends one OTLP/JSON object (no newline) to `json` unless it is null (then it
/// only validates and counts spans). On failure `json` may hold a partial object: discard it.
transcode_result transcode_request(std::string_view pb, std::string* json);

/// Validates an OTLP/JSON request (resourceSpans[].scopeSpans[].spans[]), counts its spans and
/// appends it minified to `json` unless null.
transcode_result check_json_request(std::string_view body, std::string* json);

}  // namespace tracecraft::sink
