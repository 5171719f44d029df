// SPDX-License-Identifier: Apache-2.0
// bench/export_bench.cpp — tracecraft-export-bench: the whole export path into a real local
// tracecraft-sink (a separate process, --discard: it decodes and counts every span, stores none).
//
//   sustained   producer threads paced at --rate spans/s (4 attributes each) for --seconds; reports
//               spans exported, drops by reason, and the engine's CPU per exported span (process CPU
//               minus the producers' own thread CPU; the sink's CPU is not ours and not counted).
//   floors      what the path cannot go below on this machine, measured in the same minutes:
//               the transport floor (a prebuilt request posted at the sustained rate through the
//               engine's transport), the socket floor (the same request over a plain TCP socket), the
//               encoder floor (the same spans, already decoded, encoded over and over) and the hand-off
//               floor (records of the same size moved between two threads, no engine code).
//   latency     the producers' per-span cost (TSC, p50/p99) with the export running, against the
//               same paced run with no exporter, interleaved A B A B: the export path's added latency
//               on request threads.
//
// Usage: tracecraft-export-bench --sink PATH [--rate N] [--seconds S] [--rounds R] [--threads T] [--trace-spans K]
//                                [--gzip] [--no-redact] [--json] [--drain-cpu N] [--drain-interval-ms MS] [--batch N] [--batch-bytes B]
//                                [--ring-kb KB] [--ring-max-kb KB] [--no-standby] [--no-floors]
// --no-floors: the sustained rounds only (no floors; their --json fields are then 0), for quick
// interleaved A/B runs of two builds.
#include <signal.h>
#include <spawn.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>

#include "core/clock.h"
#include "core/engine.h"
#include "sink_process.h"
#include "export/http_transport.h"
#include "export/otlp_proto.h"
#include "tracecraft/trace.h"

namespace tc = tracecraft;
using clk = std::chrono::steady_clock;
extern char** environ;

namespace {

struct options {
  std::string sink;
  double rate = 1e6;
  double seconds = 3;
  int rounds = 2;
  int threads = 1;
  bool json = false;
  bool gzip = false;
  bool redact = true;
  std::uint64_t trace_spans = 1;
  int drain_cpu = -1;             // TRACECRAFT_DRAIN_CPU (the export thread inherits the pin)
  unsigned drain_interval_ms = 0;  // 0: the engine's default
  std::uint32_t batch = 4096;      // OTEL_BSP_MAX_EXPORT_BATCH_SIZE
  std::int64_t batch_bytes = -1;   // TRACECRAFT_EXPORT_BATCH_BYTES (-1: the engine's default)
  std::uint32_t ring_kb = 256;     // TRACECRAFT_RING_KB (the engine's default)
  std::uint32_t ring_max_kb = 4096;  // TRACECRAFT_RING_MAX_KB (the engine's default)
  bool standby = true;               // TRACECRAFT_RING_STANDBY (--no-standby)
  bool floors = true;                // --no-floors: the sustained rounds only
};

double cpu_seconds_process() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}
double cpu_seconds_thread() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

// CPU seconds used so far by this process's threads named `name`: the total from the scheduler's
// own count (/proc/.../schedstat, nanoseconds), and of it the share in the kernel (for the export
// thread: mostly loopback TCP), which only the clock-tick counts of /proc/.../stat split out.
struct thread_cpu {
  double total = 0, kernel = 0;
  bool precise = true;  // every total came from schedstat (false: from 10 ms ticks)
  std::uint64_t switches = 0;  // context switches, voluntary (sleeps, waits) and not
};
thread_cpu thread_cpu_by_name(const char* name) {
  thread_cpu cpu;  // summed over the threads of that name
  const long hz = sysconf(_SC_CLK_TCK);
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      const std::string base = std::string("/proc/self/task/") + e->d_name;
      char comm[64] = {};
      if (FILE* f = std::fopen((base + "/comm").c_str(), "r")) {
        if (std::fgets(comm, sizeof comm, f) == nullptr) comm[0] = '\0';
        std::fclose(f);
      }
      comm[std::strcspn(comm, "\n")] = '\0';
      if (std::strcmp(comm, name) != 0) continue;
      if (FILE* f = std::fopen((base + "/status").c_str(), "r")) {
        char line[256];
        unsigned long long n = 0;
        while (std::fgets(line, sizeof line, f) != nullptr)
          if (std::sscanf(line, "voluntary_ctxt_switches: %llu", &n) == 1 || std::sscanf(line, "nonvoluntary_ctxt_switches: %llu", &n) == 1)
            cpu.switches += n;
        std::fclose(f);
      }
      if (FILE* f = std::fopen((base + "/stat").c_str(), "r")) {
        char buf[1024] = {};
        const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
        std::fclose(f);
        buf[n] = '\0';
        const char* p = std::strrchr(buf, ')');  // fields after the command name
        unsigned long long ut = 0, st = 0;
        if (p != nullptr && std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2) {
          double total = double(ut + st) / double(hz);
          const double kernel_share = ut + st > 0 ? double(st) / double(ut + st) : 0.0;
          unsigned long long run_ns = 0;
          bool exact = false;
          if (FILE* g = std::fopen((base + "/schedstat").c_str(), "r")) {
            exact = std::fscanf(g, "%llu", &run_ns) == 1;
            std::fclose(g);
          }
          if (exact) total = double(run_ns) * 1e-9;
          cpu.precise = cpu.precise && exact;
          cpu.total += total;
          cpu.kernel += total * kernel_share;
        }
      }
    }
    closedir(d);
  }
  return cpu;
}

