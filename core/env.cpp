// SPDX-License-Identifier: Apache-2.0
// core/env.cpp — the ONLY place that reads the environment. One table drives parsing, the
// warnings, tracecraft-envcheck and the README's configuration table.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <optional>
#include <string>

#include <simdjson.h>

#include "core/diag.h"
#include "export/otlp_policy.h"
#include "redact/json_payload.h"
#include "redact/redactor.h"
#include "sampler/rules.h"
#include "tracecraft/trace.h"

extern char** environ;

namespace tracecraft {
namespace {

struct sink {
  std::vector<config_problem>* out;
  std::map<std::string, bool>* invalid;
  void add(const char* var, const std::string& value, std::string msg) {
    (*invalid)[var] = true;
    if (out) out->push_back({var, value, std::move(msg)});
  }
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string trim(const std::string& s) {
  std::size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

// Boolean (standards §3): only case-insensitive "true" is true; warn unless true/false.
void parse_bool(const char* var, const std::string& v, bool& out, bool def, sink& s) {
  const std::string l = lower(trim(v));
  if (l == "true") {
    out = true;
  } else if (l == "false") {
    out = false;
  } else {
    out = false;
    s.add(var, v, std::string("is not true or false; treated as false (default ") + (def ? "true" : "false") + ")");
  }
}

void parse_uint(const char* var, const std::string& v, std::uint32_t& out, std::uint32_t lo, std::uint32_t hi,
                std::uint32_t def, sink& s) {
  const std::string t = trim(v);
  char* end = nullptr;
  errno = 0;
  const long long x = std::strtoll(t.c_str(), &end, 10);
  if (t.empty() || errno != 0 || end == nullptr || *end != '\0' || x < lo || x > hi) {
    s.add(var, v, "is not a whole number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                      "]; using the default " + std::to_string(def));
    out = def;
    return;
  }
  out = static_cast<std::uint32_t>(x);
}

// A number in [lo, hi]; otherwise a warning and the default.
void parse_double(const char* var, const std::string& v, double& out, double lo, double hi, double def,
                  const char* range, sink& s) {
  const std::string t = trim(v);
  char* end = nullptr;
  errno = 0;
  const double x = std::strtod(t.c_str(), &end);
  if (t.empty() || errno != 0 || end == nullptr || *end != '\0' || !(x >= lo && x <= hi)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", def);
    s.add(var, v, std::string("is not a number ") + range + "; using the default " + buf);
    out = def;
    return;
  }
  out = x;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3986 percent-decoding; false on a malformed escape.
bool percent_decode(const std::string& in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int h = hexval(in[i + 1]), l = hexval(in[i + 2]);
    if (h < 0 || l < 0) return false;
    out.push_back(static_cast<char>(h * 16 + l));
    i += 2;
  }
  return true;
}

// `k1=v1,k2=v2` with percent-encoded keys and values (OTEL_RESOURCE_ATTRIBUTES and the OTLP
// headers). Returns the first malformed member, or nothing when all are well formed.
std::optional<std::string> parse_kv_list(const std::string& v, std::vector<std::pair<std::string, std::string>>& out) {
  std::size_t pos = 0;
  while (pos <= v.size()) {
    std::size_t comma = v.find(',', pos);
    if (comma == std::string::npos) comma = v.size();
    const std::string member = trim(v.substr(pos, comma - pos));
    pos = comma + 1;
    if (member.empty()) {
      if (comma == v.size()) break;
      continue;
    }
    const std::size_t eq = member.find('=');
    std::string k, val;
    if (eq == std::string::npos || eq == 0 || !percent_decode(trim(member.substr(0, eq)), k) ||
        !percent_decode(trim(member.substr(eq + 1)), val) || k.empty())
      return member;
    out.emplace_back(std::move(k), std::move(val));
    if (comma == v.size()) break;
  }
  return std::nullopt;
}

// A comma list; members trimmed and percent-decoded (a member with a malformed escape is kept as
// written: regexes and values may contain a bare '%').
std::vector<std::string> split_list(const std::string& v) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= v.size()) {
    std::size_t comma = v.find(',', pos);
    if (comma == std::string::npos) comma = v.size();
    const std::string member = trim(v.substr(pos, comma - pos));
    pos = comma + 1;
    std::string decoded;
    if (!member.empty()) out.push_back(percent_decode(member, decoded) ? decoded : member);
    if (comma == v.size()) break;
  }
  return out;
}

// OTEL_RESOURCE_ATTRIBUTES: any error discards the whole value (standards §3).
void parse_resource(const char* var, const std::string& v, config& c, sink& s) {
  std::vector<std::pair<std::string, std::string>> out;
  if (auto bad = parse_kv_list(v, out)) {
    s.add(var, v, "has a malformed member '" + *bad + "'; the whole value is ignored");
    return;
  }
  c.resource_attributes = std::move(out);
}

constexpr const char* k_hidden = "(value not shown)";

// OTEL_EXPORTER_OTLP_[TRACES_]HEADERS: like the resource list; values are credentials, so no
// warning ever shows them. Names must be HTTP tokens, values free of control characters.
void parse_headers(const char* var, const std::string& v, config& c, sink& s) {
  std::vector<std::pair<std::string, std::string>> out;
  if (parse_kv_list(v, out)) {
    s.add(var, k_hidden, "is not a list of key=value pairs (percent-encoded); no headers are sent from it");
    return;
  }
  for (const auto& [k, val] : out) {
    const bool name_ok = std::all_of(k.begin(), k.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || std::strchr("!#$%&'*+-.^_`|~", ch) != nullptr;
    });
    const bool value_ok = std::none_of(val.begin(), val.end(), [](char ch) {
      return static_cast<unsigned char>(ch) < 0x20 && ch != '\t';
    });
    if (!name_ok || !value_ok) {
      s.add(var, k_hidden, "has a header name that is not an HTTP token or a value with control characters; no headers are sent from it");
      return;
    }
  }
  c.otlp_headers = std::move(out);
}

std::string show_headers(const config& c) {
  std::string r;
  for (const auto& kv : c.otlp_headers) r += (r.empty() ? "" : ",") + kv.first + "=" + k_hidden;
  return r;
}

void parse_endpoint(const char* var, const std::string& v, std::string& out, sink& s) {
  const std::string t = trim(v);
  const std::string l = lower(t);
  if (l.rfind("http://", 0) != 0 && l.rfind("https://", 0) != 0) {
    s.add(var, v, "is not an http:// or https:// URL; ignored (default http://localhost:4318)");
    return;
  }
  out = t;
}

void parse_protocol(const char* var, const std::string& v, config& c, sink& s) {
  const std::string l = lower(trim(v));
  if (l == "http/protobuf") {
    c.protocol = otlp_protocol::http_protobuf;
  } else if (l == "http/json") {
    c.protocol = otlp_protocol::http_json;
  } else if (l == "grpc") {
    c.protocol = otlp_protocol::http_protobuf;
    s.add(var, v, "asks for grpc, which TraceCraft does not speak; using http/protobuf (point the endpoint at the "
                  "collector's OTLP/HTTP port, usually 4318)");
  } else {
    s.add(var, v, "is not one of http/protobuf, http/json, grpc; using the default http/protobuf");
  }
}

void parse_compression(const char* var, const std::string& v, config& c, sink& s) {
  const std::string l = lower(trim(v));
  if (l == "gzip") c.otlp_gzip = true;
  else if (l == "none") c.otlp_gzip = false;
  else s.add(var, v, "is not gzip or none; using the default none");
}


void parse_exporters(const char* var, const std::string& v, config& c, sink& s) {
  std::vector<exporter_kind> out;
  std::size_t pos = 0;
  while (pos <= v.size()) {
    std::size_t comma = v.find(',', pos);
    if (comma == std::string::npos) comma = v.size();
    const std::string name = lower(trim(v.substr(pos, comma - pos)));
    pos = comma + 1;
    exporter_kind k;
    bool known = true;
    if (name == "jsonl") {
      k = exporter_kind::jsonl;
    } else if (name == "console") {
      k = exporter_kind::console;
    } else if (name == "none") {
      k = exporter_kind::none;
    } else if (name == "otlp") {
      k = exporter_kind::otlp;
    } else {
      if (!name.empty()) s.add(var, v, "names an unknown exporter '" + name + "'; it is ignored (known: otlp, jsonl, console, none)");
      known = false;
    }
    if (known && std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
    if (comma == v.size()) break;
  }
  if (std::find(out.begin(), out.end(), exporter_kind::none) != out.end()) out.clear();  // none wins
  else if (out.empty()) out.push_back(exporter_kind::otlp);
  c.exporters = out;
}

std::string show_exporters(const config& c) {
  if (c.exporters.empty()) return "none";
  std::string r;
  for (exporter_kind k : c.exporters) {
    if (!r.empty()) r += ",";
    r += k == exporter_kind::jsonl ? "jsonl" : k == exporter_kind::console ? "console" : k == exporter_kind::otlp ? "otlp" : "none";
  }
  return r;
}

std::string show_resource(const config& c) {
  std::string r;
  for (const auto& [k, v] : c.resource_attributes) r += (r.empty() ? "" : ",") + k + "=" + v;
  return r;
}

std::string show_double(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", d);
  return buf;
}

const char* sampler_name(sampler_kind k) {
  switch (k) {
    case sampler_kind::always_on: return "always_on";
    case sampler_kind::always_off: return "always_off";
    case sampler_kind::traceidratio: return "traceidratio";
    case sampler_kind::parentbased_always_on: return "parentbased_always_on";
    case sampler_kind::parentbased_always_off: return "parentbased_always_off";
    case sampler_kind::parentbased_traceidratio: return "parentbased_traceidratio";
  }
  return "?";
}
bool is_ratio(sampler_kind k) { return k == sampler_kind::traceidratio || k == sampler_kind::parentbased_traceidratio; }
std::string show_rate(const config& c) { return is_ratio(c.sampler) ? show_double(c.sampling_rate) : std::string("(unused)"); }

// OTEL_TRACES_SAMPLER, its _ARG (read only when the sampler is set, standards §3) and the short
// form TRACECRAFT_SAMPLING_RATE. An invalid value is reported once and acts as unset.
void resolve_sampler(const std::map<std::string, std::string>& env, config& c, sink& s) {
  auto get = [&](const char* n) -> const std::string* {
    auto it = env.find(n);
    return it == env.end() || it->second.empty() ? nullptr : &it->second;
  };
  auto rate_of = [&](const char* n, const std::string* v) -> std::optional<double> {
    if (v == nullptr) return std::nullopt;
    std::vector<config_problem> tmp;
    std::map<std::string, bool> inv;
    sink local{&tmp, &inv};
    double x = 1.0;
    parse_double(n, *v, x, 0.0, 1.0, 1.0, "in [0, 1]", local);
    if (!tmp.empty()) {
      s.add(n, *v, "is not a probability in [0, 1]; treated as unset (default 1)");
      return std::nullopt;
    }
    return x;
  };
  const std::string* sampler = get("OTEL_TRACES_SAMPLER");
  const std::string* arg = get("OTEL_TRACES_SAMPLER_ARG");
  const std::string* rate = get("TRACECRAFT_SAMPLING_RATE");
  bool sampler_set = false;
  if (sampler != nullptr) {
    const std::string l = lower(trim(*sampler));
    const sampler_kind all[] = {sampler_kind::always_on, sampler_kind::always_off, sampler_kind::traceidratio,
                                sampler_kind::parentbased_always_on, sampler_kind::parentbased_always_off,
                                sampler_kind::parentbased_traceidratio};
    for (sampler_kind k : all)
      if (l == sampler_name(k)) c.sampler = k, sampler_set = true;
    if (!sampler_set)
      s.add("OTEL_TRACES_SAMPLER", *sampler,
            l == "jaeger_remote" || l == "parentbased_jaeger_remote" || l == "xray"
                ? "names a sampler TraceCraft does not implement; using the default parentbased_always_on"
                : "is not a known sampler; using the default parentbased_always_on");
  }
  if (sampler_set) {
    if (is_ratio(c.sampler)) {
      const auto a = rate_of("OTEL_TRACES_SAMPLER_ARG", arg);
      const auto r = rate_of("TRACECRAFT_SAMPLING_RATE", rate);
      c.sampling_rate = a ? *a : r ? *r : 1.0;
      if (a && r && *a != *r)
        s.add("TRACECRAFT_SAMPLING_RATE", *rate, "differs from OTEL_TRACES_SAMPLER_ARG, which wins; ignored");
    } else {
      if (arg != nullptr)
        s.add("OTEL_TRACES_SAMPLER_ARG", *arg, std::string("means nothing to OTEL_TRACES_SAMPLER=") + sampler_name(c.sampler) + "; ignored");
      if (rate != nullptr)
        s.add("TRACECRAFT_SAMPLING_RATE", *rate, std::string("is ignored: OTEL_TRACES_SAMPLER=") + sampler_name(c.sampler) + " is not a ratio sampler");
    }
    return;
  }
  if (arg != nullptr) s.add("OTEL_TRACES_SAMPLER_ARG", *arg, "is read only when OTEL_TRACES_SAMPLER is set; ignored");
  if (const auto r = rate_of("TRACECRAFT_SAMPLING_RATE", rate)) {
    c.sampler = sampler_kind::parentbased_traceidratio;
    c.sampling_rate = *r;
  }
}

// The text of a *_RULES_FILE variable's file; nothing (and one problem) when it cannot be read.
std::optional<std::string> read_rules_file(const char* var, const std::string& path, sink& s) {
  std::ifstream in(trim(path), std::ios::binary);
  if (!in) {
    s.add(var, path, "cannot be read; no rules from it");
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// TRACECRAFT_REDACT_RULES_FILE: every section optional; a malformed entry is reported and skipped.
void parse_redact_file(const std::string& json, config& c, std::vector<std::string>& problems) {
  using namespace simdjson;
  dom::parser parser;
  dom::element doc;
  if (parser.parse(json).get(doc) != SUCCESS || !doc.is_object()) {
    problems.push_back("is not a JSON object; no rules from it");
    return;
  }
  auto strings = [&](dom::element e, const char* what, auto&& add) {
    dom::array a;
    if (e.get(a) != SUCCESS) {
      problems.push_back(std::string("has ") + what + " that is not an array of strings; skipped");
      return;
    }
    for (dom::element x : a) {
      std::string_view sv;
      if (x.get(sv) != SUCCESS) problems.push_back(std::string("has a non-string entry ") + simdjson::minify(x) + " in " + what + "; skipped");
      else add(std::string(sv));
    }
  };
  for (auto [k, v] : dom::object(doc)) {
    if (k == "patterns") {
      dom::array a;
      if (v.get(a) != SUCCESS) {
        problems.push_back("has patterns that is not an array; skipped");
        continue;
      }
      for (dom::element p : a) {
        std::string_view name, regex;
        if (p["name"].get(name) != SUCCESS || p["regex"].get(regex) != SUCCESS || name.empty() || regex.empty())
          problems.push_back("has a pattern " + simdjson::minify(p) + " without a name and a regex; skipped");
        else
          c.redact_patterns.emplace_back(std::string(name), std::string(regex));
      }
    } else if (k == "allow") {
      dom::element values, pats;
      if (v["values"].get(values) == SUCCESS) strings(values, "allow.values", [&](std::string s) { c.redact_allow.push_back(std::move(s)); });
      if (v["patterns"].get(pats) == SUCCESS)
        strings(pats, "allow.patterns", [&](std::string s) { c.redact_allow_patterns.push_back(std::move(s)); });
    } else if (k == "fields") {
      strings(v, "fields", [&](std::string s) { c.redact_fields.push_back(std::move(s)); });
    } else if (k == "json_paths") {
      strings(v, "json_paths", [&](std::string s) {
        detail::json_path p;
        if (detail::parse_json_path(s, p)) c.redact_json_paths.push_back(std::move(s));
        else problems.push_back("has a JSON path '" + s + "' that is not a.b[*].c form; skipped");
      });
    } else if (k == "disable") {
      const auto known = detail::default_pattern_names();
      strings(v, "disable", [&](std::string s) {
        if (s == "all" || std::find(known.begin(), known.end(), s) != known.end()) c.redact_disabled_defaults.push_back(std::move(s));
        else problems.push_back("names an unknown default pattern '" + s + "' in disable; skipped");
      });
    } else {
      problems.push_back("has an unknown section '" + std::string(k) + "'; skipped");
    }
  }
}

std::string show_rules(const config& c) {
  std::string r;
  for (const auto& x : c.sampling_rules) r += (r.empty() ? "" : ";") + x.name + ":rate=" + show_double(x.rate);
  return r;
}

struct var_def {
  const char* name;
  const char* def;
  const char* meaning;
  void (*apply)(const char* name, const std::string& v, config& c, sink& s);
  std::string (*show)(const config& c);
};

#define TC_BOOL_VAR(NAME, FIELD, DEF, MEANING)                                                                \
  var_def {                                                                                                    \
    NAME, #DEF, MEANING, [](const char* n, const std::string& v, config& c, sink& s) { parse_bool(n, v, c.FIELD, DEF, s); }, \
        [](const config& c) { return std::string(c.FIELD ? "true" : "false"); }                               \
  }

#define TC_UINT_VAR(NAME, FIELD, LO, HI, DEF, MEANING)                                                        \
  var_def {                                                                                                    \
    NAME, #DEF, MEANING, [](const char* n, const std::string& v, config& c, sink& s) { parse_uint(n, v, c.FIELD, LO, HI, DEF, s); }, \
        [](const config& c) { return std::to_string(c.FIELD); }                                                \
  }

// The generic OTLP variable, then its TRACES_ form, which replaces it (standards §3).
#define TC_OTLP_PAIR(SUFFIX, DEF, MEANING, APPLY, SHOW) TC_OTLP_PAIR2(SUFFIX, DEF, MEANING, MEANING "; replaces the generic one", APPLY, SHOW)
#define TC_OTLP_PAIR2(SUFFIX, DEF, MEANING, TRACES_MEANING, APPLY, SHOW)                                       \
  var_def{"OTEL_EXPORTER_OTLP_" SUFFIX, DEF, MEANING,                                                         \
          [](const char* n, const std::string& v, config& c, sink& s) { constexpr bool traces = false; (void)traces; APPLY }, \
          [](const config& c) { constexpr bool traces = false; SHOW }},                                       \
      var_def {                                                                                                \
    "OTEL_EXPORTER_OTLP_TRACES_" SUFFIX, DEF, TRACES_MEANING,                                                 \
        [](const char* n, const std::string& v, config& c, sink& s) { constexpr bool traces = true; (void)traces; APPLY }, \
        [](const config& c) { constexpr bool traces = true; SHOW }                                            \
  }

#define TC_PROXY_VAR(NAME, FIELD, MEANING)                                                                    \
  var_def {                                                                                                    \
    NAME, "", MEANING, [](const char*, const std::string& v, config& c, sink&) { c.proxy->FIELD = trim(v); },   \
        [](const config& c) { return c.proxy ? detail::hide_credentials(c.proxy->FIELD) : std::string(); }                 \
  }

const var_def k_vars[] = {
    {"OTEL_SDK_DISABLED", "false", "true turns the engine into a no-op (one branch per span)",
     [](const char* n, const std::string& v, config& c, sink& s) { parse_bool(n, v, c.disabled, false, s); },
     [](const config& c) { return std::string(c.disabled ? "true" : "false"); }},
    {"OTEL_SERVICE_NAME", "unknown_service:<executable>", "service.name resource attribute",
     [](const char*, const std::string& v, config& c, sink&) { c.service_name = trim(v); },
     [](const config& c) { return c.service_name; }},
    {"OTEL_RESOURCE_ATTRIBUTES", "", "extra resource attributes k=v,k2=v2 (percent-encoded)",
     [](const char* n, const std::string& v, config& c, sink& s) { parse_resource(n, v, c, s); }, show_resource},
    {"OTEL_TRACES_EXPORTER", "otlp", "comma list of otlp, jsonl, console, none (e.g. otlp,jsonl for a local backup)",
     [](const char* n, const std::string& v, config& c, sink& s) { parse_exporters(n, v, c, s); }, show_exporters},
    {"TRACECRAFT_JSONL_PATH", "traces/tracecraft.jsonl", "JSONL output file (directories are created)",
     [](const char*, const std::string& v, config& c, sink&) { c.jsonl_path = v; },
     [](const config& c) { return c.jsonl_path; }},
    // The three sampling variables depend on each other: resolve_sampler() reads them after the table.
    {"OTEL_TRACES_SAMPLER", "parentbased_always_on",
     "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio",
     [](const char*, const std::string&, config&, sink&) {}, [](const config& c) { return std::string(sampler_name(c.sampler)); }},
    {"OTEL_TRACES_SAMPLER_ARG", "1", "the ratio samplers' probability in [0, 1] (read only with OTEL_TRACES_SAMPLER)",
     [](const char*, const std::string&, config&, sink&) {}, show_rate},
    {"TRACECRAFT_SAMPLING_RATE", "1", "short form: parentbased_traceidratio with this probability, decided at the root from the trace id",
     [](const char*, const std::string&, config&, sink&) {}, show_rate},
    TC_BOOL_VAR("TRACECRAFT_ALWAYS_KEEP_ERRORS", always_keep_errors, true, "a trace the rate drops is still kept when any of its spans failed (skeletons wait in the drain)"),
    TC_BOOL_VAR("TRACECRAFT_ALWAYS_KEEP_SLOW", always_keep_slow, false, "a trace the rate drops is still kept when its root took TRACECRAFT_SLOW_THRESHOLD_MS or more"),
    TC_UINT_VAR("TRACECRAFT_SLOW_THRESHOLD_MS", slow_threshold_ms, 0, 2147483647, 5000, "a root at least this long (ms) is slow"),
    TC_UINT_VAR("TRACECRAFT_PENDING_TRACES", pending_traces, 0, 10000000, 10000, "dropped traces held until their root ends (0: keep no tail); a full table evicts the oldest (tail_evicted)"),
    TC_UINT_VAR("TRACECRAFT_DECISION_WAIT_MS", decision_wait_ms, 0, 2147483647, 30000, "the longest a held trace waits for its root before it is decided"),
    {"TRACECRAFT_SAMPLING_RULES", "", "rules name:rate=R,name=glob|glob,attr=key[:value],error=true,min_duration_ms=N;... (first match wins, after errors and slow)",
     [](const char* n, const std::string& v, config& c, sink& s) {
       std::vector<std::string> problems;
       detail::parse_rules_compact(v, c.sampling_rules, problems);
       for (const auto& p : problems) s.add(n, v, p);
     },
     show_rules},
    {"TRACECRAFT_SAMPLING_RULES_FILE", "", "a JSON file of rules {\"rules\":[{\"name\",\"rate\",\"match_names\",\"match_attributes\",\"match_error\",\"min_duration_ms\"}]}, after the variable's",
     [](const char* n, const std::string& v, config& c, sink& s) {
       const auto text = read_rules_file(n, v, s);
       if (!text) return;
       std::vector<std::string> problems;
       detail::parse_rules_json(*text, c.sampling_rules, problems);
       for (const auto& p : problems) s.add(n, v, p);
     },
     [](const config&) { return std::string(); }},
    TC_BOOL_VAR("TRACECRAFT_REDACT", redact, true, "scan every exported string for PII and secrets (Hyperscan, on the drain thread)"),
    {"TRACECRAFT_REDACT_MODE", "mask", "mask ([REDACTED:<pattern>]), hash ([HASH:<keyed hash>]) or remove",
     [](const char* n, const std::string& v, config& c, sink& s) {
       const std::string l = lower(trim(v));
       if (l == "mask") c.redact_mode = redaction_mode::mask;
       else if (l == "hash") c.redact_mode = redaction_mode::hash;
       else if (l == "remove") c.redact_mode = redaction_mode::remove;
       else s.add(n, v, "is not mask, hash or remove; using the default mask");
     },
     [](const config& c) {
       return std::string(c.redact_mode == redaction_mode::hash ? "hash" : c.redact_mode == redaction_mode::remove ? "remove" : "mask");
     }},
    {"TRACECRAFT_REDACT_HASH_KEY", "", "key of the hash mode (unset: a random key per process, so hashes only correlate within it)",
     [](const char*, const std::string& v, config& c, sink&) { c.redact_hash_key = v; },
     [](const config& c) { return std::string(c.redact_hash_key.empty() ? "" : "(set, not shown)"); }},
    {"TRACECRAFT_REDACT_DEFAULTS", "all", "default patterns: all, none, or all but some: -ipv4,-phone (names in the README)",
     [](const char* n, const std::string& v, config& c, sink& s) {
       const auto known = detail::default_pattern_names();
       for (const std::string& m : split_list(v)) {
         if (m == "all") continue;
         if (m == "none") {
           c.redact_disabled_defaults.push_back("all");
           continue;
         }
         const std::string name = m[0] == '-' ? m.substr(1) : m;
         if (std::find(known.begin(), known.end(), name) == known.end())
           s.add(n, v, "names an unknown default pattern '" + name + "'; ignored");
         else if (m[0] == '-')
           c.redact_disabled_defaults.push_back(name);
       }
     },
     [](const config& c) {
       std::string r = "all";
       for (const auto& d : c.redact_disabled_defaults) r += d == "all" ? std::string(" (none)") : ",-" + d;
       return r;
     }},
    {"TRACECRAFT_REDACT_PATTERNS", "", "extra patterns name=regex,name2=regex2 (Hyperscan syntax, percent-encode commas)",
     [](const char* n, const std::string& v, config& c, sink& s) {
       for (const std::string& m : split_list(v)) {
         const std::size_t eq = m.find('=');
         if (eq == std::string::npos || eq == 0 || eq + 1 == m.size()) {
           s.add(n, v, "has a member '" + m + "' that is not name=regex; skipped");
           continue;
         }
         c.redact_patterns.emplace_back(trim(m.substr(0, eq)), m.substr(eq + 1));
       }
     },
     [](const config& c) {
       std::string r;
       for (const auto& [k, re] : c.redact_patterns) r += (r.empty() ? "" : ",") + k;
       return r;
     }},
    {"TRACECRAFT_REDACT_ALLOW", "", "values never redacted, comma separated (percent-encoded)",
     [](const char*, const std::string& v, config& c, sink&) { c.redact_allow = split_list(v); },
     [](const config& c) { return std::to_string(c.redact_allow.size()) + " value(s)"; }},
    {"TRACECRAFT_REDACT_FIELDS", "", "attribute keys (globs: *.api_key) whose values of any type are replaced without scanning",
     [](const char*, const std::string& v, config& c, sink&) { c.redact_fields = split_list(v); },
     [](const config& c) {
       std::string r;
       for (const auto& f : c.redact_fields) r += (r.empty() ? "" : ",") + f;
       return r;
     }},
    {"TRACECRAFT_REDACT_ALLOW_PATTERNS", "", "regexes (Hyperscan): a match one of them covers whole is never redacted, comma separated",
     [](const char*, const std::string& v, config& c, sink&) {
       for (auto& p : split_list(v)) c.redact_allow_patterns.push_back(std::move(p));
     },
     [](const config& c) { return std::to_string(c.redact_allow_patterns.size()) + " pattern(s)"; }},
    {"TRACECRAFT_REDACT_RULES_FILE", "", "a JSON file: {patterns:[{name,regex}], allow:{values,patterns}, fields, json_paths, disable}, added to the variables'",
     [](const char* n, const std::string& v, config& c, sink& s) {
       const auto text = read_rules_file(n, v, s);
       if (!text) return;
       std::vector<std::string> problems;
       parse_redact_file(*text, c, problems);
       for (const auto& p : problems) s.add(n, v, p);
     },
     [](const config&) { return std::string(); }},
    {"TRACECRAFT_REDACT_JSON_PATHS", "", "in JSON payloads (parsed; strings scanned, keys kept), paths whose values are replaced whole: messages[*].content",
     [](const char* n, const std::string& v, config& c, sink& s) {
       for (const std::string& p : split_list(v)) {
         detail::json_path parsed;
         if (detail::parse_json_path(p, parsed)) c.redact_json_paths.push_back(p);
         else s.add(n, v, "has a path '" + p + "' that is not a.b[*].c form; skipped");
       }
     },
     [](const config& c) {
       std::string r;
       for (const auto& p : c.redact_json_paths) r += (r.empty() ? "" : ",") + p;
       return r;
     }},
    TC_BOOL_VAR("TRACECRAFT_REDACT_ALLOW_UNREDACTED", redact_allow_unredacted, false, "export captured payloads even when redaction is unavailable (otherwise they are dropped)"),
    {"TRACECRAFT_PROCESSOR_ORDER", "safety", "safety: sampling rules see redacted values; efficiency: they see recorded ones (export is redacted either way)",
     [](const char* n, const std::string& v, config& c, sink& s) {
       const std::string l = lower(trim(v));
       if (l == "safety") c.order = processor_order::safety;
       else if (l == "efficiency") c.order = processor_order::efficiency;
       else s.add(n, v, "is not safety or efficiency; using the default safety");
     },
     [](const config& c) { return std::string(c.order == processor_order::efficiency ? "efficiency" : "safety"); }},
    TC_UINT_VAR("TRACECRAFT_RING_KB", ring_kb, 4, 1048576, 256, "a producer thread's first ring in KiB (rounded up to a power of two); a busy thread's grows to TRACECRAFT_RING_MAX_KB"),
    TC_UINT_VAR("TRACECRAFT_RING_MAX_KB", ring_max_kb, 4, 1048576, 4096, "a ring a drain pass finds over a quarter full (or dropping) is replaced by one 4x larger, up to this many KiB (at or below TRACECRAFT_RING_KB: rings never grow)"),
    TC_BOOL_VAR("TRACECRAFT_RING_STANDBY", ring_standby, true, "keep one buffer of TRACECRAFT_RING_MAX_KB mapped that a thread whose ring is full takes by itself when the drain has not come by (a stalled or starting drain); false: it drops until the drain grows its ring"),
    TC_UINT_VAR("TRACECRAFT_RING_SHRINK_AFTER_MS", ring_shrink_after_ms, 0, 3600000, 10000, "a grown ring filling at most 1/32 of itself per drain interval for this long, while half of it was written, is replaced by one 4x smaller, down to TRACECRAFT_RING_KB (0: rings never shrink)"),
    {"TRACECRAFT_DRAIN_CPU", "", "pin the drain thread to this CPU (unset: not pinned)",
     [](const char* n, const std::string& v, config& c, sink& s) {
       std::uint32_t cpu = 0;
       const long ncpu = sysconf(_SC_NPROCESSORS_CONF);
       const std::uint32_t hi = ncpu > 0 ? static_cast<std::uint32_t>(ncpu - 1) : 0;
       std::vector<config_problem> tmp;
       std::map<std::string, bool> inv;
       sink local{&tmp, &inv};
       parse_uint(n, v, cpu, 0, hi, 0, local);
       if (!tmp.empty()) {
         s.add(n, v, "is not a CPU number in [0, " + std::to_string(hi) + "]; the drain thread is not pinned (default)");
         c.drain_cpu = -1;
       } else {
         c.drain_cpu = static_cast<int>(cpu);
       }
     },
     [](const config& c) { return c.drain_cpu < 0 ? std::string("(not pinned)") : std::to_string(c.drain_cpu); }},
    TC_UINT_VAR("TRACECRAFT_DRAIN_INTERVAL_MS", drain_interval_ms, 1, 1000, 2, "shortest drain sleep between passes; longer while rings fill slowly (until the fastest would be an eighth full at its average rate, at most 50 ms); a ring past half full wakes it at once; after a second with no records, idle passes back off to 50 ms"),
    TC_BOOL_VAR("TRACECRAFT_CAPTURE_PAYLOADS", capture_payloads, false, "record step inputs/outputs (input.value, output.value)"),
    TC_UINT_VAR("TRACECRAFT_MAX_INPUT_LENGTH", max_input_length, 0, 16777216, 4096, "bytes of captured input kept (UTF-8 safe cut)"),
    TC_UINT_VAR("TRACECRAFT_MAX_OUTPUT_LENGTH", max_output_length, 0, 16777216, 4096, "bytes of captured output kept (UTF-8 safe cut)"),
    {"TRACECRAFT_LOG_LEVEL", "warn", "diagnostics to stderr: none, error, warn, info",
     [](const char* n, const std::string& v, config& c, sink& s) {
       const std::string l = lower(trim(v));
       if (l == "none") c.diagnostics = log_level::none;
       else if (l == "error") c.diagnostics = log_level::error;
       else if (l == "warn" || l == "warning") c.diagnostics = log_level::warn;
       else if (l == "info") c.diagnostics = log_level::info;
       else s.add(n, v, "is not one of none, error, warn, info; using the default warn");
     },
     [](const config& c) {
       const char* names[] = {"none", "error", "warn", "info"};
       return std::string(names[static_cast<int>(c.diagnostics)]);
     }},
    // Generic limits first: the span-specific variables below replace them (standards §3).
    TC_UINT_VAR("OTEL_ATTRIBUTE_COUNT_LIMIT", attribute_count_limit, 0, 65535, 128, "attributes per span (generic)"),
    TC_UINT_VAR("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", attribute_count_limit, 0, 65535, 128, "attributes per span; extra ones are counted as dropped"),
    TC_UINT_VAR("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", attribute_value_length_limit, 0, 16777216, 0, "characters per string value, 0 = no limit (generic)"),
    TC_UINT_VAR("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", attribute_value_length_limit, 0, 16777216, 0, "characters per string value, 0 = no limit"),
    TC_UINT_VAR("OTEL_SPAN_EVENT_COUNT_LIMIT", event_count_limit, 0, 65535, 128, "events per span"),
    TC_UINT_VAR("OTEL_SPAN_LINK_COUNT_LIMIT", link_count_limit, 0, 65535, 128, "links per span"),
    TC_UINT_VAR("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", event_attribute_count_limit, 0, 65535, 128, "attributes per event"),
    TC_UINT_VAR("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", link_attribute_count_limit, 0, 65535, 128, "attributes per link"),
    TC_UINT_VAR("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", max_export_batch_size, 1, 1000000, 512, "spans per exported batch (one request, one JSONL line)"),
    TC_UINT_VAR("OTEL_BSP_SCHEDULE_DELAY", schedule_delay_ms, 0, 3600000, 5000, "ms the oldest span of a batch may wait before the batch is sent"),
    TC_UINT_VAR("OTEL_BSP_MAX_QUEUE_SIZE", max_queue_size, 1, 100000000, 2048, "spans held between the drain and the network; beyond it spans are dropped (queue_full)"),
    TC_UINT_VAR("OTEL_BSP_EXPORT_TIMEOUT", export_timeout_ms, 0, 2147483647, 30000, "ms one batch may take, retries included (0: no limit)"),
    TC_OTLP_PAIR2("ENDPOINT", "", "collector base URL, /v1/traces is appended (unset: http://localhost:4318)",
                  "full URL spans are posted to, used verbatim; replaces the generic endpoint",
                 { parse_endpoint(n, v, traces ? c.otlp_traces_endpoint : c.otlp_endpoint, s); },
                 { return traces ? c.otlp_traces_endpoint : c.otlp_endpoint; }),
    TC_OTLP_PAIR("HEADERS", "", "extra request headers k=v,k2=v2 (percent-encoded; values never logged)",
                 { parse_headers(n, v, c, s); }, { (void)traces; return show_headers(c); }),
    TC_OTLP_PAIR("PROTOCOL", "http/protobuf", "http/protobuf or http/json (grpc falls back to http/protobuf)",
                 { parse_protocol(n, v, c, s); },
                 { (void)traces; return std::string(c.protocol == otlp_protocol::http_json ? "http/json" : "http/protobuf"); }),
    TC_OTLP_PAIR("COMPRESSION", "none", "gzip or none (gzip by libdeflate, on the export thread)",
                 { parse_compression(n, v, c, s); }, { (void)traces; return std::string(c.otlp_gzip ? "gzip" : "none"); }),
    TC_OTLP_PAIR("TIMEOUT", "10000", "ms per request (0: no limit)",
                 { parse_uint(n, v, c.otlp_timeout_ms, 0, 2147483647, 10000, s); },
                 { (void)traces; return std::to_string(c.otlp_timeout_ms); }),
    TC_OTLP_PAIR("CERTIFICATE", "", "CA bundle (PEM) to verify the collector",
                 { c.otlp_certificate = trim(v); (void)n; (void)s; }, { (void)traces; return c.otlp_certificate; }),
    TC_OTLP_PAIR("CLIENT_CERTIFICATE", "", "client certificate (PEM) for mTLS",
                 { c.otlp_client_certificate = trim(v); (void)n; (void)s; }, { (void)traces; return c.otlp_client_certificate; }),
    TC_OTLP_PAIR("CLIENT_KEY", "", "client private key (PEM) for mTLS",
                 { c.otlp_client_key = trim(v); (void)n; (void)s; }, { (void)traces; return c.otlp_client_key; }),
    TC_UINT_VAR("TRACECRAFT_EXPORT_MAX_RETRIES", export_max_retries, 0, 100, 5, "retries of a batch after 429/502/503/504, timeouts and connection failures"),
    TC_UINT_VAR("TRACECRAFT_EXPORT_BACKOFF_BASE_MS", export_backoff_base_ms, 1, 3600000, 1000, "first retry waits about this long (doubling, with jitter)"),
    TC_UINT_VAR("TRACECRAFT_EXPORT_BACKOFF_MAX_MS", export_backoff_max_ms, 1, 3600000, 5000, "cap of the retry wait (Retry-After from the collector wins)"),
    {"TRACECRAFT_EXPORT_RATE", "0", "spans/s the OTLP exporter sends at most; excess is dropped (rate_limited), 0 = no limit",
     [](const char* n, const std::string& v, config& c, sink& s) { parse_double(n, v, c.export_rate, 0.0, 1e12, 0.0, ">= 0 (0: no limit)", s); },
     [](const config& c) { return show_double(c.export_rate); }},
    TC_UINT_VAR("TRACECRAFT_EXPORT_BURST", export_burst, 0, 100000000, 0, "spans the rate limit lets through at once (0: one second's worth)"),
    TC_UINT_VAR("TRACECRAFT_EXPORT_BATCH_BYTES", export_batch_bytes, 0, 1073741824, 0, "a batch is sent once its encoded spans reach this many bytes, before it has OTEL_BSP_MAX_EXPORT_BATCH_SIZE spans (0: 7/8 of a core's L2 cache, at least 256 KiB, or a quarter of TRACECRAFT_EXPORT_QUEUE_BYTES if that is smaller)"),
    TC_UINT_VAR("TRACECRAFT_EXPORT_QUEUE_BYTES", export_queue_bytes, 0, 4294967295u, 67108864, "encoded bytes an OTLP exporter holds between the drain and the network, besides OTEL_BSP_MAX_QUEUE_SIZE spans; beyond it spans are dropped (queue_full) (0: no byte bound)"),
    TC_UINT_VAR("TRACECRAFT_EXPORT_MAX_REQUEST_BYTES", export_max_request_bytes, 1024, 1073741824, 67108864, "request size limit before compression; bigger batches are split"),
    // Proxies, as libcurl reads them: the capitalised form first, so the lowercase one wins.
    TC_PROXY_VAR("HTTPS_PROXY", https_proxy, "proxy for an https:// endpoint (CONNECT tunnel); https_proxy wins"),
    TC_PROXY_VAR("https_proxy", https_proxy, "proxy for an https:// endpoint (CONNECT tunnel)"),
    TC_PROXY_VAR("http_proxy", http_proxy, "proxy for an http:// endpoint (requests in absolute form); HTTP_PROXY is not read, as by libcurl"),
    TC_PROXY_VAR("ALL_PROXY", all_proxy, "proxy when the scheme's own is unset; all_proxy wins"),
    TC_PROXY_VAR("all_proxy", all_proxy, "proxy when the scheme's own is unset"),
    TC_PROXY_VAR("NO_PROXY", no_proxy, "hosts reached directly (names match as domain suffixes, addresses with /bits, * = all); no_proxy wins"),
    TC_PROXY_VAR("no_proxy", no_proxy, "hosts reached directly (names match as domain suffixes, addresses with /bits, * = all)"),
};

// Standard variables a later version reads: said once instead of silently ignored.
const char* const k_not_yet[] = {
    "OTEL_PROPAGATORS", "OTEL_CONFIG_FILE",
};

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The proxy variables libcurl reads (HTTP_PROXY in capitals is not one: libcurl ignores it, as a
// CGI program's request header could set it).
bool is_proxy_variable(const std::string& name) {
  static const char* const names[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"};
  return std::any_of(std::begin(names), std::end(names), [&](const char* n) { return name == n; });
}

std::map<std::string, std::string> collect(const char* const* envp) {
  std::map<std::string, std::string> env;
  for (const char* const* e = envp; e != nullptr && *e != nullptr; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (eq == nullptr) continue;
    std::string name(*e, static_cast<std::size_t>(eq - *e));
    if (name.rfind("OTEL_", 0) == 0 || name.rfind("TRACECRAFT_", 0) == 0 || is_proxy_variable(name)) env[name] = eq + 1;
  }
  return env;
}

config load(const char* const* envp, std::vector<config_problem>* problems, std::map<std::string, bool>& invalid) {
  config c;
  c.proxy.emplace();  // what the environment says, even when it says nothing
  sink s{problems, &invalid};
  const auto env = collect(envp);
  for (const var_def& d : k_vars) {
    auto it = env.find(d.name);
    if (it == env.end() || it->second.empty()) continue;  // empty == unset
    d.apply(d.name, it->second, c, s);
  }
  resolve_sampler(env, c, s);
  for (const auto& [name, v] : env) {
    if (v.empty()) continue;
    const bool known = std::any_of(std::begin(k_vars), std::end(k_vars), [&](const var_def& d) { return name == d.name; });
    if (known) continue;
    if (name.rfind("TRACECRAFT_", 0) == 0) {
      std::string best;
      std::size_t best_d = 4;
      for (const var_def& d : k_vars) {
        const std::size_t dist = edit_distance(name, d.name);
        if (dist < best_d) best_d = dist, best = d.name;
      }
      s.add(name.c_str(), v, best.empty() ? std::string("is not a TraceCraft variable (a typo?); ignored")
                                          : "is not a TraceCraft variable; did you mean " + best + "? ignored");
    } else if (name.rfind("OTEL_EXPORTER_OTLP_", 0) == 0) {
      // Other signals' variables are none of our business; values may be credentials.
      if (name.find("_METRICS_") == std::string::npos && name.find("_LOGS_") == std::string::npos &&
          name.find("_PROFILES_") == std::string::npos)
        s.add(name.c_str(), k_hidden, name.find("INSECURE") != std::string::npos
                                          ? "applies to gRPC only; ignored (TraceCraft speaks OTLP/HTTP; use an https:// endpoint for TLS)"
                                          : "is not supported by this version; ignored");
    } else if (std::any_of(std::begin(k_not_yet), std::end(k_not_yet), [&](const char* n) { return name == n; })) {
      s.add(name.c_str(), v, "is not supported by this version yet; ignored");
    }
  }
  return c;
}

}  // namespace

config load_config(const char* const* envp, std::vector<config_problem>* problems) noexcept {
  try {
    std::map<std::string, bool> invalid;
    return load(envp, problems, invalid);
  } catch (...) {
    return config{};
  }
}

std::vector<config_entry> describe_config(const char* const* envp) noexcept {
  std::vector<config_entry> out;
  try {
    std::map<std::string, bool> invalid;
    const config c = load(envp, nullptr, invalid);
    const auto env = collect(envp);
    for (const var_def& d : k_vars) {
      config_entry e;
      e.variable = d.name;
      e.value = d.show(c);
      e.default_value = d.def;
      e.meaning = d.meaning;
      auto it = env.find(d.name);
      e.source = it == env.end() || it->second.empty() ? "default" : invalid.count(d.name) ? "env (invalid, default used)" : "env";
      out.push_back(std::move(e));
    }
  } catch (...) {
  }
  return out;
}

std::string redaction_summary(const config& c, std::vector<std::string>* problems) noexcept {
  try {
    if (!c.redact) return "off (TRACECRAFT_REDACT=false)";
    detail::redact_settings rs;
    rs.disabled = c.redact_disabled_defaults;
    rs.custom = c.redact_patterns;
    rs.allow_patterns = c.redact_allow_patterns;
    std::vector<std::string> p;
    auto r = detail::redactor::create(rs, p);
    if (problems != nullptr) *problems = p;
    if (!r)
      return std::string("UNAVAILABLE: ") + (p.empty() ? "no pattern database" : p.back()) +
             (c.redact_allow_unredacted ? "; captured payloads are exported unredacted" : "; captured payloads are dropped");
    return "on: " + std::to_string(r->pattern_count()) + " patterns in one Hyperscan database, mode " +
           (c.redact_mode == redaction_mode::hash ? "hash" : c.redact_mode == redaction_mode::remove ? "remove" : "mask");
  } catch (...) {
    return "unknown (out of memory)";
  }
}

namespace detail {
proxy_settings proxy_from_environment() noexcept {
  try {
    return load_config(environ, nullptr).proxy.value_or(proxy_settings{});
  } catch (...) {
    return {};
  }
}
}  // namespace detail

status init() noexcept {
  std::vector<config_problem> problems;
  const config c = load_config(environ, &problems);
  detail::set_diag_level(c.diagnostics);
  for (const auto& p : problems)
    detail::diag(log_level::warn, "%s='%s' %s", p.variable.c_str(), p.value.c_str(), p.message.c_str());
  return init(c);
}

}  // namespace tracecraft
