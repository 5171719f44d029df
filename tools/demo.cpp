// SPDX-License-Identifier: Apache-2.0
// tools/demo.cpp — tracecraft-demo: a simulated LLM inference server with continuous batching,
// traced the way a real server would be (accept thread -> scheduler -> streaming thread).
//
// Per request: a SERVER root span (started on the accept thread, ended on the streaming thread),
// queue / prefill / decode spans, a first-token event, token counts and finish status; per
// scheduler step: a step span linking every request it served. Some requests first go through
// an agent path (agent -> retrieval -> tool -> llm). Same --seed, same workload and trace ids.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <latch>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/perf_counter.h"
#include "tracecraft/trace.h"

namespace tc = tracecraft;
using clk = std::chrono::steady_clock;

namespace {

struct options {
  int requests = 200;
  std::uint64_t seed = 42;
  double error_rate = 0.02;
  double slow_rate = 0.02;
  double slow_ms = 100;  // a slowed request's response completes this much later (its root ends late)
  double agent_rate = 0.2;
  int max_batch = 16;
  double step_us = 400;  // fake decode step (a GPU step scaled down so the demo runs in seconds)
  double arrival_us = -1;  // mean gap between arrivals; -1: 2.5 steps (below capacity); 0: all at once
  std::string prompts_file;
  std::string summary_json;
  bool untraced = false;
};

struct request {
  int id = 0;
  tc::trace_id tid;
  int prompt_tokens = 0;
  int output_tokens = 0;
  int generated = 0;
  bool will_fail = false;
  bool slow = false;
  bool agent = false;
  std::string prompt;
  clk::time_point arrived, first_token, end_at;
  tc::async_span root, queue, decode;
};

struct stream_msg {
  request* r;
  bool done;
};

template <class T>
class channel {  // the host's own queue (a mutex is fine here: this is the server, not the engine)
 public:
  void push(T v) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      q_.push_back(std::move(v));
    }
    cv_.notify_one();
  }
  void close() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  // Blocks until an item or close; false when closed and empty.
  bool pop(T& out) {
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) return false;
    out = std::move(q_.front());
    q_.pop_front();
    return true;
  }
  // Takes up to n items without waiting (waits only when `wait` and nothing is active).
  std::size_t pop_some(std::vector<T>& out, std::size_t n, bool wait, bool& closed) {
    std::unique_lock<std::mutex> lk(mu_);
    if (wait) cv_.wait(lk, [&] { return !q_.empty() || closed_; });
    std::size_t k = 0;
    while (k < n && !q_.empty()) {
      out.push_back(std::move(q_.front()));
      q_.pop_front();
      ++k;
    }
    closed = closed_ && q_.empty();
    return k;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> q_;
  bool closed_ = false;
};

bool g_spin = false;  // --spin: steps spin for their whole length (no sleep-wakeup jitter)
bool g_work = false;  // --work: steps are a fixed amount of computation, not a length of time
bool g_pin = false;   // --pin: the scheduler alone on CPU 0, the other threads on CPU 1

