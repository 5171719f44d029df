// SPDX-License-Identifier: Apache-2.0
// core/engine.h — the engine object: configuration, ring registry, drain thread, exporters.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>

#include "core/clock.h"
#include "export/exporter.h"
#include "export/span_view.h"
#include "ring/ring_mapper.h"
#include "ring/thread_state.h"
#include "redact/json_payload.h"
#include "redact/redactor.h"
#include "sampler/tail.h"
#include "tracecraft/trace.h"

namespace tracecraft::detail {

/// The proxy variables of the process environment (core/env.cpp, the one reader of the
/// environment), for a configuration built by hand that left `proxy` unset.
proxy_settings proxy_from_environment() noexcept;

/// Sample reasons stored in span_data::sample_reason.
/// Why a trace was kept (`tracecraft.sampling.reason` on its local root); 16 + i: sampling rule i.
enum sample_reason : std::uint8_t { reason_none = 0, reason_rate = 1, reason_parent = 2, reason_error = 3, reason_slow = 4, reason_rule = 16 };

/// One running (or finished) engine. Engines are never freed: a thread may still hold a pointer
/// taken just before shutdown, and a fork child abandons its parent's engine without touching its
/// locks. Each init() makes a new one (a few KiB once its rings are released).
struct engine final : tail_sink {
  /// `inherited`: a fork child's engine takes a clone of its parent's redactor instead of
  /// compiling the patterns again (tens of milliseconds inside fork()), and keeps its hash key.
  explicit engine(const config& c, const redactor* inherited = nullptr);
  ~engine() = delete;

  // ---- set at construction, read-only after --------------------------------------------
  config cfg;
  resource_info resource;
  std::uint32_t gen = 0;
  std::size_t ring_bytes = 0;
  std::size_t ring_max_bytes = 0;  ///< rings grow up to this (ring/spsc_ring.h: growth)
  std::size_t spare_bytes_ = 0;    ///< the ring mapper keeps one buffer of this size mapped (0: none)
  std::uint64_t shrink_after_ns_ = 0;  ///< TRACECRAFT_RING_SHRINK_AFTER_MS in ns (0: rings never shrink)
  std::uint64_t threshold = 0;  ///< rejection threshold of new traces (sampler/consistent.h): 0 keeps all, k_never none
  std::uint8_t root_ts_bits = 0;
  bool keep_tail = false;  ///< a ratio sampler's dropped traces record skeletons (errors / slow kept)
  std::uint64_t default_threshold = 0;        ///< the sampler's own threshold (`threshold` is the edge's: with rules, the largest rate's)
  std::vector<std::uint64_t> rule_threshold;  ///< per sampling rule
  std::vector<std::string> reason_names;      ///< tracecraft.sampling.reason by sample_reason (16 + i: rule i)
  std::uint64_t th_now_ = 0;                  ///< the threshold decode writes as th (a rule's while its trace is exported)
  std::string ot_th_now_;                     ///< "ot=th:<th_now_>"  ///< span_flag_ts_th when a ratio sampler decides (kept roots write ot=th)
  std::string ot_th;              ///< "ot=th:<threshold>", the trace state of a kept ratio-sampled trace
  std::vector<std::unique_ptr<exporter>> exporters;

  // ---- ring registry ---------------------------------------------------------------------
  moodycamel::ConcurrentQueue<thread_state*> new_rings;  ///< MPSC: attaching threads -> drain
  std::mutex registry_mu;             ///< guards `rings` membership against stats() readers
  std::vector<thread_state*> rings;   ///< drain-owned
  ring_mapper mapper;                 ///< maps grown rings' buffers off the drain (asked by the drain only)
  bool growth_on_ = true;             ///< drain-only: off for the passes after the drain loop
  // The standby (ring/spsc_ring.h): one mapped buffer of standby_bytes_ that a full ring's producer
  // takes when the drain has not come by. The drain maps the next once a ring has moved to it.
  std::size_t standby_bytes_ = 0;                       ///< 0: no standby (rings never grow)
  std::atomic<standby_buffer*> standby_slot_{nullptr};  ///< &standby_desc_ while it waits, else null
  standby_buffer standby_desc_;                         ///< the waiting buffer (drain writes, before publishing)
  ring_memory standby_mem_;                             ///< its memory, until the ring that took it is followed
  std::atomic<std::uint64_t> standby_held_{0};          ///< standby_mem_'s size, for stats()
  bool standby_asked_ = false;                          ///< asked of the mapper, not yet taken
  std::atomic<std::uint64_t> standby_moves{0};          ///< rings followed onto the standby
  void refill_standby() noexcept;
  void publish_standby(ring_memory m) noexcept;
  void followed_standby(thread_state* ts) noexcept;
  bool offer_standby(thread_state* ts) noexcept;
  // Counters folded in from reclaimed rings (drain writes under registry_mu).
  std::uint64_t folded_written = 0, folded_ring_full = 0, folded_sampled_out = 0, folded_frag_lost = 0;

