// SPDX-License-Identifier: Apache-2.0
// bench/tracecraft_bench.cpp — tracecraft-bench: hot-path cost per span against the floor (two
// timestamp reads plus one 64-byte store into a thread-local buffer), and drain throughput.
//
// Method: each scenario runs in batches of `kBatch` operations timed with the TSC (the timer
// would dominate a single 10-30 ns operation), so the percentiles are of per-operation cost
// averaged over a batch. The drain is parked while a burst is timed and flushed between bursts:
// on a 2-vCPU VM it would otherwise share the producer's core and the figures would measure the
// neighbour. The drain's own cost is the separate throughput scenario. Every scenario runs once
// per round and the median over rounds is reported. Allocations: malloc is interposed.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/engine.h"
#include "export/gzip.h"
#include "redact/redactor.h"
#include "export/otlp_proto.h"
#include "tracecraft/trace.h"

#include "malloc_counter.h"  // tests/support

namespace tc = tracecraft;
using namespace std::chrono_literals;

namespace {

constexpr int kBatch = 16;

struct result {
  std::string name;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0;
  double allocs_per_span = 0;
  std::uint64_t drops = 0;
  double spans_per_s = 0;  // throughput scenarios only
  double mb_per_s = 0;     // compression scenarios
  double ratio = 0;        // compressed / raw
  bool throughput = false;
};

double g_ns_per_tick = 1.0;

double ns_per_tick() {
  if (!tracecraft::detail::g_use_tsc.load()) return 1.0;
  const auto c0 = std::chrono::steady_clock::now();
  const std::uint64_t t0 = tracecraft::detail::ticks();
  std::this_thread::sleep_for(50ms);
  const auto c1 = std::chrono::steady_clock::now();
  const std::uint64_t t1 = tracecraft::detail::ticks();
  return std::chrono::duration<double, std::nano>(c1 - c0).count() / static_cast<double>(t1 - t0);
}

double pct(std::vector<double>& v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// The floor: what any tracer must at least do (two timestamps, one 64-byte record store).
struct alignas(64) slot {
  std::uint64_t t0, t1, a, b, c, d, e, f;
};
thread_local slot t_floor_buf[4096];
thread_local unsigned t_floor_idx = 0;
__attribute__((noinline)) void floor_op(std::uint64_t x) {
  const std::uint64_t t0 = tracecraft::detail::ticks();
  const std::uint64_t t1 = tracecraft::detail::ticks();
  slot& s = t_floor_buf[t_floor_idx++ & 4095];
  s = slot{t0, t1, x, x + 1, x + 2, x + 3, x + 4, x + 5};
  asm volatile("" ::"r"(&s) : "memory");
}

// One clock read (the engine's ticks(): rdtsc, or clock_gettime without an invariant TSC), kept
// from being optimised away: the yardstick of the unsampled child's budget.
__attribute__((noinline)) void clock_op(std::uint64_t x) {
  const std::uint64_t t = tracecraft::detail::ticks();
  slot& s = t_floor_buf[t_floor_idx++ & 4095];
  s.a = t ^ x;
  asm volatile("" ::"r"(&s) : "memory");
}

template <class Op>
result measure(const char* name, int batches, Op op) {
  std::vector<double> per_op;
  per_op.reserve(static_cast<std::size_t>(batches));
  const tc::stats_snapshot before = tc::stats();
  for (int i = 0; i < 200; ++i) op(i);  // warm-up: the thread's first span attaches its ring
  tc_malloc::allocations = 0;
  tc_malloc::counting = true;
  for (int b = 0; b < batches; ++b) {
    const std::uint64_t t0 = tracecraft::detail::ticks();
    for (int i = 0; i < kBatch; ++i) op(b * kBatch + i);
    const std::uint64_t t1 = tracecraft::detail::ticks();
    per_op.push_back(static_cast<double>(t1 - t0) * g_ns_per_tick / kBatch);
    if (b % 32 == 31) {  // drain between bursts (512 spans), untimed: the producer is measured alone
      tc_malloc::counting = false;
      tc::flush(10s);
      tc_malloc::counting = true;
    }
  }
  tc_malloc::counting = false;
  tc::flush(10s);
  const tc::stats_snapshot after = tc::stats();
  result r;
  r.name = name;
  r.allocs_per_span = static_cast<double>(tc_malloc::allocations.load()) / (static_cast<double>(batches) * kBatch);
  r.drops = after.dropped.ring_full - before.dropped.ring_full;
  r.p50 = pct(per_op, 0.50);
  r.p90 = pct(per_op, 0.90);
  r.p99 = pct(per_op, 0.99);
  r.p999 = pct(per_op, 0.999);
  return r;
}

tc::config bench_config(double rate, bool keep_tail = false) {
  tc::config c;
  c.always_keep_errors = keep_tail;  // off: a dropped trace is simply unsampled
  c.exporters.clear();  // the hot path is what is measured; the drain still decodes every record
  c.sampler = tc::sampler_kind::parentbased_traceidratio;
  c.sampling_rate = rate;
  c.ring_kb = 256;             // the default: a ring that stays in cache, as in production
  c.drain_interval_ms = 1000;  // the drain runs when flushed between bursts (see measure())
  c.drain_cpu = std::thread::hardware_concurrency() > 1 ? 1 : -1;  // never on the producer's CPU
  c.diagnostics = tc::log_level::error;
  return c;
}

std::unique_ptr<tracecraft::detail::exporter> make_proto_timing(const tracecraft::detail::resource_info& r);

// Drain throughput: records produced first (drain held back), then one drain pass timed, from
// ring records to OTLP/JSON lines written to /dev/null, or (`proto`) to OTLP protobuf requests in
// memory: the engine's whole CPU cost per span before the network.
std::string chat_text(std::size_t bytes);

// text300: every span carries 300 bytes of distinct chat text in three attributes (the
// redaction scenarios: the same with `redact` on and off, the difference is what redaction adds).
result drain_throughput(const char* name, int spans, bool attrs, bool proto = false, bool text300 = false, bool redact = false) {
  using namespace tracecraft::detail;
  tc::config c;
  c.redact = redact;
  const std::string text = text300 ? chat_text(300 * static_cast<std::size_t>(spans)) : std::string();
  c.exporters = {tc::exporter_kind::jsonl};
  if (proto) c.exporters.clear();
  c.jsonl_path = "/dev/null";
  c.ring_kb = 131072;  // 128 MiB holds the whole run
  c.diagnostics = tc::log_level::error;
  auto* e = new engine(c);
  if (proto) e->exporters.push_back(make_proto_timing(e->resource));
  e->clock = calibrate_clock();
  e->gen = 0x7fffff00u + (attrs ? 1 : 0) + (proto ? 2 : 0) + (text300 ? 4 : 0) + (redact ? 8 : 0);
  e->running.store(true);
  e->drain_started.store(true);  // no drain thread: this thread drains below
  g_engine.store(e);
  g_hot.gen.store(e->gen);
  auto produce = [&] {
    for (int i = 0; i < spans; ++i) {
      tc::span s("decode step", tc::kind::llm);
      if (attrs) {
        s.set("gen_ai.request.model", "llama-3.1-8b-instruct");
        s.set("http.route", "/v1/chat/completions");
        s.set("gen_ai.usage.output_tokens", i);
        s.set("gen_ai.request.temperature", 0.7);
      }
      if (text300) {
        const std::string_view v(text.data() + 300 * static_cast<std::size_t>(i), 300);
        s.set("gen_ai.prompt", v.substr(0, 120));
        s.set("gen_ai.completion", v.substr(120, 100));
        s.set("tool.arguments", v.substr(220, 80));
      }
    }
  };
  // A first pass grows the drain's and the exporter's buffers; the second, steady state, is
  // timed and its heap allocations counted (this thread is the drain here).
  produce();
  e->drain_pass(false);
  for (auto& x : e->exporters) x->flush({}, false);
  produce();
  tc_malloc::allocations.store(0);
  tc_malloc::counting = true;
  const auto t0 = std::chrono::steady_clock::now();
  e->drain_pass(false);
  for (auto& x : e->exporters) x->flush({}, false);
  const auto t1 = std::chrono::steady_clock::now();
  tc_malloc::counting = false;
  g_hot.gen.store(0);
  e->running.store(false);  // so the next init() starts a real engine
  result r;
  r.name = name;
  r.throughput = true;
  const auto s = e->snapshot();
  r.drops = s.dropped.ring_full;
  const std::uint64_t done = (proto ? e->decoded.load() : s.spans_exported) / 2;
  r.spans_per_s = static_cast<double>(done) / std::chrono::duration<double>(t1 - t0).count();
  r.allocs_per_span = static_cast<double>(tc_malloc::allocations.load()) / spans;
  if (done != static_cast<std::uint64_t>(spans))
    std::fprintf(stderr, "tracecraft-bench: %s exported %llu of %d spans\n", name,
                 static_cast<unsigned long long>(s.spans_exported), spans);
  const std::vector<thread_state*> rings = e->rings;
  for (thread_state* ts : rings) e->fold_and_release(ts);  // the engine's hold; the thread's goes on re-attach
  e->release_resources();
  return r;
}

// An exporter that encodes every span it is given into a protobuf request buffer (sealed every
// 512 spans, as a batch would be). For the encoder-only scenario it also keeps deep copies of the
// first views, so the encoder can then be timed alone over them, without a clock read per span.
class proto_timing_exporter final : public tracecraft::detail::exporter {
 public:
  explicit proto_timing_exporter(const tracecraft::detail::resource_info& r, std::size_t keep = 0)
      : batch_(r), keep_(keep) {}
  const char* name() const noexcept override { return "proto-timing"; }
  void add(const tracecraft::detail::span_view& s, std::uint64_t) noexcept override {
    batch_.add(s);
    if (batch_.spans() == 512) {
      const std::string_view req = batch_.seal();
      bytes_ += req.size();
      sample_.assign(req);  // a real request, for the compression scenarios
      batch_.clear();
    }
    ++spans_;
    if (kept_.size() < keep_) kept_.push_back(deep_copy(s));
  }
  void tick(std::uint64_t) noexcept override {}
  bool flush(std::chrono::steady_clock::time_point, bool) noexcept override { return true; }
  /// Encodes the kept views `n` times over; returns the seconds it took.
  double time_encoding(std::size_t n) {
    batch_.clear();
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      batch_.add(kept_[i % kept_.size()]);
      if (batch_.spans() == 512) {
        bytes_ += batch_.seal().size();
        batch_.clear();
      }
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  std::uint64_t spans_ = 0, bytes_ = 0;
  std::string sample_;

 private:
  std::string_view keep_str(std::string_view v) { return arena_.emplace_back(v); }
  const std::uint8_t* keep_bytes(const std::uint8_t* p, std::size_t n) {
    if (p == nullptr) return nullptr;
    return reinterpret_cast<const std::uint8_t*>(arena_.emplace_back(reinterpret_cast<const char*>(p), n).data());
  }
  tracecraft::detail::span_view deep_copy(const tracecraft::detail::span_view& s) {
    tracecraft::detail::span_view v = s;
    v.trace_id = keep_bytes(s.trace_id, 16);
    v.span_id = keep_bytes(s.span_id, 8);
    v.parent_id = keep_bytes(s.parent_id, 8);
    v.name = keep_str(s.name);
    v.status_message = keep_str(s.status_message);
    for (auto* list : {&v.attrs, &v.nested})
      for (auto& a : *list) {
        a.key = keep_str(a.key);
        a.s = keep_str(a.s);
      }
    for (auto& e : v.events) e.name = keep_str(e.name);
    for (auto& l : v.links) {
      l.trace_id = keep_bytes(l.trace_id, 16);
      l.span_id = keep_bytes(l.span_id, 8);
    }
    return v;
  }
  tracecraft::detail::otlp_proto_batch batch_;
  std::size_t keep_;
  std::vector<tracecraft::detail::span_view> kept_;
  std::deque<std::string> arena_;  // never moves its strings
};

std::unique_ptr<tracecraft::detail::exporter> make_proto_timing(const tracecraft::detail::resource_info& r) {
  return std::make_unique<proto_timing_exporter>(r);
}

std::string g_request_sample;  // a 512-span OTLP protobuf request from encode_throughput

// gzip of a real 512-span request: spans/s through the compressor and MB/s of input.
result gzip_throughput(const char* name, tracecraft::detail::gzip_compressor::impl which) {
  tracecraft::detail::gzip_compressor gz(which, 1);
  std::string out;
  const int reps = 200;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) gz.compress(g_request_sample, out);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result r;
  r.name = name;
  r.throughput = true;
  r.spans_per_s = 512.0 * reps / secs;
  r.mb_per_s = static_cast<double>(g_request_sample.size()) * reps / secs / 1e6;
  r.ratio = static_cast<double>(out.size()) / static_cast<double>(g_request_sample.size());
  return r;
}

// Redaction (issue #5): the default pattern set over realistic chat text, one MiB per scan
// (MB/s per core), and a span's 300 bytes of text in three values (one scan call, as the drain
// makes it): ns per span. A few values carry PII, as chat does.
std::string chat_text(std::size_t bytes) {
  const char* lines[] = {
      "Can you summarise the attached quarterly report and list the three biggest risks for the team?",
      "Sure. The report covers revenue, hiring and infrastructure; the main risks are supply delays, churn in the EU "
      "segment, and the database migration.",
      "Please email the summary to jane.doe@example.com and copy the ops channel.",
      "The deployment of task-management-service v2.14.3 finished at 2026-11-21T22:34:07Z with p99 latency 41.7 ms.",
      "Here is the function you asked for: def add(a, b): return a + b  # handles ints and floats",
      "User asked about order ORD-2024-000123; shipping was delayed by two days because of weather.",
      "I cannot share credentials, but you can rotate the key in the dashboard under Settings > API.",
  };
  std::string t;
  while (t.size() < bytes)
    for (const char* l : lines) t.append(l).append(" ");
  t.resize(bytes);
  return t;
}

result redact_throughput(const char* name) {
  using namespace tracecraft::detail;
  std::vector<std::string> problems;
  auto r = redactor::create(redact_settings{}, problems);
  result res;
  res.name = name;
  res.throughput = true;
  if (!r) return res;
  const std::string text = chat_text(1u << 20);
  std::string out;
  double best = 1e9;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    r->scan(text, out);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  res.mb_per_s = static_cast<double>(text.size()) / best / 1e6;
  return res;
}

// A span's 300 bytes in three values: one scan call per span, and one per 64 spans (as the
// drain batches). The two are timed alternately, best of 9 each, so a change in the host's speed
// between them does not show as a difference.
std::pair<result, result> redact_per_span() {
  using namespace tracecraft::detail;
  std::vector<std::string> problems;
  auto r = redactor::create(redact_settings{}, problems);
  std::pair<result, result> out;
  out.first.name = "redact_span_300B";
  out.second.name = "redact_batch_300B";
  out.first.throughput = out.second.throughput = true;
  if (!r) return out;
  const std::string text = chat_text(300 * 4096);
  const int spans = 4096;
  std::vector<std::string_view> values(3 * 64), outs(3 * 64);
  std::vector<redactor::result> results(3 * 64);
  auto pass = [&](std::size_t k) {
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i + k <= static_cast<std::size_t>(spans); i += k) {
      for (std::size_t j = 0; j < k; ++j) {
        const std::string_view v(text.data() + 300 * (i + j), 300);
        values[3 * j] = v.substr(0, 120);
        values[3 * j + 1] = v.substr(120, 100);
        values[3 * j + 2] = v.substr(220, 80);
      }
      r->scan_many(values.data(), 3 * k, outs.data(), results.data());
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  double one = 1e9, batched = 1e9;
  for (int rep = 0; rep < 9; ++rep) {
    one = std::min(one, pass(1));
    batched = std::min(batched, pass(64));
  }
  out.first.spans_per_s = spans / one;
  out.second.spans_per_s = spans / batched;
  out.first.mb_per_s = 300.0 * spans / one / 1e6;
  out.second.mb_per_s = 300.0 * spans / batched / 1e6;
  return out;
}

result encode_throughput(const char* name, int spans) {
  using namespace tracecraft::detail;
  tc::config c;
  c.exporters.clear();
  c.ring_kb = 131072;
  c.diagnostics = tc::log_level::error;
  auto* e = new engine(c);
  e->clock = calibrate_clock();
  e->gen = 0x7fffff10u;
  e->running.store(true);
  e->drain_started.store(true);
  auto timing = std::make_unique<proto_timing_exporter>(e->resource, 1024);
  proto_timing_exporter* t = timing.get();
  e->exporters.push_back(std::move(timing));
  g_engine.store(e);
  g_hot.gen.store(e->gen);
  for (int i = 0; i < spans; ++i) {  // 4 attributes and one event, as the issue specifies
    tc::span s("decode step", tc::kind::llm);
    s.set("gen_ai.request.model", "llama-3.1-8b-instr");
    s.set("http.route", "/v1/chat/completion");
    s.set("gen_ai.usage.output_tokens", i);
    s.set("gen_ai.request.temperature", 0.7);
    s.add_event("first_token", {{"gen_ai.token.index", 0}});
  }
  e->drain_pass(false);
  g_hot.gen.store(0);
  e->running.store(false);
  result r;
  r.name = name;
  r.throughput = true;
  g_request_sample = t->sample_;
  constexpr std::size_t n = 400000;  // the kept views, encoded over and over, one clock pair
  r.spans_per_s = static_cast<double>(n) / t->time_encoding(n);
  const std::vector<thread_state*> rings = e->rings;
  for (thread_state* ts : rings) e->fold_and_release(ts);
  e->release_resources();
  return r;
}

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// Median of each figure over rounds: scenarios are interleaved round by round, so slow phases
// of this shared machine hit every scenario alike instead of one.
result median_of(const std::vector<result>& rounds) {
  auto med = [&](auto field) {
    std::vector<double> v;
    for (const auto& r : rounds) v.push_back(field(r));
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  result m = rounds.front();
  m.p50 = med([](const result& r) { return r.p50; });
  m.p90 = med([](const result& r) { return r.p90; });
  m.p99 = med([](const result& r) { return r.p99; });
  m.p999 = med([](const result& r) { return r.p999; });
  m.spans_per_s = med([](const result& r) { return r.spans_per_s; });
  m.mb_per_s = med([](const result& r) { return r.mb_per_s; });
  m.allocs_per_span = 0;
  m.drops = 0;
  for (const auto& r : rounds) {
    m.allocs_per_span = std::max(m.allocs_per_span, r.allocs_per_span);
    m.drops += r.drops;
  }
  return m;
}

std::string g_only;  // --only: the scenarios whose names contain it
bool want(const char* name) { return g_only.empty() || std::string_view(name).find(g_only) != std::string_view::npos; }

void one_round(int batches, std::vector<std::vector<result>>& out, std::uint64_t& ring_bytes) {
  std::size_t k = 0;
  auto add = [&](result r) {
    if (out.size() <= k) out.emplace_back();
    out[k++].push_back(std::move(r));
  };
  add(measure("floor", batches, [](int i) { floor_op(static_cast<std::uint64_t>(i)); }));
  if (want("clock_read")) add(measure("clock_read", batches, [](int i) { clock_op(static_cast<std::uint64_t>(i)); }));
  // Disabled: not initialised (OTEL_SDK_DISABLED behaves the same: the generation stays 0).
  if (want("disabled")) add(measure("disabled", batches, [](int i) {
    tc::span s("decode", tc::kind::llm);
    s.set("gen_ai.usage.output_tokens", i);
  }));
  tc::init(bench_config(0.0));
  if (want("unsampled_root")) add(measure("unsampled_root", batches, [](int) { tc::span s("request", tc::kind::server); }));
  {
    tc::span root("request", tc::kind::server);  // unsampled at rate 0
    if (want("unsampled_child")) add(measure("unsampled_child", batches, [](int i) {
      tc::span s("decode", tc::kind::llm);
      TC_SET(s, "gen_ai.usage.output_tokens", i);
    }));
  }
  tc::shutdown(10s);
  // Rate 0 with TRACECRAFT_ALWAYS_KEEP_ERRORS: dropped traces record skeletons for the tail.
  tc::init(bench_config(0.0, true));
  if (want("skeleton_root")) add(measure("skeleton_root", batches, [](int) { tc::span s("request", tc::kind::server); }));
  {
    tc::span root("request", tc::kind::server);
    if (want("skeleton_child")) add(measure("skeleton_child", batches, [](int i) {
      tc::span s("decode", tc::kind::llm);
      TC_SET(s, "gen_ai.usage.output_tokens", i);  // skipped: a skeleton keeps no attributes
    }));
  }
  tc::shutdown(10s);
  tc::init(bench_config(1.0));
  if (want("sampled_root_0attr")) add(measure("sampled_root_0attr", batches, [](int) { tc::span s("request", tc::kind::server); }));
  {
    tc::span root("request", tc::kind::server);
    if (want("sampled_0attr")) add(measure("sampled_0attr", batches, [](int) { tc::span s("decode", tc::kind::llm); }));
    if (want("sampled_4attr")) add(measure("sampled_4attr", batches, [](int i) {
      tc::span s("decode", tc::kind::llm);
      s.set("gen_ai.request.model", "llama-3.1-8b-instr");  // ~20 bytes
      s.set("http.route", "/v1/chat/completion");            // ~20 bytes
      s.set("gen_ai.usage.output_tokens", i);
      s.set("gen_ai.request.temperature", 0.7);
    }));
    if (want("sampled_event")) add(measure("sampled_event", batches, [](int i) {
      tc::span s("decode", tc::kind::llm);
      s.add_event("first_token", {{"gen_ai.token.index", i}});
    }));
  }
  const tc::stats_snapshot st = tc::stats();
  ring_bytes = st.threads ? st.ring_bytes / st.threads : 0;
  tc::shutdown(10s);
  if (want("drain")) add(drain_throughput("drain", 200000, false));
  if (want("drain_4attr")) add(drain_throughput("drain_4attr", 200000, true));
  if (want("drain_4attr_proto")) add(drain_throughput("drain_4attr_proto", 200000, true, true));
  if (want("drain_text_300B")) add(drain_throughput("drain_text_300B", 200000, false, false, true, false));
  if (want("drain_redact_300B")) add(drain_throughput("drain_redact_300B", 200000, false, false, true, true));
  if (want("encode_proto_4attr_1event")) add(encode_throughput("encode_proto_4attr_1event", 200000));
  if (want("gzip_zlib")) add(gzip_throughput("gzip_zlib", tracecraft::detail::gzip_compressor::impl::zlib));
  if (want("gzip_libdeflate")) add(gzip_throughput("gzip_libdeflate", tracecraft::detail::gzip_compressor::impl::libdeflate));
  if (want("redact_scan_chat")) add(redact_throughput("redact_scan_chat"));
  if (want("redact_span_300B") || want("redact_batch_300B")) {
    auto both = redact_per_span();
    add(both.first);
    add(both.second);
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  int batches = 8000, rounds = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) json = true;
    else if (std::strcmp(argv[i], "--quick") == 0) batches = 2000, rounds = 3;
    else if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = std::max(1, std::atoi(argv[++i]));
    else if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) g_only = argv[++i];
    else {
      std::printf("usage: tracecraft-bench [--json] [--quick] [--rounds N] [--only SUBSTRING]\n");
      return std::strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  pin(0);  // producer on CPU 0; the drain thread floats on the other core
  tracecraft::detail::calibrate_clock();
  g_ns_per_tick = ns_per_tick();
  std::vector<std::vector<result>> per_scenario;
  std::uint64_t ring_bytes = 0;
  for (int r = 0; r < rounds; ++r) one_round(batches, per_scenario, ring_bytes);
  std::vector<result> results;
  for (const auto& v : per_scenario) results.push_back(median_of(v));
  // What redaction adds to the drain per 300-byte span: the two runs of each round paired (they
  // ran seconds apart; rounds minutes apart, on a host whose speed drifts), the median delta.
  double redact_added_ns = -1;  // -1: not measured (--only left one of the pair out)
  {
    const std::vector<result>* text = nullptr;
    const std::vector<result>* red = nullptr;
    for (const auto& v : per_scenario) {
      if (v.front().name == "drain_text_300B") text = &v;
      if (v.front().name == "drain_redact_300B") red = &v;
    }
    if (text != nullptr && red != nullptr) {
      std::vector<double> d;
      for (std::size_t i = 0; i < text->size() && i < red->size(); ++i)
        if ((*text)[i].spans_per_s > 0 && (*red)[i].spans_per_s > 0) d.push_back(1e9 / (*red)[i].spans_per_s - 1e9 / (*text)[i].spans_per_s);
      std::sort(d.begin(), d.end());
      if (!d.empty()) redact_added_ns = d[d.size() / 2];
    }
  }
  struct {
    std::uint64_t ring_bytes;
  } st{ring_bytes};

  auto find = [&](const char* n) -> const result& {
    for (auto& r : results)
      if (r.name == n) return r;
    return results[0];
  };
  const double floor50 = find("floor").p50;
  if (json) {
    std::printf("{\"version\":\"%s\",\"method\":\"batches of %d ops timed with %s, median of rounds\",\"ns_per_tick\":%.6f,"
                "\"ring_bytes_per_thread\":%llu,\"scenarios\":{",
                tc::version(), kBatch, tracecraft::detail::g_use_tsc.load() ? "rdtsc" : "clock_gettime", g_ns_per_tick,
                static_cast<unsigned long long>(st.ring_bytes));
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      if (r.throughput && r.mb_per_s > 0)
        std::printf("%s\"%s\":{\"spans_per_s\":%.0f,\"mb_per_s\":%.1f,\"ratio\":%.3f}", i ? "," : "", r.name.c_str(),
                    r.spans_per_s, r.mb_per_s, r.ratio);
      else if (r.throughput)
        std::printf("%s\"%s\":{\"spans_per_s\":%.0f,\"allocs_per_span\":%.4f,\"drops\":%llu}", i ? "," : "", r.name.c_str(),
                    r.spans_per_s, r.allocs_per_span, static_cast<unsigned long long>(r.drops));
      else
        std::printf("%s\"%s\":{\"p50_ns\":%.2f,\"p90_ns\":%.2f,\"p99_ns\":%.2f,\"p999_ns\":%.2f,\"ratio_to_floor_p50\":%.3f,"
                    "\"allocs_per_span\":%.4f,\"drops\":%llu}",
                    i ? "," : "", r.name.c_str(), r.p50, r.p90, r.p99, r.p999, r.p50 / floor50, r.allocs_per_span,
                    static_cast<unsigned long long>(r.drops));
    }
    std::printf(",\"redact_added_per_300B_span\":{\"ns\":%.1f}}}\n", redact_added_ns);
    return 0;
  }
  std::printf("tracecraft-bench %s — per-op cost in batches of %d, clock %s (%.4f ns/tick), median of %d rounds\n\n",
              tc::version(), kBatch, tracecraft::detail::g_use_tsc.load() ? "rdtsc" : "clock_gettime", g_ns_per_tick,
              rounds);
  std::printf("%-20s %9s %9s %9s %9s %8s %8s %7s\n", "scenario", "p50 ns", "p90 ns", "p99 ns", "p99.9 ns", "x floor",
              "alloc/op", "drops");
  for (const auto& r : results) {
    if (r.throughput) continue;
    std::printf("%-20s %9.2f %9.2f %9.2f %9.2f %8.2f %8.4f %7llu\n", r.name.c_str(), r.p50, r.p90, r.p99, r.p999,
                r.p50 / floor50, r.allocs_per_span, static_cast<unsigned long long>(r.drops));
  }
  std::printf("\n");
  for (const auto& r : results) {
    if (!r.throughput) continue;
    if (r.name == "drain_redact_300B" && redact_added_ns >= -1e8 && redact_added_ns != -1)
      std::printf("%-26s %12.0f spans/s %s redaction adds %.0f ns per span of 300 bytes (vs drain_text_300B, median of "
                  "the rounds' paired differences)\n",
                  r.name.c_str(), r.spans_per_s, r.allocs_per_span == 0 ? "[0 allocations in steady state]" : "[ALLOCATES in steady state]",
                  redact_added_ns);
    else if (r.name == "redact_scan_chat")
      std::printf("%-26s %7.1f MB/s (default patterns over 1 MiB of chat text, one core)\n", r.name.c_str(), r.mb_per_s);
    else if (r.name == "redact_span_300B")
      std::printf("%-26s %12.0f spans/s  %.0f ns per span (300 bytes in 3 values, one scan call)\n", r.name.c_str(),
                  r.spans_per_s, r.spans_per_s > 0 ? 1e9 / r.spans_per_s : 0.0);
    else if (r.name == "redact_batch_300B")
      std::printf("%-26s %12.0f spans/s  %.0f ns per span (300 bytes in 3 values, 64 spans per scan call, as the drain "
                  "batches)\n",
                  r.name.c_str(), r.spans_per_s, r.spans_per_s > 0 ? 1e9 / r.spans_per_s : 0.0);
    else if (r.mb_per_s > 0)
      std::printf("%-26s %12.0f spans/s  %7.1f MB/s  ratio %.3f (gzip level 1 of a 512-span OTLP request)\n",
                  r.name.c_str(), r.spans_per_s, r.mb_per_s, r.ratio);
    else
      std::printf("%-26s %12.0f spans/s %s%s\n", r.name.c_str(), r.spans_per_s,
                  r.name.rfind("drain", 0) == 0 ? (r.allocs_per_span == 0 ? "[0 allocations in steady state] " : "[ALLOCATES in steady state] ") : "",
                  r.name.rfind("encode", 0) == 0 ? "encoded to OTLP protobuf (encoder only, one core)"
                  : r.name.find("proto") != std::string::npos ? "ring -> decode -> OTLP protobuf requests (one drain thread)"
                                                               : "into the JSONL encoder (one drain thread)");
  }
  return 0;
}