// With --pin, as a serving stack pins its scheduler loop: nothing else preempts it, so its
// throughput measures what runs on it (the end-to-end overhead benchmark needs that).
void pin_to(int cpu) {
  if (!g_pin || std::thread::hardware_concurrency() < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// --work: a step is this much dependent integer work per microsecond of --step-us (about a
// microsecond of one core here), the same instructions on every run: the end-to-end benchmark
// counts the serving threads' instructions traced against untraced, which the host's speed swings
// do not move.
constexpr std::uint64_t k_work_iterations_per_us = 500;
std::atomic<std::uint64_t> g_work_sink{0};

void compute_us(double us) {
  std::uint64_t x = 0x9E3779B97F4A7C15ull ^ static_cast<std::uint64_t>(us);
  const auto n = static_cast<std::uint64_t>(us * k_work_iterations_per_us);
  for (std::uint64_t i = 0; i < n; ++i) {  // xorshift64: each step depends on the last
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  g_work_sink.fetch_add(x, std::memory_order_relaxed);
}

// The instructions the serving threads (accept, scheduler, streamer, finisher) retire in user
// space, each counted on its own thread and summed as it ends; the engine's drain is not among them.
std::atomic<std::uint64_t> g_host_instructions{0};
std::atomic<bool> g_host_counted{true};
struct thread_instructions {
  tcbench::perf_counter counter;
  ~thread_instructions() {
    if (!counter.available()) g_host_counted.store(false);
    g_host_instructions.fetch_add(counter.read());
  }
};

void busy_sleep_us(double us) {
  if (g_work) return compute_us(us);
  // Sleep most of it, spin the rest: steps of a few hundred microseconds stay accurate.
  const auto until = clk::now() + std::chrono::nanoseconds(static_cast<long long>(us * 1000));
  if (us > 200 && !g_spin) std::this_thread::sleep_for(std::chrono::nanoseconds(static_cast<long long>((us - 100) * 1000)));
  while (clk::now() < until) {
  }
}

bool parse_args(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&](const char* what) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "tracecraft-demo: %s needs a value\n", what);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--requests") o.requests = std::max(0, std::atoi(next("--requests")));
    else if (a == "--seed") o.seed = std::strtoull(next("--seed"), nullptr, 10);
    else if (a == "--error-rate") o.error_rate = std::atof(next("--error-rate"));
    else if (a == "--slow-rate") o.slow_rate = std::atof(next("--slow-rate"));
    else if (a == "--slow-ms") o.slow_ms = std::max(0.0, std::atof(next("--slow-ms")));
    else if (a == "--agent-rate") o.agent_rate = std::atof(next("--agent-rate"));
    else if (a == "--max-batch") o.max_batch = std::max(1, std::atoi(next("--max-batch")));
    else if (a == "--step-us") o.step_us = std::atof(next("--step-us"));
    else if (a == "--arrival-us") o.arrival_us = std::max(0.0, std::atof(next("--arrival-us")));
    else if (a == "--prompts") o.prompts_file = next("--prompts");
    else if (a == "--summary-json") o.summary_json = next("--summary-json");
    else if (a == "--untraced") o.untraced = true;
    else if (a == "--spin") g_spin = true;
    else if (a == "--work") g_work = true;
    else if (a == "--pin") g_pin = true;
    else if (a == "--help" || a == "-h") {
      std::printf(
          "usage: tracecraft-demo [--requests N] [--seed S] [--error-rate P] [--slow-rate P] [--slow-ms MS]\n"
          "                       [--agent-rate P] [--max-batch B] [--step-us US] [--arrival-us US]\n"
          "                       [--prompts FILE] [--untraced] [--spin] [--work] [--pin]\n"
          "                       [--summary-json FILE]\n"
          "Tracing is configured by OTEL_* / TRACECRAFT_* variables (see tracecraft-envcheck).\n");
      std::exit(0);
    } else {
      std::fprintf(stderr, "tracecraft-demo: unknown argument %s (try --help)\n", a.c_str());
      return false;
    }
  }
  return true;
}

std::vector<std::unique_ptr<request>> make_workload(const options& o, const std::vector<std::string>& prompts) {
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<std::unique_ptr<request>> out;
  for (int i = 0; i < o.requests; ++i) {
    auto r = std::make_unique<request>();
    r->id = i;
    for (int b = 0; b < 16; b += 8) {
      const std::uint64_t v = rng();
      std::memcpy(r->tid.bytes + b, &v, 8);
    }
    r->prompt_tokens = 32 + static_cast<int>(rng() % 480);
    r->output_tokens = 8 + static_cast<int>(rng() % 56);
    r->will_fail = u(rng) < o.error_rate;
    r->slow = u(rng) < o.slow_rate;
    r->agent = u(rng) < o.agent_rate;
    if (r->slow) r->output_tokens *= 3;
    r->prompt = prompts.empty() ? "Summarise request " + std::to_string(i) : prompts[static_cast<std::size_t>(i) % prompts.size()];
    out.push_back(std::move(r));
  }
  return out;
}

