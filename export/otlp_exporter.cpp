// SPDX-License-Identifier: Apache-2.0
// export/otlp_exporter.cpp — OTLP/HTTP export (standards §2, §3).
//
// Two threads, one bounded queue between them:
//   drain thread   encodes each span straight into the current batch's request buffer
//                  (protobuf or JSON), hands the batch over when it holds
//                  OTEL_BSP_MAX_EXPORT_BATCH_SIZE spans or its oldest span is
//                  OTEL_BSP_SCHEDULE_DELAY old. Never waits: a span that would push the queue
//                  past OTEL_BSP_MAX_QUEUE_SIZE is dropped as queue_full.
//   tc-export      compresses, POSTs with libcurl over one kept-alive connection, retries, and
//                  settles every span of the batch (exported or dropped with its reason), then
//                  recycles the batch's buffers. Requests never run concurrently (spec: the batch
//                  processor's exports are sequential).
// Batches travel in lock-free moodycamel queues; only the drain allocates and frees them, and
// their buffers are reused, so steady state allocates nothing.
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include <concurrentqueue/blockingconcurrentqueue.h>

#include "core/diag.h"
#include "export/exporter.h"
#include "export/gzip.h"
#include "export/http_transport.h"
#include "export/json_writer.h"
#include "export/otlp_policy.h"
#include "export/otlp_proto.h"

namespace tracecraft::detail {
namespace {

using steady = std::chrono::steady_clock;

struct batch {
  batch(const resource_info& r, std::size_t front) : proto(r, front) {}
  otlp_proto_batch proto;  // http/protobuf
  out_buffer json;         // http/json: prefix, spans, suffix
  std::uint32_t spans = 0;
  std::size_t bytes = 0;    // the spans' encoded bytes, counted in `queued_bytes` from the hand-over
  std::string_view body;    // set when sealed
  /// Allocated bytes; what `idle_bytes_` counts while the batch waits in the free queue (nothing
  /// writes to it there).
  std::size_t capacity() const noexcept { return proto.capacity() + json.capacity(); }
};

class otlp_exporter final : public exporter {
 public:
  otlp_exporter(const config& cfg, const resource_info& res)
      : res_(res),
        json_(cfg.protocol == otlp_protocol::http_json),
        gzip_(cfg.otlp_gzip),
        batch_size_(std::max<std::uint32_t>(1, std::min(cfg.max_export_batch_size, std::max<std::uint32_t>(1, cfg.max_queue_size)))),
        queue_cap_(std::max<std::uint32_t>(1, cfg.max_queue_size)),
        delay_ns_(std::uint64_t{cfg.schedule_delay_ms} * 1000000u),
        max_request_(std::max<std::uint32_t>(1024, cfg.export_max_request_bytes)),
        queue_bytes_cap_(cfg.export_queue_bytes != 0 ? cfg.export_queue_bytes : SIZE_MAX),
        batch_bytes_(batch_cut(cfg.export_batch_bytes, cfg.export_queue_bytes)),
        max_retries_(cfg.export_max_retries),
        backoff_base_ms_(cfg.export_backoff_base_ms),
        backoff_max_ms_(std::max(cfg.export_backoff_max_ms, cfg.export_backoff_base_ms)),
        export_timeout_ms_(cfg.export_timeout_ms),
        rate_limited_(cfg.export_rate > 0),
        bucket_(cfg.export_rate, cfg.export_burst > 0 ? double(cfg.export_burst) : std::max(1.0, cfg.export_rate)),
        json_prefix_(json_ ? json_request_prefix(res) : std::string()) {
    counters.queue_capacity = queue_cap_;
    counters.queue_bytes_capacity = cfg.export_queue_bytes;
    // Recycled request buffers kept for reuse: a full queue of full batches plus the one being
    // filled. More may live while batches are small (split by the size limit, or sent by the
    // schedule delay), never more than one per queued span; the extras are freed once sent.
    pool_keep_ = (queue_cap_ + batch_size_ - 1) / batch_size_ + 1;
    http_options o;
    o.url = compose_traces_endpoint(cfg.otlp_traces_endpoint, cfg.otlp_endpoint);
    o.headers = cfg.otlp_headers;
    o.content_type = json_ ? "application/json" : "application/x-protobuf";
    o.timeout_ms = cfg.otlp_timeout_ms;
    o.ca_file = cfg.otlp_certificate;
    o.cert_file = cfg.otlp_client_certificate;
    o.key_file = cfg.otlp_client_key;
    o.user_agent = std::string("TraceCraft-OTLP-Exporter-Cpp/") + version();
    o.proxy = choose_proxy(o.url, cfg.proxy.value_or(proxy_settings{}));
    url_ = hide_credentials(o.url);  // for messages: credentials in the URL are never logged
    opts_ = std::move(o);
    http_transport::global_init();  // here, in init(): not on the drain as the first spans arrive
  }