// The share of the machine's CPU time that the hypervisor gave to other guests ("steal", the 8th
// field of /proc/stat's cpu line) between two readings. On these VMs the host's slow periods are
// other guests: a round with steal in the tens of percent is not comparable with a quiet one.
struct cpu_ticks {
  unsigned long long steal = 0, total = 0;
};
cpu_ticks read_cpu_ticks() {
  cpu_ticks t;
  if (FILE* f = std::fopen("/proc/stat", "r")) {
    unsigned long long v[8] = {};
    if (std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
      for (unsigned long long x : v) t.total += x;
      t.steal = v[7];
    }
    std::fclose(f);
  }
  return t;
}
double steal_percent(const cpu_ticks& a, const cpu_ticks& b) {
  const unsigned long long total = b.total - a.total;
  return total == 0 ? 0.0 : 100.0 * double(b.steal - a.steal) / double(total);
}

double ns_per_tick() {
  const auto t0 = clk::now();
  const std::uint64_t c0 = tc::detail::ticks();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::uint64_t c1 = tc::detail::ticks();
  return double(std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count()) / double(c1 - c0);
}

struct run_result {
  std::uint64_t created = 0, exported = 0, dropped = 0, ring_full = 0, queue_full = 0, retry_exhausted = 0, rings_grown = 0;
  std::uint64_t longest_gap_us = 0;  // the drain's longest absence (stats_snapshot::drain_longest_gap_us)
  std::uint64_t standby_moves = 0;
  std::uint64_t spans_per_request = 0;  // the OTLP exporter's spans exported over its requests
  double seconds = 0, achieved_rate = 0, engine_cpu_s = 0, producer_cpu_s = 0;
  thread_cpu drain_cpu, export_cpu;
  // The middle of the round (from a quarter of it to nine tenths): the engine's threads' CPU over
  // the spans created meanwhile, without the start (first connection, first growths, faulting in)
  // or the end (the last passes, shutdown), which a slow round spreads over few spans.
  double steady_ns = 0, steady_drain_ns = 0, steady_export_ns = 0;
  double p50_ns = 0, p99_ns = 0;
  bool shutdown_ok = false;
  double steal_pct = 0;  // of the machine's CPU time during the round
};

// One paced run: `threads` producers share `rate`; each times every span with the TSC.
run_result paced_run(const options& o, bool exporting, int port, double tick_ns) {
  tc::config c;
  c.diagnostics = tc::log_level::error;
  c.ring_kb = o.ring_kb;
  c.ring_max_kb = o.ring_max_kb;
  c.ring_standby = o.standby;
  c.max_export_batch_size = o.batch;
  if (o.batch_bytes >= 0) c.export_batch_bytes = static_cast<std::uint32_t>(o.batch_bytes);
  c.max_queue_size = 131072;
  c.schedule_delay_ms = 200;
  c.otlp_gzip = o.gzip;
  c.redact = o.redact;
  c.drain_cpu = o.drain_cpu;
  if (o.drain_interval_ms > 0) c.drain_interval_ms = o.drain_interval_ms;
  c.otlp_endpoint = "http://127.0.0.1:" + std::to_string(port);
  if (exporting) c.exporters = {tc::exporter_kind::otlp};
  else c.exporters.clear();
  if (tc::init(c) != tc::status::ok) {
    std::fprintf(stderr, "init failed\n");
    std::exit(1);
  }
  const double cpu0 = cpu_seconds_process();
  const cpu_ticks host0 = read_cpu_ticks();
  std::vector<std::vector<std::uint32_t>> samples(static_cast<std::size_t>(o.threads));
  std::vector<double> producer_cpu(static_cast<std::size_t>(o.threads));
  const auto t0 = clk::now();
  struct window_end {
    double drain = 0, exp = 0, mapper = 0;
    std::uint64_t created = 0;
  };
  window_end win[2];
  std::thread watcher([&] {
    const double at[2] = {0.25, 0.9};
    for (int i = 0; i < 2; ++i) {
      std::this_thread::sleep_until(t0 + std::chrono::nanoseconds(static_cast<std::int64_t>(o.seconds * at[i] * 1e9)));
      win[i].created = tc::stats().spans_created;
      win[i].drain = thread_cpu_by_name("tc-drain").total;
      win[i].exp = thread_cpu_by_name("tc-export").total;
      win[i].mapper = thread_cpu_by_name("tc-ringmap").total;
    }
  });
  std::vector<std::thread> th;
  for (int t = 0; t < o.threads; ++t) {
    th.emplace_back([&, t] {
      const double per_thread = o.rate / o.threads;
      const std::uint64_t total = static_cast<std::uint64_t>(per_thread * o.seconds);
      auto& v = samples[static_cast<std::size_t>(t)];
      v.reserve(total);
      const double c_start = cpu_seconds_thread();
      const auto start = clk::now();
      constexpr std::uint64_t chunk = 1000;
      // --trace-spans K > 1: traces of one root ("request", ended last) and K - 1 children; the
      // children are timed. K = 1: every span is a root (with its derived run_id), the harsher case.
      std::optional<tc::async_span> root;
      std::optional<tc::context_scope> in_root;
      std::uint64_t children = 0;
      for (std::uint64_t done = 0; done < total;) {
        for (std::uint64_t i = 0; i < chunk && done < total; ++i, ++done) {
          if (o.trace_spans > 1 && !root) {
            root.emplace(tc::literal("request"), tc::kind::server);
            in_root.emplace(root->context());
          }
          const std::uint64_t a = tc::detail::ticks();
          {
            tc::span s("decode_step", tc::kind::internal);
            s.set("gen_ai.request.model", "llama-3.1-8b-instruct");
            s.set("http.route", "/v1/chat/completions");
            s.set("gen_ai.usage.output_tokens", static_cast<std::int64_t>(done));
            s.set("gen_ai.request.temperature", 0.7);
          }
          v.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(tc::detail::ticks() - a, 0xFFFFFFFFu)));
          if (root && ++children == o.trace_spans - 1) {
            in_root.reset();
            root->end();
            root.reset();
            children = 0;
            ++done;  // the root is a span too
          }
        }
        // Pace: the next chunk is due at done / per_thread seconds after the start.
        const auto due = start + std::chrono::nanoseconds(static_cast<std::int64_t>(double(done) / per_thread * 1e9));
        std::this_thread::sleep_until(due);  // sleeping, not spinning: the engine needs the cores
      }
      producer_cpu[static_cast<std::size_t>(t)] = cpu_seconds_thread() - c_start;
    });
  }
  for (auto& x : th) x.join();
  watcher.join();
  const double wall = std::chrono::duration<double>(clk::now() - t0).count();
  tc::flush(std::chrono::seconds(30));
  const thread_cpu drain_cpu = thread_cpu_by_name("tc-drain"), export_cpu = thread_cpu_by_name("tc-export");
  const bool ok = tc::shutdown(std::chrono::seconds(10));
  const double cpu1 = cpu_seconds_process();
  const double steal = steal_percent(host0, read_cpu_ticks());
  const tc::stats_snapshot s = tc::stats();
  run_result r;
  r.created = s.spans_created;
  r.exported = s.spans_exported;
  r.dropped = s.dropped.total() - (exporting ? 0 : s.dropped.no_exporter);
  r.ring_full = s.dropped.ring_full;
  r.queue_full = s.dropped.queue_full;
  r.retry_exhausted = s.dropped.retry_exhausted;
  r.rings_grown = s.rings_grown;
  r.longest_gap_us = s.drain_longest_gap_us;
  r.standby_moves = s.standby_moves;
  if (s.exporter_count > 0 && s.exporters[0].batches > 0) r.spans_per_request = s.exporters[0].spans_exported / s.exporters[0].batches;
  r.seconds = wall;
  r.achieved_rate = double(s.spans_created) / wall;
  for (double p : producer_cpu) r.producer_cpu_s += p;
  r.engine_cpu_s = (cpu1 - cpu0) - r.producer_cpu_s;
  r.shutdown_ok = ok;
  r.steal_pct = steal;
  r.drain_cpu = drain_cpu;
  r.export_cpu = export_cpu;
  if (win[1].created > win[0].created) {
    const double n = double(win[1].created - win[0].created) * 1e-9;
    r.steady_drain_ns = (win[1].drain - win[0].drain) / n;
    r.steady_export_ns = (win[1].exp - win[0].exp) / n;
    r.steady_ns = r.steady_drain_ns + r.steady_export_ns + (win[1].mapper - win[0].mapper) / n;
  }
  std::vector<std::uint32_t> all;
  for (auto& v : samples) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  if (!all.empty()) {
    r.p50_ns = all[all.size() / 2] * tick_ns;
    r.p99_ns = all[all.size() * 99 / 100] * tick_ns;
  }
  return r;
}