// A gateway-style agent path in front of the model: agent -> retrieval -> tool -> llm.
void agent_path(request& r, double step_us) {
  tc::context_scope in_request(r.root.context());
  TC_SPAN(agent, "invoke_agent planner", tc::kind::agent);
  agent.set("gen_ai.agent.name", "planner");
  agent.set_input(r.prompt);
  {
    TC_SPAN(ret, "retrieval docs", tc::kind::retrieval);
    ret.set("gen_ai.data_source.id", "docs");
    ret.set("gen_ai.request.top_k", 5.0);
    busy_sleep_us(step_us / 4);
  }
  {
    TC_SPAN(tool, "execute_tool search", tc::kind::tool);
    tool.set("gen_ai.tool.name", "search");
    tool.set("gen_ai.tool.call.id", static_cast<std::int64_t>(r.id));
    busy_sleep_us(step_us / 4);
  }
  {
    TC_SPAN(llm, "chat planner-small", tc::kind::llm);
    llm.set_model("planner-small");
    llm.set_provider("tracecraft-demo");
    llm.set_input_tokens(64);
    llm.set_output_tokens(16);
    llm.set_input(r.prompt);
    busy_sleep_us(step_us / 2);
  }
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  if (!parse_args(argc, argv, o)) return 2;
  std::vector<std::string> prompts;
  if (!o.prompts_file.empty()) {
    std::ifstream in(o.prompts_file);
    if (!in) {
      std::fprintf(stderr, "tracecraft-demo: cannot read %s\n", o.prompts_file.c_str());
      return 2;
    }
    for (std::string line; std::getline(in, line);) prompts.push_back(line);
  }
  if (!o.untraced) {
    // The demo runs standalone: without OTEL_TRACES_EXPORTER it writes JSONL rather than the
    // library's default (otlp to a collector that may not exist). Set it to otlp,jsonl to send
    // to a collector or tracecraft-sink with a local backup.
    ::setenv("OTEL_TRACES_EXPORTER", "jsonl", 0);
    const tc::status st = tc::init();
    if (st != tc::status::ok && st != tc::status::disabled)
      std::fprintf(stderr, "tracecraft-demo: tracing not started: %s\n", tc::status_message(st));
  }

  auto work = make_workload(o, prompts);
  channel<request*> waiting;
  channel<stream_msg> stream;
  channel<request*> late;
  std::atomic<int> failed{0};
  std::vector<double> ttft_ms;
  const auto t0 = clk::now();

  // Accept thread: requests arrive, get a root span, maybe an agent path, then wait in the queue.
  // --work: the scheduler starts once every request has arrived, so batches form the same way on
  // every run (with arrivals racing the scheduler, the number of steps would vary a little).
  std::latch arrived(g_work ? 1 : 0);
  std::thread accept([&] {
    thread_instructions counted;
    pin_to(1);
    std::mt19937_64 rng(o.seed ^ 0x5eed);
    const double mean_gap = o.arrival_us < 0 ? o.step_us * 2.5 : o.arrival_us;  // default: below capacity
    std::exponential_distribution<double> gap(1.0 / std::max(mean_gap, 1e-3));
    for (auto& up : work) {
      request& r = *up;
      if (mean_gap > 0) busy_sleep_us(gap(rng));
      r.arrived = clk::now();
      r.root = tc::async_span("POST /v1/chat/completions", tc::kind::server, r.tid);
      r.root.set("http.request.method", "POST");
      r.root.set("url.path", "/v1/chat/completions");
      r.root.set_model("demo-llm-8b");
      r.root.set("gen_ai.operation.name", "chat");
      r.root.set("gen_ai.request.max_tokens", static_cast<std::int64_t>(r.output_tokens));
      r.root.set("gen_ai.request.stream", true);
      r.root.set("tracecraft.request.id", static_cast<std::int64_t>(r.id));
      r.root.set_input(r.prompt);
      if (r.agent) agent_path(r, o.step_us);
      r.queue = tc::async_span("queue", tc::kind::internal, r.root.context());
      waiting.push(&r);
    }
    waiting.close();
    if (g_work) arrived.count_down();
  });

  // Scheduler thread: continuous batching. Admit, prefill the new ones, decode one token for all.
  std::thread scheduler([&] {
    thread_instructions counted;
    pin_to(0);
    arrived.wait();
    std::vector<request*> active, admitted;
    std::uint64_t step_no = 0;
    for (;;) {
      admitted.clear();
      bool closed = false;
      const std::size_t room = static_cast<std::size_t>(o.max_batch) - active.size();
      waiting.pop_some(admitted, room, active.empty(), closed);
      if (active.empty() && admitted.empty() && closed) break;
      for (request* r : admitted) {
        r->queue.set("tracecraft.queue.position", static_cast<std::int64_t>(active.size()));
        r->queue.end();
      }
      if (!admitted.empty()) {  // one prefill step for the newly admitted requests
        TC_SPAN(step, "scheduler.step", tc::kind::internal);
        step.set("tracecraft.step.phase", "prefill");
        step.set("tracecraft.step.batch_size", static_cast<std::int64_t>(admitted.size()));
        step.set("tracecraft.step.number", static_cast<std::int64_t>(++step_no));
        int tokens = 0;
        for (request* r : admitted) {
          step.add_link(r->root.context(), {{"tracecraft.link.reason", "prefill"}});
          tokens += r->prompt_tokens;
        }
        for (request* r : admitted) {
          tc::span prefill("prefill", tc::kind::llm, r->root.context());
          prefill.set_model("demo-llm-8b");
          prefill.set_input_tokens(r->prompt_tokens);
          busy_sleep_us(o.step_us * 0.002 * r->prompt_tokens);
          r->decode = tc::async_span("decode", tc::kind::llm, r->root.context());
          r->decode.set_model("demo-llm-8b");
          active.push_back(r);
        }
        step.set("tracecraft.step.tokens", static_cast<std::int64_t>(tokens));
      }
      if (active.empty()) continue;
      {  // one decode step for every active request
        TC_SPAN(step, "scheduler.step", tc::kind::internal);
        step.set("tracecraft.step.phase", "decode");
        step.set("tracecraft.step.batch_size", static_cast<std::int64_t>(active.size()));
        step.set("tracecraft.step.number", static_cast<std::int64_t>(++step_no));
        for (request* r : active) step.add_link(r->root.context());
        bool any_slow = false;
        for (request* r : active) any_slow |= r->slow;
        busy_sleep_us(o.step_us * (any_slow ? 1.5 : 1.0));
      }
      std::vector<request*> still;
      for (request* r : active) {
        ++r->generated;
        if (r->generated == 1) {
          r->first_token = clk::now();
          r->root.add_event("gen_ai.first_token", {{"gen_ai.token.index", 0}});
          r->root.set("gen_ai.response.time_to_first_chunk",
                      std::chrono::duration<double>(r->first_token - r->arrived).count());
        }
        const bool fail_now = r->will_fail && r->generated == std::max(1, r->output_tokens / 2);
        if (fail_now || r->generated >= r->output_tokens) {
          if (fail_now) r->decode.set_error("device out of memory during decode");
          r->decode.set_output_tokens(r->generated);
          r->decode.end();
          stream.push({r, true});
        } else {
          still.push_back(r);
        }
      }
      active.swap(still);
    }
    stream.close();
  });

  // Streaming thread: detokenizes and finishes each response; the root span ends here.
  std::thread streamer([&] {
    thread_instructions counted;
    pin_to(1);
    stream_msg m;
    while (stream.pop(m)) {
      request& r = *m.r;
      const bool failed_req = r.will_fail;
      r.root.set_input_tokens(r.prompt_tokens);
      r.root.set_output_tokens(r.generated);
      r.root.set("gen_ai.response.finish_reasons", failed_req ? "error" : "stop");
      if (failed_req) {
        r.root.set("error.type", "device_oom");
        r.root.set_error("decode failed: device out of memory");
        failed.fetch_add(1);
      } else {
        r.root.set_output("[generated " + std::to_string(r.generated) + " tokens]");
        r.root.set_ok();
      }
      ttft_ms.push_back(std::chrono::duration<double, std::milli>(r.first_token - r.arrived).count());
      if (r.slow) {  // a slowed response completes --slow-ms later, without holding up the others
        r.end_at = clk::now() + std::chrono::microseconds(static_cast<std::int64_t>(o.slow_ms * 1000));
        late.push(&r);
      } else {
        r.root.end();
      }
    }
    late.close();
  });
  // Finisher thread: ends the slowed requests' roots at their time (pushed in deadline order).
  std::thread finisher([&] {
    thread_instructions counted;
    pin_to(1);
    request* r = nullptr;
    while (late.pop(r)) {
      std::this_thread::sleep_until(r->end_at);
      r->root.end();
    }
  });

  accept.join();
  scheduler.join();
  streamer.join();
  finisher.join();
  const double wall = std::chrono::duration<double>(clk::now() - t0).count();
  int slow = 0;
  for (auto& r : work) slow += r->slow ? 1 : 0;

  tc::shutdown(std::chrono::milliseconds(5000));
  const tc::stats_snapshot s = tc::stats();
  const double p50 = percentile(ttft_ms, 0.5), p99 = percentile(ttft_ms, 0.99);
  std::printf(
      "tracecraft-demo: %d requests in %.3f s (%.0f req/s), ttft p50 %.2f ms p99 %.2f ms; spans created %llu, "
      "exported %llu, sampled out %llu, dropped %llu; traces %llu; failed %d, slow %d\n",
      o.requests, wall, wall > 0 ? o.requests / wall : 0.0, p50, p99, static_cast<unsigned long long>(s.spans_created),
      static_cast<unsigned long long>(s.spans_exported), static_cast<unsigned long long>(s.spans_sampled_out),
      static_cast<unsigned long long>(s.dropped.total()), static_cast<unsigned long long>(s.traces_exported),
      failed.load(), slow);
  if (!o.summary_json.empty()) {
    std::FILE* f = std::fopen(o.summary_json.c_str(), "w");
    if (f == nullptr) {
      std::fprintf(stderr, "tracecraft-demo: cannot write %s\n", o.summary_json.c_str());
      return 1;
    }
    auto u = [](std::uint64_t v) { return std::to_string(v); };
    auto drops = [&](const tc::dropped_counts& d) {
      return "{\"ring_full\":" + u(d.ring_full) + ",\"export_failed\":" + u(d.export_failed) + ",\"no_exporter\":" +
             u(d.no_exporter) + ",\"shutdown_deadline\":" + u(d.shutdown_deadline) + ",\"queue_full\":" + u(d.queue_full) +
             ",\"rate_limited\":" + u(d.rate_limited) + ",\"rejected\":" + u(d.rejected) + ",\"retry_exhausted\":" +
             u(d.retry_exhausted) + ",\"too_large\":" + u(d.too_large) + ",\"tail_evicted\":" + u(d.tail_evicted) +
             ",\"total\":" + u(d.total()) + "}";
    };
    std::string exporters;
    for (std::uint32_t i = 0; i < s.exporter_count; ++i) {
      const tc::exporter_stats& x = s.exporters[i];
      std::string err;
      for (const char* c = x.last_error; *c != '\0'; ++c) err += (*c == '"' || *c == '\\' || *c < 0x20) ? ' ' : *c;
      exporters += std::string(i ? "," : "") + "{\"name\":\"" + x.name + "\",\"spans_exported\":" + u(x.spans_exported) +
                   ",\"batches\":" + u(x.batches) + ",\"bytes\":" + u(x.bytes) + ",\"retries\":" + u(x.retries) +
                   ",\"dropped\":" + drops(x.dropped) + ",\"last_error\":\"" + err + "\"}";
    }
    char tail[512];
    std::snprintf(tail, sizeof tail,
                  "\"requests_failed\":%d,\"requests_slow\":%d,\"wall_seconds\":%.6f,\"requests_per_second\":%.3f,"
                  "\"ttft_p50_ms\":%.4f,\"ttft_p99_ms\":%.4f,\"traced\":%s,\"host_instructions\":%lld",
                  failed.load(), slow, wall, wall > 0 ? o.requests / wall : 0.0, p50, p99, o.untraced ? "false" : "true",
                  g_host_counted.load() ? static_cast<long long>(g_host_instructions.load()) : -1LL);
    // The requests the demo failed and slowed, by trace id: tests check each is exported.
    auto ids = [&](bool failed_ones) {
      std::string list;
      for (auto& r : work) {
        if (failed_ones ? !r->will_fail : !r->slow) continue;
        char hex[33];
        for (int b = 0; b < 16; ++b) std::snprintf(hex + 2 * b, 3, "%02x", r->tid.bytes[b]);
        list += std::string(list.empty() ? "" : ",") + "\"" + hex + "\"";
      }
      return "[" + list + "]";
    };
    const std::string json = "{\"requests\":" + std::to_string(o.requests) + ",\"spans_created\":" + u(s.spans_created) +
                             ",\"spans_exported\":" + u(s.spans_exported) + ",\"spans_sampled_out\":" +
                             u(s.spans_sampled_out) + ",\"spans_dropped\":" + drops(s.dropped) + ",\"spans_pending\":" +
                             u(s.spans_pending) + ",\"traces_exported\":" + u(s.traces_exported) + ",\"failed_trace_ids\":" + ids(true) +
                             ",\"slowed_trace_ids\":" + ids(false) + ",\"tail_kept\":" + u(s.tail_kept) + "," + tail +
                             ",\"exporters\":[" + exporters + "]}\n";
    std::fputs(json.c_str(), f);
    std::fclose(f);
  }
  return 0;
}