  ~otlp_exporter() override {
    stop_thread();
    if (in_child_) return;  // the parent owns the state
    delete cur_;
    batch* b = nullptr;
    while (free_.try_dequeue(b)) delete b;
    while (ready_.try_dequeue(b)) delete b;
  }

  const char* name() const noexcept override { return "otlp"; }

  // On init()'s thread: the transport, and the first request buffers faulted in. Filling a
  // fresh buffer costs the drain a page fault every 4 KiB; in tracecraft-export-bench's first
  // round (1M spans/s, 4096-span batches) that was a third of the drain's first 25 ms, just while
  // the producer's ring is at its smallest.
  void prepare() noexcept override {
    try {
      if (!transport_) transport_ = std::make_unique<http_transport>(opts_);
      const std::size_t bytes = std::min({max_request_, batch_bytes_, std::size_t{batch_size_} * (json_ ? k_json_span_bytes : k_proto_span_bytes)});
      for (std::uint32_t i = 0; i < k_prefaulted_batches && live_ < pool_keep_; ++i) {
        auto b = std::make_unique<batch>(res_, transport_->max_head_bytes());
        if (json_) b->json.prefault(bytes);
        else b->proto.prefault(bytes);
        const std::size_t cap = b->capacity();
        if (!free_.enqueue(b.get())) break;
        b.release();
        idle_bytes_.fetch_add(cap, std::memory_order_relaxed);
        ++live_;
      }
    } catch (...) {  // std::bad_alloc: the drain allocates batches as it needs them
    }
  }

  void start() noexcept override {
    try {
      if (!transport_) transport_ = std::make_unique<http_transport>(opts_);
      if (!transport_->usable()) diag(log_level::error, "otlp exporter: libcurl could not be initialised; spans will be dropped");
      thread_alive_.store(true, std::memory_order_release);
      start_called_.store(true, std::memory_order_release);
      thread_ = std::thread([this] { export_main(); });
      const std::string via = opts_.proxy.empty() ? std::string() : ", through the proxy " + hide_credentials(opts_.proxy);
      diag(log_level::info, "otlp exporter: sending to %s (%s%s%s)", url_.c_str(),
           json_ ? "http/json" : "http/protobuf", gzip_ ? ", gzip" : "", via.c_str());
    } catch (...) {
      thread_alive_.store(false, std::memory_order_release);
      start_called_.store(true, std::memory_order_release);
      diag(log_level::error, "otlp exporter: cannot start the export thread; spans will be dropped");
    }
  }

  void add(const span_view& s, std::uint64_t now_ns) noexcept override {
    if (rate_limited_ && !bucket_.take(1, now_ns)) {
      exporter_counters::bump(counters.rate_limited);
      return;
    }
    // `queued` and `queued_bytes` count handed-over batches; the open batch's spans are added at
    // hand-over (one atomic add per batch instead of one per span). The byte bound is checked
    // before the span is encoded, so it is passed by one span at most.
    const std::uint64_t open = cur_ != nullptr ? cur_->spans : 0;
    const std::size_t open_b = cur_ != nullptr ? open_bytes() : 0;
    if (!thread_alive_.load(std::memory_order_relaxed) ||
        counters.queued.load(std::memory_order_relaxed) + open >= queue_cap_ ||
        counters.queued_bytes.load(std::memory_order_relaxed) + open_b >= queue_bytes_cap_) {
      exporter_counters::bump(counters.queue_full);
      // The queue is full: the open batch joins it now (still within both bounds), to be sent
      // as soon as the collector catches up rather than after the schedule delay.
      if (open > 0) hand_over();
      return;
    }
    if (cur_ == nullptr && !open_batch(now_ns)) {
      exporter_counters::bump(counters.queue_full);
      return;
    }
    try {
      if (!append(s)) {
        if (cur_->spans == 0) {  // alone over the request limit
          exporter_counters::add(counters.too_large);
          warn_once(too_large_warned_, "otlp exporter: a span does not fit in one request of %zu bytes; dropped (too_large)",
                    max_request_);
          return;
        }
        hand_over();
        if (!open_batch(now_ns)) {
          exporter_counters::bump(counters.queue_full);
          return;
        }
        if (!append(s)) {
          exporter_counters::add(counters.too_large);
          return;
        }
      }
    } catch (...) {  // std::bad_alloc growing the buffer
      exporter_counters::bump(counters.failed);
      return;
    }
    ++cur_->spans;
    if (cur_->spans >= batch_size_ || open_bytes() >= batch_bytes_) hand_over();
  }