std::size_t append_cb(char* p, std::size_t sz, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, sz * n);
  return sz * n;
}

// The sink's own count of the spans it decoded (GET /stats).
std::uint64_t sink_spans(int port) {
  std::string body;
  CURL* c = curl_easy_init();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/stats";
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &append_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_perform(c);
  curl_easy_cleanup(c);
  const std::size_t at = body.find("\"spans\":");
  return at == std::string::npos ? 0 : std::strtoull(body.c_str() + at + 8, nullptr, 10);
}

// Sleeps until `spans` are due at `rate` spans/s after `start` (the floors send at the sustained
// run's rate: a sender that outpaces the sink pays more kernel time per byte, waiting on a full
// window, than the export thread does).
void pace(clk::time_point start, std::uint64_t spans, double rate) {
  std::this_thread::sleep_until(start + std::chrono::nanoseconds(static_cast<std::int64_t>(double(spans) / rate * 1e9)));
}

// A floor that sends a prebuilt request: CPU of the sending thread per span.
struct floor_result {
  double ns_per_span = 0;
  double user_ns_per_span = 0;  // of which in user space; the rest is the kernel's TCP
  std::size_t request_bytes = 0;
  std::size_t spans_per_request = 0;
  bool ok = true;
};

// The spans of the floors, as the sustained run's spans look once decoded. K = 1: every span a root
// with 4 attributes and the two a local root derives (run_id, the sampling reason). K > 1: traces of
// K - 1 children with the 4 attributes and a root ("request", server) with the derived two only. So
// the floors' requests have the engine's size for the same --trace-spans.
struct floor_spans {
  floor_spans(std::size_t n, std::uint64_t k) : ids(n * 24), run_ids(n * 32), count(n), per_trace(std::max<std::uint64_t>(1, k)) {
    using namespace tracecraft::detail;
    for (std::size_t i = 0; i < n; ++i) {
      std::uint8_t* id = &ids[i * 24];
      for (int b = 0; b < 24; ++b) id[b] = static_cast<std::uint8_t>((i * 131 + static_cast<std::size_t>(b) * 7 + 1) & 0xFF);
      for (int b = 0; b < 32; ++b) run_ids[i * 32 + static_cast<std::size_t>(b)] = "0123456789abcdef"[(id[b / 2] >> ((b & 1) ? 0 : 4)) & 15];
    }
    auto set_string = [](attr_view& a, const char* key, std::string_view value) {
      a.key = key;
      a.type = tc::value::type::string;
      a.s = value;
    };
    root.attrs.resize(per_trace == 1 ? 6 : 2);
    set_string(root.attrs[0], "run_id", {});
    set_string(root.attrs[1], "tracecraft.sampling.reason", "rate");  // what the engine derives for a root kept by the rate
    child.attrs.resize(4);
    view_list<attr_view>& host = per_trace == 1 ? root.attrs : child.attrs;
    const std::size_t h = per_trace == 1 ? 2 : 0;
    set_string(host[h], "gen_ai.request.model", "llama-3.1-8b-instruct");
    set_string(host[h + 1], "http.route", "/v1/chat/completions");
    host[h + 2].key = "gen_ai.usage.output_tokens";
    host[h + 2].type = tc::value::type::int64;
    host[h + 3].key = "gen_ai.request.temperature";
    host[h + 3].type = tc::value::type::float64;
    host[h + 3].d = 0.7;
    child.name = "decode_step";
    child.step = tc::kind::internal;
    child.otel = otel_internal;
    child.trace_flags = 1;
    root.name = per_trace == 1 ? "decode_step" : "request";
    root.step = per_trace == 1 ? tc::kind::internal : tc::kind::server;
    root.otel = per_trace == 1 ? otel_internal : otel_server;
    root.trace_flags = 1;
    now_ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                            std::chrono::system_clock::now().time_since_epoch()).count());
  }
  // Points a view at span i (ids, run_id and values; nothing is copied). The last span of each
  // group of K is the root; the others are its children and share its trace id.
  const tracecraft::detail::span_view& at(std::size_t i) {
    const std::size_t first = i - i % per_trace;
    const std::size_t root_at = std::min<std::size_t>(first + per_trace - 1, count - 1);
    tracecraft::detail::span_view& v = i == root_at ? root : child;
    v.trace_id = &ids[first * 24];
    v.span_id = &ids[i * 24 + 16];
    v.parent_id = i == root_at ? nullptr : &ids[root_at * 24 + 16];
    if (i == root_at) v.attrs[0].s = std::string_view(&run_ids[first * 32], 32);
    if (per_trace == 1 || i != root_at) v.attrs[per_trace == 1 ? 4 : 2].i = static_cast<std::int64_t>(i);
    v.start_ns = now_ns + i * 1000;
    v.end_ns = v.start_ns + 500;
    return v;
  }
  // The ring record these spans take on average: the header and fixed part (96 bytes), and the 4
  // attributes' 120 bytes (literal keys, copied string values) on the spans that carry them.
  std::size_t record_bytes() const {
    using namespace tracecraft::detail;
    const std::size_t bare = sizeof(record_header) + sizeof(span_data), with_attrs = bare + 120;
    if (per_trace == 1) return with_attrs;
    return round8(((per_trace - 1) * with_attrs + bare) / per_trace);
  }
  std::string request() {
    tracecraft::detail::otlp_proto_batch batch(tracecraft::detail::build_resource(tc::config{}));
    for (std::size_t i = 0; i < count; ++i) batch.add(at(i));
    return std::string(batch.seal());
  }
  std::vector<std::uint8_t> ids;
  std::vector<char> run_ids;
  std::size_t count;
  std::uint64_t per_trace;
  std::uint64_t now_ns = 0;
  tracecraft::detail::span_view root{}, child{};
};