  // ---- drain-side counters (written by the drain, read by stats()) ------------------------
  std::atomic<std::uint64_t> decoded{0};       ///< span records handed to exporters
  std::atomic<std::uint64_t> rings_grown{0};   ///< larger buffers offered to rings (maybe_grow)
  std::atomic<std::uint64_t> rings_shrunk{0};  ///< rings that moved to a smaller buffer (maybe_shrink)
  std::atomic<std::uint64_t> no_exporter{0};
  std::atomic<std::uint64_t> shutdown_dropped{0};
  std::atomic<std::uint64_t> traces{0};
  std::atomic<std::uint64_t> fragments_lost{0};
  std::atomic<std::uint64_t> attrs_over_limit{0};
  std::atomic<std::uint64_t> tracestate_lost{0};
  std::atomic<std::uint64_t> payloads_dropped{0};  ///< captured payloads dropped: redaction unavailable
  std::atomic<std::uint64_t> red_values_{0}, red_bytes_{0}, red_failures_{0};
  std::atomic<std::uint64_t> red_matches_[48] = {};
  std::atomic<std::uint64_t> tail_discarded{0};  ///< skeleton spans of traces decided uninteresting (sampled out)
  std::atomic<std::uint64_t> tail_evicted{0};    ///< skeleton spans dropped from a full table
  std::atomic<std::uint64_t> tail_kept{0};
  std::atomic<std::uint64_t> tail_pending{0};    ///< traces in the table (drain writes)
  std::atomic<std::uint64_t> passes{0};
  std::atomic<std::uint64_t> bell_wakes{0};      ///< sleeps cut short by the doorbell (drain writes)
  std::atomic<std::uint64_t> longest_gap_ns{0};  ///< drain_pass: see stats_snapshot::drain_longest_gap_us

  // ---- lifecycle -----------------------------------------------------------------------
  std::mutex mu;  ///< guards the fields below and the condition variable
  doorbell bell;  ///< the drain sleeps on it between passes; rung by producers past half a ring, flush, shutdown
  std::condition_variable done;   ///< flush/shutdown callers wait here
  std::uint64_t flush_requested = 0, flush_completed = 0;
  bool last_flush_ok = true;  ///< every exporter had sent everything when flush_completed moved
  std::chrono::steady_clock::time_point flush_until{};  ///< latest deadline of the pending flush() calls
  std::chrono::steady_clock::time_point final_until{};  ///< shutdown: when exporters must give up
  bool stop = false;
  bool abandoned = false;  ///< shutdown gave up waiting: the drain must not count any more
  std::atomic<bool> running{false};
  std::atomic<bool> drain_alive{false};
  std::atomic<bool> drain_started{false};
  std::thread thread;

  engine* retired_next = nullptr;
  bool exporters_released = false;
  std::uint32_t final_exporter_count = 0;
  exporter_stats final_exporters[4];  ///< earlier engines stay reachable (see above)
  bool exporters_healthy() noexcept;