  void tick(std::uint64_t now_ns) noexcept override {
    // The delay counts from the oldest span in the batch.
    if (cur_ != nullptr && cur_->spans > 0 && now_ns - first_ns_ >= delay_ns_) hand_over();
    if (released_.load(std::memory_order_relaxed) != 0)  // freed by the export thread (a plain load on most passes)
      live_ -= released_.exchange(0, std::memory_order_relaxed);
    batch* b = nullptr;
    while (live_ > pool_keep_ && free_.try_dequeue(b)) {
      idle_bytes_.fetch_sub(b->capacity(), std::memory_order_relaxed);
      delete b;
      --live_;
    }
  }

  bool flush(steady::time_point until, bool final) noexcept override {
    if (cur_ != nullptr && cur_->spans > 0) hand_over();
    std::unique_lock<std::mutex> lk(mu_);
    const bool drained = idle_.wait_until(lk, until, [&] {
      return counters.queued.load(std::memory_order_acquire) == 0 || !thread_alive_.load(std::memory_order_acquire);
    });
    lk.unlock();
    const bool all_sent = drained && counters.queued.load(std::memory_order_acquire) == 0;
    if (final) stop_thread();  // aborts a request in flight; the thread settles what is left
    if (!thread_alive_.load() && counters.queued.load() > 0) {
      // The thread is gone (never started, or stopped above): nothing will send these.
      settle_unsent();
    }
    return all_sent;
  }

  bool healthy() const noexcept override {
    if (!start_called_.load(std::memory_order_acquire)) return true;  // the drain has not started yet
    return thread_alive_.load(std::memory_order_relaxed) &&
           counters.queued.load(std::memory_order_relaxed) * 10 < std::uint64_t{queue_cap_} * 9 &&
           (queue_bytes_cap_ == SIZE_MAX || counters.queued_bytes.load(std::memory_order_relaxed) / 9 < queue_bytes_cap_ / 10);
  }

  void close_in_child() noexcept override {
    // The export thread does not exist in a fork child; leave everything to the parent.
    in_child_ = true;
  }

 private:
  // Where a batch is cut by size: TRACECRAFT_EXPORT_BATCH_BYTES; else the smaller of a quarter of
  // the queue's byte bound and default_cut(). Never over half the bound (a batch alone must not
  // fill the queue).
  static std::size_t batch_cut(std::uint32_t batch_bytes, std::uint32_t queue_bytes) noexcept {
    if (queue_bytes == 0) return batch_bytes != 0 ? batch_bytes : default_cut();
    const std::size_t cut = batch_bytes != 0 ? batch_bytes : std::min<std::size_t>(default_cut(), queue_bytes / 4);
    return std::max<std::size_t>(1, std::min<std::size_t>(cut, queue_bytes / 2));
  }

  // The default cut: 7/8 of a core's L2 cache (1 MiB when the system does not say), at least
  // 256 KiB. On a 1 MiB-L2 host the export thread spent 17-25 ns less per span with requests of
  // 0.9-1.0 MB than of 1.3 MB, and nothing less at 1.1 MB, with the same context switches per
  // request (HACKING, measuring).
  static std::size_t default_cut() noexcept {
    const long l2 = ::sysconf(_SC_LEVEL2_CACHE_SIZE);
    const std::size_t cache = l2 > 0 ? static_cast<std::size_t>(l2) : std::size_t{1} << 20;
    return std::max<std::size_t>(std::size_t{256} << 10, cache / 8 * 7);
  }

