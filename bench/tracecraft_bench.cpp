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
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <optional>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/engine.h"
#include "ring/thread_state.h"
#include "export/gzip.h"
#include "redact/redactor.h"
#include "export/otlp_proto.h"
#include "tracecraft/trace.h"

#include "malloc_counter.h"  // tests/support
#include "perf_counter.h"
#include "sink_process.h"

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
  double instructions_per_op = -1;  // user-space instructions per operation; -1: not measured
  double cycles_per_op = -1;        // drain scenarios: user-space core cycles per span; -1: not measured
  int threads = 1;
  double fairness = 0;           // multi-thread scenarios: slowest thread's p50 / fastest thread's p50
  double bytes_per_span = 0;     // drain scenarios: ring bytes per span record
  double ratio_to_memcpy = 0;    // drain scenarios: ring bytes/s drained / memcpy bytes/s of the same bytes
  std::vector<double> samples;   // per-op costs of the last round (for --dist)
  bool throughput = false;
};

double g_ns_per_tick = 1.0;
thread_local tcbench::perf_counter t_instructions;  // each measuring thread its own
tcbench::perf_counter g_cycles(PERF_COUNT_HW_CPU_CYCLES);  // the main thread's, for the drain scenarios

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

// The timed part of every per-op scenario on the calling thread: `batches` batches of kBatch ops,
// each batch's per-op cost appended to `per_op`; between bursts of 32 batches (512 spans) the
// drain runs, untimed, with allocations and instructions not counted. Returns the instructions
// the bursts retired (0 without a counter).
template <class Op>
std::uint64_t timed_bursts(int batches, Op& op, std::vector<double>& per_op) {
  std::uint64_t instructions = 0;
  tc_malloc::counting = true;
  std::uint64_t i0 = t_instructions.read();
  for (int b = 0; b < batches; ++b) {
    const std::uint64_t t0 = tracecraft::detail::ticks();
    for (int i = 0; i < kBatch; ++i) op(b * kBatch + i);
    const std::uint64_t t1 = tracecraft::detail::ticks();
    per_op.push_back(static_cast<double>(t1 - t0) * g_ns_per_tick / kBatch);
    if (b % 32 == 31 || b + 1 == batches) {
      instructions += t_instructions.read() - i0;
      tc_malloc::counting = false;
      tc::flush(10s);
      tc_malloc::counting = true;
      i0 = t_instructions.read();
    }
  }
  tc_malloc::counting = false;
  return instructions;
}

void fill_percentiles(result& r, std::vector<double> samples) {
  r.p50 = pct(samples, 0.50);
  r.p90 = pct(samples, 0.90);
  r.p99 = pct(samples, 0.99);
  r.p999 = pct(samples, 0.999);
  r.samples = std::move(samples);
}

template <class Op>
result measure(const char* name, int batches, Op op) {
  std::vector<double> per_op;
  per_op.reserve(static_cast<std::size_t>(batches));
  const tc::stats_snapshot before = tc::stats();
  for (int i = 0; i < 200; ++i) op(i);  // warm-up: the thread's first span attaches its ring
  tc_malloc::allocations = 0;
  const std::uint64_t instructions = timed_bursts(batches, op, per_op);
  tc::flush(10s);
  const tc::stats_snapshot after = tc::stats();
  result r;
  r.name = name;
  r.allocs_per_span = static_cast<double>(tc_malloc::allocations.load()) / (static_cast<double>(batches) * kBatch);
  r.drops = after.dropped.ring_full - before.dropped.ring_full;
  fill_percentiles(r, std::move(per_op));
  if (t_instructions.available())
    r.instructions_per_op = static_cast<double>(instructions) / (static_cast<double>(batches) * kBatch);
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
  c.redact = false;  // the hot path does not depend on it; init() then skips compiling the patterns  // never on the producer's CPU
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
// tail: the trace-keeping path (rate 0, errors kept): every record is a skeleton the drain holds
// and decides; one trace in 100 fails and is exported.
result drain_throughput(const char* name, int spans, bool attrs, bool proto = false, bool text300 = false,
                        bool redact = false, bool tail = false) {
  using namespace tracecraft::detail;
  tc::config c;
  c.redact = redact;
  if (tail) {
    c.sampler = tc::sampler_kind::parentbased_traceidratio;
    c.sampling_rate = 0.0;
    c.always_keep_errors = true;
    c.pending_traces = static_cast<std::uint32_t>(spans) + 1024;
  }
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
      if (tail && i % 100 == 0) s.set_error("device out of memory");
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
  if (tail) e->drain_pass(false);  // as in the timed part: the held traces decided, the tables at their size
  for (auto& x : e->exporters) x->flush({}, false);
  produce();
  std::uint64_t ring_bytes = 0;
  for (thread_state* ts : e->rings) ring_bytes += ts->ring.used();
  tc_malloc::allocations.store(0);
  (void)t_instructions.available();  // constructed outside the counted region
  tc_malloc::counting = true;
  const std::uint64_t i0 = t_instructions.read(), c0 = g_cycles.read();
  const auto t0 = std::chrono::steady_clock::now();
  e->drain_pass(false);
  if (tail) e->drain_pass(false);  // a held trace is decided one full pass after its root was read
  for (auto& x : e->exporters) x->flush({}, false);
  const auto t1 = std::chrono::steady_clock::now();
  const std::uint64_t i1 = t_instructions.read(), c1 = g_cycles.read();
  tc_malloc::counting = false;
  std::uint64_t left = 0;
  for (thread_state* ts : e->rings) left += ts->ring.used();
  const double secs = std::chrono::duration<double>(t1 - t0).count();
  // The yardstick: a plain memcpy of as many bytes, in this run (the host's speed drifts).
  double memcpy_bps = 0;
  if (ring_bytes > 0) {
    std::vector<unsigned char> from(ring_bytes, 1), to(ring_bytes, 0);
    double best = 1e9;
    for (int rep = 0; rep < 3; ++rep) {
      const auto m0 = std::chrono::steady_clock::now();
      std::memcpy(to.data(), from.data(), ring_bytes);
      asm volatile("" ::"r"(to.data()) : "memory");
      best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - m0).count());
    }
    memcpy_bps = static_cast<double>(ring_bytes) / best;
  }
  g_hot.gen.store(0);
  e->running.store(false);  // so the next init() starts a real engine
  result r;
  r.name = name;
  r.throughput = true;
  const auto s = e->snapshot();
  r.drops = s.dropped.ring_full;
  // Spans the timed pass consumed: handed to the exporter, or (tail) read, held and decided.
  const std::uint64_t done =
      tail ? (left == 0 ? static_cast<std::uint64_t>(spans) : 0) : (proto ? e->decoded.load() : s.spans_exported) / 2;
  r.spans_per_s = static_cast<double>(done) / secs;
  r.allocs_per_span = static_cast<double>(tc_malloc::allocations.load()) / spans;
  if (t_instructions.available()) r.instructions_per_op = static_cast<double>(i1 - i0) / spans;
  if (g_cycles.available()) r.cycles_per_op = static_cast<double>(c1 - c0) / spans;
  r.bytes_per_span = static_cast<double>(ring_bytes) / spans;
  if (memcpy_bps > 0 && done > 0) r.ratio_to_memcpy = (static_cast<double>(ring_bytes) / secs) / memcpy_bps;
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
      if (sample_.empty()) sample_.assign(req);  // a real request, for the compression scenarios (once: not timed)
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
    (void)t_instructions.available();
    const std::uint64_t i0 = t_instructions.read(), c0 = g_cycles.read();
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      batch_.add(kept_[i % kept_.size()]);
      if (batch_.spans() == 512) {
        bytes_ += batch_.seal().size();
        batch_.clear();
      }
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::uint64_t i1 = t_instructions.read(), c1 = g_cycles.read();
    if (t_instructions.available()) instructions_per_span = static_cast<double>(i1 - i0) / static_cast<double>(n);
    if (g_cycles.available()) cycles_per_span = static_cast<double>(c1 - c0) / static_cast<double>(n);
    return secs;
  }
  double instructions_per_span = -1, cycles_per_span = -1;
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
  // As many distinct views as the drain holds before it encodes them (its redaction batch): the
  // encoder reads views that are in cache, as in the drain. With 1024 views (2 MB of scattered
  // heap) it measured mostly the bench's own cache misses: 324-341 cycles/span against 262-287.
  auto timing = std::make_unique<proto_timing_exporter>(e->resource, engine::k_batch_spans);
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
  r.instructions_per_op = t->instructions_per_span;
  r.cycles_per_op = t->cycles_per_span;
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