  // ---- drain-thread-only state ---------------------------------------------------------
  clock_calibration clock;
  span_view view;
  std::string scratch;
  char run_id_[32] = {};
  char ts_cache_[512] = {};  // the last tracestate built from the store (decode)
  std::size_t ts_cache_len_ = 0;
  std::uint32_t ts_cache_handle_ = 0;
  std::uint64_t ts_cache_th_ = 0;
  std::uint8_t ts_cache_bits_ = 0;
  std::uint8_t ts_cache_trace_[16] = {};
  std::uint64_t pass_now_ = 0;  ///< UNIX ns at the start of the current drain pass
  std::uint64_t pass_elapsed_ns_ = 0;  ///< since the pass before this one (0 on the first pass)
  std::uint64_t paced_ms_ = 0;         ///< drain_pass: drain_pacing's paced_ms for the sleep after it
  struct fragment {
    std::uint16_t seq;
    std::string bytes;
  };
  struct parked {
    std::string record;  ///< copy of a span record still missing fragments
    int passes;
  };
  std::unordered_map<std::uint64_t, std::vector<fragment>> fragments;  ///< by span id (copies, from earlier rings or passes)
  struct chunk_fragment {  ///< a fragment in the ring being read, in place
    std::uint64_t id;
    const char* p;
    std::uint32_t len;
    std::uint16_t seq;
    bool used;
  };
  std::vector<chunk_fragment> chunk_frags_;
  struct frag_ref {
    std::uint16_t seq;
    const char* p;
    std::size_t len;
  };
  std::vector<frag_ref> frag_refs_;
  void keep_chunk_fragments() noexcept;
  std::vector<parked> parked_spans;
  std::unique_ptr<tail_table> tail;  ///< skeletons of dropped traces (null unless keep_tail)
  std::unique_ptr<redactor> red_;           ///< null: redaction off or unavailable
  std::vector<json_path> red_json_paths_;   ///< TRACECRAFT_REDACT_JSON_PATHS, parsed
  std::deque<std::string> red_pool_;        ///< field-rule and JSON texts of the held spans (reused; stable addresses)
  std::size_t red_used_ = 0;
  std::vector<std::string_view*> red_targets_;       ///< the view's strings to scan
  std::vector<std::string_view> red_in_;
  std::vector<std::string_view> red_outs_;
  std::vector<redactor::result> red_results_;
  // Spans read from a ring, decoded and held until their strings are scanned together (only
  // with a working redactor; empty otherwise).
  struct held_span {
    span_view view;
    char run_id[32];
    std::string trace_state;
    std::string joined;  ///< a spilled span's items, when its view points there
  };
  static constexpr std::size_t k_batch_spans = 64;
  static constexpr std::size_t k_batch_bytes = 64 * 1024;  ///< scanned bytes that flush the batch
  std::vector<held_span> batch_;
  std::size_t batch_n_ = 0;
  std::size_t red_bytes_held_ = 0;
  std::string settle_rec_;           ///< a kept record, re-tagged with its reason
  std::string settle_joined_;        ///< its fragments
  bool tail_all_ = false;            ///< shutdown: decide every pending trace

  void register_ring(thread_state* ts) noexcept;
  /// init() only, before start_drain() (a fork child skips it): maps the ring mapper's spare and
  /// lets the exporters fault in their first buffers, on the caller's thread before any span.
  void prepare() noexcept;
  bool start_drain() noexcept;
  void drain_main() noexcept;
  bool drain_pass(bool final_pass) noexcept;  ///< true if any record was read
  void maybe_grow(thread_state* ts, std::uint64_t fill) noexcept;
  void maybe_shrink(thread_state* ts, std::uint64_t fill, bool pressed) noexcept;
  void watch_shrink_offer(thread_state* ts, bool pressed) noexcept;
  void ask_growth(thread_state* ts, std::size_t next) noexcept;
  void offer_asked(thread_state* ts) noexcept;
  void offer_buffer(thread_state* ts, ring_memory buf) noexcept;
  void deliver(const unsigned char* rec, std::size_t size, bool allow_park, bool in_ring) noexcept;
  bool decode(const unsigned char* rec, std::size_t size, std::string* joined) noexcept;
  /// `batchable`: the view may wait in `batch_` (its strings stay valid until the ring is
  /// released, or they are in `joined`, whose buffer the batch then takes).
  void export_view(bool batchable = false, std::string* joined = nullptr) noexcept;
  void redact_view(span_view& v) noexcept;  ///< at once (flushes the batch first)
  void collect_redaction(span_view& v) noexcept;
  void apply_redaction() noexcept;
  bool hold_for_redaction(std::string* joined) noexcept;
  void flush_batch(const span_view* also = nullptr) noexcept;  ///< `also`: a view not held, exported with them
  tail_decision judge(const tail_trace& t) noexcept override;
  void settle(const tail_decision& d, const tail_records& records) noexcept override;
  void hold_for_tail(const unsigned char* rec, std::size_t size, const std::string* joined) noexcept;
  const std::string& reason_text(std::uint8_t r) const noexcept;
  void fold_and_release(thread_state* ts) noexcept;
  stats_snapshot snapshot() noexcept;
  void read_exporter_stats(stats_snapshot& s) noexcept;  ///< caller holds registry_mu
  /// After a clean shutdown: frees exporters and drain buffers, keeps the counters for stats().
  void release_resources() noexcept;
};

/// The current engine (immortal, see above); nullptr before the first init().
extern std::atomic<engine*> g_engine;

/// The calling thread's state for the running engine, attaching the thread on first use.
/// nullptr when the engine is off. Never blocks.
thread_state* ensure_state() noexcept;

/// Starts a fork child's drain thread on first use (idempotent).
void ensure_drain_started(engine* e) noexcept;

/// Builds the resource attributes (standards §7).
resource_info build_resource(const config& cfg);

}  // namespace tracecraft::detail
