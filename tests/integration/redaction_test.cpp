// SPDX-License-Identifier: Apache-2.0
// Redaction through the engine: every string a host writes is scanned before any exporter sees
// it (attributes, payloads, event and link attributes, status messages, runtime names); field
// rules replace values of any type; the modes; fail-closed payloads when no pattern database
// exists; the counters; and what the two processor orders mean for sampling rules.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "harness.h"
#include "tracecraft/trace.h"

using namespace std::chrono_literals;
namespace tc = tracecraft;

namespace {

tc::config redact_config(const std::string& path) {
  auto c = tct::jsonl_config(path);
  c.capture_payloads = true;
  return c;
}

std::mutex g_diag_mu;
std::vector<std::string> g_diags;
void capture_diag(tc::log_level, std::string_view m) {
  std::lock_guard<std::mutex> lk(g_diag_mu);
  g_diags.emplace_back(m);
}

// A W3C trace id (32 hex digits) that differs per `n`.
std::string trace_hex(std::uint64_t n) {
  char b[33];
  std::snprintf(b, sizeof b, "4bf92f3577b34da6%016llx", static_cast<unsigned long long>(n));
  return b;
}

// Clears what was captured and routes the engine's diagnostics to capture_diag.
void capture_diags() {
  {
    std::lock_guard<std::mutex> lk(g_diag_mu);
    g_diags.clear();
  }
  tc::set_diagnostic_handler(&capture_diag);
}

}  // namespace