void unpin() {
  cpu_set_t set;
  CPU_ZERO(&set);
  const unsigned n = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned c = 0; c < n && c < CPU_SETSIZE; ++c) CPU_SET(c, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

int other_cpu() { return std::thread::hardware_concurrency() > 1 ? 1 : 0; }

// The yardstick of the disabled path: a call that loads a flag and takes a predicted branch.
std::atomic<int> g_flag{0};
__attribute__((noinline)) void branch_op(std::uint64_t x) {
  if (g_flag.load(std::memory_order_relaxed) != 0) t_floor_buf[x & 4095].a = x;
  asm volatile("" ::: "memory");
}

// The same operation on `threads` producer threads at once, free to run on every CPU: at 8
// threads on 2 cores they are oversubscribed, and the spread of the threads' medians (fairness)
// shows how evenly the cost falls. Per-op figures are pooled over all threads.
template <class Op>
result measure_threads(const std::string& name, int threads, int batches, bool under_root, Op op) {
  std::vector<std::vector<double>> per(static_cast<std::size_t>(threads));
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<std::uint64_t> instructions{0};
  std::atomic<bool> counted{true};
  const tc::stats_snapshot before = tc::stats();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      unpin();
      (void)t_instructions.available();  // constructed outside the counted region
      std::optional<tc::span> root;  // each thread's spans are children of its own request
      constexpr tc::literal kRequest("request");
      if (under_root) root.emplace(kRequest, tc::kind::server);
      auto& v = per[static_cast<std::size_t>(t)];
      v.reserve(static_cast<std::size_t>(batches));
      for (int i = 0; i < 200; ++i) op(i);
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      instructions.fetch_add(timed_bursts(batches, op, v));
      if (!t_instructions.available()) counted.store(false);
    });
  while (ready.load() < threads) std::this_thread::yield();
  tc_malloc::allocations = 0;
  go.store(true);
  for (auto& th : pool) th.join();
  tc::flush(10s);
  const tc::stats_snapshot after = tc::stats();
  result r;
  r.name = name;
  r.threads = threads;
  std::vector<double> all, medians;
  for (auto& v : per) {
    all.insert(all.end(), v.begin(), v.end());
    medians.push_back(pct(v, 0.5));
  }
  r.allocs_per_span = static_cast<double>(tc_malloc::allocations.load()) / (static_cast<double>(batches) * kBatch * threads);
  r.drops = after.dropped.ring_full - before.dropped.ring_full;
  fill_percentiles(r, std::move(all));
  r.fairness = *std::max_element(medians.begin(), medians.end()) / *std::min_element(medians.begin(), medians.end());
  if (counted.load())
    r.instructions_per_op = static_cast<double>(instructions.load()) / (static_cast<double>(batches) * kBatch * threads);
  return r;
}

