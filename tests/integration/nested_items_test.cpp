// SPDX-License-Identifier: Apache-2.0
// Items of spans that interleave on one thread — parents around children, async spans ending
// in between, item sets larger than the inline buffer, rings too small for one span — all
// arrive, in the order they were set.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "harness.h"
#include "tracecraft/trace.h"

using namespace std::chrono_literals;
namespace tc = tracecraft;

namespace {
std::string val(int i, std::size_t len) {
  std::string s(1, 'v');
  s.append(std::to_string(i)).push_back(':');
  s.resize(len, static_cast<char>('a' + i % 26));
  return s;
}
void expect_attrs(const tct::span& s, const std::string& prefix, int count, std::size_t len) {
  for (int i = 0; i < count; ++i) {
    const std::string k = prefix + std::to_string(i);
    REQUIRE_MESSAGE(s.attrs.count(k), s.name << " lacks " << k);
    CHECK(s.attrs.at(k).s == val(i, len));
  }
}
std::size_t pos(const tct::span& s, const std::string& key) {
  for (std::size_t i = 0; i < s.attr_order.size(); ++i)
    if (s.attr_order[i] == key) return i;
  return static_cast<std::size_t>(-1);
}
}  // namespace

TEST_SUITE("nested items") {
  TEST_CASE("a parent keeps its items set before, between and after its children") {
    tct::temp_dir dir;
    auto cfg = tct::jsonl_config(dir.file("out.jsonl"));
    REQUIRE(tc::init(cfg) == tc::status::ok);
    {
      tc::span parent("parent", tc::kind::server);
      parent.set("before.a", 1);
      parent.set("before.b", "text");
      {
        tc::span child("child");
        child.set("c", 3);
        tc::span grandchild("grandchild");
        grandchild.set("g", 4);
      }
      parent.set("after", 5);
      parent.add_event("e");
      { tc::span sibling("sibling"); sibling.set("s", 6); }
      parent.set("last", 7);
    }
    REQUIRE(tc::shutdown(5s));
    tct::check_accounting(tc::stats());
    const auto spans = tct::read_spans(cfg.jsonl_path);
    REQUIRE(spans.size() == 4);
    const auto* p = tct::find(spans, "parent");
    REQUIRE(p);
    CHECK(p->attrs.at("before.a").i == 1);
    CHECK(p->attrs.at("before.b").s == "text");
    CHECK(p->attrs.at("after").i == 5);
    CHECK(p->attrs.at("last").i == 7);
    CHECK(p->events.size() == 1);
    CHECK(pos(*p, "before.a") < pos(*p, "before.b"));
    CHECK(pos(*p, "before.b") < pos(*p, "after"));
    CHECK(pos(*p, "after") < pos(*p, "last"));
    CHECK(tct::find(spans, "child")->attrs.at("c").i == 3);
    CHECK(tct::find(spans, "grandchild")->attrs.at("g").i == 4);
    CHECK(tct::find(spans, "sibling")->attrs.at("s").i == 6);
    CHECK(tct::find(spans, "grandchild")->parent_span_id == tct::find(spans, "child")->span_id);
  }

  TEST_CASE("a parent with more items than its inline buffer holds, around a child") {
    tct::temp_dir dir;
    auto cfg = tct::jsonl_config(dir.file("out.jsonl"));
    REQUIRE(tc::init(cfg) == tc::status::ok);
    {
      tc::span parent("big-parent", tc::kind::server);
      for (int i = 0; i < 30; ++i) parent.set(tc::key("p." + std::to_string(i)), val(i, 40));  // ~1.7 KB
      { tc::span child("child"); }
      for (int i = 0; i < 5; ++i) parent.set(tc::key("q." + std::to_string(i)), val(i, 40));
    }
    REQUIRE(tc::shutdown(5s));
    const auto st = tc::stats();
    tct::check_accounting(st);
    CHECK(st.fragments_lost == 0);
    const auto spans = tct::read_spans(cfg.jsonl_path);
    const auto* p = tct::find(spans, "big-parent");
    REQUIRE(p);
    expect_attrs(*p, "p.", 30, 40);
    expect_attrs(*p, "q.", 5, 40);
    CHECK(pos(*p, "p.29") < pos(*p, "q.0"));
  }

  TEST_CASE("async spans ending on the thread in the middle of a scoped span") {
    tct::temp_dir dir;
    auto cfg = tct::jsonl_config(dir.file("out.jsonl"));
    REQUIRE(tc::init(cfg) == tc::status::ok);
    tc::async_span request("request", tc::kind::server);
    request.set("r", 1);
    {
      tc::span step("step");
      step.set("x", 1);
      request.set("r2", 2);
      request.end();  // writes a record into this thread's ring while `step` writes in place
      step.set("y", 2);
      tc::async_span other("other");
      other.set("o", 3);
      other.end();
      step.set("z", 3);
    }
    REQUIRE(tc::shutdown(5s));
    tct::check_accounting(tc::stats());
    const auto spans = tct::read_spans(cfg.jsonl_path);
    REQUIRE(spans.size() == 3);
    const auto* step = tct::find(spans, "step");
    CHECK(step->attrs.at("x").i == 1);
    CHECK(step->attrs.at("y").i == 2);
    CHECK(step->attrs.at("z").i == 3);
    CHECK(tct::find(spans, "request")->attrs.at("r2").i == 2);
    CHECK(tct::find(spans, "other")->attrs.at("o").i == 3);
  }

  TEST_CASE("a span with more items than a small ring takes in one record (fragments)") {
    tct::temp_dir dir;
    auto cfg = tct::jsonl_config(dir.file("out.jsonl"));
    cfg.ring_kb = 4;  // max record 1 KiB: the span's 1.8 KB of items must travel as fragments
    cfg.ring_max_kb = 4;
    REQUIRE(tc::init(cfg) == tc::status::ok);
    for (int round = 0; round < 20; ++round) {  // at many ring positions, including near the end
      {
        tc::span s("filling");
        for (int i = 0; i < 40; ++i) s.set(tc::key("f." + std::to_string(i)), val(i, 30));  // ~1.8 KB
      }
      REQUIRE(tc::flush(5s));  // keep the small ring from overflowing between rounds
    }
    REQUIRE(tc::shutdown(5s));
    const auto st = tc::stats();
    tct::check_accounting(st);
    CHECK(st.dropped.ring_full == 0);
    CHECK(st.fragments_lost == 0);
    const auto spans = tct::read_spans(cfg.jsonl_path);
    REQUIRE(spans.size() == 20);
    for (const auto& s : spans) {
      expect_attrs(s, "f.", 40, 30);
      CHECK(pos(s, "f.0") < pos(s, "f.39"));
    }
  }

  TEST_CASE("many nested and sibling spans on several threads: every item of every span") {
    tct::temp_dir dir;
    auto cfg = tct::jsonl_config(dir.file("out.jsonl"));
    cfg.ring_kb = 1024;
    REQUIRE(tc::init(cfg) == tc::status::ok);
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([t] {
        for (int i = 0; i < 300; ++i) {
          tc::span a("a");
          a.set("t", t);
          a.set("i", i);
          {
            tc::span b("b");
            b.set("i", i);
            if (i % 3 == 0) {
              tc::async_span c("c");
              c.set("i", i);
            }
            b.set("j", i);
          }
          a.set("j", i);
        }
      });
    }
    for (auto& th : ts) th.join();
    REQUIRE(tc::shutdown(10s));
    const auto st = tc::stats();
    tct::check_accounting(st);
    CHECK(st.dropped.ring_full == 0);
    const auto spans = tct::read_spans(cfg.jsonl_path);
    CHECK(spans.size() == 4 * (300 * 2 + 100));
    std::map<std::string, int> per_name;
    for (const auto& s : spans) {
      ++per_name[s.name];
      REQUIRE(s.has("i"));
      if (s.name != "c") CHECK(s.attrs.at("j").i == s.attrs.at("i").i);  // set before and after the child
      if (s.name == "a") CHECK(s.has("t"));
    }
    CHECK(per_name["a"] == 1200);
    CHECK(per_name["b"] == 1200);
    CHECK(per_name["c"] == 400);
  }
}