TEST_SUITE("redaction") {
  TEST_CASE("every host string is scanned before export; engine values and harmless text are untouched") {
    tct::temp_dir dir;
    REQUIRE(tc::init(redact_config(dir.file("out.jsonl"))) == tc::status::ok);
    tc::span_context linked;
    {
      tc::span other("other", tc::kind::internal);
      linked = other.context();
    }
    {
      tc::span s(std::string("lookup for jane@example.com"), tc::kind::tool);  // a runtime name
      s.set("user.query", "my card is 4111 1111 1111 1111, call me at 415-555-0132");
      s.set("note", "task-management-service v2.14.3 deployed; risk-assessment passed");
      s.set("tokens", 42);
      s.set("payload", " \t\r\n{\"email\": \"bob@example.org\"}");  // JSON after whitespace
      s.set_input("Authorization: Bearer s3cr3tOpaqueValue123");
      s.set_output("sure, your key sk-abcdefghijklmnopqrstuvwxyz0123 is rotated");
      s.add_event("tool_call", {{"arguments", "{\"email\": \"bob@example.org\"}"}});
      s.add_link(linked, {{"peer", "10.1.2.3"}});
      s.set_error("login failed for password=hunter2");
    }
    REQUIRE(tc::shutdown(5s));
    tct::check_accounting(tc::stats());
    const auto spans = tct::read_spans(dir.file("out.jsonl"));
    REQUIRE(spans.size() == 2);
    const tct::span* s = nullptr;
    for (const auto& x : spans)
      if (x.name != "other") s = &x;
    REQUIRE(s);
    CHECK(s->name == "lookup for [REDACTED:email]");
    CHECK(s->attrs.at("user.query").s == "my card is [REDACTED:credit_card], call me at [REDACTED:phone]");
    CHECK(s->attrs.at("note").s == "task-management-service v2.14.3 deployed; risk-assessment passed");
    CHECK(s->attrs.at("tokens").i == 42);
    CHECK(s->attrs.at("payload").s == "{\"email\":\"[REDACTED:email]\"}");  // parsed as JSON, not scanned as text
    CHECK(s->attrs.at("input.value").s == "Authorization: Bearer [REDACTED:bearer_token]");
    CHECK(s->attrs.at("output.value").s == "sure, your key [REDACTED:openai_key] is rotated");
    REQUIRE(s->events.size() == 1);
    CHECK(s->events[0].attrs.at("arguments").s == "{\"email\":\"[REDACTED:email]\"}");  // JSON: parsed, rewritten
    REQUIRE(s->links.size() == 1);
    CHECK(s->links[0].attrs.at("peer").s == "[REDACTED:ipv4]");
    CHECK(s->status_message == "login failed for password=[REDACTED:password]");
    CHECK(s->attrs.at("run_id").s == s->trace_id);  // engine values are never scanned
    const auto st = tc::stats();
    CHECK(st.redaction.available);
    CHECK(st.redaction.values_scanned >= 8);
    std::uint64_t email = 0, total = 0;
    for (std::uint32_t i = 0; i < st.redaction.pattern_count; ++i) {
      total += st.redaction.patterns[i].matches;
      if (std::string(st.redaction.patterns[i].name) == "email") email = st.redaction.patterns[i].matches;
    }
    CHECK(email == 3);
    CHECK(total == 9);  // name, card, phone, payload e-mail, bearer, key, event e-mail, ipv4, password
  }

  TEST_CASE("field rules replace values of any type without scanning") {
    tct::temp_dir dir;
    auto c = redact_config(dir.file("out.jsonl"));
    c.redact_fields = {"*.api_key", "http.request.header.authorization", "user.age", "user.vip", "user.score"};
    REQUIRE(tc::init(c) == tc::status::ok);
    {
      tc::span s("request", tc::kind::server);
      s.set("openai.api_key", "not-even-a-key-shape");
      s.set("http.request.header.authorization", "Basic dXNlcjpwYXNz");
      s.set("user.age", 41);
      s.set("user.score", 0.93);
      s.set("user.vip", true);
      s.set("user.name", "plain text");
    }
    REQUIRE(tc::shutdown(5s));
    const auto spans = tct::read_spans(dir.file("out.jsonl"));
    REQUIRE(spans.size() == 1);
    const auto& a = spans[0].attrs;
    for (const char* k : {"openai.api_key", "http.request.header.authorization", "user.age", "user.score", "user.vip"}) {
      CHECK_MESSAGE(a.at(k).type == "stringValue", k);
      CHECK_MESSAGE(a.at(k).s == "[REDACTED:field]", k);
    }
    CHECK(a.at("user.name").s == "plain text");
  }

  TEST_CASE("modes through the engine: hash is stable under one key and differs across keys; remove") {
    auto once = [](tc::redaction_mode m, const std::string& key) {
      tct::temp_dir dir;
      auto c = redact_config(dir.file("out.jsonl"));
      c.redact_mode = m;
      c.redact_hash_key = key;
      REQUIRE(tc::init(c) == tc::status::ok);
      {
        tc::span s("request", tc::kind::server);
        s.set("q", "mail jane@example.com");
      }
      REQUIRE(tc::shutdown(5s));
      return tct::read_spans(dir.file("out.jsonl")).at(0).attrs.at("q").s;
    };
    const std::string a = once(tc::redaction_mode::hash, "k1");
    CHECK(a.rfind("mail [HASH:", 0) == 0);
    CHECK(a.size() == 5 + 23);
    CHECK(once(tc::redaction_mode::hash, "k1") == a);
    CHECK(once(tc::redaction_mode::hash, "k2") != a);
    CHECK(once(tc::redaction_mode::remove, "") == "mail ");
  }

  TEST_CASE("fork: the child reuses the parent's compiled patterns and hash key, without warning again") {
    tct::temp_dir dir;
    capture_diags();
    auto c = redact_config(dir.file("out.jsonl"));
    c.diagnostics = tc::log_level::warn;
    c.redact_mode = tc::redaction_mode::hash;  // no key: a random one, made once at init
    c.redact_patterns = {{"employee_id", "EMP-[0-9]{6}"}, {"broken", "(unclosed"}};
    REQUIRE(tc::init(c) == tc::status::ok);
    auto warnings = [] {
      std::lock_guard<std::mutex> lk(g_diag_mu);
      return g_diags.size();
    };
    const std::size_t at_init = warnings();
    CHECK(at_init >= 2);  // the rejected pattern and the random key
    const char* q = "mail jane@example.com about EMP-123456";
    {
      tc::span s("before-fork");
      s.set("q", q);
    }
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      {
        tc::span s("in-child");
        s.set("q", q);
      }
      int code = tc::flush(5s) ? 0 : 1;
      if (warnings() != at_init) code = 2;  // no second compile, no second key
      if (!tc::shutdown(5s)) code = 3;
      ::_exit(code);
    }
    {
      tc::span s("in-parent");
      s.set("q", q);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    REQUIRE(tc::shutdown(5s));
    tc::set_diagnostic_handler(nullptr);
    const auto spans = tct::read_spans(dir.file("out.jsonl"));
    REQUIRE(spans.size() == 3);
    const std::string first = spans[0].attrs.at("q").s;
    CHECK(first.rfind("mail [HASH:", 0) == 0);
    CHECK(first.find("about [HASH:") != std::string::npos);  // the custom pattern, in the child too
    for (const auto& s : spans) CHECK(s.attrs.at("q").s == first);
  }

  TEST_CASE("spans scanned together in one batch: each keeps its own values, run_id and trace state") {
    tct::temp_dir dir;
    auto c = redact_config(dir.file("out.jsonl"));
    c.ring_kb = 8192;  // the whole run stays in the ring until one drain pass reads it
    c.sampler = tc::sampler_kind::parentbased_traceidratio;
    c.sampling_rate = 1.0;
    REQUIRE(tc::init(c) == tc::status::ok);
    constexpr int n = 700;  // several batches, and a partial one at the end
    for (int i = 0; i < n; ++i) {
      const std::string tp = "00-" + trace_hex(static_cast<std::uint64_t>(i) + 1) + "-00f067aa0ba902b7-01";
      const std::string ts = "vendor" + std::to_string(i % 50) + "=v" + std::to_string(i);
      const tc::span_context parent = i % 3 == 0 ? tc::extract(tp, ts) : tc::span_context{};
      tc::span root("request", tc::kind::server, parent);
      root.set("i", i);
      root.set("q", "mail user" + std::to_string(i) + "@example.com, card 4111 1111 1111 1111, order ORD-" + std::to_string(i));
      tc::span child("step for user" + std::to_string(i) + "@example.com");  // a runtime name
      child.set("note", "plain text " + std::to_string(i));
      if (i % 2 == 0) child.set_error("login failed: password=hunter" + std::to_string(i));
    }
    REQUIRE(tc::shutdown(10s));
    tct::check_accounting(tc::stats());
    const auto spans = tct::read_spans(dir.file("out.jsonl"));
    REQUIRE(spans.size() == 2 * n);
    std::map<std::string, const tct::span*> roots;  // by trace id
    int seen = 0;
    for (const auto& sp : spans) {
      if (sp.name != "request") continue;
      ++seen;
      const auto i = sp.attrs.at("i").i;
      INFO("span " << i);
      CHECK(sp.attrs.at("q").s == "mail [REDACTED:email], card [REDACTED:credit_card], order ORD-" + std::to_string(i));
      CHECK(sp.attrs.at("run_id").s == sp.trace_id);  // its own trace's, not another held span's
      if (i % 3 == 0) {
        CHECK(sp.trace_id == trace_hex(static_cast<std::uint64_t>(i) + 1));
        CHECK(sp.trace_state.find("vendor" + std::to_string(i % 50) + "=v" + std::to_string(i)) != std::string::npos);
      } else {
        CHECK(sp.trace_state.rfind("ot=th:", 0) == 0);
      }
      roots[sp.trace_id] = &sp;
    }
    CHECK(seen == n);
    int steps = 0;
    for (const auto& sp : spans) {
      if (sp.name == "request") continue;
      ++steps;
      CHECK(sp.name == "step for [REDACTED:email]");
      const auto it = roots.find(sp.trace_id);
      REQUIRE(it != roots.end());
      CHECK(sp.trace_state == it->second->trace_state);
      const std::string note = sp.attrs.at("note").s;
      CHECK(note.rfind("plain text ", 0) == 0);
      if (std::stoi(note.substr(11)) % 2 == 0) CHECK(sp.status_message == "login failed: password=[REDACTED:password]");
    }
    CHECK(steps == n);
  }

  TEST_CASE("a rejected custom pattern is reported; the other patterns still apply") {
    tct::temp_dir dir;
    capture_diags();
    auto c = redact_config(dir.file("out.jsonl"));
    c.diagnostics = tc::log_level::warn;
    c.redact_patterns = {{"employee_id", "EMP-[0-9]{6}"}, {"broken", "(unclosed"}};
    REQUIRE(tc::init(c) == tc::status::ok);
    {
      tc::span s("request", tc::kind::server);
      s.set("q", "EMP-123456 asked about a@b.io");
    }
    REQUIRE(tc::shutdown(5s));
    tc::set_diagnostic_handler(nullptr);
    bool reported = false;
    {
      std::lock_guard<std::mutex> lk(g_diag_mu);
      for (const auto& d : g_diags) reported = reported || (d.find("'broken'") != std::string::npos && d.find("Hyperscan") != std::string::npos);
    }
    CHECK(reported);
    CHECK(tct::read_spans(dir.file("out.jsonl")).at(0).attrs.at("q").s == "[REDACTED:employee_id] asked about [REDACTED:email]");
  }

  TEST_CASE("no pattern database: captured payloads are dropped (fail closed) unless explicitly allowed") {
    for (bool allow : {false, true}) {
      tct::temp_dir dir;
      auto c = redact_config(dir.file("out.jsonl"));
      c.redact_disabled_defaults = {"all"};  // nothing to compile: redaction unavailable
      c.redact_allow_unredacted = allow;
      REQUIRE(tc::init(c) == tc::status::ok);
      {
        tc::span s("request", tc::kind::server);
        s.set_input("prompt with jane@example.com");
        s.set_output("answer");
      }
      REQUIRE(tc::shutdown(5s));
      const auto st = tc::stats();
      CHECK_FALSE(st.redaction.available);
      const auto spans = tct::read_spans(dir.file("out.jsonl"));
      REQUIRE(spans.size() == 1);
      CHECK(spans[0].has("input.value") == allow);
      CHECK(spans[0].has("output.value") == allow);
      CHECK(st.redaction.payloads_dropped == (allow ? 0u : 2u));
    }
  }

  TEST_CASE("processor order: with safety the sampling rules see redacted values, with efficiency the recorded ones") {
    auto kept = [](tc::processor_order order) {
      tct::temp_dir dir;
      auto c = redact_config(dir.file("out.jsonl"));
      c.sampler = tc::sampler_kind::parentbased_traceidratio;
      c.sampling_rate = 0;
      c.always_keep_errors = false;
      tc::sampling_rule r;
      r.name = "vip";
      r.rate = 1;
      r.match_attributes = {{"user.email", false, "ceo@example.com"}};
      c.sampling_rules = {r};
      c.order = order;
      REQUIRE(tc::init(c) == tc::status::ok);
      {
        tc::span s("request", tc::kind::server);
        s.set("user.email", "ceo@example.com");
      }
      REQUIRE(tc::shutdown(5s));
      tct::check_accounting(tc::stats());
      const auto spans = tct::read_spans(dir.file("out.jsonl"));
      if (!spans.empty()) CHECK(spans[0].attrs.at("user.email").s == "[REDACTED:email]");  // exported redacted either way
      return spans.size();
    };
    CHECK(kept(tc::processor_order::safety) == 0);
    CHECK(kept(tc::processor_order::efficiency) == 1);
  }

  TEST_CASE("TRACECRAFT_REDACT* variables") {
    const char* env[] = {"TRACECRAFT_REDACT_MODE=hash",
                         "TRACECRAFT_REDACT_HASH_KEY=secret",
                         "TRACECRAFT_REDACT_DEFAULTS=all,-ipv4,-nosuch",
                         "TRACECRAFT_REDACT_PATTERNS=emp=EMP-[0-9]{6},ticket=T%2C[0-9]+,bad",
                         "TRACECRAFT_REDACT_ALLOW=support@example.com",
                         "TRACECRAFT_REDACT_FIELDS=*.api_key,user.age",
                         "TRACECRAFT_PROCESSOR_ORDER=efficiency",
                         nullptr};
    std::vector<tc::config_problem> problems;
    const tc::config c = tc::load_config(env, &problems);
    CHECK(c.redact_mode == tc::redaction_mode::hash);
    CHECK(c.redact_hash_key == "secret");
    CHECK(c.redact_disabled_defaults == std::vector<std::string>{"ipv4"});
    REQUIRE(c.redact_patterns.size() == 2);
    CHECK(c.redact_patterns[1].second == "T,[0-9]+");
    CHECK(c.redact_allow == std::vector<std::string>{"support@example.com"});
    CHECK(c.redact_fields.size() == 2);
    CHECK(c.order == tc::processor_order::efficiency);
    REQUIRE(problems.size() == 2);
    CHECK(problems[0].message.find("'nosuch'") != std::string::npos);
    CHECK(problems[1].message.find("'bad'") != std::string::npos);
  }
}

