// SPDX-License-Identifier: Apache-2.0
// redact/json_payload.h — JSON-aware redaction of captured payloads (an OpenAI-style request or
// response body): parsed with simdjson; values at configured paths (`messages[*].content`) are
// replaced whole; every other string value is scanned; keys, numbers and structure are kept;
// the output is valid JSON. Drain thread only.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "redact/redactor.h"

namespace tracecraft::detail {

/// A path: `a.b`, `messages[*].content`, `[*].text`, `choices[0].message.content`.
struct json_path {
  struct step {
    bool index = false;  ///< an array step
    bool any = false;    ///< [*]
    std::size_t n = 0;   ///< [n]
    std::string key;     ///< an object key
  };
  std::vector<step> steps;
};

/// Parses `a.b[*].c`; false on a malformed path.
bool parse_json_path(std::string_view text, json_path& out);

/// When `in` is a JSON object or array, writes its redacted form to `out` and returns true;
/// false when it is not JSON (the caller scans it as text). `changed` tells whether anything was
/// replaced. A scanner failure replaces the value with [REDACTION_FAILED].
bool redact_json(redactor& r, std::string_view in, const std::vector<json_path>& paths, std::string& out, bool& changed);

}  // namespace tracecraft::detail