// A span started on this thread and ended on another (a request's root ended by the streaming
// thread): bursts of 512 async spans are started here, timed in batches, then ended by a helper
// thread, timed in the same batches. Per op: start batch + end batch, paired.
result measure_async_handoff(int batches, const tc::span_context& parent) {
  constexpr int kBurst = 32 * kBatch;
  constexpr tc::literal kName("decode");
  std::vector<std::optional<tc::async_span>> spans(kBurst);
  std::vector<double> start_cost(32), end_cost(32), per_op;
  std::uint64_t instructions = 0, helper_instructions = 0;
  bool counted = t_instructions.available();
  std::atomic<int> phase{0};  // 1: the helper ends the burst; 2: it leaves
  const tc::stats_snapshot before = tc::stats();
  std::thread helper([&] {
    pin(other_cpu());
    counted = counted && t_instructions.available();  // constructed here, not in a counted region
    for (;;) {
      int ph;
      while ((ph = phase.load(std::memory_order_acquire)) == 0) std::this_thread::yield();
      if (ph == 2) return;
      tc_malloc::counting = true;
      const std::uint64_t i0 = t_instructions.read();
      for (int b = 0; b < 32; ++b) {
        const std::uint64_t t0 = tracecraft::detail::ticks();
        for (int i = 0; i < kBatch; ++i) spans[static_cast<std::size_t>(b * kBatch + i)]->end();
        const std::uint64_t t1 = tracecraft::detail::ticks();
        end_cost[static_cast<std::size_t>(b)] = static_cast<double>(t1 - t0) * g_ns_per_tick / kBatch;
      }
      helper_instructions += t_instructions.read() - i0;
      tc_malloc::counting = false;
      phase.store(0, std::memory_order_release);
    }
  });
  const int bursts = std::max(2, batches / 32);
  tc_malloc::allocations = 0;
  for (int burst = 0; burst <= bursts; ++burst) {  // burst 0 warms up: the helper's ring attaches
    tc_malloc::counting = burst > 0;
    const std::uint64_t i0 = t_instructions.read();
    for (int b = 0; b < 32; ++b) {
      const std::uint64_t t0 = tracecraft::detail::ticks();
      for (int i = 0; i < kBatch; ++i) spans[static_cast<std::size_t>(b * kBatch + i)].emplace(kName, tc::kind::llm, parent);
      const std::uint64_t t1 = tracecraft::detail::ticks();
      start_cost[static_cast<std::size_t>(b)] = static_cast<double>(t1 - t0) * g_ns_per_tick / kBatch;
    }
    if (burst > 0) instructions += t_instructions.read() - i0;
    tc_malloc::counting = false;
    phase.store(1, std::memory_order_release);
    while (phase.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    if (burst == 0) {
      helper_instructions = 0;
      tc_malloc::allocations = 0;
    } else {
      for (int b = 0; b < 32; ++b) per_op.push_back(start_cost[static_cast<std::size_t>(b)] + end_cost[static_cast<std::size_t>(b)]);
    }
    for (auto& x : spans) x.reset();
    tc::flush(10s);
  }
  phase.store(2, std::memory_order_release);
  helper.join();
  const tc::stats_snapshot after = tc::stats();
  result r;
  r.name = "async_end_other_thread";
  const double ops = static_cast<double>(bursts) * kBurst;
  r.allocs_per_span = static_cast<double>(tc_malloc::allocations.load()) / ops;
  r.drops = after.dropped.ring_full - before.dropped.ring_full;
  fill_percentiles(r, std::move(per_op));
  if (counted) r.instructions_per_op = static_cast<double>(instructions + helper_instructions) / ops;
  return r;
}

// Adopting a request's context on another thread (a thread-pool task, a callback) and creating a
// child span under it: measured on that thread.
result measure_adopt(int batches, const tc::span_context& ctx) {
  result r;
  std::thread t([&] {
    pin(other_cpu());
    (void)t_instructions.available();  // the thread's counter is constructed here, outside the counted region
    r = measure("adopt_context", batches, [&](int) {
      tc::context_scope scope(ctx);
      tc::span s("tool call", tc::kind::internal);
    });
  });
  t.join();
  return r;
}

std::size_t rss_bytes() {
  std::size_t pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%zu %zu", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

struct memory_figures {
  std::uint64_t ring_bytes = 0;        // configured ring per producer thread
  std::uint64_t state_bytes = 0;       // the ring's thread_state beside it
  double rss_per_thread = 0;           // measured: resident growth per attached producer thread
  std::uint64_t export_queue_spans = 0;
  std::uint64_t pending_traces = 0;
};

// Resident memory a producer thread costs: 8 threads attach (one span each) and stay alive while
// the process's resident size is read.
memory_figures measure_memory() {
  memory_figures m;
  tc::config c = tc::config{};
  c.exporters.clear();
  c.diagnostics = tc::log_level::error;
  c.redact = false;
  tc::init(c);
  m.ring_bytes = std::uint64_t{c.ring_kb} * 1024;
  m.state_bytes = sizeof(tracecraft::detail::thread_state);
  m.export_queue_spans = c.max_queue_size;
  m.pending_traces = c.pending_traces;
  constexpr int n = 8;
  std::atomic<int> attached{0};
  std::atomic<bool> leave{false};
  const std::size_t before = rss_bytes();
  std::vector<std::thread> ts;
  for (int i = 0; i < n; ++i)
    ts.emplace_back([&] {
      { tc::span s("attach", tc::kind::internal); }
      attached.fetch_add(1);
      while (!leave.load()) std::this_thread::sleep_for(1ms);
    });
  while (attached.load() < n) std::this_thread::sleep_for(1ms);
  const std::size_t after = rss_bytes();
  leave.store(true);
  for (auto& t : ts) t.join();
  tc::shutdown(10s);
  m.rss_per_thread = static_cast<double>(after - std::min(after, before)) / n;
  return m;
}

// One figure per scenario over the rounds: the median of each (rounds are interleaved, so slow
// phases of this shared machine hit every scenario alike), the worst allocation count, all drops.
result median_of(const std::vector<result>& rounds) {
  auto med = [&](auto field) {
    std::vector<double> v;
    for (const auto& r : rounds) v.push_back(field(r));
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  result m = rounds.back();
  m.p50 = med([](const result& r) { return r.p50; });
  m.p90 = med([](const result& r) { return r.p90; });
  m.p99 = med([](const result& r) { return r.p99; });
  m.p999 = med([](const result& r) { return r.p999; });
  m.spans_per_s = med([](const result& r) { return r.spans_per_s; });
  m.mb_per_s = med([](const result& r) { return r.mb_per_s; });
  m.instructions_per_op = med([](const result& r) { return r.instructions_per_op; });
  m.cycles_per_op = med([](const result& r) { return r.cycles_per_op; });
  m.fairness = med([](const result& r) { return r.fairness; });
  m.ratio_to_memcpy = med([](const result& r) { return r.ratio_to_memcpy; });
  m.bytes_per_span = med([](const result& r) { return r.bytes_per_span; });
  m.allocs_per_span = 0;
  m.drops = 0;
  for (const auto& r : rounds) {
    m.allocs_per_span = std::max(m.allocs_per_span, r.allocs_per_span);
    m.drops += r.drops;
  }
  return m;
}

std::string g_only;                 // --only: the scenarios whose names contain it ("=name": that one)
std::vector<std::string> g_wanted;  // --check: the scenarios the budgets name
bool want(const std::string& name) {
  if (!g_wanted.empty()) return std::find(g_wanted.begin(), g_wanted.end(), name) != g_wanted.end();
  if (!g_only.empty() && g_only[0] == '=') return name == std::string_view(g_only).substr(1);
  return g_only.empty() || name.find(g_only) != std::string::npos;
}

void sampled_4attr_op(int i) {
  tc::span s("decode", tc::kind::llm);
  s.set("gen_ai.request.model", "llama-3.1-8b-instr");  // ~20 bytes
  s.set("http.route", "/v1/chat/completion");            // ~20 bytes
  s.set("gen_ai.usage.output_tokens", i);
  s.set("gen_ai.request.temperature", 0.7);
}

void one_round(int batches, std::vector<std::vector<result>>& out, std::uint64_t& ring_bytes) {
  std::size_t k = 0;
  auto add = [&](result r) {
    if (out.size() <= k) out.emplace_back();
    out[k++].push_back(std::move(r));
  };
  add(measure("floor", batches, [](int i) { floor_op(static_cast<std::uint64_t>(i)); }));
  if (want("clock_read")) add(measure("clock_read", batches, [](int i) { clock_op(static_cast<std::uint64_t>(i)); }));
  if (want("branch")) add(measure("branch", batches, [](int i) { branch_op(static_cast<std::uint64_t>(i)); }));
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
    const tc::span_context ctx = root.context();
    if (want("sampled_0attr")) add(measure("sampled_0attr", batches, [](int) { tc::span s("decode", tc::kind::llm); }));
    if (want("sampled_4attr")) add(measure("sampled_4attr", batches, sampled_4attr_op));
    if (want("sampled_event")) add(measure("sampled_event", batches, [](int i) {
      tc::span s("decode", tc::kind::llm);
      s.add_event("first_token", {{"gen_ai.token.index", i}});
    }));
    if (want("async_end_other_thread")) add(measure_async_handoff(batches, ctx));
    if (want("adopt_context")) add(measure_adopt(batches, ctx));
    // Scaling: the same span on 1, 2 and 8 threads at once (each thread its own root).
    for (int threads : {2, 8}) {
      const std::string n = "sampled_4attr_t" + std::to_string(threads);
      if (want(n)) add(measure_threads(n, threads, batches / threads, true, sampled_4attr_op));
    }
  }
  const tc::stats_snapshot st = tc::stats();
  ring_bytes = st.threads ? st.ring_bytes / st.threads : 0;
  tc::shutdown(10s);
  {
    tc::init(bench_config(0.0));
    for (int threads : {2, 8}) {
      const std::string n = "unsampled_child_t" + std::to_string(threads);
      if (want(n)) add(measure_threads(n, threads, batches / threads, true, [](int i) {
        tc::span s("decode", tc::kind::llm);
        TC_SET(s, "gen_ai.usage.output_tokens", i);
      }));
    }
    tc::shutdown(10s);
  }
  // The drain: ring records to encoded OTLP protobuf batches in memory, one thread.
  if (want("drain")) add(drain_throughput("drain", 200000, true, true));
  if (want("drain_text_300B")) add(drain_throughput("drain_text_300B", 200000, false, true, true, false));
  if (want("drain_redact_300B")) add(drain_throughput("drain_redact_300B", 200000, false, true, true, true));
  if (want("drain_tail")) add(drain_throughput("drain_tail", 200000, true, true, false, false, true));
  if (want("drain_jsonl")) add(drain_throughput("drain_jsonl", 200000, false));
  if (want("drain_jsonl_4attr")) add(drain_throughput("drain_jsonl_4attr", 200000, true));
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

// ---- end to end: tracecraft-demo traced against untraced ----------------------------------------

struct demo_run {
  bool ok = false;
  double rps = 0, ttft_p99_ms = 0;
  std::uint64_t created = 0, exported = 0;
  std::int64_t host_instructions = -1;  // --work runs: the serving threads' user-space instructions (-1: not counted)
};

std::string g_tmpdir;

// `work`: steps are fixed computation (--work) and the demo counts its serving threads' instructions.
demo_run run_demo(const std::string& demo, bool traced, double rate, const std::string& exporter,
                  const std::string& endpoint, int requests, bool work = false) {
  const std::string summary = g_tmpdir + "/summary.json";
  std::remove(summary.c_str());
  std::vector<std::string> args = {demo, "--requests", std::to_string(requests), "--seed", "7", "--arrival-us", "0",
                                   work ? "--work" : "--spin", "--pin", "--slow-rate", "0", "--summary-json", summary};
  if (!traced) args.push_back("--untraced");
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view v(*e);
    if (v.rfind("OTEL_", 0) != 0 && v.rfind("TRACECRAFT_", 0) != 0) env.emplace_back(v);
  }
  char rate_s[32];
  std::snprintf(rate_s, sizeof rate_s, "%.6g", rate);
  env.push_back("OTEL_TRACES_EXPORTER=" + exporter);
  env.push_back("TRACECRAFT_JSONL_PATH=" + g_tmpdir + "/spans.jsonl");
  env.push_back(std::string("TRACECRAFT_SAMPLING_RATE=") + rate_s);
  env.push_back("TRACECRAFT_LOG_LEVEL=error");
  if (std::thread::hardware_concurrency() > 1) env.push_back("TRACECRAFT_DRAIN_CPU=1");  // beside the demo's helpers
  if (!endpoint.empty()) env.push_back("OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint);
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  demo_run r;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, demo.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return r;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return r;
  simdjson::ondemand::parser parser;
  simdjson::padded_string text;
  if (simdjson::padded_string::load(summary).get(text) != simdjson::SUCCESS) return r;
  simdjson::ondemand::document doc;
  if (parser.iterate(text).get(doc) != simdjson::SUCCESS) return r;
  double rps = 0, p99 = 0;
  std::uint64_t created = 0, exported = 0;
  if (doc["requests_per_second"].get_double().get(rps) != simdjson::SUCCESS) return r;
  if (doc["ttft_p99_ms"].get_double().get(p99) != simdjson::SUCCESS) return r;
  if (doc["spans_created"].get_uint64().get(created) != simdjson::SUCCESS) return r;
  if (doc["spans_exported"].get_uint64().get(exported) != simdjson::SUCCESS) return r;
  std::int64_t instructions = -1;
  if (doc["host_instructions"].get_int64().get(instructions) != simdjson::SUCCESS) instructions = -1;
  r.ok = true;
  r.host_instructions = instructions;
  r.rps = rps;
  r.ttft_p99_ms = p99;
  r.created = created;
  r.exported = exported;
  return r;
}

struct e2e_result {
  std::string label;  // "1.0/jsonl"
  double rate = 0;
  std::string exporter;
  int pairs = 0;
  bool ok = false;
  std::vector<double> throughput_pct, ttft_p99_pct;  // per pair: traced against untraced
  double throughput_median = 0, ttft_median = 0;     // per-pair medians (the spread's centre)
  double throughput_overhead = 0, ttft_overhead = 0;  // fastest half of each side compared (the figure)
  double untraced_rps = 0, traced_rps = 0;
  std::uint64_t spans_created = 0, spans_exported = 0;
  // Deterministic: the serving threads' instructions, traced against untraced, steps of fixed work.
  bool instructions_ok = false;
  std::vector<double> instructions_pct;  // per pair
  double instructions_overhead = 0;      // the pairs' mean
};

// The mean of the better half of runs: interference from the host only ever adds time, so the
// better runs estimate the work itself; taking half of them, not the single best, keeps one lucky
// run from deciding.
double better_half_mean(std::vector<double> v, bool higher_is_better) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  if (higher_is_better) std::reverse(v.begin(), v.end());
  const std::size_t n = std::max<std::size_t>(1, v.size() / 2);
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += v[i];
  return sum / static_cast<double>(n);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// A B B A ...: the untraced and the traced demo alternate, each pair's order flipped, so drift in
// the host's speed cancels instead of landing on one side.
e2e_result e2e(const std::string& demo, double rate, const std::string& exporter, const std::string& endpoint,
               int pairs, int requests) {
  e2e_result out;
  char label[64];
  std::snprintf(label, sizeof label, "%g/%s", rate, exporter == "otlp" ? "sink" : exporter.c_str());
  out.label = label;
  out.rate = rate;
  out.exporter = exporter;
  out.ok = true;
  std::vector<double> plain_rps, traced_rps, plain_p99, traced_p99;
  for (int p = 0; p < pairs && out.ok; ++p) {
    demo_run a, b;
    if (p % 2 == 0) {
      a = run_demo(demo, false, rate, exporter, endpoint, requests);
      b = run_demo(demo, true, rate, exporter, endpoint, requests);
    } else {
      b = run_demo(demo, true, rate, exporter, endpoint, requests);
      a = run_demo(demo, false, rate, exporter, endpoint, requests);
    }
    if (!a.ok || !b.ok || a.rps <= 0 || b.rps <= 0) {
      out.ok = false;
      break;
    }
    out.throughput_pct.push_back((a.rps / b.rps - 1) * 100);  // throughput lost to tracing
    out.ttft_p99_pct.push_back((b.ttft_p99_ms / a.ttft_p99_ms - 1) * 100);
    plain_rps.push_back(a.rps);
    traced_rps.push_back(b.rps);
    plain_p99.push_back(a.ttft_p99_ms);
    traced_p99.push_back(b.ttft_p99_ms);
    out.spans_created = b.created;
    out.spans_exported = b.exported;
  }
  out.pairs = static_cast<int>(out.throughput_pct.size());
  out.throughput_median = median(out.throughput_pct);
  out.ttft_median = median(out.ttft_p99_pct);
  out.untraced_rps = better_half_mean(plain_rps, true);
  out.traced_rps = better_half_mean(traced_rps, true);
  if (out.traced_rps > 0) out.throughput_overhead = (out.untraced_rps / out.traced_rps - 1) * 100;
  const double p99_plain = better_half_mean(plain_p99, false);
  if (p99_plain > 0) out.ttft_overhead = (better_half_mean(traced_p99, false) / p99_plain - 1) * 100;
  // The same demo with steps of fixed work (--work): what tracing adds to the instructions of
  // the threads that serve requests. Deterministic to about 0.001%, so two pairs suffice.
  out.instructions_ok = out.ok;
  for (int p = 0; p < 2 && out.instructions_ok; ++p) {
    const demo_run a = run_demo(demo, false, rate, exporter, endpoint, requests, true);
    const demo_run b = run_demo(demo, true, rate, exporter, endpoint, requests, true);
    if (!a.ok || !b.ok || a.host_instructions <= 0 || b.host_instructions <= 0) {
      out.instructions_ok = false;
      break;
    }
    out.instructions_pct.push_back((static_cast<double>(b.host_instructions) / static_cast<double>(a.host_instructions) - 1) * 100);
  }
  if (out.instructions_ok) {
    double sum = 0;
    for (double v : out.instructions_pct) sum += v;
    out.instructions_overhead = sum / static_cast<double>(out.instructions_pct.size());
  }
  return out;
}

pid_t start_sink(const std::string& path, std::string& endpoint) {
  const std::string port_file = g_tmpdir + "/sink.port";
  const pid_t pid = tcbench::spawn_discard_sink(path, port_file);
  if (pid < 0) return -1;
  if (std::thread::hardware_concurrency() > 1) {  // beside the drain, off the demo's pinned scheduler
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(1, &set);
    sched_setaffinity(pid, sizeof set, &set);
  }
  for (int i = 0; i < 500; ++i) {
    if (FILE* f = std::fopen(port_file.c_str(), "r")) {
      int port = 0;
      const bool got = std::fscanf(f, "%d", &port) == 1 && port > 0;
      std::fclose(f);
      if (got) {
        endpoint = "http://127.0.0.1:" + std::to_string(port);
        return pid;
      }
    }
    std::this_thread::sleep_for(10ms);
  }
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  return -1;
}

// ---- budgets and the gate --------------------------------------------------------------------

struct check_row {
  std::string what, budget, measured;
  bool pass = true, measured_ok = true;
  bool gated = true;  // false: printed against its budget, never a failure
};

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// The rounds' values of one ratio, and the figure the gate compares: the best round. A slowdown
// in the code is in every round; a slow phase of the host is in some.
struct ratio_stat {
  double best = 0, median = 0, worst = 0;
};
ratio_stat ratios(const std::vector<result>& x, const std::vector<result>& base, double result::*field,
                  double result::*base_field) {
  std::vector<double> v;
  for (std::size_t i = 0; i < x.size() && i < base.size(); ++i)
    if (base[i].*base_field > 0) v.push_back(x[i].*field / (base[i].*base_field));
  ratio_stat s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.best = v.front();
  s.worst = v.back();
  s.median = v[v.size() / 2];
  return s;
}

struct budgets {
  int rounds = 5, batches = 1500, e2e_pairs = 4, e2e_requests = 600;
  struct item {
    std::string scenario, key;
    double limit;
  };
  std::vector<item> items;
  struct e2e_item {
    double rate;
    double throughput_pct;
    bool gated;  // false: measured and printed against the budget, never failing the gate
    double instructions_pct;  // < 0: no instruction budget
  };
  std::vector<e2e_item> e2e;
};

bool load_budgets(const std::string& path, budgets& b, std::string& error) {
  simdjson::ondemand::parser parser;
  simdjson::padded_string text;
  if (simdjson::padded_string::load(path).get(text) != simdjson::SUCCESS) {
    error = "cannot read " + path;
    return false;
  }
  simdjson::dom::parser dp;
  simdjson::dom::element root;
  if (dp.parse(text).get(root) != simdjson::SUCCESS) {
    error = path + " is not valid JSON";
    return false;
  }
  simdjson::dom::object gate;
  if (root["gate"].get(gate) == simdjson::SUCCESS) {
    std::int64_t v = 0;
    if (gate["rounds"].get(v) == simdjson::SUCCESS) b.rounds = static_cast<int>(std::clamp<std::int64_t>(v, 1, 50));
    if (gate["batches"].get(v) == simdjson::SUCCESS) b.batches = static_cast<int>(std::clamp<std::int64_t>(v, 64, 100000));
    if (gate["e2e_pairs"].get(v) == simdjson::SUCCESS) b.e2e_pairs = static_cast<int>(std::clamp<std::int64_t>(v, 0, 50));
    if (gate["e2e_requests"].get(v) == simdjson::SUCCESS) b.e2e_requests = static_cast<int>(std::clamp<std::int64_t>(v, 10, 100000));
  }
  simdjson::dom::object sc;
  if (root["scenarios"].get(sc) != simdjson::SUCCESS) {
    error = path + ": no \"scenarios\" object";
    return false;
  }
  static const char* known[] = {"p50_x_floor",     "p99_x_floor",       "p50_x_branch", "allocs_per_span", "drops",
                                "instructions_max", "min_x_memcpy",     "fairness_max"};
  for (auto [name, limits] : sc) {
    simdjson::dom::object lim;
    if (limits.get(lim) != simdjson::SUCCESS) continue;
    for (auto [key, value] : lim) {
      if (std::find_if(std::begin(known), std::end(known), [&](const char* k) { return key == k; }) == std::end(known)) {
        if (key.rfind("_", 0) == 0 || key == "why") continue;  // comments
        error = path + ": unknown budget \"" + std::string(key) + "\" for " + std::string(name);
        return false;
      }
      double limit = 0;
      if (value.get(limit) != simdjson::SUCCESS) {
        std::int64_t iv = 0;
        if (value.get(iv) != simdjson::SUCCESS) {
          error = path + ": budget " + std::string(name) + "." + std::string(key) + " is not a number";
          return false;
        }
        limit = static_cast<double>(iv);
      }
      b.items.push_back({std::string(name), std::string(key), limit});
    }
  }
  simdjson::dom::object e2e;
  if (root["end_to_end"].get(e2e) == simdjson::SUCCESS)
    for (auto [rate, lim] : e2e) {
      double pct = 0, instr = -1;
      if (lim["throughput_overhead_pct_max"].get(pct) != simdjson::SUCCESS) continue;
      bool gated = true;
      if (lim["gated"].get(gated) != simdjson::SUCCESS) gated = true;
      if (lim["instructions_overhead_pct_max"].get(instr) != simdjson::SUCCESS) instr = -1;
      b.e2e.push_back({std::strtod(std::string(rate).c_str(), nullptr), pct, gated, instr});
    }
  return true;
}

const std::vector<result>* rounds_of(const std::vector<std::vector<result>>& per, const std::string& name) {
  for (const auto& v : per)
    if (!v.empty() && v.front().name == name) return &v;
  return nullptr;
}

void print_check_table(const std::vector<check_row>& rows) {
  std::printf("\n%-52s %-12s %-44s %s\n", "budget", "limit", "measured", "result");
  for (const auto& r : rows)
    std::printf("%-52s %-12s %-44s %s\n", r.what.c_str(), r.budget.c_str(), r.measured.c_str(),
                !r.measured_ok ? "NOT MEASURED" : !r.gated ? (r.pass ? "ok (reported, not gated)" : "over (reported, not gated)")
                : r.pass      ? "ok"
                              : "BREACH");
}

int run_check(const std::string& path, const std::string& demo) {
  budgets b;
  std::string error;
  if (!load_budgets(path, b, error)) {
    std::fprintf(stderr, "tracecraft-bench: %s\n", error.c_str());
    return 2;
  }
  g_wanted = {"floor"};
  for (const auto& it : b.items) {
    g_wanted.push_back(it.scenario);
    if (it.key == "p50_x_branch") g_wanted.push_back("branch");
  }
  std::printf("tracecraft-bench --check %s: %d rounds of %d batches, scenarios interleaved round by round\n",
              path.c_str(), b.rounds, b.batches);
  std::vector<std::vector<result>> per;
  std::uint64_t ring_bytes = 0;
  for (int r = 0; r < b.rounds; ++r) one_round(b.batches, per, ring_bytes);
  std::vector<check_row> rows;
  const auto* floor = rounds_of(per, "floor");
  for (const auto& it : b.items) {
    check_row row;
    row.what = it.scenario + " " + it.key;
    row.budget = fmt("%g", it.limit);
    const auto* x = rounds_of(per, it.scenario);
    if (x == nullptr) {
      row.measured_ok = false;
      row.pass = false;
      row.measured = "no such scenario";
      rows.push_back(row);
      continue;
    }
    const result m = median_of(*x);
    auto ratio_row = [&](const std::vector<result>& base, double result::*f, double result::*bf) {
      const ratio_stat s = ratios(*x, base, f, bf);
      row.measured = fmt("best %.3f", s.best) + fmt(", median %.3f", s.median) + fmt(", worst %.3f", s.worst);
      row.pass = s.best <= it.limit;
    };
    if (it.key == "p50_x_floor") ratio_row(*floor, &result::p50, &result::p50);
    else if (it.key == "p99_x_floor") ratio_row(*floor, &result::p99, &result::p99);
    else if (it.key == "p50_x_branch") {
      const auto* br = rounds_of(per, "branch");
      if (br != nullptr) ratio_row(*br, &result::p50, &result::p50);
    } else if (it.key == "allocs_per_span") {
      row.measured = fmt("%.4f (worst round)", m.allocs_per_span);
      row.pass = m.allocs_per_span <= it.limit;
    } else if (it.key == "drops") {
      row.measured = fmt("%.0f (all rounds)", static_cast<double>(m.drops));
      row.pass = static_cast<double>(m.drops) <= it.limit;
    } else if (it.key == "instructions_max") {
      if (m.instructions_per_op < 0) {
        row.measured_ok = false;
        row.measured = "no instruction counter on this machine";
      } else {
        row.measured = fmt("%.1f per op (median)", m.instructions_per_op);
        row.pass = m.instructions_per_op <= it.limit;
      }
    } else if (it.key == "min_x_memcpy") {
      double best = 0;
      for (const auto& r : *x) best = std::max(best, r.ratio_to_memcpy);
      row.measured = fmt("best %.4f", best) + fmt(", median %.4f", m.ratio_to_memcpy);
      row.pass = best >= it.limit;
    } else if (it.key == "fairness_max") {
      double best = 1e9;
      for (const auto& r : *x) best = std::min(best, r.fairness);
      row.measured = fmt("best %.2f", best) + fmt(", median %.2f", m.fairness);
      row.pass = best <= it.limit;
    }
    rows.push_back(row);
  }
  if (!b.e2e.empty() && b.e2e_pairs > 0) {
    unpin();  // the demo inherits this thread's CPU mask
    for (const auto& it : b.e2e) {
      check_row row;
      std::optional<check_row> instr_row;  // the deterministic row, after the wall-clock one
      row.what = fmt("end to end at rate %g, throughput overhead %%", it.rate);
      row.gated = it.gated;
      row.budget = fmt("%g%%", it.throughput_pct);
      if (demo.empty()) {
        row.measured_ok = false;
        row.pass = false;
        row.measured = "no --demo given";
      } else {
        const e2e_result e = e2e(demo, it.rate, "jsonl", "", b.e2e_pairs, b.e2e_requests);
        if (!e.ok) {
          row.measured_ok = false;
          row.pass = false;
          row.measured = "the demo failed";
        } else {
          const double lo = *std::min_element(e.throughput_pct.begin(), e.throughput_pct.end());
          const double hi = *std::max_element(e.throughput_pct.begin(), e.throughput_pct.end());
          row.measured = fmt("%.2f%%", e.throughput_overhead) + fmt(" (pairs %.2f", lo) + fmt("..%.2f", hi) +
                         fmt(", %.0f)", e.pairs);
          row.pass = e.throughput_overhead <= it.throughput_pct;
        }
        if (it.instructions_pct >= 0) {  // the deterministic row, gated
          check_row ir;
          ir.what = fmt("end to end at rate %g, serving-thread instructions %%", it.rate);
          ir.budget = fmt("%g%%", it.instructions_pct);
          if (!e.instructions_ok) {
            ir.measured_ok = false;
            ir.pass = false;
            ir.measured = e.ok ? "no instruction counter on this machine" : "the demo failed";
          } else {
            ir.measured = fmt("%.3f%%", e.instructions_overhead) +
                          fmt(" (pairs %.3f", *std::min_element(e.instructions_pct.begin(), e.instructions_pct.end())) +
                          fmt("..%.3f)", *std::max_element(e.instructions_pct.begin(), e.instructions_pct.end()));
            ir.pass = e.instructions_overhead <= it.instructions_pct;
          }
          instr_row = ir;
        }
      }
      rows.push_back(row);
      if (instr_row) rows.push_back(*instr_row);
    }
  }
  print_check_table(rows);
  int breaches = 0, unmeasured = 0, reported = 0;
  for (const auto& r : rows) {
    if (!r.gated) ++reported;
    else if (!r.measured_ok) ++unmeasured;
    else if (!r.pass) ++breaches;
  }
  std::printf("\n%zu budgets: %d breached, %d not measured on this machine, %d reported without gating\n",
              rows.size() - static_cast<std::size_t>(reported), breaches, unmeasured, reported);
  // A budget that cannot be measured here (no instruction counter) is reported, not failed; a
  // budget naming a scenario that does not exist, or a demo that failed, is a failure.
  for (const auto& r : rows)
    if (r.gated && !r.measured_ok && r.measured != "no instruction counter on this machine") ++breaches;
  return breaches == 0 ? 0 : 1;
}

// ---- output -------------------------------------------------------------------------------------

void write_dist(const std::string& dir, const std::vector<result>& results) {
  for (const auto& r : results) {
    if (r.throughput || r.samples.empty()) continue;
    std::vector<double> v = r.samples;
    std::sort(v.begin(), v.end());
    const std::string path = dir + "/" + r.name + ".dat";
    FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr) continue;
    std::fprintf(f, "# %s: per-op cost in batches of %d, last round; columns: quantile, ns\n", r.name.c_str(), kBatch);
    for (int q = 0; q <= 1000; ++q) {
      const double p = q / 1000.0;
      const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1)));
      std::fprintf(f, "%.3f %.3f\n", p, v[i]);
    }
    std::fclose(f);
  }
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) o += c;
  }
  return o;
}

