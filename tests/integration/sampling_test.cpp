// SPDX-License-Identifier: Apache-2.0
// Sampling through the engine (standards §4-§5): kept fractions, determinism and the superset
// property on real exported spans, `ot=th`/`rv` in their trace state, the samplers of the
// environment, parent-based decisions on extracted remote parents, and tracestate propagation.
#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <set>
#include <string>
#include <thread>

#include "harness.h"
#include "tracecraft/trace.h"

using namespace std::chrono_literals;
namespace tc = tracecraft;

namespace {

std::uint64_t low56(const std::string& hex_trace_id) {
  return std::strtoull(hex_trace_id.substr(18).c_str(), nullptr, 16);  // bytes 9..15
}

tc::config sampling_config(const std::string& path, tc::sampler_kind k, double rate) {
  auto c = tct::jsonl_config(path);
  c.sampler = k;
  c.sampling_rate = rate;
  c.ring_kb = 65536;  // the whole run fits: these tests count decisions, not drops
  c.always_keep_errors = false;  // the rate alone (keeping the tail has its own tests)
  return c;
}

// The trace ids kept at `rate` for 20,000 host-supplied (sequential, not random) trace ids.
std::set<std::string> kept_host_ids(const std::string& path, double rate) {
  REQUIRE(tc::init(sampling_config(path, tc::sampler_kind::parentbased_traceidratio, rate)) == tc::status::ok);
  for (std::uint32_t i = 0; i < 20000; ++i) {
    tc::trace_id tid;
    std::memcpy(tid.bytes + 12, &i, 4);
    tc::span s("request", tc::kind::server, tid);
  }
  REQUIRE(tc::shutdown(10s));
  tct::check_accounting(tc::stats());
  std::set<std::string> ids;
  for (const auto& s : tct::read_spans(path)) ids.insert(s.trace_id);
  return ids;
}

}  // namespace