  bool open_batch(std::uint64_t now_ns) noexcept {
    batch* b = nullptr;
    if (free_.try_dequeue(b)) {
      idle_bytes_.fetch_sub(b->capacity(), std::memory_order_relaxed);
    } else {
      if (live_ >= queue_cap_) return false;  // cannot happen while the span count is bounded
      try {
        b = new batch(res_, transport_ ? transport_->max_head_bytes() : 0);
      } catch (...) {
        return false;
      }
      ++live_;
    }
    b->spans = 0;
    if (json_) {
      b->json.clear();
      b->json.append(json_prefix_);
    } else {
      b->proto.clear();
    }
    cur_ = b;
    first_ns_ = now_ns;
    return true;
  }

  // Bytes of the open batch's spans (the request is its envelope more).
  std::size_t open_bytes() const noexcept { return json_ ? cur_->json.size() : cur_->proto.span_bytes(); }

  // Encodes `s` into the current batch; false (nothing added) when the request would pass the limit.
  bool append(const span_view& s) {
    if (!json_) return cur_->proto.add(s, max_request_);
    out_buffer& j = cur_->json;
    const std::size_t before = j.size();
    if (cur_->spans > 0) j.push_back(',');
    json_writer(j).span(s);
    if (j.size() + json_suffix.size() > max_request_) {
      j.truncate(before);
      return false;
    }
    return true;
  }

  void hand_over() noexcept {
    batch* b = cur_;
    b->bytes = open_bytes();
    cur_ = nullptr;
    counters.queued.fetch_add(b->spans, std::memory_order_relaxed);
    counters.queued_bytes.fetch_add(b->bytes, std::memory_order_relaxed);
    if (json_) {
      b->json.append(json_suffix.substr(0, json_suffix.size() - 1));  // no newline on the wire
      b->body = b->json.view();
    } else {
      b->body = b->proto.seal();
    }
    if (!ready_.enqueue(b)) {  // out of memory in the queue itself
      settle(b, counters.queue_full);
    }
  }

  // ---- export thread ---------------------------------------------------------------------
  void export_main() noexcept {
    pthread_setname_np(pthread_self(), "tc-export");
    std::random_device rd;
    rng_.seed((std::uint64_t{rd()} << 32) ^ rd());
    for (;;) {
      batch* b = nullptr;
      if (!ready_.wait_dequeue_timed(b, std::chrono::milliseconds(200))) {
        if (stopping_.load(std::memory_order_acquire)) break;
        continue;
      }
      if (b == nullptr) break;  // stop sentinel: everything before it has been handled
      if (aborting_.load(std::memory_order_acquire))
        settle(b, counters.shutdown_deadline);
      else
        send(*b);
    }
    // Anything still queued behind the sentinel (not expected) is settled by flush().
    {
      std::lock_guard<std::mutex> lk(mu_);
      thread_alive_.store(false, std::memory_order_release);
    }
    idle_.notify_all();
  }

  // Settles every span of `b` under `reason` and recycles it.
  void settle(batch* b, std::atomic<std::uint64_t>& reason) noexcept {
    exporter_counters::add(reason, b->spans);
    recycle(b);
  }

  // Back to the free queue, unless the idle buffers would then hold more than the queue's byte
  // bound (after a run of large spans): then freed here, off the drain.
  void recycle(batch* b) noexcept {
    const std::uint32_t n = b->spans;
    const std::size_t bytes = b->bytes;
    b->spans = 0;
    b->bytes = 0;
    b->body = {};
    // Counted before the enqueue: from then on the drain may take `b` (and free it).
    const std::size_t cap = b->capacity();
    bool keep = idle_bytes_.load(std::memory_order_relaxed) + cap <= queue_bytes_cap_;
    if (keep) {
      idle_bytes_.fetch_add(cap, std::memory_order_relaxed);
      if (!free_.enqueue(b)) {
        idle_bytes_.fetch_sub(cap, std::memory_order_relaxed);
        keep = false;
      }
    }
    if (!keep) {
      delete b;
      released_.fetch_add(1, std::memory_order_relaxed);
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      counters.queued_bytes.fetch_sub(bytes, std::memory_order_relaxed);
      counters.queued.fetch_sub(n, std::memory_order_release);
    }
    idle_.notify_all();
  }

