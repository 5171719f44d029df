// SPDX-License-Identifier: Apache-2.0
// sampler/rules.cpp — sampling rules: parsing (compact and JSON) and matching (see rules.h).
#include "sampler/rules.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

#include <simdjson.h>

namespace tracecraft::detail {

namespace {

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

template <class F>
void split(std::string_view s, char sep, F&& f) {
  for (;;) {
    const std::size_t at = s.find(sep);
    f(s.substr(0, at));
    if (at == std::string_view::npos) return;
    s.remove_prefix(at + 1);
  }
}

bool parse_rate(std::string_view v, double& out) {
  const std::string t(trim(v));
  char* end = nullptr;
  errno = 0;
  const double x = std::strtod(t.c_str(), &end);
  if (t.empty() || errno != 0 || end == nullptr || *end != '\0' || !(x >= 0.0 && x <= 1.0)) return false;
  out = x;
  return true;
}

bool parse_ms(std::string_view v, std::uint32_t& out) {
  const std::string t(trim(v));
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(t.c_str(), &end, 10);
  if (t.empty() || errno != 0 || end == nullptr || *end != '\0' || x < 0 || x > 2147483647) return false;
  out = static_cast<std::uint32_t>(x);
  return true;
}

bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  return true;
}

bool has_condition(const sampling_rule& r) {
  return !r.match_names.empty() || !r.match_attributes.empty() || r.match_error || r.min_duration_ms > 0;
}

}  // namespace

void parse_rules_compact(std::string_view text, std::vector<sampling_rule>& out, std::vector<std::string>& problems) {
  split(text, ';', [&](std::string_view raw) {
    const std::string_view item = trim(raw);
    if (item.empty()) return;
    auto bad = [&](const std::string& why) { problems.push_back("rule '" + std::string(item) + "' " + why + "; skipped"); };
    const std::size_t colon = item.find(':');
    if (colon == std::string_view::npos) return bad("has no 'name:' before its settings");
    sampling_rule r;
    r.name = std::string(trim(item.substr(0, colon)));
    if (!valid_name(r.name)) return bad("has a name that is not 1-64 letters, digits, '_', '-' or '.'");
    bool rate_seen = false;
    std::string error;
    split(item.substr(colon + 1), ',', [&](std::string_view kv_raw) {
      if (!error.empty()) return;
      const std::string_view kv = trim(kv_raw);
      if (kv.empty()) return;
      const std::size_t eq = kv.find('=');
      if (eq == std::string_view::npos) {
        error = "has '" + std::string(kv) + "' without '='";
        return;
      }
      const std::string_view k = trim(kv.substr(0, eq)), v = trim(kv.substr(eq + 1));
      if (k == "rate") {
        if (!parse_rate(v, r.rate)) error = "has rate '" + std::string(v) + "', not a number in [0, 1]";
        rate_seen = true;
      } else if (k == "name") {
        split(v, '|', [&](std::string_view n) {
          if (!trim(n).empty()) r.match_names.emplace_back(trim(n));
        });
      } else if (k == "attr" || k == "tag") {
        split(v, '|', [&](std::string_view a) {
          a = trim(a);
          if (a.empty()) return;
          sampling_rule::attribute_match m;
          const std::size_t c = a.find(':');
          m.key = std::string(a.substr(0, c));
          if (c != std::string_view::npos) {
            m.any_value = false;
            m.value = std::string(a.substr(c + 1));
          }
          r.match_attributes.push_back(std::move(m));
        });
      } else if (k == "error") {
        if (v == "true") r.match_error = true;
        else if (v != "false") error = "has error '" + std::string(v) + "', not true or false";
      } else if (k == "min_duration_ms") {
        if (!parse_ms(v, r.min_duration_ms)) error = "has min_duration_ms '" + std::string(v) + "', not a whole number of ms";
      } else {
        error = "has an unknown setting '" + std::string(k) + "' (known: rate, name, attr, tag, error, min_duration_ms)";
      }
    });
    if (!error.empty()) return bad(error);
    if (!rate_seen) return bad("has no rate");
    if (!has_condition(r)) return bad("has no condition (name, attr, error or min_duration_ms)");
    out.push_back(std::move(r));
  });
}