TEST_SUITE("sampling") {
  TEST_CASE("ratio sampler: over 100,000 traces exactly those with R >= T are kept, each says why and carries th") {
    const struct {
      double rate;
      const char* th;
      std::uint64_t t;
    } cases[] = {{0.01, "fd70a", 0xfd70a000000000ull}, {0.1, "e666", 0xe6660000000000ull}, {0.5, "8", 0x80000000000000ull}};
    for (const auto& k : cases) {
      tct::temp_dir dir;
      REQUIRE(tc::init(sampling_config(dir.file("out.jsonl"), tc::sampler_kind::parentbased_traceidratio, k.rate)) == tc::status::ok);
      const int n = 100000;
      std::size_t due = 0;  // traces whose R >= T: exactly these must be kept
      for (int i = 0; i < n; ++i) {
        tc::span root("request", tc::kind::server);
        due += tct::sampling_r(root.context()) >= k.t;
        tc::span child("prefill", tc::kind::llm);  // children inherit the decision
      }
      REQUIRE(tc::shutdown(20s));
      const auto st = tc::stats();
      tct::check_accounting(st);
      const double kept = static_cast<double>(st.spans_created - st.spans_sampled_out) / 2;  // root + child per kept trace
      CHECK_MESSAGE(kept == static_cast<double>(due), "rate " << k.rate << " kept " << kept << ", R >= T " << due);
      CHECK_MESSAGE(tct::within_5sd(kept, n, k.rate), "rate " << k.rate << " kept " << kept);  // unbiased ids
      const auto spans = tct::read_spans(dir.file("out.jsonl"));
      CHECK(spans.size() == static_cast<std::size_t>(2 * kept));
      std::size_t roots = 0;
      for (const auto& s : spans) {
        CHECK(s.trace_state == std::string("ot=th:") + k.th);
        CHECK(low56(s.trace_id) >= k.t);           // R >= T, recomputed from the exported id
        CHECK((s.flags & 0x3) == 0x3);             // sampled, and random (a generated id)
        if (s.parent_span_id.empty()) {
          ++roots;
          CHECK(s.attrs.at("tracecraft.sampling.reason").s == "rate");
        } else {
          CHECK_FALSE(s.has("tracecraft.sampling.reason"));  // on the local root only
        }
      }
      CHECK(roots == static_cast<std::size_t>(kept));
    }
  }

  TEST_CASE("host-supplied ids: the same set on every run, a superset at a higher rate, rv written") {
    tct::temp_dir dir;
    const auto a = kept_host_ids(dir.file("a.jsonl"), 0.1);
    const auto again = kept_host_ids(dir.file("b.jsonl"), 0.1);
    const auto more = kept_host_ids(dir.file("c.jsonl"), 0.3);
    CHECK(a == again);
    CHECK(a.size() > 1600);  // 2000 expected; sd 42
    CHECK(a.size() < 2400);
    for (const auto& id : a) CHECK(more.count(id) == 1);
    CHECK(more.size() > a.size());
    const auto spans = tct::read_spans(dir.file("a.jsonl"));
    REQUIRE(!spans.empty());
    for (const auto& s : spans) {
      REQUIRE(s.trace_state.size() == std::string("ot=th:e666;rv:").size() + 14);
      CHECK(s.trace_state.rfind("ot=th:e666;rv:", 0) == 0);
      const std::uint64_t rv = std::strtoull(s.trace_state.substr(14).c_str(), nullptr, 16);
      CHECK(rv >= 0xe6660000000000ull);  // the hashed R that decided, for every later sampler
      CHECK((s.flags & 0x2) == 0);        // a host id is not known to be random
    }
  }

  TEST_CASE("parent-based: a sampled remote parent is followed even at rate 0; an unsampled one is not") {
    tct::temp_dir dir;
    REQUIRE(tc::init(sampling_config(dir.file("out.jsonl"), tc::sampler_kind::parentbased_traceidratio, 0.0)) == tc::status::ok);
    const tc::span_context in = tc::extract("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    REQUIRE(in.valid());
    CHECK(in.remote);
    char tp[55];
    {
      tc::span s("request", tc::kind::server, in);
      tc::span child("decode", tc::kind::llm);
      REQUIRE(tc::inject_traceparent(tc::current_context(), tp) == 55);
    }
    CHECK(std::string(tp, 36) == "00-4bf92f3577b34da6a3ce929d0e0e4736-");
    CHECK(std::string(tp + 52, 3) == "-01");
    const tc::span_context off = tc::extract("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
    {
      tc::span s("request", tc::kind::server, off);
      CHECK_FALSE(s.recording());
      tc::span child("decode", tc::kind::llm);
      CHECK_FALSE(child.recording());
      REQUIRE(tc::inject_traceparent(tc::current_context(), tp) == 55);
      CHECK(std::string(tp, 36) == "00-0af7651916cd43dd8448eb211c80319c-");
      CHECK(std::string(tp + 36, 16) != "b7ad6b7169203331");  // the dropped span still has its own id
      CHECK(std::string(tp + 52, 3) == "-00");
    }
    { tc::span root("new_trace", tc::kind::server); }  // rate 0: a new trace is not kept
    REQUIRE(tc::shutdown(5s));
    const auto st = tc::stats();
    tct::check_accounting(st);
    CHECK(st.spans_sampled_out == 3);
    const auto spans = tct::read_spans(dir.file("out.jsonl"));
    REQUIRE(spans.size() == 2);
    const auto* req = tct::find(spans, "request");
    const auto* dec = tct::find(spans, "decode");
    REQUIRE(req);
    REQUIRE(dec);
    CHECK(req->trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(req->parent_span_id == "00f067aa0ba902b7");
    CHECK(req->flags == (0x01 | 0x100 | 0x200));  // sampled, parent known remote
    CHECK(req->attrs.at("tracecraft.sampling.reason").s == "parent");
    CHECK(req->trace_state.empty());  // no incoming th: the probability is unknown
    CHECK(dec->parent_span_id == req->span_id);
    CHECK(dec->flags == (0x01 | 0x100));
    CHECK(std::string(tp + 36, 16) != dec->span_id);  // tp was overwritten by the second block
  }

  TEST_CASE("non-parent-based samplers ignore the remote flag: always_on, always_off, traceidratio") {
    const char* sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const char* unsampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    auto recorded = [](tc::sampler_kind k, double rate, const char* tp, const char* ts = "") {
      tct::temp_dir dir;
      REQUIRE(tc::init(sampling_config(dir.file("out.jsonl"), k, rate)) == tc::status::ok);
      { tc::span s("request", tc::kind::server, tc::extract(tp, ts)); }
      REQUIRE(tc::shutdown(5s));
      tct::check_accounting(tc::stats());
      const auto spans = tct::read_spans(dir.file("out.jsonl"));
      return spans.empty() ? std::string("dropped") : spans[0].attrs.at("tracecraft.sampling.reason").s + "|" + spans[0].trace_state;
    };
    CHECK(recorded(tc::sampler_kind::always_on, 1, unsampled) == "rate|");
    CHECK(recorded(tc::sampler_kind::always_off, 1, sampled) == "dropped");
    CHECK(recorded(tc::sampler_kind::parentbased_always_off, 1, sampled) == "parent|");
    CHECK(recorded(tc::sampler_kind::parentbased_always_on, 1, unsampled) == "dropped");
    // traceidratio decides from R, the trace id's low 56 bits (0xce929d... >= T = 0x80... for 0.5;
    // 0x0e929d... is below), whatever the flag says ...
    const char* high = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    const char* low = "00-4bf92f3577b34da6a30e929d0e0e4736-00f067aa0ba902b7-01";
    CHECK(recorded(tc::sampler_kind::traceidratio, 0.5, high) == "rate|ot=th:8");
    CHECK(recorded(tc::sampler_kind::traceidratio, 0.5, low) == "dropped");
    // ... or from the incoming rv, which wins over the id.
    CHECK(recorded(tc::sampler_kind::traceidratio, 0.5, low, "ot=rv:ffffffffffffff") == "rate|ot=th:8;rv:ffffffffffffff");
    CHECK(recorded(tc::sampler_kind::traceidratio, 0.5, high, "ot=rv:00000000000000") == "dropped");
  }

  TEST_CASE("tracestate: incoming entries travel to every span and to outgoing calls; th kept only when consistent") {
    tct::temp_dir dir;
    REQUIRE(tc::init(sampling_config(dir.file("out.jsonl"), tc::sampler_kind::parentbased_always_on, 1)) == tc::status::ok);
    char ts[512];
    std::size_t n = 0;
    {
      tc::span s("consistent", tc::kind::server,
                 tc::extract("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", " ot=th:8;rv:ffffffffffffff , rojo=00f067aa0ba902b7"));
      tc::span child("child", tc::kind::tool);
      n = tc::inject_tracestate(tc::current_context(), ts);
    }
    CHECK(std::string(ts, n) == "ot=th:8;rv:ffffffffffffff,rojo=00f067aa0ba902b7");
    {
      // Sampled upstream, but R < th: the th contradicts the flag and is erased.
      tc::span s("inconsistent", tc::kind::server,
                 tc::extract("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "rojo=1,ot=th:8;rv:00000000000001;x:y"));
      n = tc::inject_tracestate(s.context(), ts);
    }
    CHECK(std::string(ts, n) == "ot=rv:00000000000001;x:y,rojo=1");
    {
      tc::span s("bad_tracestate", tc::kind::server,
                 tc::extract("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "rojo=1,Bad=2"));
      CHECK(s.recording());  // a bad tracestate never invalidates traceparent
      CHECK(tc::inject_tracestate(s.context(), ts) == 0);
    }
    REQUIRE(tc::shutdown(5s));
    const auto st = tc::stats();
    tct::check_accounting(st);
    CHECK(st.tracestate_lost == 0);
    const auto spans = tct::read_spans(dir.file("out.jsonl"));
    REQUIRE(spans.size() == 4);
    CHECK(tct::find(spans, "consistent")->trace_state == "ot=th:8;rv:ffffffffffffff,rojo=00f067aa0ba902b7");
    CHECK(tct::find(spans, "child")->trace_state == "ot=th:8;rv:ffffffffffffff,rojo=00f067aa0ba902b7");
    CHECK(tct::find(spans, "inconsistent")->trace_state == "ot=rv:00000000000001;x:y,rojo=1");
    CHECK(tct::find(spans, "bad_tracestate")->trace_state.empty());
  }

  TEST_CASE("extract from a header list: names in any case, tracestate headers joined, two traceparents invalid") {
    const tc::header_ref one[] = {{"TraceParent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                                  {"tracestate", "rojo=1"},
                                  {"content-type", "application/json"},
                                  {"TRACESTATE", "congo=2,rojo=3"}};
    tct::temp_dir dir;
    REQUIRE(tc::init(sampling_config(dir.file("out.jsonl"), tc::sampler_kind::parentbased_always_on, 1)) == tc::status::ok);
    const tc::span_context c = tc::extract(one, 4);
    REQUIRE(c.valid());
    char ts[512];
    {
      tc::span s("request", tc::kind::server, c);
      CHECK(std::string(ts, tc::inject_tracestate(s.context(), ts)) == "rojo=1,congo=2");
    }
    const tc::header_ref two[] = {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                                  {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}};
    CHECK_FALSE(tc::extract(two, 2).valid());
    const tc::header_ref none[] = {{"tracestate", "rojo=1"}};
    CHECK_FALSE(tc::extract(none, 1).valid());
    CHECK_FALSE(tc::extract("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", "rojo=1").valid());
    REQUIRE(tc::shutdown(5s));
    tct::check_accounting(tc::stats());
  }

  TEST_CASE("the samplers from the environment") {
    auto load = [](std::vector<const char*> env, std::vector<tc::config_problem>* problems = nullptr) {
      env.push_back(nullptr);
      return tc::load_config(env.data(), problems);
    };
    CHECK(load({}).sampler == tc::sampler_kind::parentbased_always_on);
    const struct {
      const char* v;
      tc::sampler_kind k;
    } names[] = {{"always_on", tc::sampler_kind::always_on},
                 {"ALWAYS_OFF", tc::sampler_kind::always_off},
                 {"traceidratio", tc::sampler_kind::traceidratio},
                 {"parentbased_always_on", tc::sampler_kind::parentbased_always_on},
                 {"parentbased_always_off", tc::sampler_kind::parentbased_always_off},
                 {" parentbased_traceidratio ", tc::sampler_kind::parentbased_traceidratio}};
    for (const auto& x : names) {
      const std::string v = std::string("OTEL_TRACES_SAMPLER=") + x.v;
      std::vector<tc::config_problem> p;
      CHECK(load({v.c_str()}, &p).sampler == x.k);
      CHECK(p.empty());
    }
    std::vector<tc::config_problem> p;
    tc::config c = load({"OTEL_TRACES_SAMPLER=traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.25"}, &p);
    CHECK(c.sampling_rate == 0.25);
    CHECK(p.empty());
    c = load({"TRACECRAFT_SAMPLING_RATE=0.01"}, &p);  // the short form
    CHECK(c.sampler == tc::sampler_kind::parentbased_traceidratio);
    CHECK(c.sampling_rate == 0.01);
    p.clear();
    c = load({"OTEL_TRACES_SAMPLER_ARG=0.5"}, &p);  // read only with OTEL_TRACES_SAMPLER
    CHECK(c.sampler == tc::sampler_kind::parentbased_always_on);
    REQUIRE(p.size() == 1);
    CHECK(p[0].variable == "OTEL_TRACES_SAMPLER_ARG");
    p.clear();
    c = load({"OTEL_TRACES_SAMPLER=traceidratio", "OTEL_TRACES_SAMPLER_ARG=2"}, &p);  // invalid: acts as unset
    CHECK(c.sampling_rate == 1.0);
    REQUIRE(p.size() == 1);
    CHECK(p[0].message.find("default 1") != std::string::npos);
    p.clear();
    c = load({"OTEL_TRACES_SAMPLER=parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.5", "TRACECRAFT_SAMPLING_RATE=0.1"}, &p);
    CHECK(c.sampling_rate == 0.5);
    REQUIRE(p.size() == 1);
    CHECK(p[0].variable == "TRACECRAFT_SAMPLING_RATE");
    p.clear();
    c = load({"OTEL_TRACES_SAMPLER=always_on", "TRACECRAFT_SAMPLING_RATE=0.1"}, &p);
    CHECK(c.sampler == tc::sampler_kind::always_on);
    REQUIRE(p.size() == 1);
    p.clear();
    c = load({"OTEL_TRACES_SAMPLER=xray"}, &p);
    CHECK(c.sampler == tc::sampler_kind::parentbased_always_on);
    REQUIRE(p.size() == 1);
    CHECK(p[0].message.find("does not implement") != std::string::npos);
  }
}

TEST_SUITE("keeping the tail") {
  // Rate 0 with the tail kept: every trace is a skeleton until the drain decides.
  tc::config tail_config(const std::string& path) {
    auto c = sampling_config(path, tc::sampler_kind::parentbased_traceidratio, 0.0);
    c.always_keep_errors = true;
    return c;
  }

  TEST_CASE("an error at depth 3 keeps its whole trace at rate 0; the others are sampled out") {
    tct::temp_dir dir;
    REQUIRE(tc::init(tail_config(dir.file("out.jsonl"))) == tc::status::ok);
    for (int i = 0; i < 50; ++i) {
      tc::span root("request", tc::kind::server);
      CHECK(root.skeleton());
      CHECK_FALSE(root.recording());
      root.set("ignored", 1);  // a skeleton keeps no attributes
      tc::span a("agent", tc::kind::agent);
      tc::span b("tool", tc::kind::tool);
      tc::span c("llm", tc::kind::llm);
      CHECK(c.skeleton());
      if (i == 17) c.set_error("model crashed");
    }
    {  // an error on a span ended on another thread counts too
      tc::async_span root("other_thread_root", tc::kind::server);
      tc::async_span child("worker", tc::kind::internal, root.context());
      std::thread([&] {
        child.set_error("worker failed");
        child.end();
      }).join();
      root.end();
    }
    REQUIRE(tc::shutdown(5s));
    const auto st = tc::stats();
    tct::check_accounting(st);
    CHECK(st.tail_kept == 6);
    CHECK(st.spans_sampled_out == 49 * 4);
    const auto spans = tct::read_spans(dir.file("out.jsonl"));
    REQUIRE(spans.size() == 6);
    const auto* root = tct::find(spans, "request");
    const auto* llm = tct::find(spans, "llm");
    REQUIRE(root);
    REQUIRE(llm);
    CHECK(root->attrs.at("tracecraft.sampling.reason").s == "error");
    CHECK_FALSE(root->has("ignored"));
    CHECK(root->has("run_id"));
    CHECK(llm->status_code == 2);
    CHECK(llm->status_message == "model crashed");
    CHECK(llm->trace_id == root->trace_id);
    CHECK((root->flags & 0x1) == 0);  // not sampled at the edge: the W3C flag says so
    CHECK(root->trace_state.empty());  // kept for its error, not by probability: no th
    CHECK(tct::find(spans, "other_thread_root")->attrs.at("tracecraft.sampling.reason").s == "error");
    CHECK(tct::find(spans, "worker")->status_message == "worker failed");
  }

  TEST_CASE("a slow root keeps its trace (threshold inclusive); a fast one does not") {
    tct::temp_dir dir;
    auto c = tail_config(dir.file("out.jsonl"));
    c.always_keep_errors = false;
    c.always_keep_slow = true;
    c.slow_threshold_ms = 30;
    REQUIRE(tc::init(c) == tc::status::ok);
    {
      tc::span root("slow", tc::kind::server);
      tc::span child("work", tc::kind::internal);
      std::this_thread::sleep_for(40ms);
    }
    { tc::span root("fast", tc::kind::server); }
    {
      tc::span root("fast_error", tc::kind::server);
      root.set_error("errors are not kept: TRACECRAFT_ALWAYS_KEEP_ERRORS=false");
    }
    REQUIRE(tc::shutdown(5s));
    tct::check_accounting(tc::stats());
    const auto spans = tct::read_spans(dir.file("out.jsonl"));
    REQUIRE(spans.size() == 2);
    CHECK(tct::find(spans, "slow")->attrs.at("tracecraft.sampling.reason").s == "slow");
    CHECK(tct::find(spans, "work") != nullptr);
  }

  TEST_CASE("a full table evicts its oldest undecided trace, counted; an error already seen is kept instead") {
    tct::temp_dir dir;
    auto c = tail_config(dir.file("out.jsonl"));
    c.pending_traces = 2;
    c.drain_interval_ms = 1;
    REQUIRE(tc::init(c) == tc::status::ok);
    // Three open requests whose children end: the table holds two.
    tc::async_span r1("r1", tc::kind::server), r2("r2", tc::kind::server), r3("r3", tc::kind::server);
    { tc::async_span x("c1", tc::kind::internal, r1.context()); }
    REQUIRE(tc::flush(2s));
    {
      tc::async_span x("c2", tc::kind::internal, r2.context());
      x.set_error("failed");
    }
    REQUIRE(tc::flush(2s));
    { tc::async_span x("c3", tc::kind::internal, r3.context()); }  // evicts r1 (no error, no root yet)
    REQUIRE(tc::flush(2s));
    { tc::async_span x("c4", tc::kind::internal, r1.context()); }  // r1 comes back: evicts r2, which failed: kept
    REQUIRE(tc::flush(2s));
    const auto mid = tc::stats();
    CHECK(mid.dropped.tail_evicted == 1);  // c1
    CHECK(mid.tail_kept == 1);             // c2, kept early
    r1.end();
    r2.end();  // its trace was decided (kept): the late root follows it
    r3.end();
    REQUIRE(tc::shutdown(5s));
    const auto st = tc::stats();
    tct::check_accounting(st);
    CHECK(st.dropped.tail_evicted == 1);
    const auto spans = tct::read_spans(dir.file("out.jsonl"));
    CHECK(spans.size() == 2);
    CHECK(tct::find(spans, "c2") != nullptr);
    CHECK(tct::find(spans, "r2") != nullptr);
  }

  TEST_CASE("a trace whose root never ends is decided after TRACECRAFT_DECISION_WAIT_MS") {
    tct::temp_dir dir;
    auto c = tail_config(dir.file("out.jsonl"));
    c.decision_wait_ms = 50;
    c.drain_interval_ms = 1;
    REQUIRE(tc::init(c) == tc::status::ok);
    tc::async_span root("long_request", tc::kind::server);
    {
      tc::async_span step("step", tc::kind::internal, root.context());
      step.set_error("step failed");
    }
    std::this_thread::sleep_for(200ms);
    REQUIRE(tc::flush(2s));
    CHECK(tc::stats().tail_kept == 1);  // decided before the root ended
    CHECK(tc::stats().tail_pending == 0);
    root.end();
    REQUIRE(tc::shutdown(5s));
    tct::check_accounting(tc::stats());
    CHECK(tct::read_spans(dir.file("out.jsonl")).size() == 2);  // the root followed its kept trace
  }

  TEST_CASE("keeping the tail is off for always_off and when both switches are off") {
    tct::temp_dir dir;
    auto c = tail_config(dir.file("out.jsonl"));
    c.sampler = tc::sampler_kind::always_off;
    REQUIRE(tc::init(c) == tc::status::ok);
    {
      tc::span root("request", tc::kind::server);
      CHECK_FALSE(root.skeleton());
      root.set_error("nobody keeps this");
    }
    REQUIRE(tc::shutdown(5s));
    tct::check_accounting(tc::stats());
    CHECK(tc::stats().spans_sampled_out == 1);
    c = tail_config(dir.file("out2.jsonl"));
    c.always_keep_errors = false;
    REQUIRE(tc::init(c) == tc::status::ok);
    {
      tc::span root("request", tc::kind::server);
      CHECK_FALSE(root.skeleton());
    }
    REQUIRE(tc::shutdown(5s));
  }
}

TEST_SUITE("sampling rules") {
  tc::sampling_rule rule(const char* name, double rate) {
    tc::sampling_rule r;
    r.name = name;
    r.rate = rate;
    return r;
  }

  TEST_CASE("first match wins, conditions ANDed, each rule with its own rate; the root says which rule") {
    tct::temp_dir dir;
    auto c = sampling_config(dir.file("out.jsonl"), tc::sampler_kind::parentbased_traceidratio, 0.0);
    auto payments = rule("payments", 1.0);
    payments.match_names = {"process_*"};
    payments.match_attributes = {{"tenant", true, ""}};
    auto checkout = rule("checkout", 1.0);
    checkout.match_names = {"process_checkout"};
    auto health = rule("health", 0.0);
    health.match_names = {"GET /healthz"};
    auto slow = rule("slow", 1.0);
    slow.min_duration_ms = 30;
    c.sampling_rules = {payments, checkout, health, slow};
    REQUIRE(tc::init(c) == tc::status::ok);
    {
      tc::span s("process_payment", tc::kind::server);
      CHECK(s.recording());  // provisionally kept at the edge: the rules need the whole trace
      s.set("tenant", "acme");
      tc::span child("charge", tc::kind::tool);
      child.set("amount", 12.5);
    }
    { tc::span s("process_checkout", tc::kind::server); }  // payments needs tenant too: checkout matches
    { tc::span s("process_refund", tc::kind::server); }    // no rule; the rate (0) drops it
    {
      tc::span s("GET /healthz", tc::kind::server);  // slow, but health comes first (rate 0)
      std::this_thread::sleep_for(40ms);
    }
    {
      tc::span s("batch_job", tc::kind::server);
      std::this_thread::sleep_for(40ms);
    }
    REQUIRE(tc::shutdown(5s));
    const auto st = tc::stats();
    tct::check_accounting(st);
    CHECK(st.spans_sampled_out == 2);
    const auto spans = tct::read_spans(dir.file("out.jsonl"));
    REQUIRE(spans.size() == 4);
    CHECK(tct::find(spans, "process_payment")->attrs.at("tracecraft.sampling.reason").s == "rule:payments");
    CHECK(tct::find(spans, "process_payment")->attrs.at("tenant").s == "acme");  // a full span, not a skeleton
    CHECK(tct::find(spans, "charge")->attrs.at("amount").d == 12.5);
    CHECK(tct::find(spans, "charge")->trace_state == "ot=th:0");  // the rule's probability, 1
    CHECK(tct::find(spans, "process_checkout")->attrs.at("tracecraft.sampling.reason").s == "rule:checkout");
    CHECK(tct::find(spans, "batch_job")->attrs.at("tracecraft.sampling.reason").s == "rule:slow");
    CHECK(tct::find(spans, "GET /healthz") == nullptr);
  }

  TEST_CASE("a rule's rate is consistent probability sampling: exactly R >= T kept, th written; the rest at the default rate") {
    tct::temp_dir dir;
    auto c = sampling_config(dir.file("out.jsonl"), tc::sampler_kind::parentbased_traceidratio, 0.1);
    auto half = rule("half", 0.5);
    half.match_names = {"chat"};
    c.sampling_rules = {half};
    // Room for every trace: on a loaded machine the drain can fall behind and a full table would
    // evict undecided traces (counted, but they would bias the fractions this test measures).
    c.pending_traces = 100000;
    REQUIRE(tc::init(c) == tc::status::ok);
    const int n = 20000;
    std::size_t chat_due = 0, embed_due = 0;  // R >= T at each one's rate: exactly these are kept
    for (int i = 0; i < n; ++i) {
      {
        tc::span s("chat", tc::kind::server);
        chat_due += tct::sampling_r(s.context()) >= 0x80000000000000ull;
      }
      {
        tc::span s("embed", tc::kind::server);
        embed_due += tct::sampling_r(s.context()) >= 0xe6660000000000ull;
      }
    }
    REQUIRE(tc::shutdown(20s));
    const auto st = tc::stats();
    tct::check_accounting(st);
    INFO("tail_evicted " << st.dropped.tail_evicted << ", ring_full " << st.dropped.ring_full << ", sampled out "
                         << st.spans_sampled_out << ", exported " << st.spans_exported);
    std::size_t chat = 0, embed = 0;
    for (const auto& s : tct::read_spans(dir.file("out.jsonl"))) {
      if (s.name == "chat") {
        ++chat;
        CHECK(s.attrs.at("tracecraft.sampling.reason").s == "rule:half");
        CHECK(s.trace_state == "ot=th:8");
        CHECK(low56(s.trace_id) >= 0x80000000000000ull);
      } else {
        ++embed;
        CHECK(s.attrs.at("tracecraft.sampling.reason").s == "rate");
        CHECK(s.trace_state == "ot=th:e666");
        CHECK(low56(s.trace_id) >= 0xe6660000000000ull);
      }
    }
    INFO("chat " << chat << ", embed " << embed);
    CHECK(chat == chat_due);
    CHECK(embed == embed_due);
    CHECK(tct::within_5sd(static_cast<double>(chat), n, 0.5));  // unbiased ids
    CHECK(tct::within_5sd(static_cast<double>(embed), n, 0.1));
  }

  TEST_CASE("rules from the environment and from a JSON file; malformed rules reported with their text") {
    tct::temp_dir dir;
    {
      std::FILE* f = std::fopen(dir.file("rules.json").c_str(), "w");
      REQUIRE(f);
      std::fputs(R"({"rules": [{"name": "from_file", "rate": 1, "match_error": true}, {"name": "bad", "rate": 7, "match_error": true}]})", f);
      std::fclose(f);
    }
    const std::string file_var = "TRACECRAFT_SAMPLING_RULES_FILE=" + dir.file("rules.json");
    const char* env[] = {"TRACECRAFT_SAMPLING_RULES=first:rate=1,name=a*;oops", file_var.c_str(), nullptr};
    std::vector<tc::config_problem> problems;
    const tc::config c = tc::load_config(env, &problems);
    REQUIRE(c.sampling_rules.size() == 2);
    CHECK(c.sampling_rules[0].name == "first");
    CHECK(c.sampling_rules[1].name == "from_file");
    REQUIRE(problems.size() == 2);
    CHECK(problems[0].variable == "TRACECRAFT_SAMPLING_RULES");
    CHECK(problems[0].message.find("'oops'") != std::string::npos);
    CHECK(problems[1].variable == "TRACECRAFT_SAMPLING_RULES_FILE");
    CHECK(problems[1].message.find("\"rate\":7") != std::string::npos);
    const char* missing[] = {"TRACECRAFT_SAMPLING_RULES_FILE=/nonexistent/rules.json", nullptr};
    problems.clear();
    tc::load_config(missing, &problems);
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].message.find("cannot be read") != std::string::npos);
  }
}