  void send(batch& b) noexcept {
    std::string_view body = b.body;
    // A protobuf body has room for the HTTP head in front of it (one send for both).
    char* room = json_ || gzip_ ? nullptr : b.proto.room();
    if (gzip_) {
      if (!gz_.compress(body, zbuf_)) {
        counters.set_error("gzip failed (out of memory)");
        settle(&b, counters.failed);
        return;
      }
      body = zbuf_;
    }
    const auto started = steady::now();
    const auto give_up = export_timeout_ms_ == 0 ? steady::time_point::max()
                                                 : started + std::chrono::milliseconds(export_timeout_ms_);
    for (unsigned attempt = 0;; ++attempt) {
      const http_result r = transport_ ? transport_->post(body, gzip_, room) : http_result{0, false, false, {}, "no transport"};
      if (r.aborted) {
        settle(&b, counters.shutdown_deadline);
        return;
      }
      http_outcome outcome = http_outcome::retry;  // no response: connection failure or timeout
      if (r.status != 0) outcome = r.response_too_large ? http_outcome::rejected : classify_status(r.status);
      if (outcome == http_outcome::success) {
        const export_response resp = parse_export_response(transport_->response(), json_);
        std::uint64_t rejected = 0;
        if (!resp.valid) {
          warn_once(garbage_warned_, "otlp exporter: %s answered %ld with a body that is not an ExportTraceServiceResponse; "
                    "counting the batch as exported", url_.c_str(), r.status);
        } else if (resp.rejected > 0) {
          rejected = std::min<std::uint64_t>(static_cast<std::uint64_t>(resp.rejected), b.spans);
          counters.set_error("partial success: %llu spans rejected: %.80s", static_cast<unsigned long long>(rejected),
                             resp.message.c_str());
          warn_once(partial_warned_, "otlp exporter: the collector rejected %llu of %u spans: %s (counted as rejected; "
                    "logged once)", static_cast<unsigned long long>(rejected), b.spans, resp.message.c_str());
        } else if (!resp.message.empty()) {
          warn_once(partial_warned_, "otlp exporter: the collector warns: %s", resp.message.c_str());
        }
        exporter_counters::bump(counters.rejected, rejected);
        exporter_counters::bump(counters.exported, b.spans - rejected);
        exporter_counters::bump(counters.batches);
        exporter_counters::bump(counters.bytes, body.size());
        if (failing_) {
          failing_ = false;
          diag(log_level::warn, "otlp exporter: %s accepts spans again", url_.c_str());
        }
        recycle(&b);
        return;
      }
      if (r.status != 0)
        counters.set_error("HTTP %ld from %s", r.status, url_.c_str());
      else
        counters.set_error("%s", r.error.c_str());
      if (outcome == http_outcome::rejected || outcome == http_outcome::too_large) {
        diag(log_level::warn, "otlp exporter: %s answered HTTP %ld%s; %u spans dropped (%s, not retried)", url_.c_str(), r.status,
             r.response_too_large ? " with a response over 4 MiB" : "", b.spans,
             outcome == http_outcome::too_large ? "too_large" : "rejected");
        settle(&b, outcome == http_outcome::too_large ? counters.too_large : counters.rejected);
        return;
      }
      // Retryable. Wait as the collector asked (Retry-After), else capped backoff with jitter.
      const std::uint64_t wait_ms = r.retry_after_ms ? *r.retry_after_ms
                                                     : backoff_ms(attempt, backoff_base_ms_, backoff_max_ms_, rng_());
      const auto resume = steady::now() + std::chrono::milliseconds(wait_ms);
      if (attempt >= max_retries_ || resume > give_up) {
        if (!failing_) {
          failing_ = true;
          diag(log_level::warn, "otlp exporter: %s: %s; %u spans dropped after %u attempts (retry_exhausted)", url_.c_str(),
               r.status != 0 ? "retryable HTTP status" : r.error.c_str(), b.spans, attempt + 1);
        }
        settle(&b, counters.retry_exhausted);
        return;
      }
      exporter_counters::bump(counters.retries);
      std::unique_lock<std::mutex> lk(mu_);
      if (wake_.wait_until(lk, resume, [&] { return aborting_.load(std::memory_order_acquire); })) {
        lk.unlock();
        settle(&b, counters.shutdown_deadline);
        return;
      }
    }
  }

