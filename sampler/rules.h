// SPDX-License-Identifier: Apache-2.0
// sampler/rules.h — sampling rules: the compact syntax of TRACECRAFT_SAMPLING_RULES, the JSON of
// TRACECRAFT_SAMPLING_RULES_FILE (simdjson), and matching a rule against a decided trace.
//
// Compact syntax: rules separated by ';', each `name:key=value,key=value`; list values are
// separated by '|'. Keys: rate (required, [0, 1]), name (root span names, exact or glob with * and
// ?), attr / tag (attribute key, or key:value), error (true), min_duration_ms. Example:
//   payments:rate=1,name=process_payment|refund_*;health:rate=0.01,attr=http.route:/healthz
// JSON: {"rules": [{"name": "...", "rate": 1.0, "match_names": [...], "match_attributes":
// {"key": "value" | null}, "match_tags": ["key", ...], "match_error": true, "min_duration_ms": 10}]}
// (a bare array of rules is accepted too). A malformed rule is reported with its text and
// skipped; the others apply.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tracecraft/config.h"

namespace tracecraft::detail {

/// Appends the valid rules of `text`; each problem is one message quoting the offending text.
void parse_rules_compact(std::string_view text, std::vector<sampling_rule>& out, std::vector<std::string>& problems);
void parse_rules_json(std::string_view json, std::vector<sampling_rule>& out, std::vector<std::string>& problems);

/// `*` matches any run, `?` one character; everything else itself.
bool glob_match(std::string_view pattern, std::string_view text) noexcept;

/// What a rule sees of a trace.
struct rule_subject {
  std::string_view root_name;
  bool root_seen = false;
  bool error = false;
  std::uint64_t root_duration_ns = 0;
  /// Looks up a root attribute: true when present; `text` is its value as text.
  bool (*attribute)(const void* ctx, std::string_view key, std::string& text) = nullptr;
  const void* ctx = nullptr;
};

bool rule_matches(const sampling_rule& r, const rule_subject& s);

}  // namespace tracecraft::detail