std::string machine_description() {
  std::string model = "unknown";
  if (FILE* f = std::fopen("/proc/cpuinfo", "r")) {
    char line[512];
    while (std::fgets(line, sizeof line, f) != nullptr)
      if (std::strncmp(line, "model name", 10) == 0) {
        const char* c = std::strchr(line, ':');
        if (c != nullptr) {
          model = c + 2;
          while (!model.empty() && (model.back() == '\n' || model.back() == ' ')) model.pop_back();
        }
        break;
      }
    std::fclose(f);
  }
  return model + ", " + std::to_string(std::thread::hardware_concurrency()) + " CPUs";
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  int batches = 8000, rounds = 5;
  std::string check, demo, sink, dist;
  bool e2e_mode = false;
  int e2e_pairs = 6, e2e_requests = 600;
  for (int i = 1; i < argc; ++i) {
    auto arg = [&](const char* n) { return std::strcmp(argv[i], n) == 0 && i + 1 < argc; };
    if (std::strcmp(argv[i], "--json") == 0) json = true;
    else if (std::strcmp(argv[i], "--quick") == 0) batches = 2000, rounds = 3;
    else if (arg("--rounds")) rounds = std::max(1, std::atoi(argv[++i]));
    else if (arg("--only")) g_only = argv[++i];
    else if (arg("--check")) check = argv[++i];
    else if (arg("--demo")) demo = argv[++i];
    else if (arg("--sink")) sink = argv[++i];
    else if (arg("--dist")) dist = argv[++i];
    else if (arg("--pairs")) e2e_pairs = std::max(1, std::atoi(argv[++i]));
    else if (arg("--requests")) e2e_requests = std::max(10, std::atoi(argv[++i]));
    else if (std::strcmp(argv[i], "--e2e") == 0) e2e_mode = true;
    else {
      std::printf(
          "usage: tracecraft-bench [--json] [--quick] [--rounds N] [--only SUBSTRING|=NAME] [--dist DIR]\n"
          "       tracecraft-bench --check BUDGETS.json [--demo PATH]   the CI gate; exits 1 on a breach\n"
          "       tracecraft-bench --e2e --demo PATH [--sink PATH] [--pairs N] [--requests N] [--json]\n");
      return std::strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  char tmpl[] = "/tmp/tracecraft-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    std::perror("tracecraft-bench: mkdtemp");
    return 2;
  }
  g_tmpdir = tmpl;
  struct cleanup {
    ~cleanup() {
      for (const char* f : {"/summary.json", "/spans.jsonl", "/sink.port"}) std::remove((g_tmpdir + f).c_str());
      rmdir(g_tmpdir.c_str());
    }
  } cleanup_tmp;

  pin(0);  // producer on CPU 0; the drain thread floats on the other core
  tracecraft::detail::calibrate_clock();
  g_ns_per_tick = ns_per_tick();
  if (!check.empty()) return run_check(check, demo);

  if (e2e_mode) {
    if (demo.empty()) {
      std::fprintf(stderr, "tracecraft-bench: --e2e needs --demo PATH\n");
      return 2;
    }
    unpin();  // the demo's threads are its own
    std::vector<e2e_result> all;
    for (double rate : {1.0, 0.1, 0.01, 0.0}) all.push_back(e2e(demo, rate, "jsonl", "", e2e_pairs, e2e_requests));
    if (!sink.empty()) {
      std::string endpoint;
      const pid_t sp = start_sink(sink, endpoint);
      if (sp > 0) {
        for (double rate : {1.0, 0.1, 0.01, 0.0}) all.push_back(e2e(demo, rate, "otlp", endpoint, e2e_pairs, e2e_requests));
        kill(sp, SIGTERM);
        waitpid(sp, nullptr, 0);
      } else {
        std::fprintf(stderr, "tracecraft-bench: tracecraft-sink did not start\n");
      }
    }
    if (json) {
      std::printf("{\"end_to_end\":{");
      for (std::size_t i = 0; i < all.size(); ++i) {
        const auto& e = all[i];
        auto list = [](const std::vector<double>& v) {
          std::string s = "[";
          for (std::size_t j = 0; j < v.size(); ++j) {
            if (j) s += ',';
            s += fmt("%.3f", v[j]);
          }
          return s + "]";
        };
        std::printf("%s\"%s\":{\"ok\":%s,\"pairs\":%d,\"throughput_overhead_pct\":%.3f,\"ttft_p99_overhead_pct\":%.3f,"
                    "\"throughput_pct_pair_median\":%.3f,\"ttft_p99_pct_pair_median\":%.3f,"
                    "\"throughput_pct_per_pair\":%s,\"ttft_p99_pct_per_pair\":%s,\"untraced_rps\":%.1f,\"traced_rps\":%.1f,"
                    "\"spans_created\":%llu,\"spans_exported\":%llu,\"instructions_overhead_pct\":%s,"
                    "\"instructions_pct_per_pair\":%s}",
                    i ? "," : "", e.label.c_str(), e.ok ? "true" : "false", e.pairs, e.throughput_overhead, e.ttft_overhead,
                    e.throughput_median, e.ttft_median,
                    list(e.throughput_pct).c_str(), list(e.ttft_p99_pct).c_str(), e.untraced_rps, e.traced_rps,
                    static_cast<unsigned long long>(e.spans_created), static_cast<unsigned long long>(e.spans_exported),
                    e.instructions_ok ? fmt("%.4f", e.instructions_overhead).c_str() : "null",
                    list(e.instructions_pct).c_str());
      }
      std::printf("},\"requests\":%d,\"machine\":\"%s\"}\n", e2e_requests, json_escape(machine_description()).c_str());
    } else {
      std::printf("end to end: tracecraft-demo traced against --untraced, %d requests arriving at once, steps spun,\n"
                  "scheduler pinned; runs alternate A B B A ...; overhead = the better half of each side's runs\n"
                  "compared, then (in brackets) the per-pair differences' range. instructions %%: the same demo with steps of\n"
                  "fixed work (--work), the serving threads' user-space instructions traced against untraced (2 pairs)\n\n",
                  e2e_requests);
      std::printf("%-14s %8s %26s %26s %12s %12s %16s\n", "rate/exporter", "pairs", "throughput overhead %", "ttft p99 overhead %",
                  "spans", "exported", "instructions %");
      for (const auto& e : all) {
        if (!e.ok) {
          std::printf("%-14s the demo failed\n", e.label.c_str());
          continue;
        }
        auto spread = [](const std::vector<double>& v, double figure) {
          return fmt("%+.2f", figure) + fmt(" (%+.2f", *std::min_element(v.begin(), v.end())) +
                 fmt("..%+.2f)", *std::max_element(v.begin(), v.end()));
        };
        std::printf("%-14s %8d %26s %26s %12llu %12llu %16s\n", e.label.c_str(), e.pairs,
                    spread(e.throughput_pct, e.throughput_overhead).c_str(), spread(e.ttft_p99_pct, e.ttft_overhead).c_str(),
                    static_cast<unsigned long long>(e.spans_created), static_cast<unsigned long long>(e.spans_exported),
                    e.instructions_ok ? fmt("%+.3f", e.instructions_overhead).c_str() : "not counted");
      }
    }
    return 0;
  }

  // Memory first: rings freed by later scenarios would be reused and hide a new thread's cost.
  const memory_figures mem = want("memory") ? measure_memory() : memory_figures{};
  std::vector<std::vector<result>> per_scenario;
  std::uint64_t ring_bytes = 0;
  for (int r = 0; r < rounds; ++r) one_round(batches, per_scenario, ring_bytes);
  std::vector<result> results;
  for (const auto& v : per_scenario) results.push_back(median_of(v));
  if (!dist.empty()) write_dist(dist, results);
  // What redaction adds to the drain per 300-byte span: the two runs of each round paired (they
  // ran seconds apart; rounds minutes apart, on a host whose speed drifts), the median delta.
  double redact_added_ns = -1;  // -1: not measured (--only left one of the pair out)
  {
    const auto* text = rounds_of(per_scenario, "drain_text_300B");
    const auto* red = rounds_of(per_scenario, "drain_redact_300B");
    if (text != nullptr && red != nullptr) {
      std::vector<double> d;
      for (std::size_t i = 0; i < text->size() && i < red->size(); ++i)
        if ((*text)[i].spans_per_s > 0 && (*red)[i].spans_per_s > 0) d.push_back(1e9 / (*red)[i].spans_per_s - 1e9 / (*text)[i].spans_per_s);
      std::sort(d.begin(), d.end());
      if (!d.empty()) redact_added_ns = d[d.size() / 2];
    }
  }

  auto find = [&](const char* n) -> const result& {
    for (auto& r : results)
      if (r.name == n) return r;
    return results[0];
  };
  const double floor50 = find("floor").p50;
  if (json) {
    std::printf("{\"version\":\"%s\",\"machine\":\"%s\",\"compiler\":\"%s\",\"method\":\"batches of %d ops timed with %s, median "
                "of %d rounds\",\"ns_per_tick\":%.6f,\"ring_bytes_per_thread\":%llu,\"scenarios\":{",
                tc::version(), json_escape(machine_description()).c_str(), json_escape(__VERSION__).c_str(), kBatch,
                tracecraft::detail::g_use_tsc.load() ? "rdtsc" : "clock_gettime", rounds, g_ns_per_tick,
                static_cast<unsigned long long>(ring_bytes));
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      if (r.throughput && r.mb_per_s > 0)
        std::printf("%s\"%s\":{\"spans_per_s\":%.0f,\"mb_per_s\":%.1f,\"ratio\":%.3f}", i ? "," : "", r.name.c_str(),
                    r.spans_per_s, r.mb_per_s, r.ratio);
      else if (r.throughput)
        std::printf("%s\"%s\":{\"spans_per_s\":%.0f,\"allocs_per_span\":%.4f,\"drops\":%llu,\"bytes_per_span\":%.1f,"
                    "\"ratio_to_memcpy\":%.4f,\"instructions_per_span\":%.1f,\"cycles_per_span\":%.1f}",
                    i ? "," : "", r.name.c_str(), r.spans_per_s, r.allocs_per_span, static_cast<unsigned long long>(r.drops),
                    r.bytes_per_span, r.ratio_to_memcpy, r.instructions_per_op, r.cycles_per_op);
      else
        std::printf("%s\"%s\":{\"p50_ns\":%.2f,\"p90_ns\":%.2f,\"p99_ns\":%.2f,\"p999_ns\":%.2f,\"ratio_to_floor_p50\":%.3f,"
                    "\"allocs_per_span\":%.4f,\"drops\":%llu,\"instructions_per_op\":%.1f,\"threads\":%d,\"fairness\":%.3f}",
                    i ? "," : "", r.name.c_str(), r.p50, r.p90, r.p99, r.p999, r.p50 / floor50, r.allocs_per_span,
                    static_cast<unsigned long long>(r.drops), r.instructions_per_op, r.threads, r.fairness);
    }
    std::printf(",\"redact_added_per_300B_span\":{\"ns\":%.1f}}", redact_added_ns);
    if (mem.ring_bytes > 0)
      std::printf(",\"memory\":{\"ring_bytes_per_thread\":%llu,\"thread_state_bytes\":%llu,\"rss_per_thread\":%.0f,"
                  "\"bound_per_thread\":%llu,\"export_queue_spans\":%llu,\"pending_traces\":%llu}",
                  static_cast<unsigned long long>(mem.ring_bytes), static_cast<unsigned long long>(mem.state_bytes),
                  mem.rss_per_thread, static_cast<unsigned long long>(mem.ring_bytes + mem.state_bytes),
                  static_cast<unsigned long long>(mem.export_queue_spans), static_cast<unsigned long long>(mem.pending_traces));
    std::printf("}\n");
    return 0;
  }
  std::printf("tracecraft-bench %s — per-op cost in batches of %d, clock %s (%.4f ns/tick), median of %d rounds\n"
              "machine: %s\n\n",
              tc::version(), kBatch, tracecraft::detail::g_use_tsc.load() ? "rdtsc" : "clock_gettime", g_ns_per_tick,
              rounds, machine_description().c_str());
  std::printf("%-24s %9s %9s %9s %9s %8s %8s %7s %8s %6s\n", "scenario", "p50 ns", "p90 ns", "p99 ns", "p99.9 ns",
              "x floor", "alloc/op", "drops", "instr/op", "fair");
  for (const auto& r : results) {
    if (r.throughput) continue;
    std::printf("%-24s %9.2f %9.2f %9.2f %9.2f %8.2f %8.4f %7llu %8.1f %6s\n", r.name.c_str(), r.p50, r.p90, r.p99,
                r.p999, r.p50 / floor50, r.allocs_per_span, static_cast<unsigned long long>(r.drops),
                r.instructions_per_op, r.threads > 1 ? fmt("%.2f", r.fairness).c_str() : "");
  }
  std::printf("\n");
  for (const auto& r : results) {
    if (!r.throughput) continue;
    const char* allocs = r.allocs_per_span == 0 ? "[0 allocations in steady state]" : "[ALLOCATES in steady state]";
    if (r.name == "redact_scan_chat")
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
    else if (r.name.rfind("encode", 0) == 0)
      std::printf("%-26s %12.0f spans/s encoded to OTLP protobuf (encoder only, one core), %.0f instructions and %.0f "
                  "cycles/span\n",
                  r.name.c_str(), r.spans_per_s, r.instructions_per_op, r.cycles_per_op);
    else {
      std::printf("%-26s %12.0f spans/s %s %.0f B/span, %.3fx memcpy of the same bytes, %.0f instructions and %.0f "
                  "cycles/span; %s",
                  r.name.c_str(), r.spans_per_s, allocs, r.bytes_per_span, r.ratio_to_memcpy, r.instructions_per_op,
                  r.cycles_per_op,
                  r.name.find("jsonl") != std::string::npos ? "ring -> JSONL lines (one drain thread)"
                                                            : "ring -> OTLP protobuf batches in memory (one drain thread)");
      if (r.name == "drain_redact_300B" && redact_added_ns != -1)
        std::printf("; redaction adds %.0f ns per 300-byte span (paired with drain_text_300B)", redact_added_ns);
      if (r.name == "drain_tail") std::printf("; rate 0, errors kept: skeletons held and decided");
      std::printf("\n");
    }
  }
  if (mem.ring_bytes > 0)
    std::printf("\nmemory: %llu ring bytes + %llu bytes of state per producer thread (measured resident growth %.0f "
                "bytes/thread);\n        bound = threads x %llu, plus the export queue (%llu spans) and the tail table "
                "(%llu traces)\n",
                static_cast<unsigned long long>(mem.ring_bytes), static_cast<unsigned long long>(mem.state_bytes),
                mem.rss_per_thread, static_cast<unsigned long long>(mem.ring_bytes + mem.state_bytes),
                static_cast<unsigned long long>(mem.export_queue_spans), static_cast<unsigned long long>(mem.pending_traces));
  return 0;
}