  // Stops the export thread: a request in flight or a backoff wait ends at once, and every span
  // not yet sent is counted as shutdown_deadline.
  void stop_thread() noexcept {
    if (in_child_ || !thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lk(mu_);
      aborting_.store(true, std::memory_order_release);
      stopping_.store(true, std::memory_order_release);
    }
    wake_.notify_all();
    if (transport_) transport_->abort();
    if (!ready_.enqueue(nullptr)) {
      // No memory for the sentinel: the thread still stops on `stopping_` within 200 ms.
    }
    thread_.join();
    settle_unsent();
  }

  void settle_unsent() noexcept {
    batch* b = nullptr;
    while (ready_.try_dequeue(b))
      if (b != nullptr) settle(b, counters.shutdown_deadline);
  }

  template <class... A>
  void warn_once(bool& flag, const char* fmt, A... args) noexcept {
    if (flag) return;
    flag = true;
    diag(log_level::warn, fmt, args...);
  }

  // ---- configuration -----------------------------------------------------------------------
  const resource_info res_;
  const bool json_, gzip_;
  const std::uint32_t batch_size_, queue_cap_;
  const std::uint64_t delay_ns_;
  const std::size_t max_request_;
  const std::size_t queue_bytes_cap_;  // SIZE_MAX: no byte bound
  const std::size_t batch_bytes_;      // a batch whose spans reach this many encoded bytes is sent
  const unsigned max_retries_;
  const std::uint64_t backoff_base_ms_, backoff_max_ms_;
  const std::uint32_t export_timeout_ms_;
  const bool rate_limited_;
  token_bucket bucket_;  // drain thread
  const std::string json_prefix_;
  http_options opts_;
  std::string url_;

  // ---- drain thread ------------------------------------------------------------------------
  batch* cur_ = nullptr;
  std::uint64_t first_ns_ = 0;
  std::uint32_t live_ = 0, pool_keep_ = 2;  // batch objects allocated; kept when idle
  // prepare(): the batch being filled, the one being sent and two queued behind them while the
  // first connection and the collector's first answers are slow (3–7 batches were live in the
  // export bench's first round; with two prefaulted the drain still took 327 faults of 1,107 in
  // a run, with four 6). Each is sized for batch_size_ spans of a typical size: a 4-attribute
  // span is 232–317 bytes in protobuf, about 630 in JSON.
  static constexpr std::uint32_t k_prefaulted_batches = 4;
  static constexpr std::size_t k_proto_span_bytes = 320, k_json_span_bytes = 640;
  bool too_large_warned_ = false;
  bool in_child_ = false;

  // ---- shared ------------------------------------------------------------------------------
  moodycamel::BlockingConcurrentQueue<batch*> ready_;  // drain -> export thread
  moodycamel::ConcurrentQueue<batch*> free_;           // export thread -> drain
  std::atomic<std::size_t> idle_bytes_{0};  // capacity of the batches in free_ (at most queue_bytes_cap_)
  std::atomic<std::uint32_t> released_{0};  // batches the export thread freed; the drain's tick() takes them off live_
  std::mutex mu_;                      // for the condition variables only; never held during I/O
  std::condition_variable idle_;       // export thread -> flush(): a batch was settled
  std::condition_variable wake_;       // stop_thread() -> a backoff wait
  std::atomic<bool> thread_alive_{false}, stopping_{false}, aborting_{false}, start_called_{false};
  std::thread thread_;

  // ---- export thread -----------------------------------------------------------------------
  std::unique_ptr<http_transport> transport_;
  gzip_compressor gz_;
  std::string zbuf_;
  std::mt19937_64 rng_;
  bool failing_ = false, partial_warned_ = false, garbage_warned_ = false;
};

}  // namespace

std::unique_ptr<exporter> make_otlp_exporter(const config& cfg, const resource_info& res) {
  return std::make_unique<otlp_exporter>(cfg, res);
}

}  // namespace tracecraft::detail
