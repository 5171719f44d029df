// SPDX-License-Identifier: Apache-2.0
// Every attribute type, events, links, status, names, payloads and limits come back from the
// JSONL file exactly as they were recorded.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "tracecraft/trace.h"

using namespace std::chrono_literals;
namespace tc = tracecraft;

TEST_SUITE("round trip") {
  TEST_CASE("attribute types, events, links and error status round-trip into the JSONL exactly") {
    tct::temp_dir dir;
    auto cfg = tct::jsonl_config(dir.file("out.jsonl"));
    REQUIRE(tc::init(cfg) == tc::status::ok);
    tc::span_context linked;
    {
      tc::span other("other", tc::kind::internal);
      linked = other.context();
    }
    {
      tc::span s("typed", tc::kind::server);
      s.set("b.true", true);
      s.set("b.false", false);
      s.set("i.neg", std::int64_t{-1234567890123});
      s.set("i.zero", 0);
      s.set("i.max", INT64_MAX);
      s.set("d.pi", 3.14159);
      s.set("d.neg", -0.5);
      s.set("s.ascii", "hello");
      s.set("s.empty", "");
      s.set("s.utf8", std::string("h\xC3\xA9llo \xE2\x9C\x93"));
      s.set("s.escape", "quote\" back\\ nl\n tab\t ctl\x01");
      std::string runtime_key = "dyn.key";
      s.set(tc::key(runtime_key), 7);
      s.add_event("first_token", {{"gen_ai.token.index", 0}, {"note", "x"}, {"ratio", 0.25}, {"ok", true}});
      s.add_event("bare");
      s.add_link(linked, {{"tracecraft.link.reason", "batch"}});
      s.set_error("went wrong: \"bad\"");
    }
    REQUIRE(tc::flush(5s));
    REQUIRE(tc::shutdown(5s));
    tct::check_accounting(tc::stats());

    const auto spans = tct::read_spans(cfg.jsonl_path);
    REQUIRE(spans.size() == 2);
    const tct::span* s = tct::find(spans, "typed");
    REQUIRE(s != nullptr);
    CHECK(s->kind == 2);
    CHECK(s->attrs.at("b.true").type == "boolValue");
    CHECK(s->attrs.at("b.true").b == true);
    CHECK(s->attrs.at("b.false").b == false);
    CHECK(s->attrs.at("i.neg").type == "intValue");
    CHECK(s->attrs.at("i.neg").i == -1234567890123);
    CHECK(s->attrs.at("i.zero").i == 0);
    CHECK(s->attrs.at("i.max").i == INT64_MAX);
    CHECK(s->attrs.at("d.pi").type == "doubleValue");
    CHECK(s->attrs.at("d.pi").d == 3.14159);
    CHECK(s->attrs.at("d.neg").d == -0.5);
    CHECK(s->attrs.at("s.ascii").s == "hello");
    CHECK(s->attrs.at("s.empty").type == "stringValue");
    CHECK(s->attrs.at("s.empty").s.empty());
    CHECK(s->attrs.at("s.utf8").s == "h\xC3\xA9llo \xE2\x9C\x93");
    CHECK(s->attrs.at("s.escape").s == "quote\" back\\ nl\n tab\t ctl\x01");
    CHECK(s->attrs.at("dyn.key").i == 7);
    CHECK(s->attrs.at("run_id").s == s->trace_id);  // a local root carries run_id
    REQUIRE(s->events.size() == 2);
    CHECK(s->events[0].name == "first_token");
    CHECK(s->events[0].attrs.at("gen_ai.token.index").i == 0);
    CHECK(s->events[0].attrs.at("note").s == "x");
    CHECK(s->events[0].attrs.at("ratio").d == 0.25);
    CHECK(s->events[0].attrs.at("ok").b == true);
    CHECK(s->events[0].time >= s->start);
    CHECK(s->events[0].time <= s->end);
    CHECK(s->events[1].name == "bare");
    CHECK(s->events[1].attrs.empty());
    REQUIRE(s->links.size() == 1);
    const tct::span* o = tct::find(spans, "other");
    REQUIRE(o != nullptr);
    CHECK(s->links[0].trace_id == o->trace_id);
    CHECK(s->links[0].span_id == o->span_id);
    CHECK(s->links[0].attrs.at("tracecraft.link.reason").s == "batch");
    CHECK(s->links[0].flags == 0x103);  // sampled | random, local
    CHECK(s->status_code == 2);
    CHECK(s->status_message == "went wrong: \"bad\"");
    CHECK(s->flags == 0x103);
    CHECK(s->end >= s->start);
    CHECK(s->trace_id.size() == 32);
    CHECK(s->span_id.size() == 16);
    CHECK(s->parent_span_id.empty());
    CHECK(s->resource.at("telemetry.sdk.name").s == "tracecraft");
    CHECK(s->resource.at("telemetry.sdk.language").s == "cpp");
    CHECK(s->pid == ::getpid());
  }

  TEST_CASE("step kinds map onto OTel kinds and GenAI / OpenInference attributes") {
    tct::temp_dir dir;
    auto cfg = tct::jsonl_config(dir.file("out.jsonl"));
    REQUIRE(tc::init(cfg) == tc::status::ok);
    {
      tc::span root("root", tc::kind::server);
      { tc::span a("a", tc::kind::agent); }
      { tc::span b("b", tc::kind::llm); }
      { tc::span c("c", tc::kind::tool); }
      { tc::span d("d", tc::kind::retrieval); }
      { tc::span e("e", tc::kind::workflow); }
      { tc::span f("f", tc::kind::guardrail); }
      { tc::span g("g", tc::kind::client); }
      {
        tc::span h("h", tc::kind::llm);
        h.set("gen_ai.operation.name", "text_completion");  // the host's value wins
      }
    }
    REQUIRE(tc::shutdown(5s));
    tct::check_accounting(tc::stats());
    const auto spans = tct::read_spans(cfg.jsonl_path);
    auto k = [&](const char* n) { return tct::find(spans, n); };
    CHECK(k("root")->kind == 2);
    CHECK(k("a")->kind == 1);
    CHECK(k("a")->attrs.at("gen_ai.operation.name").s == "invoke_agent");
    CHECK(k("a")->attrs.at("openinference.span.kind").s == "AGENT");
    CHECK(k("b")->kind == 3);
    CHECK(k("b")->attrs.at("gen_ai.operation.name").s == "chat");
    CHECK(k("b")->attrs.at("openinference.span.kind").s == "LLM");
    CHECK(k("c")->kind == 1);
    CHECK(k("c")->attrs.at("gen_ai.operation.name").s == "execute_tool");
    CHECK(k("d")->kind == 3);
    CHECK(k("d")->attrs.at("gen_ai.operation.name").s == "retrieval");
    CHECK(k("e")->attrs.at("gen_ai.operation.name").s == "invoke_workflow");
    CHECK(k("f")->attrs.at("openinference.span.kind").s == "GUARDRAIL");
    CHECK_FALSE(k("f")->has("gen_ai.operation.name"));
    CHECK(k("g")->kind == 3);
    CHECK_FALSE(k("g")->has("gen_ai.operation.name"));
    CHECK(k("h")->attrs.at("gen_ai.operation.name").s == "text_completion");
    CHECK_FALSE(k("a")->has("run_id"));  // only local roots
  }

  TEST_CASE("runtime names are copied and truncated; literal names are kept by reference") {
    tct::temp_dir dir;
    auto cfg = tct::jsonl_config(dir.file("out.jsonl"));
    REQUIRE(tc::init(cfg) == tc::status::ok);
    {
      std::string name = "tool:" + std::to_string(42);
      tc::span s(name);
      name.assign("overwritten after start");  // the span owns its copy
    }
    {
      const std::string long_name(500, 'n');
      tc::span s(long_name);
    }
    REQUIRE(tc::shutdown(5s));
    tct::check_accounting(tc::stats());
    const auto spans = tct::read_spans(cfg.jsonl_path);
    REQUIRE(spans.size() == 2);
    CHECK(spans[0].name == "tool:42");
    CHECK(spans[1].name == std::string(200, 'n'));
  }

  TEST_CASE("duplicate keys keep the last value; count and length limits drop and count") {
    tct::temp_dir dir;
    auto cfg = tct::jsonl_config(dir.file("out.jsonl"));
    cfg.attribute_count_limit = 3;
    cfg.attribute_value_length_limit = 4;
    cfg.event_count_limit = 1;
    cfg.link_count_limit = 1;
    cfg.event_attribute_count_limit = 1;
    REQUIRE(tc::init(cfg) == tc::status::ok);
    tc::span_context other;
    {
      tc::span s("limited");
      other = s.context();
      s.set("k", 1);
      s.set("k", 2);
      s.set("long", "h\xC3\xA9llo world");  // 4 characters kept, not 4 bytes
      s.set("c", 3);
      s.set("over", 4);  // the 5th set: over the hot-path count limit of 3
      s.add_event("e1", {{"a", 1}, {"b", 2}});
      s.add_event("e2");
      s.add_link(other);
      s.add_link(other);
    }
    REQUIRE(tc::shutdown(5s));
    tct::check_accounting(tc::stats());
    const auto spans = tct::read_spans(cfg.jsonl_path);
    REQUIRE(spans.size() == 1);
    const auto& s = spans[0];
    CHECK(s.attrs.at("k").i == 2);
    CHECK(s.attrs.at("long").s == "h\xC3\xA9ll");
    CHECK(s.attrs.count("over") == 0);
    CHECK(s.dropped_attrs >= 1);
    REQUIRE(s.events.size() == 1);
    CHECK(s.events[0].attrs.size() == 1);
    CHECK(s.events[0].dropped == 1);
    CHECK(s.dropped_events == 1);
    CHECK(s.links.size() == 1);
    CHECK(s.dropped_links == 1);
    CHECK(tc::stats().attributes_dropped >= 3);
  }

  TEST_CASE("duplicate keys, random: the last value wins at the first key's place, derived keys included") {
    // A model of the rule (standards §1) against the engine, over 400 spans of random sets from a
    // small pool of keys: keys that share length, first and last byte (the dedupe's filter sees
    // them alike), the derived keys of agent and llm spans and of local roots, literal and runtime
    // keys, and every value type.
    tct::temp_dir dir;
    auto cfg = tct::jsonl_config(dir.file("out.jsonl"));
    REQUIRE(tc::init(cfg) == tc::status::ok);
    const std::vector<std::string> pool = {
        "a", "b", "ab", "aXb", "aYb", "aZZb", "aYYb", "key.one", "key.two", "key.onf", "kex.one",
        "gen_ai.request.model", "gen_ai.request.modem", "http.route", "run_id", "run_ie",
        "gen_ai.operation.name", "openinference.span.kind", "tracecraft.step.type",
        "tracecraft.sampling.reason", "x", "y", "z", "longer.key.with.many.parts.0", "longer.key.with.many.parts.1"};
    struct expect_attr {
      std::string key;
      bool host = false;  // set by the host (else: the engine's derived value)
      tct::value v;
    };
    std::vector<std::vector<expect_attr>> want;
    std::uint64_t rng = 0x9E3779B97F4A7C15ull;
    auto next = [&] {
      rng ^= rng << 13;
      rng ^= rng >> 7;
      rng ^= rng << 17;
      return rng;
    };
    const tc::kind kinds[] = {tc::kind::internal, tc::kind::agent, tc::kind::llm, tc::kind::server};
    {
      tc::async_span parent(tc::literal("parent"), tc::kind::server);  // children are not local roots
      for (int n = 0; n < 400; ++n) {
        const tc::kind k = kinds[next() % 4];
        const bool root = next() % 2 == 0;
        std::optional<tc::context_scope> in_parent;
        if (!root) in_parent.emplace(parent.context());
        const std::string name = "dedupe-" + std::to_string(n);  // long spans spill and may arrive out of order
        tc::span s(name, k);
        std::vector<expect_attr> e;
        if (k == tc::kind::agent || k == tc::kind::llm) {
          e.push_back({"gen_ai.operation.name", false, {}});
          e.push_back({"openinference.span.kind", false, {}});
          e.push_back({"tracecraft.step.type", false, {}});
        }
        if (root) {
          e.push_back({"run_id", false, {}});
          e.push_back({"tracecraft.sampling.reason", false, {}});
        }
        const int sets = static_cast<int>(next() % 40);
        for (int i = 0; i < sets; ++i) {
          const std::string& key = pool[next() % pool.size()];
          tct::value v;
          switch (next() % 4) {
            case 0:
              v.type = "intValue";
              v.i = static_cast<std::int64_t>(next() % 1000000);
              s.set(tc::key(key), v.i);
              break;
            case 1:
              v.type = "stringValue";
              v.s = "v" + std::to_string(next() % 1000000);
              s.set(tc::key(key), v.s);
              break;
            case 2:
              v.type = "boolValue";
              v.b = next() % 2 == 0;
              s.set(tc::key(key), v.b);
              break;
            default:
              v.type = "doubleValue";
              v.d = static_cast<double>(next() % 1000) / 8.0;
              s.set(tc::key(key), v.d);
              break;
          }
          bool replaced = false;
          for (auto& x : e) {
            if (x.key == key) {
              x.host = true;
              x.v = v;
              replaced = true;
              break;
            }
          }
          if (!replaced) e.push_back({key, true, v});
        }
        want.push_back(std::move(e));
      }
      parent.end();
    }
    REQUIRE(tc::shutdown(5s));
    tct::check_accounting(tc::stats());
    const auto spans = tct::read_spans(cfg.jsonl_path);
    std::vector<const tct::span*> got(want.size());
    for (const auto& sp : spans)
      if (sp.name.rfind("dedupe-", 0) == 0) got.at(std::stoul(sp.name.substr(7))) = &sp;
    for (std::size_t n = 0; n < want.size(); ++n) {
      REQUIRE(got[n] != nullptr);
      const tct::span& sp = *got[n];
      const auto& e = want[n];
      CAPTURE(n);
      REQUIRE(sp.attr_order.size() == e.size());
      CHECK(sp.dropped_attrs == 0);
      for (std::size_t i = 0; i < e.size(); ++i) {
        CAPTURE(i);
        CHECK(sp.attr_order[i] == e[i].key);
        const tct::value& g = sp.attrs.at(e[i].key);
        if (!e[i].host) {
          if (e[i].key == "run_id") CHECK(g.s == sp.trace_id);
          continue;
        }
        REQUIRE(g.type == e[i].v.type);
        if (g.type == "intValue") CHECK(g.i == e[i].v.i);
        if (g.type == "stringValue") CHECK(g.s == e[i].v.s);
        if (g.type == "boolValue") CHECK(g.b == e[i].v.b);
        if (g.type == "doubleValue") CHECK(g.d == e[i].v.d);
      }
    }
  }

  TEST_CASE("payload capture: off by default, truncated, excluded per span, large values spill into fragments") {
    tct::temp_dir dir;
    {
      auto cfg = tct::jsonl_config(dir.file("off.jsonl"));
      REQUIRE(tc::init(cfg) == tc::status::ok);
      {
        tc::span s("llm", tc::kind::llm);
        s.set_input("secret prompt");
      }
      REQUIRE(tc::shutdown(5s));
      tct::check_accounting(tc::stats());
      const auto spans = tct::read_spans(cfg.jsonl_path);
      REQUIRE(spans.size() == 1);
      CHECK_FALSE(spans[0].has("input.value"));
    }
    auto cfg = tct::jsonl_config(dir.file("on.jsonl"));
    cfg.capture_payloads = true;
    cfg.max_input_length = 10;
    cfg.max_output_length = 100000;
    REQUIRE(tc::init(cfg) == tc::status::ok);
    const std::string big(50000, 'x');
    {
      tc::span s("llm", tc::kind::llm);
      s.set_input("0123456789abcdef");
      s.set("before", 1);
      s.set_output(big);
      s.set("after", 2);
      for (int i = 0; i < 40; ++i) s.set(tc::key("many." + std::to_string(i)), std::string(20, 'a' + i % 26));
    }
    {
      tc::span s("excluded", tc::kind::tool);
      s.exclude_input();
      s.set_input("do not record");
      s.set_output("kept");
    }
    {
      tc::span s("utf8cut", tc::kind::tool);
      s.set_input("123456789\xC3\xA9");  // the cut at 10 bytes would split é
    }
    REQUIRE(tc::shutdown(5s));
    const auto st = tc::stats();
    tct::check_accounting(st);
    CHECK(st.fragments_lost == 0);
    const auto spans = tct::read_spans(cfg.jsonl_path);
    REQUIRE(spans.size() == 3);
    const auto* l = tct::find(spans, "llm");
    CHECK(l->attrs.at("input.value").s == "0123456789");
    CHECK(l->attrs.at("output.value").s == big);
    CHECK(l->attrs.at("before").i == 1);
    CHECK(l->attrs.at("after").i == 2);
    for (int i = 0; i < 40; ++i) CHECK(l->attrs.at("many." + std::to_string(i)).s == std::string(20, 'a' + i % 26));
    // Item order is preserved across fragments.
    CHECK(l->attr_order.at(l->attr_order.size() - 41) == "after");
    const auto* e = tct::find(spans, "excluded");
    CHECK(e->attrs.at("input.value").s == "[EXCLUDED]");
    CHECK(e->attrs.at("output.value").s == "kept");
    CHECK(tct::find(spans, "utf8cut")->attrs.at("input.value").s == "123456789");
  }

  TEST_CASE("a span with fragments written on two threads is joined") {
    tct::temp_dir dir;
    auto cfg = tct::jsonl_config(dir.file("out.jsonl"));
    REQUIRE(tc::init(cfg) == tc::status::ok);
    tc::async_span s("moving", tc::kind::internal);
    for (int i = 0; i < 30; ++i) s.set(tc::key("a." + std::to_string(i)), std::string(30, 'a'));
    std::thread t([&] {
      for (int i = 0; i < 30; ++i) s.set(tc::key("b." + std::to_string(i)), std::string(30, 'b'));
      s.end();
    });
    t.join();
    REQUIRE(tc::shutdown(5s));
    tct::check_accounting(tc::stats());
    const auto spans = tct::read_spans(cfg.jsonl_path);
    REQUIRE(spans.size() == 1);
    CHECK(spans[0].attrs.size() == 62);  // 60 + run_id + tracecraft.sampling.reason
    CHECK(spans[0].attrs.at("tracecraft.sampling.reason").s == "rate");
    CHECK(spans[0].attrs.at("a.0").s == std::string(30, 'a'));
    CHECK(spans[0].attrs.at("b.29").s == std::string(30, 'b'));
  }

  TEST_CASE("spans ended on a ring read before their fragments' ring are parked, then exported whole") {
    tct::temp_dir dir;
    auto cfg = tct::jsonl_config(dir.file("out.jsonl"));
    cfg.drain_interval_ms = 1000;  // no pass between the fragments and the records below
    REQUIRE(tc::init(cfg) == tc::status::ok);
    { tc::span warm("warm"); }  // this thread's ring comes first in the drain's order
    REQUIRE(tc::flush(5s));
    constexpr int n = 200;
    std::vector<std::unique_ptr<tc::async_span>> moved;
    std::thread t([&] {  // fills the spans here (fragments in this thread's ring, read second)
      for (int k = 0; k < n; ++k) {
        std::unique_ptr<tc::async_span> s(new tc::async_span("parked", tc::kind::internal));
        s->set("k", k);
        for (int i = 0; i < 12; ++i) s->set(tc::key("f." + std::to_string(i)), "mail a" + std::to_string(k) + "@example.com " + std::string(30, 'f'));
        moved.push_back(std::move(s));
      }
    });
    t.join();
    for (auto& s : moved) s->end();  // final records in the first ring: read before their fragments
    moved.clear();
    REQUIRE(tc::flush(5s));  // one pass: the records are parked, then joined once the fragments are read
    const auto parked = tc::stats();
    REQUIRE(tc::shutdown(5s));
    const auto st = tc::stats();
    tct::check_accounting(st);
    CHECK(st.fragments_lost == 0);
    const auto spans = tct::read_spans(cfg.jsonl_path);
    int seen = 0;
    std::set<std::string> ids;
    for (const auto& sp : spans) {
      if (sp.name != "parked") continue;
      ++seen;
      ids.insert(sp.trace_id + sp.span_id);  // read from the parked record itself
      const auto k = sp.attrs.at("k").i;
      for (int i = 0; i < 12; ++i)
        CHECK(sp.attrs.at("f." + std::to_string(i)).s == "mail [REDACTED:email] " + std::string(30, 'f'));
      CHECK(k >= 0);
    }
    CHECK(seen == n);
    CHECK(ids.size() == static_cast<std::size_t>(n));
    CHECK(parked.spans_exported >= static_cast<std::uint64_t>(n));
  }

  TEST_CASE("resource: OTEL_SERVICE_NAME beats service.name from OTEL_RESOURCE_ATTRIBUTES; decoded values pass through") {
    tct::temp_dir dir;
    const char* env[] = {"OTEL_SERVICE_NAME=from-service-name",
                         "OTEL_RESOURCE_ATTRIBUTES=service.name=from-attributes,team=a%2Cb%3Dc,telemetry.sdk.name=spoofed",
                         nullptr};
    std::vector<tc::config_problem> problems;
    tc::config cfg = tc::load_config(env, &problems);
    CHECK(problems.empty());
    cfg.jsonl_path = dir.file("out.jsonl");
    cfg.exporters = {tc::exporter_kind::jsonl};
    cfg.diagnostics = tc::log_level::error;
    REQUIRE(tc::init(cfg) == tc::status::ok);
    { tc::span s("r"); }
    REQUIRE(tc::shutdown(5s));
    const auto spans = tct::read_spans(cfg.jsonl_path);
    REQUIRE(spans.size() == 1);
    const auto& r = spans[0].resource;
    CHECK(r.at("service.name").s == "from-service-name");
    CHECK(r.at("team").s == "a,b=c");
    CHECK(r.at("telemetry.sdk.name").s == "tracecraft");  // the engine's own keys cannot be overridden
    CHECK(r.at("telemetry.sdk.language").s == "cpp");
    CHECK(r.at("service.instance.id").s.size() == 36);
    CHECK(r.at("process.pid").i == ::getpid());
    CHECK(r.count("host.name") == 1);

    // Without OTEL_SERVICE_NAME the attribute's value is used.
    const char* env2[] = {"OTEL_RESOURCE_ATTRIBUTES=service.name=from-attributes", nullptr};
    tc::config cfg2 = tc::load_config(env2, nullptr);
    cfg2.jsonl_path = dir.file("out2.jsonl");
    cfg2.exporters = {tc::exporter_kind::jsonl};
    REQUIRE(tc::init(cfg2) == tc::status::ok);
    { tc::span s("r"); }
    REQUIRE(tc::shutdown(5s));
    CHECK(tct::read_spans(cfg2.jsonl_path).at(0).resource.at("service.name").s == "from-attributes");
  }
}