double user_seconds_thread() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return double(ru.ru_utime.tv_sec) + double(ru.ru_utime.tv_usec) * 1e-6;
}

// Sends the prebuilt request (`send_one`: true when answered 200) once untimed (a connection is
// made), then at `rate` spans/s until `total_spans` have gone or a send fails; fills r's CPU per
// span from this thread's clocks.
template <class Send>
void time_sends(floor_result& r, std::uint64_t total_spans, double rate, Send&& send_one) {
  const std::uint64_t posts = std::max<std::uint64_t>(1, total_spans / r.spans_per_request);
  r.ok = send_one();  // not timed
  const double c0 = cpu_seconds_thread(), u0 = user_seconds_thread();
  const auto start = clk::now();
  std::uint64_t sent = 0;
  while (r.ok && sent < posts) {
    r.ok = send_one();
    ++sent;
    pace(start, sent * r.spans_per_request, rate);
  }
  const double spans = double(std::max<std::uint64_t>(1, sent * r.spans_per_request));
  r.ns_per_span = (cpu_seconds_thread() - c0) * 1e9 / spans;
  r.user_ns_per_span = (user_seconds_thread() - u0) * 1e9 / spans;
}

// The transport's own floor: one request as the engine builds it, posted at `rate` spans/s through
// the engine's http_transport (one kept-alive connection opened by libcurl, the request framed by the
// transport in room in front of the body, as the exporter does) to the same sink. This thread's CPU per span is what moving the bytes costs (loopback
// TCP in the kernel, the transport's waits and framing), with no draining or encoding at all.
floor_result transport_floor(int port, const std::string& body, std::size_t spans_per_request, std::uint64_t total_spans,
                             double rate) {
  using namespace tracecraft::detail;
  http_options ho;
  ho.url = "http://127.0.0.1:" + std::to_string(port) + "/v1/traces";
  ho.content_type = "application/x-protobuf";
  ho.user_agent = "tracecraft-export-bench";
  http_transport t(ho);
  floor_result r;
  r.request_bytes = body.size();
  r.spans_per_request = spans_per_request;
  // Room for the head in front of the body, as the exporter's batch buffers keep: one send.
  const std::size_t room = t.max_head_bytes();
  std::string framed(room, '\0');
  framed += body;
  const std::string_view request(framed.data() + room, body.size());
  time_sends(r, total_spans, rate, [&] { return t.post(request, false, framed.data()).status == 200; });
  return r;
}