TEST_SUITE("redaction rules file") {
  TEST_CASE("TRACECRAFT_REDACT_RULES_FILE: patterns, allowlists, fields, JSON paths, defaults off; malformed entries reported") {
    tct::temp_dir dir;
    {
      std::FILE* f = std::fopen(dir.file("redact.json").c_str(), "w");
      REQUIRE(f);
      std::fputs(R"({
        "patterns": [{"name": "employee_id", "regex": "EMP-[0-9]{6}"}, {"name": "no_regex"}],
        "allow": {"values": ["support@example.com"], "patterns": [".*@tracecraft\\.dev"]},
        "fields": ["*.secret_note"],
        "json_paths": ["messages[*].content", "bad..path"],
        "disable": ["ipv4", "nosuch"],
        "colour": "red"
      })", f);
      std::fclose(f);
    }
    const std::string var = "TRACECRAFT_REDACT_RULES_FILE=" + dir.file("redact.json");
    const char* env[] = {var.c_str(), nullptr};
    std::vector<tc::config_problem> problems;
    tc::config c = tc::load_config(env, &problems);
    REQUIRE(problems.size() == 4);
    CHECK(problems[0].message.find("no_regex") != std::string::npos);
    CHECK(problems[1].message.find("bad..path") != std::string::npos);
    CHECK(problems[2].message.find("'nosuch'") != std::string::npos);
    CHECK(problems[3].message.find("'colour'") != std::string::npos);
    REQUIRE(c.redact_patterns.size() == 1);
    c.exporters = {tc::exporter_kind::jsonl};
    c.jsonl_path = dir.file("out.jsonl");
    c.capture_payloads = true;
    c.diagnostics = tc::log_level::error;
    REQUIRE(tc::init(c) == tc::status::ok);
    {
      tc::span s("request", tc::kind::server);
      s.set("q", "EMP-123456 wrote to support@example.com, ops@tracecraft.dev and jane@example.com from 10.0.0.1");
      s.set("app.secret_note", 7);
      s.set_input(R"({"messages": [{"role": "user", "content": "my secret plan"}], "user": "x@y.io"})");
    }
    REQUIRE(tc::shutdown(5s));
    const auto spans = tct::read_spans(dir.file("out.jsonl"));
    REQUIRE(spans.size() == 1);
    const auto& a = spans[0].attrs;
    CHECK(a.at("q").s ==
          "[REDACTED:employee_id] wrote to support@example.com, ops@tracecraft.dev and [REDACTED:email] from 10.0.0.1");
    CHECK(a.at("app.secret_note").s == "[REDACTED:field]");
    CHECK(a.at("input.value").s == R"({"messages":[{"role":"user","content":"[REDACTED:path]"}],"user":"[REDACTED:email]"})");
  }
}
