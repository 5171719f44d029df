// SPDX-License-Identifier: Apache-2.0
// OTLP/HTTP export against a real tracecraft-sink process over real sockets (libcurl on the
// engine's side), one test per collector fault. In every case: request threads never block (their
// span cost stays in the normal range while the collector misbehaves), the export queue stays
// within its bound, every span is exported or counted as dropped with its reason, and shutdown
// returns within its deadline.
#include <doctest/doctest.h>

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <simdjson.h>

#include "harness.h"
#include "tracecraft/trace.h"

namespace tc = tracecraft;
using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

extern char** environ;

namespace {

// A port nothing listens on (bound, then released).
int free_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(s);
  return ntohs(a.sin_port);
}

std::size_t write_cb(char* p, std::size_t s, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, s * n);
  return s * n;
}

/// tracecraft-sink as a child process.
class sink_process {
 public:
  sink_process(const tct::temp_dir& dir, std::vector<std::string> args, int port = 0)
      : dir_(dir), out_(dir.file("sink." + std::to_string(++objects()) + ".jsonl")) {
    start(std::move(args), port);
  }
  ~sink_process() { stop(); }

  void start(std::vector<std::string> args, int port = 0) {
    static int started = 0;  // unique per start: two sinks may share a directory
    const std::string port_file = dir_.file("sink.port." + std::to_string(++started));
    std::vector<std::string> a = {TC_SINK_PATH, "--quiet", "--port", std::to_string(port), "--port-file", port_file,
                                  "--out", out_};
    a.insert(a.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, dir_.file("sink.err").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    // Not the test's stdout either: a sink outliving a test that died (a sanitizer's exit) would
    // hold meson's pipe open, and meson would wait for it until the test's timeout.
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    REQUIRE(posix_spawn(&pid_, TC_SINK_PATH, &fa, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 500; ++i) {
      const std::string p = tct::slurp(port_file);
      if (!p.empty()) {
        port_ = std::stoi(p);
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
    FAIL("tracecraft-sink did not start");
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }
  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::uint64_t stat(const char* name) const {
    std::string body;
    CURL* c = curl_easy_init();
    const std::string url = endpoint() + "/stats";
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    const CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    REQUIRE(rc == CURLE_OK);
    simdjson::dom::parser p;
    std::uint64_t v = 0;
    REQUIRE(p.parse(body)[name].get_uint64().get(v) == simdjson::SUCCESS);
    return v;
  }
  std::string out_file() const { return out_; }

 private:
  static int& objects() {
    static int n = 0;
    return n;
  }
  const tct::temp_dir& dir_;
  std::string out_;  // one file per sink object, kept across restarts
  pid_t pid_ = -1;
  int port_ = 0;
};

tc::config otlp_config(const std::string& endpoint) {
  tc::config c;
  c.exporters = {tc::exporter_kind::otlp};
  c.otlp_endpoint = endpoint;
  c.schedule_delay_ms = 60000;  // flush() decides, unless a test says otherwise
  c.max_export_batch_size = 50;
  c.max_queue_size = 1000;
  c.export_backoff_base_ms = 10;
  c.export_backoff_max_ms = 40;
  c.export_max_retries = 3;
  c.otlp_timeout_ms = 2000;
  c.diagnostics = tc::log_level::none;
  return c;
}

/// Spans from a request thread: returns the slowest single span (start to end) in ns and checks
/// the export queue never exceeds its bound while they are produced.
struct produce_result {
  std::uint64_t max_ns = 0;
  double median_ns = 0;  // robust to the odd descheduling of a shared host
};
produce_result produce(int n, int attrs_bytes = 20) {
  produce_result r;
  std::vector<std::uint64_t> times;
  times.reserve(static_cast<std::size_t>(n));
  const std::string payload(static_cast<std::size_t>(attrs_bytes), 'x');
  std::thread t([&] {
    for (int i = 0; i < n; ++i) {
      const auto t0 = clk::now();
      {
        tc::span s("request", tc::kind::server);
        s.set("i", static_cast<std::int64_t>(i));
        s.set("payload", std::string_view(payload));
      }
      const auto ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now() - t0).count());
      if (i > 0) {  // the thread's first span attaches its ring (once per thread, not the network)
        r.max_ns = std::max(r.max_ns, ns);
        times.push_back(ns);
      }
      if (i % 64 == 0) {
        const auto s = tc::stats();
        if (s.exporter_count > 0) {
          CHECK(s.exporters[0].queued <= s.exporters[0].queue_capacity);
          // The byte bound is checked before a span is encoded: passed by one span at most.
          if (s.exporters[0].queue_bytes_capacity > 0)
            CHECK(s.exporters[0].queued_bytes <= s.exporters[0].queue_bytes_capacity + 2 * std::uint64_t(attrs_bytes) + 1024);
        }
      }
    }
  });
  t.join();
  if (!times.empty()) {
    std::nth_element(times.begin(), times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2), times.end());
    r.median_ns = double(times[times.size() / 2]);
  }
  return r;
}

// The same loop with no exporter at all, once per process: the normal cost of a span here
// (sanitizer builds included).
double baseline_median_ns() {
  static const double median = [] {
    tc::config c;
    c.exporters.clear();
    c.diagnostics = tc::log_level::none;
    REQUIRE(tc::init(c) == tc::status::ok);
    produce(500);
    const double m = produce(2000).median_ns;
    tc::shutdown(2s);
    return m;
  }();
  return median;
}

// Request threads do not wait for the network: a blocked span would take as long as the
// collector's fault (hundreds of ms at least). The median stays near the no-exporter baseline;
// the bounds are generous for a shared, noisy 2-core host.
void check_not_blocked(const produce_result& r) {
  static const double base = baseline_median_ns();
  INFO("slowest span " << r.max_ns << " ns, median " << r.median_ns << " ns, baseline median " << base << " ns");
  CHECK(r.max_ns < 50'000'000u);
  CHECK(r.median_ns < 4 * base + 2000.0);
}

bool shutdown_on_time(std::chrono::milliseconds deadline, bool* result = nullptr) {
  const auto t0 = clk::now();
  const bool ok = tc::shutdown(deadline);
  if (result) *result = ok;
  const auto took = clk::now() - t0;
  INFO("shutdown took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  return took <= deadline + 50ms;
}

const tc::exporter_stats& otlp_stats(const tc::stats_snapshot& s) {
  REQUIRE(s.exporter_count >= 1);
  REQUIRE(std::string(s.exporters[0].name) == "otlp");
  return s.exporters[0];
}

// One HTTP request with libcurl; returns the status (0 when there was no response).
long http(const std::string& url, const char* method, const std::string& body, const std::vector<std::string>& headers) {
  CURL* c = curl_easy_init();
  std::string out;
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  list = curl_slist_append(list, "Expect:");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (std::string(method) == "POST") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &write_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
  long status = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(list);
  curl_easy_cleanup(c);
  return status;
}

// A client that writes its body slowly, the way a busy one does: the headers and 1000 bytes, then
// the rest in 50 KB pieces 50 ms apart, without reading in between, and only then the response.
// Returns the status line, or what failed ("send failed", "no response").
std::string slow_post(int port, std::size_t body_bytes) {
  const int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(s);
    return "connect failed";
  }
  const std::string body(body_bytes, 'x');
  const std::string head = "POST /v1/traces HTTP/1.1\r\nHost: sink\r\nContent-Type: application/x-protobuf\r\n"
                           "Content-Length: " + std::to_string(body_bytes) + "\r\n\r\n";
  std::string_view rest(body);
  std::string piece = head + std::string(rest.substr(0, 1000));
  rest.remove_prefix(std::min<std::size_t>(1000, rest.size()));
  std::string result;
  for (;;) {
    for (std::string_view p(piece); !p.empty();) {
      const ssize_t n = ::send(s, p.data(), p.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        result = "send failed";
        break;
      }
      p.remove_prefix(static_cast<std::size_t>(n));
    }
    if (!result.empty() || rest.empty()) break;
    std::this_thread::sleep_for(50ms);
    piece = std::string(rest.substr(0, 50000));
    rest.remove_prefix(piece.size());
  }
  if (result.empty()) {
    char buf[512];
    const ssize_t n = ::recv(s, buf, sizeof buf, 0);
    const std::string got = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    result = got.empty() ? "no response" : got.substr(0, got.find("\r\n"));
  }
  ::close(s);
  return result;
}

// Minor page faults of this process's thread named `comm` so far (-1: no such thread).
long thread_minor_faults(const char* comm) {
  const long tid = tct::thread_named(comm);
  if (tid == 0) return -1;
  // stat: pid (comm) state ppid pgrp session tty_nr tpgid flags minflt ...
  const std::string st = tct::slurp("/proc/self/task/" + std::to_string(tid) + "/stat");
  const std::size_t close = st.rfind(')');
  if (close == std::string::npos) return -1;
  char state = 0;
  long skip = 0, minflt = -1;
  unsigned long flags = 0;
  if (std::sscanf(st.c_str() + close + 1, " %c %ld %ld %ld %ld %ld %lu %ld", &state, &skip, &skip, &skip, &skip, &skip,
                  &flags, &minflt) != 8)
    return -1;
  return minflt;
}

std::string http_date(std::time_t t) {
  char buf[64];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

}  // namespace

TEST_SUITE("otlp export") {
  TEST_CASE("baseline: span cost with no exporter") { CHECK(baseline_median_ns() > 0); }

  TEST_CASE("healthy collector: every span arrives once, in batches of OTEL_BSP_MAX_EXPORT_BATCH_SIZE") {
    tct::temp_dir dir;
    sink_process sink(dir, {});
    REQUIRE(tc::init(otlp_config(sink.endpoint())) == tc::status::ok);
    CHECK(tc::healthy());
    check_not_blocked(produce(120));
    REQUIRE(tc::flush(5s));
    CHECK(sink.stat("spans") == 120);
    CHECK(sink.stat("requests") == 3);  // 50 + 50 + 20
    const auto spans = tct::read_spans(sink.out_file());
    std::set<std::string> ids;
    for (const auto& s : spans) ids.insert(s.span_id);
    CHECK(ids.size() == 120);
    REQUIRE(shutdown_on_time(2s));
    const auto s = tc::stats();
    CHECK(otlp_stats(s).spans_exported == 120);
    CHECK(otlp_stats(s).batches == 3);
    CHECK(otlp_stats(s).bytes > 0);
    tct::check_accounting(s);
  }

  TEST_CASE("the drain fills its first request buffers without page faults: init() faulted them in") {
    tct::temp_dir dir;
    sink_process sink(dir, {});
    tc::config c = otlp_config(sink.endpoint());
    c.max_export_batch_size = 2048;
    c.max_queue_size = 8192;
    c.ring_kb = 4096;  // nothing dropped or grown: only the request buffers are new memory
    REQUIRE(tc::init(c) == tc::status::ok);
    long before = -1;
    for (int i = 0; i < 1000 && before < 0; ++i) {
      before = thread_minor_faults("tc-drain");
      if (before < 0) std::this_thread::sleep_for(1ms);
    }
    REQUIRE(before >= 0);
    // Two full batches of about 340-byte spans, some 340 pages the drain would otherwise fault in
    // as it encodes (the first requests of a run, while rings are small).
    produce(4096, 160);
    REQUIRE(tc::flush(5s));
    const long after = thread_minor_faults("tc-drain");
    CHECK(sink.stat("spans") == 4096);
    // Cold buffers, grown by doubling as they fill, took 643 faults here; what is left (11, or 84
    // under ASan, which maps shadow pages too) stays far below one per page of the requests.
    const long pages = static_cast<long>(sink.stat("bytes") / 4096);
    INFO("the drain's minor faults while it encoded 4096 spans: " << after - before << "; the requests' pages: " << pages);
    CHECK(pages > 200);
    CHECK(after - before < pages / 2);
    REQUIRE(shutdown_on_time(2s));
    tct::check_accounting(tc::stats());
  }

  TEST_CASE("OTEL_BSP_SCHEDULE_DELAY sends a partial batch without flush()") {
    tct::temp_dir dir;
    sink_process sink(dir, {});
    tc::config c = otlp_config(sink.endpoint());
    c.schedule_delay_ms = 100;
    c.max_export_batch_size = 512;
    REQUIRE(tc::init(c) == tc::status::ok);
    produce(10);
    const auto t0 = clk::now();
    while (sink.stat("spans") < 10 && clk::now() - t0 < 5s) std::this_thread::sleep_for(20ms);
    CHECK(sink.stat("spans") == 10);
    CHECK(clk::now() - t0 < 2s);
    REQUIRE(shutdown_on_time(2s));
    tct::check_accounting(tc::stats());
  }

  TEST_CASE("fault: collector absent at start, then appears") {
    tct::temp_dir dir;
    const int port = free_port();
    tc::config c = otlp_config("http://127.0.0.1:" + std::to_string(port));
    c.export_max_retries = 1;
    REQUIRE(tc::init(c) == tc::status::ok);
    check_not_blocked(produce(100));
    CHECK(tc::flush(3s));  // settled: nothing left to send
    auto s = tc::stats();
    CHECK(otlp_stats(s).dropped.retry_exhausted == 100);
    CHECK(otlp_stats(s).retries == 2);  // one retry for each of the two batches
    CHECK(std::string(otlp_stats(s).last_error).size() > 0);
    sink_process sink(dir, {}, port);
    check_not_blocked(produce(100));
    REQUIRE(tc::flush(5s));
    CHECK(sink.stat("spans") == 100);
    REQUIRE(shutdown_on_time(2s));
    s = tc::stats();
    CHECK(s.spans_exported == 100);
    CHECK(s.dropped.retry_exhausted == 100);
    tct::check_accounting(s);
  }

  TEST_CASE("fault: collector goes away mid-run and returns while the exporter retries") {
    tct::temp_dir dir;
    sink_process sink(dir, {});
    const int port = sink.port();
    tc::config c = otlp_config(sink.endpoint());
    c.export_max_retries = 50;
    c.export_backoff_base_ms = 20;
    c.export_backoff_max_ms = 100;
    REQUIRE(tc::init(c) == tc::status::ok);
    produce(50);
    REQUIRE(tc::flush(5s));
    CHECK(sink.stat("spans") == 50);
    sink.stop();
    check_not_blocked(produce(50));
    std::thread back([&] {
      std::this_thread::sleep_for(400ms);
      sink.start({}, port);
    });
    const bool flushed = tc::flush(8s);
    back.join();
    CHECK(flushed);
    CHECK(sink.stat("spans") == 50);  // the restarted sink counts from zero
    REQUIRE(shutdown_on_time(2s));
    const auto s = tc::stats();
    CHECK(s.spans_exported == 100);
    CHECK(otlp_stats(s).retries > 0);
    tct::check_accounting(s);
  }

  TEST_CASE("fault: 429 with Retry-After in seconds is honoured") {
    tct::temp_dir dir;
    sink_process sink(dir, {"--fail", "1", "--status", "429", "--retry-after", "1"});
    REQUIRE(tc::init(otlp_config(sink.endpoint())) == tc::status::ok);
    check_not_blocked(produce(50));
    const auto t0 = clk::now();
    REQUIRE(tc::flush(5s));
    const auto waited = clk::now() - t0;
    CHECK(waited >= 950ms);  // the backoff alone would retry after 10-40 ms
    CHECK(sink.stat("spans") == 50);
    CHECK(sink.stat("requests") == 2);
    REQUIRE(shutdown_on_time(2s));
    const auto s = tc::stats();
    CHECK(otlp_stats(s).retries == 1);
    CHECK(s.spans_exported == 50);
    tct::check_accounting(s);
  }

  TEST_CASE("fault: 429 with Retry-After as an HTTP-date is honoured") {
    tct::temp_dir dir;
    sink_process sink(dir, {"--fail", "1", "--status", "429", "--retry-after", http_date(std::time(nullptr) + 2)});
    REQUIRE(tc::init(otlp_config(sink.endpoint())) == tc::status::ok);
    check_not_blocked(produce(50));
    const auto t0 = clk::now();
    REQUIRE(tc::flush(6s));
    CHECK(clk::now() - t0 >= 900ms);  // a date 2 s ahead, whole seconds: at least 1 s of waiting
    CHECK(sink.stat("spans") == 50);
    REQUIRE(shutdown_on_time(2s));
    CHECK(otlp_stats(tc::stats()).retries == 1);
    tct::check_accounting(tc::stats());
  }

  TEST_CASE("fault: 503 is retried with backoff until it succeeds") {
    tct::temp_dir dir;
    sink_process sink(dir, {"--fail", "2", "--status", "503"});
    REQUIRE(tc::init(otlp_config(sink.endpoint())) == tc::status::ok);
    check_not_blocked(produce(50));
    REQUIRE(tc::flush(5s));
    CHECK(sink.stat("spans") == 50);
    CHECK(sink.stat("requests") == 3);
    REQUIRE(shutdown_on_time(2s));
    const auto s = tc::stats();
    CHECK(otlp_stats(s).retries == 2);
    CHECK(s.spans_exported == 50);
    tct::check_accounting(s);
  }

  TEST_CASE("fault: 400 is not retried; the batch is dropped as rejected") {
    tct::temp_dir dir;
    sink_process sink(dir, {"--fail", "1", "--status", "400"});
    REQUIRE(tc::init(otlp_config(sink.endpoint())) == tc::status::ok);
    check_not_blocked(produce(100));
    CHECK(tc::flush(5s));  // settled: nothing left to send
    CHECK(sink.stat("requests") == 2);
    CHECK(sink.stat("spans") == 50);
    REQUIRE(shutdown_on_time(2s));
    const auto s = tc::stats();
    CHECK(otlp_stats(s).retries == 0);
    CHECK(s.dropped.rejected == 50);
    CHECK(s.spans_exported == 50);
    CHECK(std::string(otlp_stats(s).last_error).find("400") != std::string::npos);
    tct::check_accounting(s);
  }

  TEST_CASE("fault: 413 is not retried; the batch is dropped as too_large") {
    tct::temp_dir dir;
    sink_process sink(dir, {"--fail", "1", "--status", "413"});
    REQUIRE(tc::init(otlp_config(sink.endpoint())) == tc::status::ok);
    check_not_blocked(produce(50));
    tc::flush(5s);
    REQUIRE(shutdown_on_time(2s));
    const auto s = tc::stats();
    CHECK(sink.stat("requests") == 1);
    CHECK(otlp_stats(s).retries == 0);
    CHECK(s.dropped.too_large == 50);
    tct::check_accounting(s);
  }

  TEST_CASE("fault: a collector slower than OTEL_EXPORTER_OTLP_TIMEOUT: retried, then retry_exhausted") {
    tct::temp_dir dir;
    sink_process sink(dir, {"--delay-ms", "1500"});
    tc::config c = otlp_config(sink.endpoint());
    c.otlp_timeout_ms = 200;
    c.export_max_retries = 1;
    REQUIRE(tc::init(c) == tc::status::ok);
    check_not_blocked(produce(50));
    const auto t0 = clk::now();
    CHECK(tc::flush(5s));
    CHECK(clk::now() - t0 < 1500ms);  // two attempts of 200 ms, not the collector's 1.5 s
    REQUIRE(shutdown_on_time(2s));
    const auto s = tc::stats();
    CHECK(s.dropped.retry_exhausted == 50);
    CHECK(otlp_stats(s).retries == 1);
    tct::check_accounting(s);
  }

  TEST_CASE("OTEL_BSP_EXPORT_TIMEOUT bounds a batch's retries in time") {
    tct::temp_dir dir;
    sink_process sink(dir, {"--fail", "1000", "--status", "503"});
    tc::config c = otlp_config(sink.endpoint());
    c.export_max_retries = 100;
    c.export_backoff_base_ms = 100;
    c.export_backoff_max_ms = 100;
    c.export_timeout_ms = 350;  // room for about three backoffs of 50-100 ms
    REQUIRE(tc::init(c) == tc::status::ok);
    produce(50);
    const auto t0 = clk::now();
    CHECK(tc::flush(5s));
    const auto took = clk::now() - t0;
    CHECK(took < 1s);
    REQUIRE(shutdown_on_time(2s));
    const auto s = tc::stats();
    CHECK(s.dropped.retry_exhausted == 50);
    CHECK(otlp_stats(s).retries >= 2);
    CHECK(otlp_stats(s).retries <= 8);
    tct::check_accounting(s);
  }

  TEST_CASE("fault: a collector that never answers: shutdown returns on time and counts shutdown_deadline") {
    tct::temp_dir dir;
    sink_process sink(dir, {"--delay-ms", "30000"});
    tc::config c = otlp_config(sink.endpoint());
    c.otlp_timeout_ms = 0;  // no request timeout: only the shutdown deadline ends it
    REQUIRE(tc::init(c) == tc::status::ok);
    check_not_blocked(produce(120));
    std::this_thread::sleep_for(100ms);
    bool result = true;
    CHECK(shutdown_on_time(1000ms, &result));
    CHECK_FALSE(result);
    const auto s = tc::stats();
    CHECK(s.dropped.shutdown_deadline == 120);
    CHECK(s.spans_exported == 0);
    tct::check_accounting(s);
  }

  TEST_CASE("fault: connection reset is retried") {
    tct::temp_dir dir;
    sink_process sink(dir, {"--reset", "2"});
    REQUIRE(tc::init(otlp_config(sink.endpoint())) == tc::status::ok);
    check_not_blocked(produce(50));
    REQUIRE(tc::flush(5s));
    CHECK(sink.stat("resets") == 2);
    CHECK(sink.stat("spans") == 50);
    REQUIRE(shutdown_on_time(2s));
    const auto s = tc::stats();
    CHECK(otlp_stats(s).retries == 2);
    CHECK(s.spans_exported == 50);
    tct::check_accounting(s);
  }

  TEST_CASE("fault: partial success is counted as rejected and not retried") {
    tct::temp_dir dir;
    sink_process sink(dir, {"--partial", "3"});
    REQUIRE(tc::init(otlp_config(sink.endpoint())) == tc::status::ok);
    check_not_blocked(produce(100));
    REQUIRE(tc::flush(5s));
    CHECK(sink.stat("requests") == 2);
    REQUIRE(shutdown_on_time(2s));
    const auto s = tc::stats();
    CHECK(s.dropped.rejected == 6);
    CHECK(s.spans_exported == 94);
    CHECK(otlp_stats(s).retries == 0);
    CHECK(std::string(otlp_stats(s).last_error).find("partial success") != std::string::npos);
    tct::check_accounting(s);
  }

  TEST_CASE("fault: a 200 with a garbage body counts as delivered, without retrying") {
    tct::temp_dir dir;
    sink_process sink(dir, {"--garbage", "1"});
    REQUIRE(tc::init(otlp_config(sink.endpoint())) == tc::status::ok);
    check_not_blocked(produce(50));
    REQUIRE(tc::flush(5s));
    CHECK(sink.stat("requests") == 1);
    CHECK(sink.stat("garbage") == 1);
    REQUIRE(shutdown_on_time(2s));
    const auto s = tc::stats();
    CHECK(s.spans_exported == 50);
    CHECK(otlp_stats(s).retries == 0);
    tct::check_accounting(s);
  }

  TEST_CASE("a slow collector fills the bounded queue; the excess is dropped as queue_full, never blocking") {
    tct::temp_dir dir;
    sink_process sink(dir, {"--delay-ms", "300"});
    tc::config c = otlp_config(sink.endpoint());
    c.max_queue_size = 200;
    c.max_export_batch_size = 50;
    c.schedule_delay_ms = 0;
    c.drain_interval_ms = 1;
    c.ring_kb = 4096;  // the ring holds every span: the drops here are the export queue's
    REQUIRE(tc::init(c) == tc::status::ok);
    check_not_blocked(produce(3000));
    bool unhealthy = false;  // the queue is (nearly) full while the collector is slow
    for (int i = 0; i < 100 && !unhealthy; ++i, std::this_thread::sleep_for(10ms)) unhealthy = !tc::healthy();
    CHECK(unhealthy);
    REQUIRE(tc::flush(10s));
    REQUIRE(shutdown_on_time(2s));
    const auto s = tc::stats();
    INFO("exported " << s.spans_exported << " queue_full " << s.dropped.queue_full << " ring_full " << s.dropped.ring_full
                     << " retry_exhausted " << s.dropped.retry_exhausted << " created " << s.spans_created);
    CHECK(otlp_stats(s).dropped.queue_full > 0);
    CHECK(s.spans_exported + otlp_stats(s).dropped.queue_full == 3000);
    CHECK(sink.stat("spans") == s.spans_exported);
    tct::check_accounting(s);
  }

  TEST_CASE("TRACECRAFT_EXPORT_RATE drops the excess as rate_limited instead of waiting") {
    tct::temp_dir dir;
    sink_process sink(dir, {});
    tc::config c = otlp_config(sink.endpoint());
    c.export_rate = 10;
    c.export_burst = 100;
    REQUIRE(tc::init(c) == tc::status::ok);
    check_not_blocked(produce(1000));
    REQUIRE(tc::flush(5s));
    REQUIRE(shutdown_on_time(2s));
    const auto s = tc::stats();
    INFO("exported " << s.spans_exported << " rate_limited " << s.dropped.rate_limited);
    CHECK(s.spans_exported >= 100);
    CHECK(s.spans_exported <= 130);  // the burst plus what the rate refills while the test runs
    CHECK(s.dropped.rate_limited == 1000 - s.spans_exported);
    CHECK(sink.stat("spans") == s.spans_exported);
    tct::check_accounting(s);
  }

  TEST_CASE("requests over the size limit are split; a span alone over it is dropped as too_large") {
    tct::temp_dir dir;
    sink_process sink(dir, {});
    tc::config c = otlp_config(sink.endpoint());
    c.max_export_batch_size = 500;
    c.export_max_request_bytes = 8192;
    REQUIRE(tc::init(c) == tc::status::ok);
    produce(200, 200);  // ~300 bytes per span: 60 KB in ~8 requests
    {
      tc::span big("big");
      big.set("blob", std::string(20000, 'b'));
    }
    REQUIRE(tc::flush(5s));
    const auto st = tc::stats();
    INFO("exported " << st.spans_exported << " queue_full " << st.dropped.queue_full << " ring_full " << st.dropped.ring_full
                     << " too_large " << st.dropped.too_large << " created " << st.spans_created);
    CHECK(sink.stat("spans") == 200);
    CHECK(sink.stat("requests") >= 7);
    CHECK(sink.stat("max_request_bytes") <= 8192);
    REQUIRE(shutdown_on_time(2s));
    const auto s = tc::stats();
    CHECK(s.dropped.too_large == 1);
    CHECK(s.spans_exported == 200);
    tct::check_accounting(s);
  }

  TEST_CASE("TRACECRAFT_EXPORT_QUEUE_BYTES bounds the export queue in bytes: large spans and a collector that never answers") {
    tct::temp_dir dir;
    sink_process sink(dir, {"--delay-ms", "30000"});
    tc::config c = otlp_config(sink.endpoint());
    c.otlp_timeout_ms = 0;            // the collector holds the first request until shutdown
    c.max_queue_size = 100000;        // far away: only the byte bound can stop these spans
    c.max_export_batch_size = 1000;
    c.export_queue_bytes = 1u << 20;  // batches are cut at a quarter of it
    c.drain_interval_ms = 1;
    REQUIRE(tc::init(c) == tc::status::ok);
    const std::int64_t rss0 = tct::resident_bytes();
    // 2000 spans of 20 KB (40 MB), paced so that the ring keeps up: the drops are the queue's.
    constexpr int n = 2000;
    constexpr std::uint64_t span_bytes = 20000;
    std::uint64_t max_queued = 0;
    std::thread t([&] {
      const std::string payload(span_bytes, 'x');
      for (int i = 0; i < n; ++i) {
        {
          tc::span s("request", tc::kind::server);
          s.set("i", static_cast<std::int64_t>(i));
          s.set("payload", std::string_view(payload));
        }
        if (i % 10 == 9) {
          std::this_thread::sleep_for(1ms);
          max_queued = std::max(max_queued, otlp_stats(tc::stats()).queued_bytes);
        }
      }
    });
    t.join();
    std::this_thread::sleep_for(100ms);
    const auto mid = tc::stats();
    const std::int64_t grown = tct::resident_bytes() - rss0;
    INFO("max queued bytes " << max_queued << ", resident growth " << grown << ", queue_full " << otlp_stats(mid).dropped.queue_full
                             << ", ring_full " << mid.dropped.ring_full);
    CHECK(otlp_stats(mid).queue_bytes_capacity == (1u << 20));
    CHECK(max_queued <= (1u << 20) + span_bytes + 1024);  // one span over at most
    CHECK(otlp_stats(mid).queued_bytes >= (1u << 20) * 9 / 10);  // it did fill (the open batch joined it)
    CHECK_FALSE(tc::healthy());
    CHECK(otlp_stats(mid).dropped.queue_full >= n - 100);
    // Without the bound the exporter would hold all 40 MB; rings (up to 4 MiB, and the mapper's
    // next step) and a few request buffers are what may grow.
    CHECK(grown < 24 * (1 << 20));
    bool result = true;
    CHECK(shutdown_on_time(1000ms, &result));
    CHECK_FALSE(result);
    const auto s = tc::stats();
    CHECK(otlp_stats(mid).queued_bytes <= (1u << 20) + span_bytes + 1024);
    CHECK(s.dropped.shutdown_deadline == otlp_stats(mid).queued);  // what the queue held, and nothing else
    CHECK(s.spans_exported == 0);
    tct::check_accounting(s);
  }

  TEST_CASE("TRACECRAFT_EXPORT_BATCH_BYTES sends a batch once its spans reach that size, without flush() or the delay") {
    for (const bool json : {false, true}) {
      CAPTURE(json);
      tct::temp_dir dir;
      sink_process sink(dir, {});
      tc::config c = otlp_config(sink.endpoint());  // the schedule delay is 60 s
      if (json) c.protocol = tc::otlp_protocol::http_json;
      c.max_export_batch_size = 1000;
      c.export_batch_bytes = 16384;
      REQUIRE(tc::init(c) == tc::status::ok);
      // ~370 (protobuf) or ~655 (JSON) bytes per span: 4 or 8 full batches and a part-filled one,
      // which only flush() sends (210 spans are under the count, and the delay is 60 s).
      produce(210, 200);
      const std::uint64_t full = json ? 7 : 3;
      const auto t0 = clk::now();
      while (sink.stat("requests") < full && clk::now() - t0 < 5s) std::this_thread::sleep_for(20ms);
      CHECK(sink.stat("requests") >= full);
      const std::uint64_t before_flush = sink.stat("spans");
      CHECK(before_flush > 0);
      CHECK(before_flush < 210);
      REQUIRE(tc::flush(5s));
      CHECK(sink.stat("spans") == 210);
      // A batch passes the size by less than one span, and the envelope is a few hundred bytes.
      CHECK(sink.stat("max_request_bytes") <= 16384 + 2048);
      CHECK(sink.stat("max_request_bytes") >= 16384);
      REQUIRE(shutdown_on_time(2s));
      const auto s = tc::stats();
      CHECK(s.spans_exported == 210);
      tct::check_accounting(s);
    }
  }

  TEST_CASE("by default a batch of large spans is cut at 7/8 of a core's L2 cache, not a quarter of the queue's bytes") {
    tct::temp_dir dir;
    sink_process sink(dir, {});
    tc::config c = otlp_config(sink.endpoint());  // the schedule delay is 60 s
    c.max_export_batch_size = 4096;
    c.max_queue_size = 8192;  // the byte bound stays the default 64 MiB, a quarter of which is 16 MiB
    REQUIRE(c.export_batch_bytes == 0);
    REQUIRE(tc::init(c) == tc::status::ok);
    // 2000 spans of ~2 KB, paced for the ring: ~4 MB, all under the span count of one batch.
    const std::string payload(2000, 'p');
    for (int i = 0; i < 2000; ++i) {
      {
        tc::span s("request", tc::kind::server);
        s.set("i", static_cast<std::int64_t>(i));
        s.set("payload", std::string_view(payload));
      }
      if (i % 50 == 49) std::this_thread::sleep_for(1ms);
    }
    REQUIRE(tc::flush(10s));
    const long l2 = ::sysconf(_SC_LEVEL2_CACHE_SIZE);
    const std::uint64_t cut = std::max<std::uint64_t>(256 << 10, (l2 > 0 ? static_cast<std::uint64_t>(l2) : 1u << 20) / 8 * 7);
    const std::uint64_t requests = sink.stat("requests"), largest = sink.stat("max_request_bytes");
    INFO("L2 " << l2 << ", cut " << cut << ", requests " << requests << ", largest " << largest);
    CHECK(sink.stat("spans") == 2000);
    CHECK(largest >= cut);         // cut by size, once the spans reach it...
    CHECK(largest <= cut + 4096);  // ...passing it by less than one span
    CHECK(requests >= 4000000 / (cut + 4096));
    REQUIRE(shutdown_on_time(2s));
    tct::check_accounting(tc::stats());
  }

  TEST_CASE("http/json with gzip, and several exporters at once: a failing collector does not affect the JSONL backup") {
    tct::temp_dir dir;
    sink_process sink(dir, {});
    tc::config c = otlp_config(sink.endpoint());
    c.protocol = tc::otlp_protocol::http_json;
    c.otlp_gzip = true;
    REQUIRE(tc::init(c) == tc::status::ok);
    produce(60);
    REQUIRE(tc::flush(5s));
    REQUIRE(shutdown_on_time(2s));
    CHECK(sink.stat("spans") == 60);
    CHECK(sink.stat("json_requests") == 2);
    CHECK(sink.stat("gzip_requests") == 2);
    CHECK(tct::read_spans(sink.out_file()).size() == 60);

    // A partial success in OTLP/JSON ("rejectedSpans" as a string) is read too.
    sink_process partial(dir, {"--partial", "2"});
    tc::config cj = otlp_config(partial.endpoint());
    cj.protocol = tc::otlp_protocol::http_json;
    REQUIRE(tc::init(cj) == tc::status::ok);
    produce(50);
    REQUIRE(tc::flush(5s));
    REQUIRE(shutdown_on_time(2s));
    CHECK(tc::stats().dropped.rejected == 2);
    CHECK(tc::stats().spans_exported == 48);
    tct::check_accounting(tc::stats());

    // otlp to nowhere beside jsonl: the backup gets everything.
    tc::config c2 = otlp_config("http://127.0.0.1:" + std::to_string(free_port()));
    c2.exporters = {tc::exporter_kind::otlp, tc::exporter_kind::jsonl};
    c2.jsonl_path = dir.file("backup.jsonl");
    c2.export_max_retries = 0;
    REQUIRE(tc::init(c2) == tc::status::ok);
    check_not_blocked(produce(80));
    tc::flush(5s);
    REQUIRE(shutdown_on_time(2s));
    const auto s = tc::stats();
    REQUIRE(s.exporter_count == 2);
    CHECK(s.exporters[0].dropped.retry_exhausted == 80);
    CHECK(std::string(s.exporters[1].name) == "jsonl");
    CHECK(s.exporters[1].spans_exported == 80);
    CHECK(tct::read_spans(c2.jsonl_path).size() == 80);
    tct::check_accounting(s);
  }
}

TEST_CASE("fork: the child exports over its own export thread, the parent over its own") {
  tct::temp_dir dir;
  sink_process sink(dir, {});
  REQUIRE(tc::init(otlp_config(sink.endpoint())) == tc::status::ok);
  produce(30);  // in the parent's ring or open batch at fork time
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 0;
    for (int i = 0; i < 40; ++i) tc::span s("in-child");
    if (!tc::flush(5s)) code = 1;
    const auto st = tc::stats();
    if (st.spans_created != 40 || st.spans_exported != 40) code = 2;
    if (!tc::shutdown(5s)) code = 3;
    ::_exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  REQUIRE(tc::flush(5s));
  REQUIRE(shutdown_on_time(2s));
  const auto st = tc::stats();
  CHECK(st.spans_exported == 30);
  tct::check_accounting(st);
  CHECK(sink.stat("spans") == 70);  // 30 from the parent, 40 from the child, none twice
  std::set<std::string> ids;
  for (const auto& s : tct::read_spans(sink.out_file())) ids.insert(s.span_id);
  CHECK(ids.size() == 70);
}

TEST_CASE("tracecraft-sink answers bad input with a 4xx and keeps serving") {
  tct::temp_dir dir;
  sink_process sink(dir, {"--max-body", "100000"});
  const std::string url = sink.endpoint() + "/v1/traces";
  const std::vector<std::string> pbh = {"Content-Type: application/x-protobuf"};
  CHECK(http(url, "POST", std::string("\x0a\x05\x0a\x03", 4), pbh) == 400);                          // truncated protobuf
  CHECK(http(url, "POST", "hello", {"Content-Type: text/plain"}) == 415);                                // wrong content type
  CHECK(http(url, "POST", std::string(200000, 'x'), pbh) == 413);                                        // over --max-body
  // A client still writing the refused body reads the 413: the sink drains what follows it
  // instead of closing at once, which would answer the rest with a reset (CI once saw libcurl
  // fail its send that way, status 0, on a slow sanitizer run).
  CHECK(slow_post(sink.port(), 200000) == "HTTP/1.1 413 Payload Too Large");
  CHECK(http(url, "POST", "not gzip", {"Content-Type: application/x-protobuf", "Content-Encoding: gzip"}) == 400);
  CHECK(http(url, "POST", "{\"resourceSpans\":", {"Content-Type: application/json"}) == 400);            // broken JSON
  CHECK(http(url, "GET", "", {}) == 405);
  CHECK(http(sink.endpoint() + "/nope", "GET", "", {}) == 404);
  CHECK(http(url, "POST", "", pbh) == 200);  // an empty request is valid protobuf
  CHECK(sink.stat("bad_requests") == 6);
  // Still serving: a real engine delivers through it.
  REQUIRE(tc::init(otlp_config(sink.endpoint())) == tc::status::ok);
  produce(10);
  REQUIRE(tc::flush(5s));
  REQUIRE(shutdown_on_time(2s));
  CHECK(sink.stat("spans") == 10);
  tct::check_accounting(tc::stats());
}

TEST_CASE("tracecraft-demo into tracecraft-sink: every exported span arrives, with the ids of the JSONL backup") {
  tct::temp_dir dir;
  sink_process sink(dir, {});
  const auto r = tct::run(TC_DEMO_PATH, {"--requests", "150", "--summary-json", dir.file("s.json")},
                          {"OTEL_TRACES_EXPORTER=otlp,jsonl", "OTEL_EXPORTER_OTLP_ENDPOINT=" + sink.endpoint(),
                           "TRACECRAFT_JSONL_PATH=" + dir.file("backup.jsonl"), "OTEL_EXPORTER_OTLP_COMPRESSION=gzip"},
                          dir.path);
  REQUIRE(r.exit_code == 0);
  const auto backup = tct::read_spans(dir.file("backup.jsonl"));
  const auto received = tct::read_spans(sink.out_file());
  const std::string summary = tct::slurp(dir.file("s.json"));
  simdjson::dom::parser p;
  std::uint64_t exported = 0, total_dropped = 1;
  REQUIRE(p.parse(summary)["spans_exported"].get_uint64().get(exported) == simdjson::SUCCESS);
  REQUIRE(p.parse(summary)["spans_dropped"]["total"].get_uint64().get(total_dropped) == simdjson::SUCCESS);
  CHECK(total_dropped == 0);
  CHECK(exported > 150);
  CHECK(received.size() == exported);
  CHECK(backup.size() == exported);
  std::set<std::string> a, b;
  for (const auto& s : backup) a.insert(s.trace_id + s.span_id + s.parent_span_id + s.name);
  for (const auto& s : received) b.insert(s.trace_id + s.span_id + s.parent_span_id + s.name);
  CHECK(a == b);
  CHECK(a.size() == exported);
}
