// SPDX-License-Identifier: Apache-2.0
// core/engine.cpp — the drain thread: reads every ring in batches, joins fragments, decodes span
// records into views and feeds the exporters; plus the engine's lifecycle and fork handling.
#include "core/engine.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/diag.h"
#include "core/hex.h"
#include "ring/drain_pacing.h"
#include "ring/record.h"
#include "sampler/consistent.h"
#include "redact/json_payload.h"
#include "redact/redactor.h"
#include "sampler/rules.h"
#include "sampler/tracestate_store.h"
#include "sampler/w3c.h"

namespace tracecraft::detail {

std::atomic<engine*> g_engine{nullptr};

namespace {

std::atomic<std::uint32_t> g_gen_counter{0};
engine* g_retired = nullptr;  // guarded by g_lifecycle_mu
std::mutex g_lifecycle_mu;  // init / shutdown / fork; never taken on a request thread

std::uint32_t next_gen() noexcept {
  std::uint32_t g = g_gen_counter.fetch_add(1, std::memory_order_relaxed) + 1;
  if (g == 0) g = g_gen_counter.fetch_add(1, std::memory_order_relaxed) + 1;
  return g;
}

std::size_t ring_bytes_for(std::uint32_t kb) noexcept {
  std::size_t bytes = std::size_t{kb} * 1024;
  std::size_t p = 4096;
  while (p < bytes && p < (std::size_t{1} << 30)) p <<= 1;
  return p;
}

template <class T>
T rd(const unsigned char* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::uint64_t id_u64(const std::uint8_t* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Truncates to at most `limit` code points (attribute value length limit, standards §3).
std::string_view truncate_chars(std::string_view s, std::uint32_t limit) noexcept {
  if (limit == 0 || s.size() <= limit) return s;
  std::uint32_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (chars == limit) return s.substr(0, i);
      ++chars;
    }
  }
  return s;
}

// The dedupe's filter of attribute keys already kept: two of 64 bits, from the key's length and
// its first, middle and last bytes. Both bits set means "maybe seen": only then are keys compared.
constexpr std::uint64_t key_bits(std::string_view k) noexcept {
  if (k.empty()) return 1;
  const std::uint32_t x = static_cast<std::uint32_t>(k.size() & 0xFF) | std::uint32_t{static_cast<unsigned char>(k.front())} << 8 |
                          std::uint32_t{static_cast<unsigned char>(k[k.size() / 2])} << 16 |
                          std::uint32_t{static_cast<unsigned char>(k.back())} << 24;
  const std::uint32_t m = x * 0x9E3779B1u;
  return std::uint64_t{1} << (m >> 26) | std::uint64_t{1} << ((m >> 20) & 63);
}
constexpr std::uint64_t k_bits_operation = key_bits("gen_ai.operation.name");
constexpr std::uint64_t k_bits_openinference = key_bits("openinference.span.kind");
constexpr std::uint64_t k_bits_step = key_bits("tracecraft.step.type");
constexpr std::uint64_t k_bits_root = key_bits("run_id") | key_bits("tracecraft.sampling.reason");

// Views of literals (lengths known at compile time: no strlen per span); empty means none.
struct kind_mapping {
  std::uint8_t otel;
  std::string_view operation;      // gen_ai.operation.name
  std::string_view openinference;  // openinference.span.kind
  std::string_view step;           // tracecraft.step.type (none for plain OTel kinds)
};

// Step types onto OTel kinds (standards §6: inference/retrieval CLIENT, agents in-process and
// tools INTERNAL) plus the OpenInference kind for Phoenix-style backends.
kind_mapping map_kind(kind k) noexcept {
  switch (k) {
    case kind::server: return {otel_server, {}, {}, {}};
    case kind::client: return {otel_client, {}, {}, {}};
    case kind::producer: return {otel_producer, {}, {}, {}};
    case kind::consumer: return {otel_consumer, {}, {}, {}};
    case kind::agent: return {otel_internal, "invoke_agent", "AGENT", "agent"};
    case kind::llm: return {otel_client, "chat", "LLM", "llm"};
    case kind::tool: return {otel_internal, "execute_tool", "TOOL", "tool"};
    case kind::retrieval: return {otel_client, "retrieval", "RETRIEVER", "retrieval"};
    case kind::memory: return {otel_client, {}, {}, "memory"};
    case kind::guardrail: return {otel_internal, {}, "GUARDRAIL", "guardrail"};
    case kind::evaluation: return {otel_internal, {}, "EVALUATOR", "evaluation"};
    case kind::workflow: return {otel_internal, "invoke_workflow", "CHAIN", "workflow"};
    default: return {otel_internal, {}, {}, {}};
  }
}

// Appends a string attribute, built in place (room is reserved before).
void add_string_attr(view_list<attr_view>& list, std::string_view k, std::string_view v) noexcept {
  if (attr_view* a = list.emplace()) {
    a->key = k;
    a->type = value::type::string;
    a->s = v;
  }
}

}  // namespace

engine::engine(const config& c, const redactor* inherited) : cfg(c) {
  resource = build_resource(cfg);
  ring_bytes = ring_bytes_for(cfg.ring_kb);
  ring_max_bytes = std::max(ring_bytes, ring_bytes_for(cfg.ring_max_kb));
  // The first step of a fresh ring's growth (maybe_grow): offered in the pass that decides it.
  if (ring_max_bytes > ring_bytes) spare_bytes_ = std::min(ring_max_bytes, ring_bytes * 4);
  // A ring that fills before its drain comes by moves to the standby: the largest ring, so it
  // holds the longest a drain can be away (19 ms at 1M spans/s with the 4 MiB default).
  if (ring_max_bytes > ring_bytes && cfg.ring_standby) standby_bytes_ = ring_max_bytes;
  shrink_after_ns_ = std::uint64_t{cfg.ring_shrink_after_ms} * 1000000u;
  mapper.set_doorbell(&bell);  // a buffer ready for a growing ring wakes the drain to offer it
  switch (cfg.sampler) {
    case sampler_kind::always_on:
    case sampler_kind::parentbased_always_on: threshold = 0; break;
    case sampler_kind::always_off:
    case sampler_kind::parentbased_always_off: threshold = k_never; break;
    case sampler_kind::traceidratio:
    case sampler_kind::parentbased_traceidratio:
      threshold = threshold_rounded(cfg.sampling_rate);
      root_ts_bits = span_flag_ts_th;
      break;
  }
  default_threshold = threshold;
  char th[14];
  ot_th = "ot=th:" + std::string(th, w3c::format_th(threshold, th));
  th_now_ = threshold;
  ot_th_now_ = ot_th;
  reason_names = {"rate", "rate", "parent", "error", "slow"};
  reason_names.resize(reason_rule, "rate");
  // Keeping the tail and the rules apply to what the rate decides (TraceCraft's behaviour).
  const bool ratio = cfg.sampler == sampler_kind::traceidratio || cfg.sampler == sampler_kind::parentbased_traceidratio;
  keep_tail = ratio && (cfg.always_keep_errors || cfg.always_keep_slow) && cfg.pending_traces > 0;
  if (!cfg.sampling_rules.empty() && (!ratio || cfg.pending_traces == 0)) {
    diag(log_level::warn, "sampling rules apply to the ratio samplers only, with TRACECRAFT_PENDING_TRACES > 0; ignored");
  } else if (!cfg.sampling_rules.empty()) {
    // The edge keeps, provisionally, every trace that the rate or some rule might keep: R >= the
    // smallest threshold. The drain then applies the first matching rule's rate, or the rate.
    double widest = cfg.sampling_rate;
    for (std::size_t i = 0; i < cfg.sampling_rules.size() && reason_rule + i < 256; ++i) {
      const sampling_rule& r = cfg.sampling_rules[i];
      widest = std::max(widest, r.rate);
      rule_threshold.push_back(threshold_rounded(r.rate));
      reason_names.push_back("rule:" + r.name);
    }
    threshold = threshold_rounded(widest);
    root_ts_bits |= span_flag_provisional;
  }
  if (cfg.redact) {
    redact_settings rs;
    rs.mode = cfg.redact_mode == redaction_mode::hash ? redact_mode::hash
              : cfg.redact_mode == redaction_mode::remove ? redact_mode::remove : redact_mode::mask;
    rs.hash_key = cfg.redact_hash_key;
    rs.disabled = cfg.redact_disabled_defaults;
    rs.custom = cfg.redact_patterns;
    rs.allow_values = cfg.redact_allow;
    rs.allow_patterns = cfg.redact_allow_patterns;
    std::vector<std::string> problems;
    try {
      if (inherited != nullptr) red_ = inherited->clone();
      if (!red_) red_ = redactor::create(rs, problems);
    } catch (...) {
      problems.push_back("out of memory while compiling the patterns");
    }
    for (const auto& p : problems) diag(log_level::warn, "redaction: %s", p.c_str());
    if (!red_) {
      diag(log_level::warn, "redaction is unavailable; captured payloads (input.value, output.value) are %s",
           cfg.redact_allow_unredacted ? "exported unredacted (TRACECRAFT_REDACT_ALLOW_UNREDACTED=true)" : "dropped");
    } else {
      if (cfg.redact_mode == redaction_mode::hash && cfg.redact_hash_key.empty() && inherited == nullptr)
        diag(log_level::warn, "TRACECRAFT_REDACT_MODE=hash without TRACECRAFT_REDACT_HASH_KEY: a random key for this "
                              "process, so hashes correlate only within it");
      for (const std::string& p : cfg.redact_json_paths) {
        json_path jp;
        if (parse_json_path(p, jp)) red_json_paths_.push_back(std::move(jp));
      }
      // The resource goes out with every request too: its values are scanned once, here.
      std::string out;
      for (auto& kv : resource.strings)
        if (red_->scan(kv.second, out) == redactor::result::redacted) kv.second = out;
    }
  }
  if (keep_tail || !rule_threshold.empty()) {
    tail_settings t;
    t.max_traces = cfg.pending_traces;
    t.wait_ns = std::uint64_t{cfg.decision_wait_ms} * 1000000u;
    t.slow_ns = std::uint64_t{cfg.slow_threshold_ms} * 1000000u;
    tail = std::make_unique<tail_table>(t, *this);
  }
  for (exporter_kind k : cfg.exporters) {
    if (k == exporter_kind::jsonl) exporters.push_back(make_jsonl_exporter(cfg, resource));
    if (k == exporter_kind::console) exporters.push_back(make_console_exporter(cfg, resource));
    if (k == exporter_kind::otlp) exporters.push_back(make_otlp_exporter(cfg, resource));
    if (exporters.size() == 4) break;
  }
  auto reserve = [](span_view& v) {
    v.attrs.reserve(64);
    v.nested.reserve(64);
    v.events.reserve(16);
    v.links.reserve(16);
  };
  reserve(view);
  chunk_frags_.reserve(1024);
  frag_refs_.reserve(64);
  if (red_) {
    batch_.resize(k_batch_spans);
    for (held_span& h : batch_) reserve(h.view);
  }
  scratch.reserve(64 * 1024);
}

void engine::register_ring(thread_state* ts) noexcept {
  if (!new_rings.enqueue(ts)) {  // out of memory in the queue: the ring is never drained
    ts->closed.store(true, std::memory_order_release);
    ts->release();
  }
}

bool engine::exporters_healthy() noexcept {
  std::lock_guard<std::mutex> lk(registry_mu);
  if (exporters_released) return true;
  for (auto& e : exporters)
    if (!e->healthy()) return false;
  return true;
}

void engine::prepare() noexcept {
  for (auto& x : exporters) x->prepare();
  if (spare_bytes_ != 0) mapper.adopt_spare(ring_memory::allocate(spare_bytes_));
  if (standby_bytes_ != 0) publish_standby(ring_memory::allocate(standby_bytes_));
}

// Makes `m` the standby any full ring may take (drain or init, while no standby waits).
void engine::publish_standby(ring_memory m) noexcept {
  if (!m) return;
  standby_desc_.buf = m.get();
  standby_desc_.cap = m.size();
  standby_held_.store(m.size(), std::memory_order_relaxed);
  standby_mem_ = std::move(m);
  standby_slot_.store(&standby_desc_, std::memory_order_release);
}

// Once a ring has moved to the standby (its storage taken over in drain_pass), the next one is
// asked of the mapper and published when mapped; while growth is on only.
void engine::refill_standby() noexcept {
  if (standby_bytes_ == 0 || standby_mem_ || !growth_on_) return;
  if (!standby_asked_) {
    const ring_mapper::asked a = mapper.ask(standby_bytes_);
    if (a == ring_mapper::asked::queued) standby_asked_ = true;
    else if (a == ring_mapper::asked::unavailable) publish_standby(ring_memory::allocate(standby_bytes_));
    return;  // busy: the next pass asks again
  }
  ring_memory buf;
  const ring_mapper::state st = mapper.take(standby_bytes_, buf);
  if (st == ring_mapper::state::pending) return;
  standby_asked_ = false;
  if (st == ring_mapper::state::ready) publish_standby(std::move(buf));
}

// The drain takes the standby for a ring it grows to the largest size: true when offered.
bool engine::offer_standby(thread_state* ts) noexcept {
  if (!standby_mem_ || !ts->ring.can_offer()) return false;
  // Null when a producer holds it (moving to it, or about to put it back): grown the usual way.
  if (standby_slot_.exchange(nullptr, std::memory_order_acq_rel) == nullptr) return false;
  standby_held_.store(0, std::memory_order_relaxed);
  offer_buffer(ts, std::move(standby_mem_));  // refused (the producer's claim): freed, a new one mapped
  return true;
}

// A ring followed onto the standby: a growth or shrink under way for it is moot (its buffer is
// now the largest a ring gets); what was asked for it goes back to the mapper.
void engine::followed_standby(thread_state* ts) noexcept {
  if (ts->growth_asked != 0) mapper.abandon(ts->growth_asked);
  ts->growth_asked = 0;
  ts->growth_goal = 0;
  ts->shrinking = false;
  ts->quiet_since_ns = 0;
  standby_held_.store(0, std::memory_order_relaxed);
  standby_moves.store(standby_moves.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  rings_grown.store(rings_grown.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

bool engine::start_drain() noexcept {
  // The drain inherits a mask that blocks every signal: the host's handlers run on its own
  // threads, and a write to a closed pipe returns EPIPE instead of raising SIGPIPE in the host.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  try {
    drain_alive.store(true, std::memory_order_release);
    thread = std::thread([this] { drain_main(); });
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return true;
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    drain_alive.store(false, std::memory_order_release);
    diag(log_level::error, "cannot start the drain thread; tracing is off");
    return false;
  }
}

void engine::fold_and_release(thread_state* ts) noexcept {
  {
    std::lock_guard<std::mutex> lk(registry_mu);
    folded_written += ts->written.load(std::memory_order_relaxed);
    folded_ring_full += ts->ring_full.load(std::memory_order_relaxed);
    folded_sampled_out += ts->sampled_out.load(std::memory_order_relaxed);
    folded_frag_lost += ts->fragments_lost.load(std::memory_order_relaxed);
    rings.erase(std::find(rings.begin(), rings.end(), ts));
  }
  if (ts->growth_asked != 0) mapper.abandon(ts->growth_asked);
  ts->growth_asked = 0;
  ts->release();
}

// Decodes one span record (and its fragments, already joined into `joined` when given) into
// `view`. Returns false on a malformed record (never expected; guarded so a bug cannot crash).
bool engine::decode(const unsigned char* rec, std::size_t size, std::string* joined) noexcept {
  if (size < sizeof(record_header) + sizeof(span_data)) return false;
  const auto* d = reinterpret_cast<const span_data*>(rec + sizeof(record_header));
  span_data hd;
  std::memcpy(&hd, d, sizeof hd);
  if (sizeof(record_header) + sizeof(span_data) + hd.var_len > size) return false;
  const unsigned char* var = rec + sizeof(record_header) + sizeof(span_data);
  std::size_t var_len = hd.var_len;
  if (joined != nullptr) {
    joined->append(reinterpret_cast<const char*>(var), var_len);
    var = reinterpret_cast<const unsigned char*>(joined->data());
    var_len = joined->size();
  }

  span_view& v = view;
  v.trace_id = d->trace_id;
  v.span_id = d->span_id;
  v.parent_id = id_u64(d->parent_id) != 0 ? d->parent_id : nullptr;
  v.parent_remote = hd.parent_remote == 2;
  const std::uint8_t ts_bits = hd.span_flags & span_flag_ts_state;
  if (hd.ts_handle == 0 && (ts_bits & ~span_flag_ts_keep_th) == span_flag_ts_th) {
    v.trace_state = ot_th_now_;  // the common case: a ratio-sampled trace of our own
  } else if (hd.ts_handle == 0 && ts_bits == 0) {
    v.trace_state = {};
  } else {
    // An incoming tracestate (or a host id's rv): built once per (entry, bits, trace), reused
    // while the spans of one trace follow each other.
    const bool same = hd.ts_handle == ts_cache_handle_ && ts_bits == ts_cache_bits_ && th_now_ == ts_cache_th_ &&
                      ((ts_bits & span_flag_ts_rv) == 0 || std::memcmp(ts_cache_trace_, d->trace_id, 16) == 0);
    if (!same) {
      bool lost = false;
      const std::uint64_t host_rv = (ts_bits & span_flag_ts_rv) ? randomness_from_host_id(d->trace_id) : 0;
      ts_cache_len_ = build_tracestate(hd.ts_handle, ts_bits, th_now_, host_rv, ts_cache_, &lost);
      ts_cache_handle_ = hd.ts_handle;
      ts_cache_th_ = th_now_;
      ts_cache_bits_ = ts_bits;
      std::memcpy(ts_cache_trace_, d->trace_id, 16);
      if (lost) tracestate_lost.store(tracestate_lost.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    v.trace_state = std::string_view(ts_cache_, ts_cache_len_);
  }
  v.name = std::string_view(hd.name != nullptr ? hd.name : "", hd.name_len);
  v.name_runtime = false;
  v.step = static_cast<kind>(hd.kind);
  const kind_mapping km = map_kind(v.step);
  v.otel = km.otel;
  v.trace_flags = hd.trace_flags;
  v.start_ns = clock.to_ns(hd.start);
  v.end_ns = clock.to_ns(hd.end);
  if (v.end_ns < v.start_ns) v.end_ns = v.start_ns;
  v.status = hd.status;
  v.status_message = {};
  v.attrs.clear();
  v.nested.clear();
  v.events.clear();
  v.links.clear();
  v.dropped_attrs = hd.dropped_attrs;
  v.dropped_events = hd.dropped_events;
  v.dropped_links = hd.dropped_links;

  // Derived attributes first, so a host's own value for the same key takes their place (the
  // dedupe in the item loop). `seen` is the dedupe's filter of the keys kept so far.
  if (!v.attrs.reserve(8)) return false;  // out of memory (capacity is reserved at start)
  std::uint64_t seen = 0;
  if (!km.operation.empty()) {
    add_string_attr(v.attrs, "gen_ai.operation.name", km.operation);
    seen |= k_bits_operation;
  }
  if (!km.openinference.empty()) {
    add_string_attr(v.attrs, "openinference.span.kind", km.openinference);
    seen |= k_bits_openinference;
  }
  if (!km.step.empty()) {
    add_string_attr(v.attrs, "tracecraft.step.type", km.step);
    seen |= k_bits_step;
  }
  const std::size_t fixed = v.attrs.size();
  const char* fixed_values[3] = {};
  for (std::size_t i = 0; i < fixed; ++i) fixed_values[i] = v.attrs[i].s.data();
  if (v.local_root()) {
    hex_lower_16(d->trace_id, run_id_);
    add_string_attr(v.attrs, "run_id", std::string_view(run_id_, 32));
    add_string_attr(v.attrs, "tracecraft.sampling.reason", reason_text(hd.sample_reason));
    seen |= k_bits_root;
  }
  const std::size_t derived = v.attrs.size();
  v.derived_count = static_cast<std::uint8_t>(derived);
  for (std::size_t i = 0; i < derived && i < 6; ++i) v.derived_values[i] = v.attrs[i].s.data();

  // Items: attributes go to `attrs` unless an event or link is still owed nested ones.
  std::uint32_t owed = 0;
  bool owed_event = false, owner_kept = true;
  const unsigned char* p = var;
  const unsigned char* end = var + var_len;
  while (p < end) {
    const std::uint8_t tag = p[0];
    if (tag >= item_bool && tag <= item_string) {
      if (end - p < 4) return false;
      const std::uint8_t kmode = p[1];
      const std::uint16_t klen = rd<std::uint16_t>(p + 2);
      const std::size_t kbytes = kmode == key_literal ? 8 : klen;
      if (static_cast<std::size_t>(end - p) < 4 + kbytes) return false;
      // The item is decoded straight into its place. An append fails only when memory cannot
      // grow: the item is then decoded into `lost` and counted as dropped.
      attr_view lost;
      attr_view* slot = &lost;
      bool top = false;  // a span attribute (not an event's or link's): deduped below
      if (owed > 0) {
        --owed;
        if (owner_kept) {
          if (attr_view* n = v.nested.emplace()) {
            slot = n;
            ++(owed_event ? v.events.back().attr_count : v.links.back().attr_count);
          } else {
            ++(owed_event ? v.events.back().dropped_attrs : v.links.back().dropped_attrs);
          }
        }
      } else if (attr_view* n = v.attrs.emplace()) {
        slot = n;
        top = true;
      } else {
        ++v.dropped_attrs;
      }
      attr_view& a = *slot;
      a.key = kmode == key_literal ? std::string_view(rd<const char*>(p + 4), klen)
                                   : std::string_view(reinterpret_cast<const char*>(p + 4), klen);
      p += 4 + kbytes;
      a.type = static_cast<value::type>(tag);
      a.s = {};
      if (tag == item_bool) {
        if (end - p < 1) return false;
        a.b = p[0] != 0;
        p += 1;
      } else if (tag == item_int || tag == item_double) {
        if (end - p < 8) return false;
        if (tag == item_int)
          a.i = rd<std::int64_t>(p);
        else
          a.d = rd<double>(p);
        p += 8;
      } else {
        if (end - p < 4) return false;
        const std::uint32_t n = rd<std::uint32_t>(p);
        if (static_cast<std::size_t>(end - p) < 4 + std::size_t{n}) return false;
        a.s = truncate_chars(std::string_view(reinterpret_cast<const char*>(p + 4), n), cfg.attribute_value_length_limit);
        p += 4 + n;
      }
      if (top) {
        // Keys are unique per span (standards §1): the last value set wins, at the first key's
        // place. Keys are compared only when the filter says this one may have been kept before.
        const std::uint64_t kb = key_bits(a.key);
        if ((seen & kb) == kb) {
          const std::size_t last = v.attrs.size() - 1;
          for (std::size_t j = 0; j < last; ++j) {
            if (v.attrs[j].key == a.key) {
              v.attrs[j] = a;
              v.attrs.resize(last);
              break;
            }
          }
        }
        seen |= kb;
      }
    } else if (tag == item_event) {
      if (end - p < 24) return false;
      event_view e;
      e.name = std::string_view(rd<const char*>(p + 4), rd<std::uint16_t>(p + 2));
      e.time_ns = clock.to_ns(rd<std::uint64_t>(p + 12));
      owed = rd<std::uint16_t>(p + 20);
      e.dropped_attrs = rd<std::uint16_t>(p + 22);
      e.first_attr = static_cast<std::uint32_t>(v.nested.size());
      e.attr_count = 0;
      owed_event = true;
      owner_kept = v.events.push_back(e);
      if (!owner_kept) ++v.dropped_events;
      p += 24;
    } else if (tag == item_link) {
      if (end - p < 32) return false;
      link_view l;
      l.flags = p[1] & 0x03;
      l.remote = (p[1] & 0x80) != 0;
      owed = rd<std::uint16_t>(p + 2);
      l.dropped_attrs = rd<std::uint16_t>(p + 4);
      l.trace_id = p + 8;
      l.span_id = p + 24;
      l.first_attr = static_cast<std::uint32_t>(v.nested.size());
      l.attr_count = 0;
      owed_event = false;
      owner_kept = v.links.push_back(l);
      if (!owner_kept) ++v.dropped_links;
      p += 32;
    } else if (tag == item_status_message) {
      if (end - p < 8) return false;
      const std::uint32_t n = rd<std::uint32_t>(p + 4);
      if (static_cast<std::size_t>(end - p) < 8 + std::size_t{n}) return false;
      v.status_message = std::string_view(reinterpret_cast<const char*>(p + 8), n);
      p += 8 + n;
    } else if (tag == item_name) {
      if (end - p < 4) return false;
      const std::uint16_t n = rd<std::uint16_t>(p + 2);
      if (static_cast<std::size_t>(end - p) < 4 + std::size_t{n}) return false;
      v.name = std::string_view(reinterpret_cast<const char*>(p + 4), n);
      v.name_runtime = true;
      p += 4 + n;
    } else {
      return false;
    }
  }
  if (v.name.empty()) v.name = "unnamed";

  auto& a = v.attrs;
  // Still the kind's own values (a host value for the same key would have replaced them)?
  v.fixed_attrs = static_cast<std::uint8_t>(fixed);
  for (std::size_t i = 0; i < fixed; ++i)
    if (a[i].s.data() != fixed_values[i]) v.fixed_attrs = 0;
  const std::size_t limit = derived + cfg.attribute_count_limit;
  if (a.size() > limit) {
    v.dropped_attrs += static_cast<std::uint32_t>(a.size() - limit);
    a.resize(limit);
  }
  const std::uint64_t dropped = v.dropped_attrs + v.dropped_events + v.dropped_links;
  if (dropped) attrs_over_limit.store(attrs_over_limit.load(std::memory_order_relaxed) + dropped, std::memory_order_relaxed);
  return true;
}

void engine::export_view(bool batchable, std::string* joined) noexcept {
  const std::uint64_t now = pass_now_;
  decoded.store(decoded.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (view.local_root()) traces.store(traces.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (exporters.empty()) {
    no_exporter.store(no_exporter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return;
  }
  if (batchable && !batch_.empty() && hold_for_redaction(joined)) return;
  redact_view(view);  // nothing reaches an exporter unredacted
  for (auto& e : exporters) e->add(view, now);
}

// A span read straight from a ring waits, decoded, in `batch_` until the ring is released (its
// strings point into the ring) or the batch is full: the strings of all of them are then scanned
// in one call (a scan has a fixed cost of a few hundred nanoseconds on small inputs, more than
// scanning 300 bytes). What `view` points to in the engine's own buffers is copied to the slot.
// A span with nothing left to scan (its short values seen clean before) goes out at once.
bool engine::hold_for_redaction(std::string* joined) noexcept {
  const std::size_t before = red_targets_.size();
  collect_redaction(view);  // field rules and JSON payloads now; the strings to scan gathered
  if (red_targets_.size() == before) {  // nothing to scan (short values seen clean): out at once
    for (auto& e : exporters) e->add(view, pass_now_);
    if (batch_n_ == 0) red_used_ = 0;
    return true;
  }
  held_span& h = batch_[batch_n_];
  if (joined != nullptr) {  // the view points into `joined` (heap, as spills are large): the slot takes its buffer
    const char* was = joined->data();
    h.joined.swap(*joined);
    if (h.joined.data() != was) {  // a short string moved: scan now, with the held spans
      h.joined.swap(*joined);
      flush_batch(&view);
      return true;
    }
  }
  ++batch_n_;
  std::swap(h.view, view);  // vectors trade places (buffers keep their addresses): no allocation
  span_view& v = h.view;
  // The gathered strings inside the vectors moved with them; those that are the view's own
  // members (the name, the status message) did not: they are found at the same offset in the slot.
  const auto from = reinterpret_cast<std::uintptr_t>(&view), to = reinterpret_cast<std::uintptr_t>(&v);
  for (std::size_t i = before; i < red_targets_.size(); ++i) {
    const auto t = reinterpret_cast<std::uintptr_t>(red_targets_[i]);
    if (t >= from && t < from + sizeof(span_view)) red_targets_[i] = reinterpret_cast<std::string_view*>(to + (t - from));
  }
  std::memcpy(h.run_id, run_id_, sizeof h.run_id);
  for (std::size_t i = 0; i < v.derived_count && i < 6; ++i)
    if (v.derived_values[i] == run_id_) v.derived_values[i] = h.run_id;
  for (std::size_t i = 0; i < v.derived_count && i < v.attrs.size(); ++i)
    if (v.attrs[i].type == value::type::string && v.attrs[i].s.data() == run_id_) v.attrs[i].s = std::string_view(h.run_id, sizeof h.run_id);
  if (!v.trace_state.empty()) {  // ot_th_now_ or the tracestate cache, both overwritten later
    try {
      h.trace_state.assign(v.trace_state);
      v.trace_state = h.trace_state;
    } catch (...) {
      v.trace_state = {};
    }
  }
  if (batch_n_ == batch_.size() || red_bytes_held_ >= k_batch_bytes) flush_batch();
  return true;
}

// Scans what the held spans carry, then hands them to the exporters.
void engine::flush_batch(const span_view* also) noexcept {
  if (batch_n_ > 0 || also != nullptr) {
    apply_redaction();
    for (std::size_t i = 0; i < batch_n_; ++i)
      for (auto& e : exporters) e->add(batch_[i].view, pass_now_);
    if (also != nullptr)
      for (auto& e : exporters) e->add(*also, pass_now_);
  }
  batch_n_ = 0;
  red_used_ = 0;
  red_targets_.clear();
  red_bytes_held_ = 0;
}

// Redaction of one decoded span, on the drain thread: field rules replace whole values; every
// other string the host wrote (attribute values, event and link attributes, the status message,
// a runtime name) is scanned. The engine's own values (ids, kinds, reasons) are not. Without a
// working redactor, captured payloads are dropped unless TRACECRAFT_REDACT_ALLOW_UNREDACTED.
void engine::redact_view(span_view& v) noexcept {
  if (!cfg.redact) return;
  flush_batch();  // held spans share the pool and the targets; this also empties them
  collect_redaction(v);
  apply_redaction();
  red_used_ = 0;
  red_targets_.clear();  // the batch must not scan these again: `v` is the caller's
}

// Field rules, JSON payloads and the fail-closed rule apply at once; the strings to scan are
// gathered in red_targets_ for apply_redaction().
void engine::collect_redaction(span_view& v) noexcept {
  if (!cfg.redact) return;
  auto slot = [&]() -> std::string& {
    if (red_used_ == red_pool_.size()) red_pool_.emplace_back();
    return red_pool_[red_used_];
  };
  auto derived = [&](const attr_view& a) {
    for (std::size_t i = 0; i < v.derived_count && i < 6; ++i)
      if (a.type == value::type::string && a.s.data() == v.derived_values[i]) return true;
    return false;
  };
  // Strings to scan are gathered, then scanned in one call (a call has a fixed cost).
  const std::size_t first_target = red_targets_.size();
  auto scan = [&](std::string_view& text) {
    if (!red_->known_clean(text)) {
      red_targets_.push_back(&text);
      red_bytes_held_ += text.size();
    }
  };
  auto field_rule = [&](std::string_view key) {
    for (const std::string& f : cfg.redact_fields)
      if (glob_match(f, key)) return true;
    return false;
  };
  try {
    if (!red_) {  // unavailable: fail closed for payloads
      if (cfg.redact_allow_unredacted) return;
      auto& a = v.attrs;
      const auto before = a.size();
      a.resize(static_cast<std::size_t>(
          std::remove_if(a.begin(), a.end(), [](const attr_view& x) { return x.key == "input.value" || x.key == "output.value"; }) -
          a.begin()));
      if (a.size() != before)
        payloads_dropped.store(payloads_dropped.load(std::memory_order_relaxed) + (before - a.size()), std::memory_order_relaxed);
      return;
    }
    auto one = [&](attr_view& a) {
      if (!cfg.redact_fields.empty() && field_rule(a.key)) {
        std::string& out = slot();
        std::string text;
        switch (a.type) {
          case value::type::string: text.assign(a.s); break;
          case value::type::boolean: text = a.b ? "true" : "false"; break;
          case value::type::int64: text = std::to_string(a.i); break;
          case value::type::float64: text = std::to_string(a.d); break;
        }
        red_->replace_whole(text, "field", out);
        ++red_used_;
        a.type = value::type::string;
        a.s = out;
        return;
      }
      if (a.type != value::type::string || a.s.empty()) return;
      // A JSON payload: parsed, its string values scanned, keys and structure kept.
      std::size_t lead = 0;  // (find_first_not_of calls memchr per byte)
      while (lead < a.s.size() && (a.s[lead] == ' ' || a.s[lead] == '\t' || a.s[lead] == '\r' || a.s[lead] == '\n')) ++lead;
      if (lead < a.s.size() && (a.s[lead] == '{' || a.s[lead] == '[') && !red_->known_clean(a.s)) {
        std::string& out = slot();
        bool changed = false;
        if (redact_json(*red_, a.s, red_json_paths_, out, changed)) {
          if (changed) {
            a.s = out;
            ++red_used_;
          }
          return;
        }
      }
      scan(a.s);
    };
    for (attr_view& a : v.attrs)
      if (!derived(a)) one(a);
    for (attr_view& a : v.nested) one(a);
    if (!v.status_message.empty()) scan(v.status_message);
    if (v.name_runtime) scan(v.name);
    for (event_view& e : v.events) scan(e.name);  // literals, so the clean-value table answers
  } catch (...) {  // out of memory: nothing unscanned may leave; the span goes out without strings
    red_targets_.resize(first_target);
    for (attr_view& a : v.attrs)
      if (a.type == value::type::string && !derived(a)) a.s = "[REDACTION_FAILED]";
    for (attr_view& a : v.nested)
      if (a.type == value::type::string) a.s = "[REDACTION_FAILED]";
    v.status_message = {};
  }
}

// One scan over every gathered string; the results replace them where something was found.
void engine::apply_redaction() noexcept {
  const std::size_t n = red_targets_.size();
  if (n == 0 || !red_) return;
  try {
    red_in_.resize(n);
    red_results_.resize(n);
    for (std::size_t i = 0; i < n; ++i) red_in_[i] = *red_targets_[i];
    // The redacted texts stay in the redactor's buffer until its next scan, after these views
    // have been exported.
    red_outs_.resize(n);
    red_->scan_many(red_in_.data(), n, red_outs_.data(), red_results_.data());
    for (std::size_t i = 0; i < n; ++i) {
      switch (red_results_[i]) {
        case redactor::result::clean: red_->remember_clean(red_in_[i]); break;
        case redactor::result::redacted: *red_targets_[i] = red_outs_[i]; break;
        case redactor::result::failed: *red_targets_[i] = "[REDACTION_FAILED]"; break;
      }
    }
  } catch (...) {  // out of memory: nothing unscanned may leave
    for (std::string_view* t : red_targets_) *t = "[REDACTION_FAILED]";
  }
}

// One span record: joins its fragments if it has any; parks it when some are not here yet
// (they are in another thread's ring that this pass has not reached).
void engine::deliver(const unsigned char* rec, std::size_t size, bool allow_park, bool in_ring) noexcept {
  span_data hd;
  std::memcpy(&hd, rec + sizeof(record_header), sizeof hd);
  bool ok;
  if (hd.frag_count == 0) {
    if (hd.span_flags & (span_flag_skeleton | span_flag_provisional)) return hold_for_tail(rec, size, nullptr);
    ok = decode(rec, size, nullptr);
  } else {
    const std::uint64_t key = id_u64(hd.span_id);
    auto it = fragments.find(key);
    std::size_t have = it == fragments.end() ? 0 : it->second.size();
    // Fragments read from this ring in this pass (in place, not copied): they usually just
    // precede the record, so the search runs from the newest.
    std::size_t in_chunk = 0;
    for (std::size_t i = chunk_frags_.size(); i-- > 0 && have + in_chunk < hd.frag_count;)
      if (!chunk_frags_[i].used && chunk_frags_[i].id == key) ++in_chunk;
    have += in_chunk;
    if (have < hd.frag_count && allow_park) {
      try {
        parked_spans.push_back({std::string(reinterpret_cast<const char*>(rec), size), 0});
        return;
      } catch (...) {
      }
    }
    scratch.clear();
    try {
      frag_refs_.clear();
      if (it != fragments.end())
        for (const fragment& f : it->second) frag_refs_.push_back({f.seq, f.bytes.data(), f.bytes.size()});
      for (std::size_t i = chunk_frags_.size(), found = 0; i-- > 0 && found < in_chunk;) {
        chunk_fragment& f = chunk_frags_[i];
        if (f.used || f.id != key) continue;
        f.used = true;
        ++found;
        frag_refs_.push_back({f.seq, f.p, f.len});
      }
      while (!chunk_frags_.empty() && chunk_frags_.back().used) chunk_frags_.pop_back();
      std::sort(frag_refs_.begin(), frag_refs_.end(), [](const frag_ref& a, const frag_ref& b) { return a.seq < b.seq; });
      for (const frag_ref& f : frag_refs_) scratch.append(f.p, f.len);
    } catch (...) {  // out of memory: the span goes out with what was joined
      have = 0;
    }
    if (have < hd.frag_count || (hd.span_flags & span_flag_fragment_lost))
      fragments_lost.store(fragments_lost.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (hd.span_flags & (span_flag_skeleton | span_flag_provisional)) {
      hold_for_tail(rec, size, &scratch);
      if (it != fragments.end()) fragments.erase(it);
      return;
    }
    ok = decode(rec, size, &scratch);
    if (it != fragments.end()) fragments.erase(it);
  }
  if (ok) {
    // Held for a batched scan only when the record stays where it is until the batch is flushed
    // (in the ring, before its release; a parked copy is freed first). Joined fragments: in `scratch`.
    export_view(in_ring, hd.frag_count == 0 ? nullptr : &scratch);
  } else {
    // Counted as an export failure of every exporter so the accounting stays exact.
    decoded.store(decoded.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (exporters.empty())
      no_exporter.store(no_exporter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    for (auto& e : exporters) exporter_counters::bump(e->counters.failed);
  }
}

// Fragments of spans whose records were not in this ring's part just read (a span still open,
// or ended on another thread): copied, since the ring's space is about to be released.
void engine::keep_chunk_fragments() noexcept {
  for (const chunk_fragment& f : chunk_frags_) {
    if (f.used) continue;
    try {
      fragments[f.id].push_back({f.seq, std::string(f.p, f.len)});
    } catch (...) {
    }
  }
  chunk_frags_.clear();
}

const std::string& engine::reason_text(std::uint8_t r) const noexcept {
  return r < reason_names.size() ? reason_names[r] : reason_names[reason_rate];
}

// A record the tail table holds until its trace is decided: a skeleton (a trace the rate
// dropped) or a provisional span (sampling rules exist), with its joined fragments.
void engine::hold_for_tail(const unsigned char* rec, std::size_t size, const std::string* joined) noexcept {
  span_data hd;
  std::memcpy(&hd, rec + sizeof(record_header), sizeof hd);
  if (!tail) {  // begun under an earlier engine that held traces: nothing to hold it in
    tail_discarded.store(tail_discarded.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return;
  }
  const bool root = hd.parent_remote != 1;  // no parent, or a remote one: the local root
  const std::uint64_t start = clock.to_ns(hd.start), end = clock.to_ns(hd.end);
  if (!tail->add(hd.trace_id, rec, size, joined != nullptr ? std::string_view(*joined) : std::string_view(), root,
                 hd.status == 2, end > start ? end - start : 0, pass_now_, passes.load(std::memory_order_relaxed)))
    tail_evicted.store(tail_evicted.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);  // out of memory: lost, counted
}

namespace {
// An attribute's value as text, for rules: strings as they are, numbers as written.
bool attribute_text(const void* ctx, std::string_view key, std::string& text) {
  const auto& attrs = *static_cast<const view_list<attr_view>*>(ctx);
  for (const attr_view& a : attrs) {
    if (a.key != key) continue;
    char buf[32];
    switch (a.type) {
      case value::type::boolean: text = a.b ? "true" : "false"; break;
      case value::type::int64: text = std::to_string(a.i); break;
      case value::type::float64: {
        const auto r = std::to_chars(buf, buf + sizeof buf, a.d);
        text.assign(buf, r.ptr);
        break;
      }
      case value::type::string: text.assign(a.s); break;
    }
    return true;
  }
  return false;
}
}  // namespace

// Errors first, then slow roots, then (for a provisional trace) the first matching rule's rate,
// then the sampler's rate; R is the one the edge used.
tail_decision engine::judge(const tail_trace& t) noexcept {
  tail_decision d;
  if (t.error && cfg.always_keep_errors && keep_tail) {
    d.verdict = tail_verdict::keep;
    d.reason = reason_error;
    return d;
  }
  if (t.slow && cfg.always_keep_slow && keep_tail) {
    d.verdict = tail_verdict::keep;
    d.reason = reason_slow;
    return d;
  }
  const std::string_view first = t.records->front().record;
  span_data hd;
  std::memcpy(&hd, first.data() + sizeof(record_header), sizeof hd);
  const tail_verdict none = t.evicting && !t.root_seen ? tail_verdict::evicted : tail_verdict::discard;
  if (!(hd.span_flags & span_flag_provisional)) {
    d.verdict = none;
    return d;
  }
  std::uint64_t r = (hd.span_flags & span_flag_ts_rv) ? randomness_from_host_id(hd.trace_id) : randomness_from_id(hd.trace_id);
  ot_facts facts;
  if (hd.ts_handle != 0 && ts_store().facts(hd.ts_handle, facts) && facts.has_rv) r = facts.rv;
  rule_subject subject;
  subject.error = t.error;
  if (t.root_seen) {
    for (const tail_records::entry e : *t.records) {
      const std::string_view rec = e.record;
      span_data rh;
      std::memcpy(&rh, rec.data() + sizeof(record_header), sizeof rh);
      if (rh.parent_remote == 1) continue;
      try {
        settle_joined_.assign(e.joined);
      } catch (...) {
        break;
      }
      const bool has_joined = !settle_joined_.empty();
      if (!decode(reinterpret_cast<const unsigned char*>(rec.data()), rec.size(), has_joined ? &settle_joined_ : nullptr)) break;
      // safety: the rules see redacted values, as the seeds' "redact, then sample" means;
      // efficiency: they see the values as recorded (only what is exported is redacted).
      if (cfg.order == processor_order::safety) redact_view(view);
      subject.root_seen = true;
      subject.root_name = view.name;
      subject.root_duration_ns = view.end_ns - view.start_ns;
      subject.attribute = &attribute_text;
      subject.ctx = &view.attrs;
      break;
    }
  }
  for (std::size_t i = 0; i < rule_threshold.size(); ++i) {
    bool match = false;
    try {
      match = rule_matches(cfg.sampling_rules[i], subject);
    } catch (...) {
    }
    if (!match) continue;
    d.has_th = true;
    d.th = rule_threshold[i];
    d.reason = static_cast<std::uint8_t>(reason_rule + i);
    d.verdict = keep(r, d.th) ? tail_verdict::keep : tail_verdict::discard;
    return d;
  }
  if (keep(r, default_threshold)) {
    d.verdict = tail_verdict::keep;
    d.reason = reason_rate;
    d.has_th = true;
    d.th = default_threshold;
    return d;
  }
  d.verdict = none;
  return d;
}

void engine::settle(const tail_decision& d, const tail_records& records) noexcept {
  if (d.verdict != tail_verdict::keep) {
    auto& counter = d.verdict == tail_verdict::discard ? tail_discarded : tail_evicted;
    counter.store(counter.load(std::memory_order_relaxed) + records.count(), std::memory_order_relaxed);
    return;
  }
  if (d.has_th) {  // a probability decision: th is the threshold that decided
    char th[14];
    th_now_ = d.th;
    ot_th_now_.assign("ot=th:").append(th, w3c::format_th(d.th, th));
  }
  for (const tail_records::entry e : records) {
    const std::string_view rec = e.record;
    try {
      settle_rec_.assign(rec);
      settle_joined_.assign(e.joined);
    } catch (...) {
      tail_evicted.store(tail_evicted.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      continue;
    }
    // The local root says why; a trace kept for its error or slowness carries no th.
    char* hdr = settle_rec_.data() + sizeof(record_header);
    hdr[offsetof(span_data, sample_reason)] = static_cast<char>(d.reason);
    if (!d.has_th)
      hdr[offsetof(span_data, span_flags)] = static_cast<char>(hdr[offsetof(span_data, span_flags)] &
                                                               ~(span_flag_ts_th | span_flag_ts_keep_th));
    tail_kept.store(tail_kept.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    const bool has_joined = !settle_joined_.empty();
    if (decode(reinterpret_cast<const unsigned char*>(settle_rec_.data()), settle_rec_.size(), has_joined ? &settle_joined_ : nullptr)) {
      export_view();
    } else {
      decoded.store(decoded.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      if (exporters.empty()) no_exporter.store(no_exporter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      for (auto& x : exporters) exporter_counters::bump(x->counters.failed);
    }
  }
  th_now_ = default_threshold;
  ot_th_now_ = ot_th;
}

// A ring found over a quarter full at the start of a pass, or one that dropped records since the
// drain last looked, is being outrun by its thread between passes: it gets a buffer 4x larger (at
// most ring_max_bytes). The drain asks the mapper for it (ring/ring_mapper.h: its pages mapped on
// the mapper's thread, so the producer never takes a page fault on it and the drain goes on reading
// every other ring) and offers it once mapped (in the same pass when the mapper's spare is that
// size); the producer moves over on its next record past half full (ring/spsc_ring.h). A mapping
// that fails only means no growth this time.
//
// A ring that dropped, or was found more than half full (it rang the doorbell within one
// interval), is outrun by more than one step can answer: its goal is 16x. The first step is the
// mapper's spare (ring/ring_mapper.h), offered in the pass that decides it; the second is asked for
// as soon as the first is offered, so it is mapped while the producer fills the first. Decided only
// on a later pass, after the first step had been followed and measured, the second buffer came a
// pass cycle later, and a drain delayed by a few milliseconds then (a 2-vCPU host also running the
// export, the sink and the mapper) let the 1 MiB ring overflow in the export bench's first rounds.
// The rules below were set for passes an interval apart; the drain sleeps longer while rings fill
// slowly (ring/drain_pacing.h). `fill` is what this pass found; `rate_fill` the same rate over one
// interval (fill itself when the pass came within an interval), so a slow ring read every 50 ms
// still looks slow. A ring found half full is pressed whatever the rate, and aims at 16x as it
// always did (a burst after a long quiet spell is no slow ring).
void engine::maybe_grow(thread_state* ts, std::uint64_t fill) noexcept {
  const std::uint64_t full = ts->ring_full.load(std::memory_order_relaxed) + ts->fragments_lost.load(std::memory_order_relaxed);
  const bool dropped = full != ts->full_seen;
  ts->full_seen = full;
  if (!growth_on_) return;
  const std::size_t cap = ts->ring.capacity();
  const std::uint64_t interval_ns = std::uint64_t{cfg.drain_interval_ms} * 1000000u;
  const std::uint64_t rate_fill = pass_elapsed_ns_ > interval_ns
                                      ? static_cast<std::uint64_t>(double(fill) * double(interval_ns) / double(pass_elapsed_ns_))
                                      : fill;
  const bool pressed = dropped || rate_fill > cap / 4 || fill > cap / 2;
  if (ts->growth_asked != 0) {  // asked on an earlier pass; not offered yet
    if (ts->shrinking && pressed) {  // a smaller buffer is no longer wanted: growth may start next pass
      mapper.abandon(ts->growth_asked);
      ts->growth_asked = 0;
      ts->growth_goal = 0;
      ts->shrinking = false;
      ts->quiet_since_ns = 0;
      return;
    }
    offer_asked(ts);
    return;
  }
  // While an offer is out or not yet followed, `fill` may span two buffers: no decision.
  if (!ts->ring.can_offer()) {
    if (ts->shrinking) watch_shrink_offer(ts, pressed);
    return;
  }
  // A step toward the goal that the mapper could not take when it was due (ask() never waits
  // for its lock): asked again, whether or not this pass finds the ring pressed. The ring just
  // moved to the first step is rarely a quarter full, so that rule alone would lose the second.
  if (ts->growth_goal > cap && !ts->shrinking) {
    ask_growth(ts, std::min(ts->growth_goal, cap * 4));
    if (ts->growth_asked != 0) offer_asked(ts);
    return;
  }
  if (cap >= ring_max_bytes || !pressed) {
    maybe_shrink(ts, rate_fill, pressed);
    return;
  }
  ts->quiet_since_ns = 0;
  ts->growth_goal = std::min(ring_max_bytes, (dropped || fill > cap / 2) ? cap * 16 : cap * 4);
  // A goal of the largest ring: the standby is that buffer, mapped and waiting. Offered now, it
  // takes the ring there in one step (the mapper maps the next standby meanwhile).
  if (ts->growth_goal == standby_bytes_ && offer_standby(ts)) return;
  ask_growth(ts, std::min(ts->growth_goal, cap * 4));
  if (ts->growth_asked != 0) offer_asked(ts);  // the mapper's spare, if that is the size asked and it is ready
}

// A grown ring that a whole window of passes (TRACECRAFT_RING_SHRINK_AFTER_MS) found at most 1/32
// full (`fill` is maybe_grow's rate_fill, scaled to one interval) is offered a buffer 4x smaller
// (at least TRACECRAFT_RING_KB), asked of the mapper like a growth step. It would then be at most
// 1/8 full at the same peak, so the quarter-full rule above would need twice that load to grow it
// back: no back and forth. The thread moves over on its slow path, which it reaches at least once
// per half buffer written; so the offer waits until the window has seen that much written, and a
// thread writing less keeps its ring (as does a thread that has stopped writing: it cannot move
// until it writes again).
void engine::maybe_shrink(thread_state* ts, std::uint64_t fill, bool pressed) noexcept {
  const std::size_t cap = ts->ring.capacity();
  if (shrink_after_ns_ == 0 || cap <= ring_bytes || pressed) {
    ts->quiet_since_ns = 0;
    return;
  }
  const std::uint64_t at = ts->ring.read_pos();
  if (ts->quiet_since_ns == 0) {
    ts->quiet_since_ns = pass_now_;
    ts->quiet_from = at;
    ts->quiet_peak = fill;
    return;
  }
  ts->quiet_peak = std::max(ts->quiet_peak, fill);
  if (pass_now_ - ts->quiet_since_ns < shrink_after_ns_ || at - ts->quiet_from < cap / 2) return;
  const std::size_t target = std::max(ring_bytes, cap / 4);
  const bool quiet = ts->quiet_peak <= target / 8;
  ts->quiet_since_ns = 0;  // a new window either way
  if (!quiet) return;
  ts->shrinking = true;
  ts->growth_goal = target;
  ask_growth(ts, target);
  if (ts->growth_asked != 0) offer_asked(ts);
  if (ts->growth_asked == 0 && ts->ring.can_offer()) ts->shrinking = false;  // the mapper was busy: a later window
}

// A smaller buffer on offer that the thread has not moved to: withdrawn when the ring is pressed
// again (growth then starts from the buffer in use), or when no record arrived for a whole window
// (a thread that stopped writing would hold both buffers).
void engine::watch_shrink_offer(thread_state* ts, bool pressed) noexcept {
  const std::uint64_t at = ts->ring.read_pos();
  if (at != ts->offer_seen_pos) {
    ts->offer_seen_pos = at;
    ts->offer_seen_ns = pass_now_;
  }
  if (!pressed && pass_now_ - ts->offer_seen_ns < shrink_after_ns_) return;
  if (!ts->ring.withdraw()) return;  // the thread has moved: the pass that reaches the switch follows it
  ts->next_storage.reset();
  ts->shrinking = false;
  ts->quiet_since_ns = 0;
  ts->bytes.store(ts->ring.capacity(), std::memory_order_relaxed);
}

// The buffer asked for, if the mapper has one ready and the ring can take an offer now; then the
// next step toward the goal is asked for at once.
void engine::offer_asked(thread_state* ts) noexcept {
  // A second step waits until the producer has moved to the first (one offer out at a time).
  if (!ts->ring.can_offer()) return;
  ring_memory buf;
  const ring_mapper::state st = mapper.take(ts->growth_asked, buf);
  if (st == ring_mapper::state::pending) return;
  ts->growth_asked = 0;
  if (st != ring_mapper::state::ready) {
    ts->growth_goal = 0;
    ts->shrinking = false;
    return;
  }
  const std::size_t offered = buf.size();
  offer_buffer(ts, std::move(buf));
  if (ts->growth_goal > offered) ask_growth(ts, std::min(ts->growth_goal, offered * 4));
}

// Asks the mapper for the next buffer of a growing ring; maps it here if the mapper cannot run.
void engine::ask_growth(thread_state* ts, std::size_t next) noexcept {
  const ring_mapper::asked a = mapper.ask(next);
  if (a == ring_mapper::asked::queued) ts->growth_asked = next;
  // Busy: the next pass asks again. No mapper thread: mapped here, and only when it can be
  // offered now (a second step waits for the pass that finds the first one followed).
  if (a != ring_mapper::asked::unavailable || !ts->ring.can_offer()) return;
  ring_memory buf = ring_memory::allocate(next);
  if (buf) offer_buffer(ts, std::move(buf));
}

void engine::offer_buffer(thread_state* ts, ring_memory buf) noexcept {
  const std::size_t next = buf.size();
  // Refused only when the producer has just claimed the slot to move to the standby: the buffer
  // is freed here, and the pass that follows that move resets the growth.
  if (!ts->ring.offer(buf.get(), next)) return;
  ts->next_storage = std::move(buf);
  ts->bytes.store(ts->ring.capacity() + next, std::memory_order_relaxed);
  ts->offer_seen_ns = pass_now_;
  ts->offer_seen_pos = ts->ring.read_pos();
  if (next > ts->ring.capacity()) rings_grown.store(rings_grown.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

bool engine::drain_pass(bool final_pass) noexcept {
  const std::uint64_t prev_pass = pass_now_;
  pass_now_ = clock.to_ns(ticks());  // one clock read per pass: batch deadlines need no more
  pass_elapsed_ns_ = prev_pass != 0 && pass_now_ > prev_pass ? pass_now_ - prev_pass : 0;
  thread_state* fresh[64];
  std::size_t n;
  while ((n = new_rings.try_dequeue_bulk(fresh, 64)) > 0) {
    std::lock_guard<std::mutex> lk(registry_mu);
    for (std::size_t i = 0; i < n; ++i) rings.push_back(fresh[i]);
  }
  bool any = false;
  std::uint64_t paced = ~std::uint64_t{0};
  const double rate_keep = fill_rate_meter::keep_for(pass_elapsed_ns_);
  for (std::size_t i = 0; i < rings.size();) {
    thread_state* ts = rings[i];
    // Read `closed` before the write index: if the thread had exited by then, everything it
    // wrote is visible below and the ring can be reclaimed after this pass.
    const bool closed = ts->closed.load(std::memory_order_acquire);
    spsc_ring& ring = ts->ring;
    std::uint64_t r = ring.read_pos();
    const std::uint64_t w = ring.readable();
    // Read after `w`: a switch at or before w is visible (the producer published it first).
    const std::uint64_t sw = ring.switch_pos();
    const std::uint64_t fill = w - r;
    const std::uint64_t read_cap = ring.capacity();  // the buffer `fill` was written into (before a switch below)
    while (r < w || r == sw) {
      if (r == sw) {  // the producer moved to the offered buffer (or the standby) here
        ts->retired_storage = std::move(ts->storage);
        const standby_buffer* sb = ring.standby_taken();
        if (sb != nullptr && sb->buf == standby_mem_.get()) {
          ts->storage = std::move(standby_mem_);
          followed_standby(ts);
        } else {
          ts->storage = std::move(ts->next_storage);
        }
        ring.follow_switch();
        ts->bytes.store(ts->storage.size() + ts->retired_storage.size(), std::memory_order_relaxed);
        if (ts->shrinking) {
          ts->shrinking = false;
          rings_shrunk.store(rings_shrunk.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        }
        if (r == w) break;
      }
      const unsigned char* rec = ring.at(r);
      record_header h;
      std::memcpy(&h, rec, sizeof h);
      if (h.size < sizeof h || h.size > ring.capacity() || (h.size & 7) != 0) {  // impossible: skip the rest
        diag(log_level::error, "internal: malformed ring record (size %u); ring contents skipped", h.size);
        if (sw != spsc_ring::no_switch && sw > r && sw <= w) {  // the rest of the old buffer only
          r = sw;
          continue;
        }
        r = w;
        break;
      }
      if (h.type == record_span) {
        deliver(rec, h.size, !final_pass, true);
      } else if (h.type == record_fragment && h.size >= sizeof h + sizeof(fragment_header)) {
        fragment_header fh;
        std::memcpy(&fh, rec + sizeof h, sizeof fh);
        if (sizeof h + sizeof fh + fh.len <= h.size) {
          try {
            chunk_frags_.push_back({id_u64(fh.span_id), reinterpret_cast<const char*>(rec + sizeof h + sizeof fh), fh.len, fh.seq, false});
          } catch (...) {
          }
        }
      }
      r += h.size;
    }
    flush_batch();  // held spans point into the ring
    keep_chunk_fragments();
    if (ts->retired_storage) {  // nothing points into the buffer left behind any more
      ts->retired_storage.reset();
      ts->bytes.store(ring.capacity(), std::memory_order_relaxed);
    }
    if (r != ring.read_pos()) {
      ring.release(r);
      any = true;
    }
    // After the release: the thread writes into an emptied ring while the new buffer is mapped.
    if (!closed) {
      maybe_grow(ts, fill);
      // The ring's rate over the last passes, empty ones included (a burst counts over the time
      // it took to come; fill_rate_meter), and the pace it allows: by the smaller buffer when a
      // smaller one is on offer, since the thread may move to it before the next pass (then found
      // half full, it would grow straight back).
      ts->fill_rate.add(fill, pass_elapsed_ns_, rate_keep, read_cap);
      std::size_t cap = ring.capacity();
      if (ts->next_storage && ts->next_storage.size() < cap) cap = ts->next_storage.size();
      paced = std::min(paced, drain_pacing::ring_paced_ms(ts->fill_rate.rate(), cap));
    }
    if (closed) {
      fold_and_release(ts);  // erases rings[i]
      continue;
    }
    ++i;
  }
  // Parked spans: their fragments arrived in this pass (or never will).
  if (!parked_spans.empty()) {
    std::vector<parked> still;
    for (auto& pk : parked_spans) {
      span_data hd;
      std::memcpy(&hd, pk.record.data() + sizeof(record_header), sizeof hd);
      auto it = fragments.find(id_u64(hd.span_id));
      const std::size_t have = it == fragments.end() ? 0 : it->second.size();
      if (have >= hd.frag_count || final_pass || ++pk.passes >= 3) {
        deliver(reinterpret_cast<const unsigned char*>(pk.record.data()), pk.record.size(), false, false);
      } else {
        still.push_back(std::move(pk));
      }
    }
    flush_batch();  // before the parked copies are freed (none is held: kept for safety)
    parked_spans.swap(still);
  }
  // Fragments of spans that never ended (a leaked span): bounded memory.
  if (fragments.size() > 65536) {
    fragments_lost.store(fragments_lost.load(std::memory_order_relaxed) + fragments.size(), std::memory_order_relaxed);
    fragments.clear();
  }
  const std::uint64_t now = clock.to_ns(ticks());
  if (tail) {
    try {
      tail->decide(now, passes.load(std::memory_order_relaxed), final_pass && tail_all_);
    } catch (...) {
    }
    tail_pending.store(tail->pending_traces(), std::memory_order_relaxed);
  }
  for (auto& e : exporters) e->tick(now);
  if (red_) {  // published once per pass for stats() (the redactor's own counters are drain-only)
    const auto& rs = red_->stats();
    red_values_.store(rs.values, std::memory_order_relaxed);
    red_bytes_.store(rs.bytes, std::memory_order_relaxed);
    red_failures_.store(rs.failures, std::memory_order_relaxed);
    for (std::size_t i = 0; i < rs.matches.size() && i < 48; ++i) red_matches_[i].store(rs.matches[i], std::memory_order_relaxed);
  }
  refill_standby();
  // How long the records this pass found could have waited since the pass before it: a drain
  // thread kept off its CPU (a loaded or stolen host, an exporter blocked in write()) shows here.
  if (any && pass_elapsed_ns_ > longest_gap_ns.load(std::memory_order_relaxed))
    longest_gap_ns.store(pass_elapsed_ns_, std::memory_order_relaxed);
  paced_ms_ = paced != ~std::uint64_t{0} ? paced : 0;
  passes.store(passes.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return any;
}

void engine::drain_main() noexcept {
  pthread_setname_np(pthread_self(), "tc-drain");
  cpu_set_t set;
  CPU_ZERO(&set);
  if (cfg.drain_cpu >= 0) {
    CPU_SET(cfg.drain_cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
      diag(log_level::warn, "TRACECRAFT_DRAIN_CPU=%d: pinning failed; the drain thread is not pinned", cfg.drain_cpu);
  } else {
    // Not pinned: do not inherit the mask of the thread that called init() (often a request
    // thread the host pinned to its own core). The kernel intersects this with the cpuset.
    for (int c = 0; c < CPU_SETSIZE; ++c) CPU_SET(c, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }
  for (auto& e : exporters) e->start();
  // Rings may grow: the mapper's thread now, not at the first growth, which its creation delayed.
  if (ring_max_bytes > ring_bytes) mapper.start(spare_bytes_);
  using namespace std::chrono;
  auto next_refine = steady_clock::now() + seconds(1);
  auto refine_every = seconds(1);
  std::uint32_t sleep_ms = cfg.drain_interval_ms;
  auto last_busy = steady_clock::now();
  for (;;) {
    const std::uint32_t rung = bell.seen();  // a ring from here on cuts the next sleep short
    const bool any = drain_pass(false);
    const auto now = steady_clock::now();
    if (any) last_busy = now;
    if (now >= next_refine) {
      refine_clock(clock);
      if (refine_every < seconds(60)) refine_every *= 2;
      next_refine = steady_clock::now() + refine_every;
    }
    std::unique_lock<std::mutex> lk(mu);
    if (abandoned) break;
    if (flush_requested > flush_completed) {
      const std::uint64_t req = flush_requested;
      const auto until = flush_until;
      lk.unlock();
      drain_pass(false);
      drain_pass(true);  // parked spans go out now, with whatever fragments exist
      bool ok = true;
      for (auto& e : exporters) ok = e->flush(until, false) && ok;
      lk.lock();
      flush_completed = req;
      last_flush_ok = ok;
      done.notify_all();
      continue;
    }
    if (stop) break;
    // Sleep between passes (ring/drain_pacing.h): at least the interval while records flow or
    // lately did, longer while the rings fill slowly; backing off to 50 ms after a second with none.
    const auto idle_for = static_cast<std::uint64_t>(duration_cast<milliseconds>(now - last_busy).count());
    // The pace at most a quarter of OTEL_BSP_SCHEDULE_DELAY: a partial batch is not held much past it.
    sleep_ms = drain_pacing::sleep_ms(any, idle_for, sleep_ms, cfg.drain_interval_ms,
                                      std::min<std::uint64_t>(paced_ms_, cfg.schedule_delay_ms / 4));
    lk.unlock();
    if (bell.wait(rung, milliseconds(sleep_ms))) bell_wakes.store(bell_wakes.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // The last passes grow nothing; the mapper's thread ends (after the mapping in hand, if any).
  growth_on_ = false;
  mapper.stop(true);
  {
    std::unique_lock<std::mutex> lk(mu);
    if (!abandoned) {
      const auto until = final_until;
      lk.unlock();
      tail_all_ = true;  // shutdown: every pending skeleton trace is decided with what it has
      drain_pass(false);
      drain_pass(true);
      bool ok = true;
      for (auto& e : exporters) ok = e->flush(until, true) && ok;
      lk.lock();
      last_flush_ok = ok;
    }
    // The standby, unless a thread has taken it since the last pass (it then stays its ring).
    if (standby_slot_.exchange(nullptr, std::memory_order_acq_rel) != nullptr) {
      standby_mem_.reset();
      standby_held_.store(0, std::memory_order_relaxed);
    }
    flush_completed = flush_requested;
    drain_alive.store(false, std::memory_order_release);
    done.notify_all();
  }
}

void engine::release_resources() noexcept {
  // Exporter counters feed stats() after shutdown: keep them, drop everything else.
  std::lock_guard<std::mutex> lk(registry_mu);  // snapshot() reads `exporters` under it
  for (std::size_t i = 0; i < exporters.size() && i < 4; ++i) {
    exporters[i]->counters.read(final_exporters[i]);
    std::strncpy(final_exporters[i].name, exporters[i]->name(), sizeof final_exporters[i].name - 1);
  }
  final_exporter_count = static_cast<std::uint32_t>(std::min<std::size_t>(exporters.size(), 4));
  exporters_released = true;
  exporters.clear();
  std::string().swap(scratch);
  decltype(fragments)().swap(fragments);
  decltype(parked_spans)().swap(parked_spans);
  view.attrs.release();
  view.nested.release();
  view.events.release();
  view.links.release();
}

void engine::read_exporter_stats(stats_snapshot& s) noexcept {
  if (exporters_released) {
    s.exporter_count = final_exporter_count;
    for (std::uint32_t i = 0; i < s.exporter_count; ++i) s.exporters[i] = final_exporters[i];
  } else {
    s.exporter_count = static_cast<std::uint32_t>(std::min<std::size_t>(exporters.size(), 4));
    for (std::uint32_t i = 0; i < s.exporter_count; ++i) {
      exporter_stats& x = s.exporters[i];
      std::strncpy(x.name, exporters[i]->name(), sizeof x.name - 1);
      exporters[i]->counters.read(x);
    }
  }
}

stats_snapshot engine::snapshot() noexcept {
  stats_snapshot s;
  std::uint64_t written = 0, ring_full = 0, sampled = 0, frag_lost = 0;
  {
    std::lock_guard<std::mutex> lk(registry_mu);
    written = folded_written;
    ring_full = folded_ring_full;
    sampled = folded_sampled_out;
    frag_lost = folded_frag_lost;
    for (thread_state* ts : rings) {
      written += ts->written.load(std::memory_order_relaxed);
      ring_full += ts->ring_full.load(std::memory_order_relaxed);
      sampled += ts->sampled_out.load(std::memory_order_relaxed);
      frag_lost += ts->fragments_lost.load(std::memory_order_relaxed);
    }
    s.threads = static_cast<std::uint32_t>(rings.size());
    for (thread_state* ts : rings) s.ring_bytes += ts->bytes.load(std::memory_order_relaxed);
    s.ring_bytes += mapper.held_bytes() + standby_held_.load(std::memory_order_relaxed);
    s.standby_moves = standby_moves.load(std::memory_order_relaxed);
    s.rings_grown = rings_grown.load(std::memory_order_relaxed);
    s.rings_shrunk = rings_shrunk.load(std::memory_order_relaxed);
    read_exporter_stats(s);
  }
  s.spans_created = written + ring_full + sampled;
  const std::uint64_t discarded = tail_discarded.load(std::memory_order_relaxed);
  s.spans_sampled_out = sampled + discarded;
  s.dropped.tail_evicted = tail_evicted.load(std::memory_order_relaxed);
  s.tail_kept = tail_kept.load(std::memory_order_relaxed);
  s.tail_pending = tail_pending.load(std::memory_order_relaxed);
  s.dropped.ring_full = ring_full;
  s.dropped.no_exporter = no_exporter.load(std::memory_order_relaxed);
  s.dropped.shutdown_deadline = shutdown_dropped.load(std::memory_order_relaxed);
  if (s.exporter_count > 0) {
    const exporter_stats& x = s.exporters[0];
    s.spans_exported = x.spans_exported;
    s.dropped.export_failed = x.dropped.export_failed;
    s.dropped.queue_full = x.dropped.queue_full;
    s.dropped.rate_limited = x.dropped.rate_limited;
    s.dropped.rejected = x.dropped.rejected;
    s.dropped.retry_exhausted = x.dropped.retry_exhausted;
    s.dropped.too_large = x.dropped.too_large;
    s.dropped.shutdown_deadline += x.dropped.shutdown_deadline;
  }
  const std::uint64_t settled = s.spans_exported + s.dropped.total() - s.dropped.ring_full + discarded;
  s.spans_pending = written > settled ? written - settled : 0;
  s.traces_exported = traces.load(std::memory_order_relaxed);
  s.attributes_dropped = attrs_over_limit.load(std::memory_order_relaxed);
  s.fragments_lost = fragments_lost.load(std::memory_order_relaxed) + frag_lost;
  s.tracestate_lost = tracestate_lost.load(std::memory_order_relaxed);
  s.redaction.available = red_ != nullptr;
  s.redaction.payloads_dropped = payloads_dropped.load(std::memory_order_relaxed);
  if (red_) {
    s.redaction.values_scanned = red_values_.load(std::memory_order_relaxed);
    s.redaction.bytes_scanned = red_bytes_.load(std::memory_order_relaxed);
    s.redaction.failures = red_failures_.load(std::memory_order_relaxed);
    const auto& names = red_->names();  // fixed at construction
    s.redaction.pattern_count = static_cast<std::uint32_t>(std::min<std::size_t>(names.size(), 48));
    for (std::uint32_t i = 0; i < s.redaction.pattern_count; ++i) {
      std::strncpy(s.redaction.patterns[i].name, names[i].c_str(), sizeof s.redaction.patterns[i].name - 1);
      s.redaction.patterns[i].matches = red_matches_[i].load(std::memory_order_relaxed);
    }
  }
  s.drain_passes = passes.load(std::memory_order_relaxed);
  s.drain_early_wakes = bell_wakes.load(std::memory_order_relaxed);
  s.drain_longest_gap_us = longest_gap_ns.load(std::memory_order_relaxed) / 1000;
  s.running = running.load(std::memory_order_relaxed);
  s.drain_alive = drain_alive.load(std::memory_order_relaxed);
  return s;
}

}  // namespace tracecraft::detail

// ------------------------------------------------------------------------------------------
// Public lifecycle API
// ------------------------------------------------------------------------------------------
namespace tracecraft {

using detail::engine;
using detail::g_engine;

const char* status_message(status s) noexcept {
  switch (s) {
    case status::ok: return "ok";
    case status::disabled: return "disabled by OTEL_SDK_DISABLED";
    case status::already_running: return "already running";
    case status::thread_failed: return "the drain thread could not be started";
    case status::out_of_memory: return "out of memory";
  }
  return "unknown";
}

const char* version() noexcept { return TRACECRAFT_VERSION; }

namespace {

void fork_prepare() noexcept { detail::g_lifecycle_mu.lock(); }
void fork_parent() noexcept { detail::g_lifecycle_mu.unlock(); }

// The child has one thread (the forking one) and none of the parent's drain. It abandons the
// parent's engine without touching its locks (the drain may have held them), drops the fds the
// parent's exporters own, and starts a fresh engine whose drain starts on first use. Records
// still in the rings belong to the parent, which exports them; the child never sees them.
void fork_child() noexcept {
  detail::g_lifecycle_mu.unlock();
  engine* old = g_engine.load(std::memory_order_acquire);
  if (old == nullptr || !old->running.load(std::memory_order_relaxed)) return;
  for (auto& e : old->exporters) e->close_in_child();
  engine* e = nullptr;
  try {
    e = new engine(old->cfg, old->red_.get());
  } catch (...) {
    detail::g_hot.gen.store(0, std::memory_order_release);
    return;
  }
  old->retired_next = detail::g_retired;
  detail::g_retired = old;
  e->clock = old->clock;
  e->gen = detail::next_gen();
  e->running.store(true, std::memory_order_relaxed);
  g_engine.store(e, std::memory_order_release);
  detail::g_hot.gen.store(e->gen, std::memory_order_release);
}

void at_exit() noexcept { shutdown(std::chrono::milliseconds(1000)); }

void publish_hot_config(const config& c) noexcept {
  auto& h = detail::g_hot;
  auto clamp16 = [](std::uint32_t v) { return std::min<std::uint32_t>(v, 65535); };
  h.attr_limit.store(clamp16(c.attribute_count_limit), std::memory_order_relaxed);
  h.event_limit.store(clamp16(c.event_count_limit), std::memory_order_relaxed);
  h.link_limit.store(clamp16(c.link_count_limit), std::memory_order_relaxed);
  h.event_attr_limit.store(clamp16(c.event_attribute_count_limit), std::memory_order_relaxed);
  h.link_attr_limit.store(clamp16(c.link_attribute_count_limit), std::memory_order_relaxed);
  // The producer keeps up to 4 bytes per character; the drain truncates to exact characters.
  const std::uint64_t cap = c.attribute_value_length_limit == 0 ? 0xffffffffu : std::uint64_t{c.attribute_value_length_limit} * 4;
  h.value_cap.store(static_cast<std::uint32_t>(std::min<std::uint64_t>(cap, 0xffffffffu)), std::memory_order_relaxed);
  h.max_input.store(c.max_input_length, std::memory_order_relaxed);
  h.max_output.store(c.max_output_length, std::memory_order_relaxed);
  h.capture.store(c.capture_payloads, std::memory_order_relaxed);
}

}  // namespace

status init(const config& cfg) noexcept {
  std::lock_guard<std::mutex> lk(detail::g_lifecycle_mu);
  engine* cur = g_engine.load(std::memory_order_acquire);
  if (cur != nullptr && cur->running.load()) return status::already_running;
  detail::set_diag_level(cfg.diagnostics);
  if (cfg.disabled) {
    detail::g_hot.gen.store(0, std::memory_order_release);
    return status::disabled;
  }
  static const bool hooks = [] {
    pthread_atfork(&fork_prepare, &fork_parent, &fork_child);
    std::atexit(&at_exit);
    return true;
  }();
  (void)hooks;
  const detail::clock_calibration calib = detail::calibrate_clock();
  engine* e = nullptr;
  try {
    if (cfg.proxy) {
      e = new engine(cfg);
    } else {  // built by hand: the proxies come from the environment, as libcurl would take them
      config with_proxy = cfg;
      with_proxy.proxy = detail::proxy_from_environment();
      e = new engine(with_proxy);
    }
  } catch (...) {
    return status::out_of_memory;
  }
  if (cur != nullptr) {  // keep it reachable: threads may still hold its pointer
    cur->retired_next = detail::g_retired;
    detail::g_retired = cur;
  }
  e->clock = calib;
  e->gen = detail::next_gen();
  publish_hot_config(cfg);
  e->running.store(true, std::memory_order_relaxed);
  g_engine.store(e, std::memory_order_release);
  e->drain_started.store(true, std::memory_order_relaxed);
  e->prepare();
  if (!e->start_drain()) {
    e->running.store(false);
    return status::thread_failed;
  }
  // Last: a thread that sees this generation finds the engine above (release/acquire).
  detail::g_hot.gen.store(e->gen, std::memory_order_release);
  return status::ok;
}

namespace {
// A fork child's engine starts its drain on first use.
void ensure_drain(engine* e) noexcept {
  bool expected = false;
  if (e->drain_started.compare_exchange_strong(expected, true)) e->start_drain();
}
}  // namespace

namespace detail {
void ensure_drain_started(engine* e) noexcept { ensure_drain(e); }
}  // namespace detail

bool flush(std::chrono::milliseconds deadline) noexcept {
  engine* e = g_engine.load(std::memory_order_acquire);
  if (e == nullptr || !e->running.load()) return true;
  ensure_drain(e);
  const auto until = std::chrono::steady_clock::now() + deadline;
  std::unique_lock<std::mutex> lk(e->mu);
  const std::uint64_t mine = ++e->flush_requested;
  // Exporters that wait for the network give up a little before the caller does.
  const auto margin = std::min<std::chrono::steady_clock::duration>(deadline / 5, std::chrono::milliseconds(100));
  e->flush_until = std::max(e->flush_until, until - margin);
  e->bell.ring();
  return e->done.wait_until(lk, until, [&] {
    return e->flush_completed >= mine || !e->drain_alive.load(std::memory_order_acquire);
  }) && e->flush_completed >= mine && e->last_flush_ok;
}

bool shutdown(std::chrono::milliseconds deadline) noexcept {
  std::lock_guard<std::mutex> lifecycle(detail::g_lifecycle_mu);
  engine* e = g_engine.load(std::memory_order_acquire);
  if (e == nullptr || !e->running.load()) return true;
  ensure_drain(e);
  // Off first: spans ending from now on are not recorded; everything committed is drained.
  detail::g_hot.gen.store(0, std::memory_order_release);
  e->running.store(false);
  const auto until = std::chrono::steady_clock::now() + deadline;
  std::unique_lock<std::mutex> lk(e->mu);
  e->stop = true;
  // Exporters stop sending a little before the deadline, so the drain can finish on time.
  e->final_until = until - std::min<std::chrono::steady_clock::duration>(deadline / 5, std::chrono::milliseconds(100));
  e->bell.ring();
  const bool finished = e->done.wait_until(lk, until, [&] { return !e->drain_alive.load(std::memory_order_acquire); });
  if (!finished) {
    // Give up on time: whatever is still pending is counted, and the drain counts nothing more.
    e->abandoned = true;
    lk.unlock();
    const stats_snapshot s = e->snapshot();
    e->shutdown_dropped.store(s.spans_pending, std::memory_order_relaxed);
    e->thread.detach();
    detail::diag(log_level::warn, "shutdown deadline passed; %llu spans counted as dropped (shutdown_deadline)",
                 static_cast<unsigned long long>(s.spans_pending));
    return false;
  }
  const bool all_exported = e->last_flush_ok;
  lk.unlock();
  if (e->thread.joinable()) e->thread.join();
  // Release the engine's hold on every ring; rings of live threads stay with their thread.
  std::vector<detail::thread_state*> rings;
  {
    std::lock_guard<std::mutex> rlk(e->registry_mu);
    rings = e->rings;
  }
  detail::thread_state* fresh[64];
  std::size_t n;
  while ((n = e->new_rings.try_dequeue_bulk(fresh, 64)) > 0) {
    std::lock_guard<std::mutex> rlk(e->registry_mu);
    for (std::size_t i = 0; i < n; ++i) e->rings.push_back(fresh[i]), rings.push_back(fresh[i]);
  }
  for (detail::thread_state* ts : rings) e->fold_and_release(ts);
  e->release_resources();
  return all_exported;
}

stats_snapshot stats() noexcept {
  engine* e = g_engine.load(std::memory_order_acquire);
  return e == nullptr ? stats_snapshot{} : e->snapshot();
}

bool healthy() noexcept {
  engine* e = g_engine.load(std::memory_order_acquire);
  return e != nullptr && e->running.load() && (e->drain_alive.load() || !e->drain_started.load()) &&
         e->exporters_healthy();
}

}  // namespace tracecraft