// The kernel's floor: the same request over a plain blocking TCP socket (an HTTP/1.1 header written
// here, header and body handed to send() together, the sink's answer read back), no libcurl. This thread's
// CPU per span is what loopback TCP charges the sender on this machine.
floor_result socket_floor(int port, const std::string& body, std::size_t spans_per_request, std::uint64_t total_spans,
                          double rate) {
  floor_result r;
  r.request_bytes = body.size();
  r.spans_per_request = spans_per_request;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    r.ok = false;
    return r;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    r.ok = false;
    return r;
  }
  const std::string head = "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                           "\r\nContent-Type: application/x-protobuf\r\nContent-Length: " + std::to_string(body.size()) +
                           "\r\n\r\n";
  auto send_all = [&](const char* p, std::size_t n) {
    while (n > 0) {
      const ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
      if (k <= 0) return false;
      p += k;
      n -= static_cast<std::size_t>(k);
    }
    return true;
  };
  // One exchange: the header and body sent, the response's header and Content-Length body read.
  std::string in;
  char buf[4096];
  const std::string whole = head + body;  // one send, as the transport does
  auto exchange = [&] {
    if (!send_all(whole.data(), whole.size())) return false;
    in.clear();
    std::size_t need = std::string::npos;
    for (;;) {
      if (need == std::string::npos) {
        const std::size_t end = in.find("\r\n\r\n");
        if (end != std::string::npos) {
          const std::size_t cl = in.find("Content-Length:");
          need = end + 4 + (cl == std::string::npos ? 0 : std::strtoull(in.c_str() + cl + 15, nullptr, 10));
        }
      }
      if (need != std::string::npos && in.size() >= need) return in.compare(0, 12, "HTTP/1.1 200") == 0;
      const ssize_t k = ::recv(fd, buf, sizeof buf, 0);
      if (k <= 0) return false;
      in.append(buf, static_cast<std::size_t>(k));
    }
  };
  time_sends(r, total_spans, rate, exchange);
  ::close(fd);
  return r;
}

// The encoder's floor: the engine's protobuf encoder writing the same spans into one request buffer
// over and over (views already decoded, nothing sent). Thread CPU per span.
double encode_floor(floor_spans& spans, std::uint64_t total_spans) {
  tracecraft::detail::otlp_proto_batch batch(tracecraft::detail::build_resource(tc::config{}));
  const std::uint64_t passes = std::max<std::uint64_t>(1, total_spans / spans.count);
  std::size_t bytes = 0;
  const double c0 = cpu_seconds_thread();
  for (std::uint64_t k = 0; k < passes; ++k) {
    batch.clear();
    for (std::size_t i = 0; i < spans.count; ++i) batch.add(spans.at(i));
    bytes += batch.seal().size();
  }
  const double ns = (cpu_seconds_thread() - c0) * 1e9 / double(passes * spans.count);
  if (bytes == 42) std::printf(" ");  // keeps the work
  return ns;
}

// The hand-off floor: what moving a span record from a request thread's core to the drain's
// costs, with no engine code at all. A producer writes records of the engine's size (on average
// for the run's trace shape: floor_spans::record_bytes()) into a 4 MiB single-producer ring, paced
// like the sustained run; a consumer woken every 2 ms (the drain's interval) reads every 8-byte
// word of each new record and releases it. Its thread CPU per record is the least any drain can
// spend before decoding.
struct handoff_result {
  double ns_per_record = 0;
  std::uint64_t records = 0, full = 0;
};