void parse_rules_json(std::string_view json, std::vector<sampling_rule>& out, std::vector<std::string>& problems) {
  using namespace simdjson;
  dom::parser parser;
  dom::element doc;
  const padded_string padded(json.data(), json.size());
  if (parser.parse(padded).get(doc) != SUCCESS) {
    problems.push_back("is not valid JSON; no rules from it");
    return;
  }
  dom::array rules;
  if (doc.is_object()) {
    if (doc["rules"].get(rules) != SUCCESS) {
      problems.push_back("has no \"rules\" array; no rules from it");
      return;
    }
  } else if (doc.get(rules) != SUCCESS) {
    problems.push_back("is neither {\"rules\": [...]} nor an array of rules; no rules from it");
    return;
  }
  std::size_t index = 0;
  for (dom::element e : rules) {
    ++index;
    const std::string text = simdjson::minify(e);
    auto bad = [&](const std::string& why) {
      problems.push_back("rule " + std::to_string(index) + " " + text.substr(0, 200) + " " + why + "; skipped");
    };
    dom::object o;
    if (e.get(o) != SUCCESS) {
      bad("is not an object");
      continue;
    }
    sampling_rule r;
    std::string error;
    bool rate_seen = false;
    for (auto [k, v] : o) {
      if (!error.empty()) break;
      if (k == "name") {
        std::string_view s;
        if (v.get(s) != SUCCESS) error = "has a name that is not a string";
        r.name = std::string(s);
      } else if (k == "rate") {
        double d = -1;
        if (v.get(d) != SUCCESS) {
          std::int64_t i = -1;
          if (v.get(i) == SUCCESS) d = static_cast<double>(i);
        }
        if (!(d >= 0.0 && d <= 1.0)) error = "has a rate that is not a number in [0, 1]";
        r.rate = d;
        rate_seen = true;
      } else if (k == "match_names") {
        dom::array a;
        if (v.get(a) != SUCCESS) error = "has match_names that is not an array of strings";
        for (dom::element n : a) {
          std::string_view s;
          if (n.get(s) != SUCCESS) error = "has match_names that is not an array of strings";
          else r.match_names.emplace_back(s);
        }
      } else if (k == "match_tags") {
        dom::array a;
        if (v.get(a) != SUCCESS) error = "has match_tags that is not an array of strings";
        for (dom::element n : a) {
          std::string_view s;
          if (n.get(s) != SUCCESS) error = "has match_tags that is not an array of strings";
          else r.match_attributes.push_back({std::string(s), true, {}});
        }
      } else if (k == "match_attributes") {
        dom::object a;
        if (v.get(a) != SUCCESS) error = "has match_attributes that is not an object";
        for (auto [ak, av] : a) {
          sampling_rule::attribute_match m;
          m.key = std::string(ak);
          if (!av.is_null()) {
            m.any_value = false;
            std::string_view s;
            if (av.get(s) == SUCCESS) m.value = std::string(s);
            else m.value = simdjson::minify(av);  // numbers and booleans as written
          }
          r.match_attributes.push_back(std::move(m));
        }
      } else if (k == "match_error") {
        bool b = false;
        if (v.get(b) != SUCCESS) error = "has match_error that is not true or false";
        r.match_error = b;
      } else if (k == "min_duration_ms") {
        double d = -1;
        std::int64_t i = -1;
        if (v.get(i) == SUCCESS) d = static_cast<double>(i);
        else if (v.get(d) != SUCCESS) d = -1;
        if (!(d >= 0 && d <= 2147483647.0)) error = "has min_duration_ms that is not a number of ms";
        r.min_duration_ms = static_cast<std::uint32_t>(d);
      } else {
        error = "has an unknown field '" + std::string(k) + "'";
      }
    }
    if (error.empty() && !valid_name(r.name)) error = "has no name of 1-64 letters, digits, '_', '-' or '.'";
    if (error.empty() && !rate_seen) error = "has no rate";
    if (error.empty() && !has_condition(r)) error = "has no condition";
    if (!error.empty()) {
      bad(error);
      continue;
    }
    out.push_back(std::move(r));
  }
}

bool glob_match(std::string_view p, std::string_view t) noexcept {
  std::size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi, ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool rule_matches(const sampling_rule& r, const rule_subject& s) {
  if (r.match_error && !s.error) return false;
  if (r.min_duration_ms > 0 && (!s.root_seen || s.root_duration_ns < std::uint64_t{r.min_duration_ms} * 1000000u)) return false;
  if (!r.match_names.empty()) {
    if (!s.root_seen) return false;
    bool any = false;
    for (const std::string& n : r.match_names) any = any || glob_match(n, s.root_name);
    if (!any) return false;
  }
  if (!r.match_attributes.empty()) {
    if (!s.root_seen || s.attribute == nullptr) return false;
    bool any = false;
    std::string text;
    for (const auto& m : r.match_attributes) {
      if (s.attribute(s.ctx, m.key, text) && (m.any_value || text == m.value)) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  return true;
}

}  // namespace tracecraft::detail
