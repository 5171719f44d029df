// SPDX-License-Identifier: Apache-2.0
// redact/json_payload.cpp — JSON-aware payload redaction (see json_payload.h).
#include "redact/json_payload.h"

#include <cstdio>

#include <simdjson.h>

namespace tracecraft::detail {

bool parse_json_path(std::string_view t, json_path& out) {
  out.steps.clear();
  std::size_t i = 0;
  while (i < t.size()) {
    json_path::step s;
    if (t[i] == '[') {
      const std::size_t close = t.find(']', i);
      if (close == std::string_view::npos) return false;
      const std::string_view inner = t.substr(i + 1, close - i - 1);
      s.index = true;
      if (inner == "*") {
        s.any = true;
      } else {
        if (inner.empty()) return false;
        for (char c : inner)
          if (c < '0' || c > '9') return false;
        s.n = std::stoul(std::string(inner));
      }
      i = close + 1;
    } else {
      if (t[i] == '.') {
        if (out.steps.empty()) return false;
        ++i;
      }
      const std::size_t end = t.find_first_of(".[", i);
      s.key = std::string(t.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i));
      if (s.key.empty()) return false;
      i = end == std::string_view::npos ? t.size() : end;
    }
    out.steps.push_back(std::move(s));
  }
  return !out.steps.empty();
}

namespace {

// In JSON, a secret's key is a key, not text before it: the key=value patterns become key rules.
// A string under one of these keys (any case) is replaced whole, under that pattern's name, when
// that default pattern is on.
struct key_rule {
  const char* key;
  const char* pattern;
};
constexpr key_rule k_key_rules[] = {
    {"api_key", "api_key"},         {"apikey", "api_key"},          {"api-key", "api_key"},
    {"x-api-key", "api_key"},       {"password", "password"},       {"passwd", "password"},
    {"pwd", "password"},            {"secret", "password"},         {"client_secret", "password"},
    {"access_token", "password"},   {"refresh_token", "password"},  {"auth_token", "password"},
    {"token", "password"},          {"aws_secret_access_key", "aws_secret_key"},
    {"authorization", "bearer_token"},
};

bool same_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// A step of the path being walked (keys point into the parsed document).
struct walk_step {
  bool index = false;
  std::size_t n = 0;
  std::string_view key;
};

// The walker's buffers, kept by the one thread that redacts (the drain): reused, so a payload
// costs no allocation once they have grown.
struct walk_buffers {
  std::vector<walk_step> at;
  std::vector<std::string_view> scan;
  std::vector<const char*> whole;
  std::vector<std::string_view> outs;
  std::vector<redactor::result> results;
  std::string rep;
};

struct walker {
  redactor& r;
  const std::vector<json_path>& paths;
  walk_buffers& b;
  std::vector<walk_step>& at = b.at;              // the current path
  std::vector<std::string_view>& scan = b.scan;   // strings to scan, in document order
  std::vector<const char*>& whole = b.whole;      // per string value in document order: the label it is replaced under, or null
  std::vector<std::string_view>& outs = b.outs;   // the scan's results (in the redactor's buffer)
  std::vector<redactor::result>& results = b.results;
  std::size_t next = 0;                  // second pass: the next string value
  std::size_t next_scan = 0;
  bool changed = false;

  // The pattern name a key rule gives the current string, or null.
  const char* key_rule_label() const {
    if (at.empty() || at.back().index) return nullptr;
    for (const key_rule& k : k_key_rules) {
      if (!same_nocase(at.back().key, k.key)) continue;
      for (const std::string& n : r.names())
        if (n == k.pattern) return k.pattern;
    }
    return nullptr;
  }

  bool on_path() const {
    for (const json_path& p : paths) {
      if (p.steps.size() != at.size()) continue;
      bool ok = true;
      for (std::size_t i = 0; ok && i < at.size(); ++i) {
        const auto& want = p.steps[i];
        const auto& have = at[i];
        ok = want.index == have.index && (want.index ? (want.any || want.n == have.n) : want.key == have.key);
      }
      if (ok) return true;
    }
    return false;
  }

  void collect(simdjson::dom::element e) {
    using namespace simdjson;
    switch (e.type()) {
      case dom::element_type::OBJECT:
        for (auto [k, v] : dom::object(e)) {
          walk_step s;
          s.key = k;
          at.push_back(s);
          collect(v);
          at.pop_back();
        }
        break;
      case dom::element_type::ARRAY: {
        std::size_t i = 0;
        for (dom::element v : dom::array(e)) {
          walk_step s;
          s.index = true;
          s.n = i++;
          at.push_back(s);
          collect(v);
          at.pop_back();
        }
        break;
      }
      case dom::element_type::STRING: {
        const char* label = on_path() ? "path" : key_rule_label();
        whole.push_back(label);
        if (label == nullptr) scan.push_back(std::string_view(e));
        break;
      }
      default: break;
    }
  }

  static void put_string(std::string& out, std::string_view s) {
    out += '"';
    for (unsigned char c : s) {
      if (c == '"') out += "\\\"";
      else if (c == '\\') out += "\\\\";
      else if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
    out += '"';
  }

  void write(simdjson::dom::element e, std::string& out) {
    using namespace simdjson;
    switch (e.type()) {
      case dom::element_type::OBJECT: {
        out += '{';
        bool first = true;
        for (auto [k, v] : dom::object(e)) {
          if (!first) out += ',';
          first = false;
          put_string(out, k);
          out += ':';
          write(v, out);
        }
        out += '}';
        break;
      }
      case dom::element_type::ARRAY: {
        out += '[';
        bool first = true;
        for (dom::element v : dom::array(e)) {
          if (!first) out += ',';
          first = false;
          write(v, out);
        }
        out += ']';
        break;
      }
      case dom::element_type::STRING: {
        const std::string_view s(e);
        if (const char* label = whole[next++]) {
          r.replace_whole(s, label, b.rep);
          put_string(out, b.rep);
          changed = true;
          break;
        }
        const std::size_t k = next_scan++;
        switch (results[k]) {
          case redactor::result::clean: put_string(out, s); break;
          case redactor::result::redacted:
            put_string(out, outs[k]);
            changed = true;
            break;
          case redactor::result::failed:
            put_string(out, "[REDACTION_FAILED]");
            changed = true;
            break;
        }
        break;
      }
      default: out += simdjson::minify(e); break;  // numbers, booleans, null
    }
  }
};

}  // namespace

bool redact_json(redactor& r, std::string_view in, const std::vector<json_path>& paths, std::string& out, bool& changed) {
  changed = false;
  std::size_t i = 0;
  while (i < in.size() && (in[i] == ' ' || in[i] == '\t' || in[i] == '\n' || in[i] == '\r')) ++i;
  if (i == in.size() || (in[i] != '{' && in[i] != '[')) return false;
  static thread_local simdjson::dom::parser parser;  // the drain thread's
  simdjson::dom::element doc;
  if (parser.parse(in.data(), in.size(), true).get(doc) != simdjson::SUCCESS) return false;
  static thread_local walk_buffers buffers;
  buffers.at.clear();
  buffers.scan.clear();
  buffers.whole.clear();
  walker w{r, paths, buffers};
  w.collect(doc);
  w.outs.resize(w.scan.size());
  w.results.resize(w.scan.size());
  if (!w.scan.empty()) r.scan_many(w.scan.data(), w.scan.size(), w.outs.data(), w.results.data());
  out.clear();
  w.write(doc, out);
  changed = w.changed;
  return true;
}

}  // namespace tracecraft::detail