handoff_result handoff_floor(double rate, double seconds, std::size_t record_bytes) {
  const std::size_t cap = (std::size_t{4} << 20) / record_bytes * record_bytes;  // whole records
  std::vector<std::uint64_t> ring(cap / 8);
  std::atomic<std::uint64_t> head{0}, tail{0};
  std::atomic<bool> done{false};
  handoff_result r;
  std::uint64_t sum = 0;
  std::thread consumer([&] {
    const double c0 = cpu_seconds_thread();
    std::uint64_t t = tail.load(std::memory_order_relaxed);
    for (;;) {
      const bool last = done.load(std::memory_order_acquire);
      const std::uint64_t h = head.load(std::memory_order_acquire);
      for (; t < h; t += record_bytes) {
        const std::size_t at = static_cast<std::size_t>(t % cap) / 8;
        for (std::size_t w = 0; w < record_bytes / 8; ++w) sum += ring[at + w];
        ++r.records;
      }
      tail.store(t, std::memory_order_release);
      if (last) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    r.ns_per_record = (cpu_seconds_thread() - c0) * 1e9 / double(std::max<std::uint64_t>(1, r.records));
  });
  const std::uint64_t total = static_cast<std::uint64_t>(rate * seconds);
  const auto start = clk::now();
  std::uint64_t h = 0;
  for (std::uint64_t done_n = 0; done_n < total;) {
    for (std::uint64_t i = 0; i < 1000 && done_n < total; ++i, ++done_n) {
      if (h + record_bytes - tail.load(std::memory_order_acquire) > cap) {
        ++r.full;
        continue;
      }
      const std::size_t at = static_cast<std::size_t>(h % cap) / 8;
      for (std::size_t w = 0; w < record_bytes / 8; ++w) ring[at + w] = done_n + w;
      h += record_bytes;
      head.store(h, std::memory_order_release);
    }
    std::this_thread::sleep_until(start + std::chrono::nanoseconds(static_cast<std::int64_t>(double(done_n) / rate * 1e9)));
  }
  done.store(true, std::memory_order_release);
  consumer.join();
  if (sum == 42) std::printf(" ");  // keeps the reads
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--sink" && i + 1 < argc) o.sink = next();
    else if (a == "--rate" && i + 1 < argc) o.rate = std::atof(next());
    else if (a == "--seconds" && i + 1 < argc) o.seconds = std::atof(next());
    else if (a == "--rounds" && i + 1 < argc) o.rounds = std::max(1, std::atoi(next()));
    else if (a == "--threads" && i + 1 < argc) o.threads = std::max(1, std::atoi(next()));
    else if (a == "--gzip") o.gzip = true;
    else if (a == "--no-redact") o.redact = false;
    else if (a == "--no-standby") o.standby = false;
    else if (a == "--no-floors") o.floors = false;
    else if (a == "--trace-spans" && i + 1 < argc) o.trace_spans = std::max(1, std::atoi(next()));
    else if (a == "--json") o.json = true;
    else if (a == "--drain-cpu" && i + 1 < argc) o.drain_cpu = std::atoi(next());
    else if (a == "--drain-interval-ms" && i + 1 < argc) o.drain_interval_ms = static_cast<unsigned>(std::max(1, std::atoi(next())));
    else if (a == "--batch" && i + 1 < argc) o.batch = static_cast<std::uint32_t>(std::max(1, std::atoi(next())));
    else if (a == "--batch-bytes" && i + 1 < argc) o.batch_bytes = std::max(0L, std::atol(next()));
    else if (a == "--ring-kb" && i + 1 < argc) o.ring_kb = static_cast<std::uint32_t>(std::max(64, std::atoi(next())));
    else if (a == "--ring-max-kb" && i + 1 < argc) o.ring_max_kb = static_cast<std::uint32_t>(std::max(4, std::atoi(next())));
    else {
      std::printf("usage: tracecraft-export-bench --sink PATH [--rate N] [--seconds S] [--rounds R] [--threads T] [--trace-spans K] [--gzip] [--no-redact] [--json]\n"
                "       [--drain-cpu N] [--drain-interval-ms MS] [--batch N] [--batch-bytes B] [--ring-kb KB] [--ring-max-kb KB] [--no-standby] [--no-floors]\n");
      return a == "--help" ? 0 : 2;
    }
  }
  if (o.sink.empty()) {
    std::fprintf(stderr, "tracecraft-export-bench: --sink PATH (tracecraft-sink) is required\n");
    return 2;
  }
  char tmpl[] = "/tmp/tc-export-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 1;
  const std::string port_file = std::string(tmpl) + "/port";
  const pid_t sink = tcbench::spawn_discard_sink(o.sink, port_file);
  int port = 0;
  for (int i = 0; i < 500 && port == 0; ++i) {
    if (FILE* f = std::fopen(port_file.c_str(), "r")) {
      if (std::fscanf(f, "%d", &port) != 1) port = 0;
      std::fclose(f);
    }
    if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (sink <= 0 || port == 0) {
    std::fprintf(stderr, "tracecraft-export-bench: tracecraft-sink did not start\n");
    return 1;
  }
  const double tick_ns = ns_per_tick();
  std::vector<run_result> with, without;
  for (int r = 0; r < o.rounds; ++r) {  // interleaved: A B A B (threads of earlier rounds have exited)
    without.push_back(paced_run(o, false, port, tick_ns));
    with.push_back(paced_run(o, true, port, tick_ns));
  }
  const std::uint64_t received = sink_spans(port);  // before the floor's posts
  // Median round of each, by `key`.
  auto median = [](std::vector<run_result> v, auto key) {
    std::sort(v.begin(), v.end(), [&](const run_result& a, const run_result& b) { return key(a) < key(b); });
    return v[v.size() / 2];
  };
  // The floors, each the median of --rounds, interleaved so that all of them see the same minutes.
  // Requests of the engine's size in these rounds (the median round's spans per request; the
  // default cut follows the L2 cache), so that the floors and the engine copy the same bytes.
  const std::uint64_t per_request = median(with, [](const run_result& x) { return x.spans_per_request; }).spans_per_request;
  floor_spans spans(per_request > 0 ? per_request : 4096, o.trace_spans);
  const std::string request = spans.request();
  const std::uint64_t floor_total = static_cast<std::uint64_t>(std::min(o.rate * std::min(o.seconds, 2.0), 4e6));
  std::vector<floor_result> floors, sockets;
  std::vector<double> encodes;
  const cpu_ticks floors0 = read_cpu_ticks();
  if (!o.floors) {  // none measured: zeros, and no floor lines are printed
    floors.emplace_back();
    sockets.emplace_back();
    encodes.push_back(0);
  }
  for (int r = 0; o.floors && r < o.rounds; ++r) {
    floors.push_back(transport_floor(port, request, spans.count, floor_total, o.rate));
    sockets.push_back(socket_floor(port, request, spans.count, floor_total, o.rate));
    encodes.push_back(encode_floor(spans, floor_total));
  }
  auto by_ns = [](const floor_result& a, const floor_result& b) { return a.ns_per_span < b.ns_per_span; };
  std::sort(floors.begin(), floors.end(), by_ns);
  std::sort(sockets.begin(), sockets.end(), by_ns);
  std::sort(encodes.begin(), encodes.end());
  const floor_result fl = floors[floors.size() / 2], so = sockets[sockets.size() / 2];
  const double enc = encodes[encodes.size() / 2];
  std::vector<handoff_result> handoffs;
  if (!o.floors) handoffs.emplace_back();
  for (int r = 0; o.floors && r < o.rounds; ++r) handoffs.push_back(handoff_floor(o.rate, std::min(o.seconds, 2.0), spans.record_bytes()));
  std::sort(handoffs.begin(), handoffs.end(), [](const handoff_result& a, const handoff_result& b) { return a.ns_per_record < b.ns_per_record; });
  const handoff_result ho = handoffs[handoffs.size() / 2];
  const double floors_steal = steal_percent(floors0, read_cpu_ticks());
  std::uint64_t exported_total = 0;
  for (const auto& x : with) exported_total += x.exported;
  ::kill(sink, SIGTERM);
  int st = 0;
  ::waitpid(sink, &st, 0);
  std::remove(port_file.c_str());
  ::rmdir(tmpl);

  const run_result w = median(with, [](const run_result& x) { return x.engine_cpu_s / std::max<std::uint64_t>(1, x.exported); });
  const run_result n = median(without, [](const run_result& x) { return x.p50_ns; });
  std::uint64_t worst_drops = 0, worst_gap_us = 0;
  double steal_max = 0;
  for (const auto& x : with) {
    worst_drops = std::max(worst_drops, x.dropped);
    worst_gap_us = std::max(worst_gap_us, x.longest_gap_us);
    steal_max = std::max(steal_max, x.steal_pct);
  }
  // How long the largest ring holds one producer's records at its share of the rate: a drain away
  // longer than that drops (the rings start smaller and grow on the drain's word).
  const double ring_holds_ms = double(std::max(o.ring_kb, o.ring_max_kb)) * 1024.0 /
                               (double(spans.record_bytes()) * o.rate / double(std::max(1, o.threads))) * 1e3;
  auto per_span = [&](double seconds) { return seconds * 1e9 / double(std::max<std::uint64_t>(1, w.exported)); };
  auto per_million = [&](std::uint64_t n) { return double(n) * 1e6 / double(std::max<std::uint64_t>(1, w.exported)); };
  const double cpu_ns_per_span = per_span(w.engine_cpu_s);
  const run_result ws = median(with, [](const run_result& x) { return x.steady_ns; });  // by the steady figure
  const double cpu_s_per_million = cpu_ns_per_span / 1e3;
  if (o.json) {
    std::printf("{\"rate_target\":%.0f,\"seconds\":%.1f,\"rounds\":%d,\"threads\":%d,\"gzip\":%s,"
                "\"exported\":%llu,\"created\":%llu,\"achieved_spans_per_s\":%.0f,\"drops_worst_round\":%llu,"
                "\"ring_full\":%llu,\"queue_full\":%llu,\"retry_exhausted\":%llu,"
                "\"engine_cpu_ns_per_span\":%.1f,\"engine_cpu_s_per_million\":%.3f,\"no_export_engine_cpu_ns_per_span\":%.1f,"
                "\"producer_p50_ns\":%.1f,\"producer_p99_ns\":%.1f,\"no_export_p50_ns\":%.1f,\"no_export_p99_ns\":%.1f,\"sink_spans\":%llu,\"exported_all_rounds\":%llu,"
                "\"transport_floor_ns_per_span\":%.1f,\"transport_floor_user_ns_per_span\":%.1f,\"transport_floor_request_bytes\":%zu,"
                "\"transport_floor_ok\":%s,\"handoff_floor_ns_per_span\":%.1f,\"handoff_full\":%llu,"
                "\"drain_ns_per_span\":%.1f,\"drain_kernel_ns_per_span\":%.1f,\"export_ns_per_span\":%.1f,"
                "\"export_kernel_ns_per_span\":%.1f,\"socket_floor_ns_per_span\":%.1f,\"socket_floor_user_ns_per_span\":%.1f,"
                "\"socket_floor_ok\":%s,\"encode_floor_ns_per_span\":%.1f,\"least_engine_ns_per_span\":%.1f,"
                "\"drain_switches_per_million\":%.0f,\"export_switches_per_million\":%.0f,\"steal_pct_max\":%.1f,\"floors_steal_pct\":%.1f,"
                "\"drain_longest_gap_ms_worst\":%.1f,\"ring_holds_ms\":%.1f,\"steady_engine_ns_per_span\":%.1f}\n",
                o.rate, o.seconds, o.rounds, o.threads, o.gzip ? "true" : "false",
                static_cast<unsigned long long>(w.exported), static_cast<unsigned long long>(w.created), w.achieved_rate,
                static_cast<unsigned long long>(worst_drops), static_cast<unsigned long long>(w.ring_full),
                static_cast<unsigned long long>(w.queue_full), static_cast<unsigned long long>(w.retry_exhausted),
                cpu_ns_per_span, cpu_s_per_million, n.engine_cpu_s * 1e9 / double(std::max<std::uint64_t>(1, n.created)),
                w.p50_ns, w.p99_ns, n.p50_ns, n.p99_ns, static_cast<unsigned long long>(received), static_cast<unsigned long long>(exported_total),
                fl.ns_per_span, fl.user_ns_per_span, fl.request_bytes, fl.ok ? "true" : "false", ho.ns_per_record,
                static_cast<unsigned long long>(ho.full), per_span(w.drain_cpu.total), per_span(w.drain_cpu.kernel),
                per_span(w.export_cpu.total), per_span(w.export_cpu.kernel), so.ns_per_span, so.user_ns_per_span,
                so.ok ? "true" : "false", enc, ho.ns_per_record + enc + so.ns_per_span, per_million(w.drain_cpu.switches),
                per_million(w.export_cpu.switches), steal_max, floors_steal, double(worst_gap_us) / 1e3, ring_holds_ms,
                ws.steady_ns);
  } else {
    std::printf("export into tracecraft-sink: target %.0f spans/s x %.1f s, %d producer thread(s), %d rounds%s, %s, "
                "rings of %u KiB growing up to %u KiB\n", o.rate,
                o.seconds, o.threads, o.rounds, o.gzip ? ", gzip" : "",
                o.trace_spans > 1 ? ("traces of " + std::to_string(o.trace_spans) + " spans").c_str() : "every span a root",
                o.ring_kb, std::max(o.ring_kb, o.ring_max_kb));
    for (std::size_t i = 0; i < with.size(); ++i)
      std::printf("  round %zu: created %llu (%.0f/s), exported %llu, dropped %llu (ring_full %llu, queue_full %llu, "
                  "retry_exhausted %llu), rings grown %llu, engine CPU %.1f ns/span, shutdown %s, host steal %.1f%%, "
                  "drain's longest gap %.1f ms, standby moves %llu, steady %.1f ns/span\n",
                  i + 1, static_cast<unsigned long long>(with[i].created), with[i].achieved_rate,
                  static_cast<unsigned long long>(with[i].exported), static_cast<unsigned long long>(with[i].dropped),
                  static_cast<unsigned long long>(with[i].ring_full), static_cast<unsigned long long>(with[i].queue_full),
                  static_cast<unsigned long long>(with[i].retry_exhausted), static_cast<unsigned long long>(with[i].rings_grown),
                  with[i].engine_cpu_s * 1e9 / double(std::max<std::uint64_t>(1, with[i].exported)),
                  with[i].shutdown_ok ? "ok" : "LATE", with[i].steal_pct, double(with[i].longest_gap_us) / 1e3,
                  static_cast<unsigned long long>(with[i].standby_moves), with[i].steady_ns);
    std::printf("a ring of %u KiB holds %.1f ms of one producer's %zu-byte records at this rate: a drain away longer drops\n",
                std::max(o.ring_kb, o.ring_max_kb), ring_holds_ms, spans.record_bytes());
    std::printf("engine CPU per exported span (median round): %.1f ns (%.3f CPU s per million spans); with no exporter "
                "(drain reading and decoding only) %.1f ns per span\n",
                cpu_ns_per_span, cpu_s_per_million, n.engine_cpu_s * 1e9 / double(std::max<std::uint64_t>(1, n.created)));
    std::printf("  of which the drain thread %.1f ns (%.1f in the kernel) and the export thread %.1f ns (%.1f in the kernel) "
                "per span (%s); context switches per million spans: drain %.0f, export %.0f\n",
                per_span(w.drain_cpu.total), per_span(w.drain_cpu.kernel), per_span(w.export_cpu.total),
                per_span(w.export_cpu.kernel),
                w.drain_cpu.precise && w.export_cpu.precise ? "the scheduler's run time; the kernel's share from 10 ms ticks"
                                                            : "from /proc, 10 ms ticks",
                per_million(w.drain_cpu.switches), per_million(w.export_cpu.switches));
    std::printf("steady engine CPU (the middle of each round, from a quarter to nine tenths of it: no start-up or shutdown), "
                "median round: %.1f ns per span, of which the drain thread %.1f and the export thread %.1f\n",
                ws.steady_ns, ws.steady_drain_ns, ws.steady_export_ns);
    std::printf("request-thread span cost, 4 attributes: p50 %.1f ns p99 %.1f ns exporting; p50 %.1f ns p99 %.1f ns with no exporter\n",
                w.p50_ns, w.p99_ns, n.p50_ns, n.p99_ns);
    std::printf("drops in the worst round: %llu; the sink decoded %llu spans, the engine counted %llu exported\n",
                static_cast<unsigned long long>(worst_drops), static_cast<unsigned long long>(received),
                static_cast<unsigned long long>(exported_total));
    if (!o.floors) return 0;
    std::printf("transport floor (a prebuilt %zu-span, %zu-byte request posted at the same rate through the engine's "
                "transport, nothing drained or encoded): %.1f ns per span, of which %.1f ns in user space%s\n",
                fl.spans_per_request, fl.request_bytes, fl.ns_per_span, fl.user_ns_per_span,
                fl.ok ? "" : " (SOME POSTS FAILED)");
    std::printf("hand-off floor (%zu-byte records moved from a paced producer thread to a consumer woken every 2 ms, every "
                "word read, no engine code): %.1f ns per span%s; with the transport floor: %.1f ns per span\n",
                spans.record_bytes(), ho.ns_per_record, ho.full ? " (SOME RECORDS DID NOT FIT)" : "", ho.ns_per_record + fl.ns_per_span);
    std::printf("socket floor (the same request at the same rate over a plain TCP socket, no libcurl): %.1f ns per span, of which %.1f ns "
                "in user space%s\n",
                so.ns_per_span, so.user_ns_per_span, so.ok ? "" : " (SOME EXCHANGES FAILED)");
    std::printf("encoder floor (the same spans, already decoded, encoded into one request over and over): %.1f ns per span\n",
                enc);
    std::printf("least engine CPU these floors allow (hand-off + encoder + socket, no decoding, batching or HTTP framing): "
                "%.1f ns per span (host steal during the floors %.1f%%)\n",
                ho.ns_per_record + enc + so.ns_per_span, floors_steal);
  }
  return 0;
}
