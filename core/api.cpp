// SPDX-License-Identifier: Apache-2.0
// core/api.cpp — the out-of-line half of the hot path: span begin/finish, spills, thread attach.
//
// Rules (HACKING.md): after a thread's first span nothing here allocates, locks, makes a system
// call or throws. The first span of a thread (attach) allocates its ring; that is the one slow path.
#include <sys/random.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <chrono>
#include <cstddef>
#include <cstring>

#include "core/clock.h"
#include "core/engine.h"
#include "ring/record.h"
#include "sampler/consistent.h"
#include "sampler/tracestate_store.h"
#include "tracecraft/trace.h"

namespace tracecraft::detail {

hot_config g_hot;
constinit thread_local tls_block t_tls TC_TLS_IE = {nullptr, {}, 0};

class span_base_access {
 public:
  static span_data& d(span_base& s) noexcept { return s.d_; }
  static unsigned char* var(span_base& s) noexcept { return s.var_; }
  static std::uint8_t& state(span_base& s) noexcept { return s.state_; }
  // Saves the thread's context in the span and installs the span's own (written field by field
  // here, where the ids are in registers: no store-forwarding stall in the inline caller).
  static void install(span_base& s) noexcept {
    std::memcpy(s.saved_, &t_tls.ctx, sizeof(span_context));
    span_context& c = t_tls.ctx;
    std::memcpy(c.trace_id, s.d_.trace_id, 16);
    // Span id, flags, remote and padding as ONE 16-byte store: the next span (and the restore)
    // read the context with 16-byte loads, which cannot be forwarded from several smaller stores.
    std::uint64_t id;
    std::memcpy(&id, s.d_.span_id, 8);
    const auto lo = static_cast<long long>(id);
    // flags, remote = false, ts (the trace-state bits the children inherit), reserved = 0
    // and the incoming tracestate's handle in the top four bytes.
    const auto hi = static_cast<long long>(std::uint64_t{s.d_.trace_flags} |
                                           std::uint64_t{static_cast<std::uint8_t>(s.d_.span_flags & span_flag_ts_mask)} << 16 |
                                           std::uint64_t{s.d_.ts_handle} << 32);
#if defined(__SSE2__)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(c.span_id), _mm_set_epi64x(hi, lo));
#else
    std::memcpy(c.span_id, &lo, 8);
    std::memcpy(c.span_id + 8, &hi, 8);
#endif
    s.installed_ = true;
  }
  static constexpr std::uint8_t off = span_base::state_off;
  static constexpr std::uint8_t unsampled_root = span_base::state_unsampled_root;
  static constexpr std::uint8_t recording = span_base::state_recording;
  static constexpr std::uint8_t skeleton = span_base::state_skeleton;
};
using A = span_base_access;

thread_state::thread_state(std::size_t ring_bytes) noexcept
    : storage(ring_memory::allocate(ring_bytes)), ring(storage.get(), ring_bytes), bytes(ring_bytes) {}
thread_state::~thread_state() = default;

// Every page of the ring is mapped now (ring/ring_memory.h): attach is the thread's one slow
// path, and a first write to a fresh page would be a page fault on the hot path otherwise.
thread_state* thread_state::create(std::size_t ring_bytes) noexcept {
  auto* ts = new (std::nothrow) thread_state(ring_bytes);
  if (ts != nullptr && !ts->storage) {
    delete ts;
    return nullptr;
  }
  return ts;
}

namespace {

// wyrand: one multiply-xorshift per 64 bits, state per thread (seeded from getrandom on attach,
// so a fork child never repeats its parent's ids).
inline std::uint64_t next_random() noexcept {
  std::uint64_t& s = t_tls.rng;
  s += 0xa0761d6478bd642full;
  const __uint128_t m = static_cast<__uint128_t>(s) * (s ^ 0xe7037ed1a0b428dbull);
  return static_cast<std::uint64_t>(m >> 64) ^ static_cast<std::uint64_t>(m);
}

inline void new_span_id(std::uint8_t out[8]) noexcept {
  std::uint64_t v;
  do v = next_random();
  while (v == 0);
  std::memcpy(out, &v, 8);
}

void seed_rng() noexcept {
  std::uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof seed)) {
    seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
           reinterpret_cast<std::uintptr_t>(&t_tls) * 0x9E3779B97F4A7C15ull;
  }
  t_tls.rng = seed;
}

thread_local bool t_exiting = false;

// Releases the thread's hold on its ring when the thread exits; the drain reclaims it after
// reading it to the end.
struct exit_guard {
  bool armed = false;
  ~exit_guard() {
    t_exiting = true;
    if (auto* ts = static_cast<thread_state*>(t_tls.state)) {
      t_tls.state = nullptr;
      ts->closed.store(true, std::memory_order_release);  // pairs with the drain's acquire
      ts->release();
    }
  }
};
thread_local exit_guard t_guard;

TC_NOINLINE_COLD thread_state* attach(std::uint32_t gen) noexcept;

thread_state* attach(std::uint32_t gen) noexcept {
  if (t_exiting) return nullptr;
  engine* e = g_engine.load(std::memory_order_acquire);
  if (e == nullptr || e->gen != gen || !e->running.load(std::memory_order_relaxed)) return nullptr;
  ensure_drain_started(e);
  thread_state* ts = thread_state::create(e->ring_bytes);
  if (ts == nullptr) return nullptr;
  ts->gen = gen;
  ts->ring.set_doorbell(&e->bell);
  if (e->standby_bytes_ != 0) ts->ring.set_standby(&e->standby_slot_);
  if (auto* old = static_cast<thread_state*>(t_tls.state)) {  // belonged to an earlier engine
    old->closed.store(true, std::memory_order_release);
    old->release();
  }
  t_tls.state = ts;
  seed_rng();
  t_guard.armed = true;  // constructs the guard: its destructor runs at thread exit
  e->register_ring(ts);
  return ts;
}

// Writes the span's inline items as one fragment record and empties the buffer.
void spill(span_base& s, thread_state* ts) noexcept {
  span_data& d = A::d(s);
  if (d.var_len == 0) return;
  const std::uint32_t n = round8(sizeof(record_header) + sizeof(fragment_header) + d.var_len);
  unsigned char* p = ts != nullptr ? ts->ring.try_reserve(n) : nullptr;
  if (p == nullptr) {
    if (ts != nullptr) thread_state::bump(ts->fragments_lost);
    d.span_flags |= span_flag_fragment_lost;
    d.var_len = 0;
    return;
  }
  const record_header h{n, record_fragment, {0, 0, 0}};
  fragment_header fh;
  std::memcpy(fh.span_id, d.span_id, 8);
  std::memcpy(fh.trace_id, d.trace_id, 16);
  fh.len = d.var_len;
  fh.seq = d.frag_count;
  fh.reserved = 0;
  std::memcpy(p, &h, sizeof h);
  std::memcpy(p + sizeof h, &fh, sizeof fh);
  std::memcpy(p + sizeof h + sizeof fh, A::var(s), d.var_len);
  ts->ring.commit(n);
  ++d.frag_count;
  d.var_len = 0;
}

inline void reset_record(span_data& d) noexcept {
  d.status = 0;
  d.span_flags = 0;
  d.frag_count = 0;
  d.n_attrs = d.n_events = d.n_links = 0;
  d.dropped_attrs = d.dropped_events = d.dropped_links = 0;
  d.var_len = 0;
}

}  // namespace

thread_state* ensure_state() noexcept {
  const std::uint32_t gen = g_hot.gen.load(std::memory_order_acquire);
  if (gen == 0) return nullptr;
  thread_hot* h = t_tls.state;
  if (TC_LIKELY(h != nullptr && h->gen == gen)) return static_cast<thread_state*>(h);
  return attach(gen);
}

namespace {

// A remote parent meets the sampler (standards §5): parent-based samplers follow its sampled
// flag; always_on / always_off ignore it; traceidratio decides from R (the incoming `rv`, else
// the trace id's low 56 bits). An incoming `th` travels on when it agrees with the decision.
// Returns the trace-state bits of a kept span, or -1 when the span is dropped.
int decide_remote(const engine* e, const span_context& parent, std::uint8_t& reason) noexcept {
  ot_facts f;
  const bool have = parent.ts_handle != 0 && ts_store().facts(parent.ts_handle, f);
  const std::uint64_t r = have && f.has_rv ? f.rv : randomness_from_id(parent.trace_id);
  bool kept = false;
  int bits = 0;
  switch (e->cfg.sampler) {
    case sampler_kind::parentbased_always_on:
    case sampler_kind::parentbased_always_off:
    case sampler_kind::parentbased_traceidratio:
      reason = reason_parent;
      kept = parent.sampled();
      break;
    case sampler_kind::always_on:
      reason = reason_rate;
      kept = true;
      break;
    case sampler_kind::always_off:
      break;
    case sampler_kind::traceidratio:
      reason = reason_rate;
      kept = keep(r, e->threshold);
      if (kept) bits = e->root_ts_bits;  // th, and provisional when sampling rules exist
      break;
  }
  if (!kept) return -1;
  if (bits == 0 && have && f.has_th && keep(r, f.th)) bits = span_flag_ts_keep_th;
  return bits;
}

}  // namespace

namespace {

// The common part of a recording (or skeleton) child: ids, flags, the record's counters, the
// start time. A skeleton (ts_bits has span_flag_skeleton) is not sampled as far as W3C goes.
TC_ALWAYS_INLINE void start_recording(span_base& s, const span_context& parent, std::uint8_t reason, int ts_bits,
                                      bool install) noexcept {
  span_data& d = A::d(s);
  const bool skeleton = (ts_bits & span_flag_skeleton) != 0;
  std::memcpy(d.trace_id, parent.trace_id, 16);
  new_span_id(d.span_id);
  std::memcpy(d.parent_id, parent.span_id, 8);
  d.parent_remote = parent.remote ? 2 : 1;
  d.trace_flags = static_cast<std::uint8_t>((parent.flags & flag_random) | (skeleton ? 0 : flag_sampled));
  d.sample_reason = reason;
  reset_record(d);
  d.span_flags = static_cast<std::uint8_t>(ts_bits);
  d.ts_handle = parent.ts_handle;
  d.start = ticks();
  A::state(s) = skeleton ? A::skeleton : A::recording;
  if (install) A::install(s);  // after reading `parent`, which may be the current context
}

// A child of a remote parent: the sampler decides (out of line, so the local child's path keeps
// its registers).
TC_NOINLINE_COLD void begin_remote_child(span_base& s, const span_context& parent, bool install, thread_state* ts) noexcept;
void begin_remote_child(span_base& s, const span_context& parent, bool install, thread_state* ts) noexcept {
  std::uint8_t reason = reason_none;
  const engine* e = g_engine.load(std::memory_order_relaxed);
  const int ts_bits = decide_remote(e, parent, reason);
  if (ts_bits < 0 && e->keep_tail && e->cfg.sampler == sampler_kind::traceidratio) {
    start_recording(s, parent, reason_none, span_flag_skeleton, install);  // our rate dropped it: keep the tail
    return;
  }
  if (ts_bits < 0) {  // dropped: a non-recording span with its own id, installed for its children
    span_data& d = A::d(s);
    std::memcpy(d.trace_id, parent.trace_id, 16);
    new_span_id(d.span_id);
    d.trace_flags = parent.flags & flag_random;
    d.span_flags = 0;  // th erased; the other entries travel on
    d.ts_handle = parent.ts_handle;
    thread_state::bump(ts->sampled_out);
    A::state(s) = A::unsampled_root;
    if (install) A::install(s);
    return;
  }
  start_recording(s, parent, reason, ts_bits, install);
}

}  // namespace

void begin_child(span_base& s, const span_context& parent, bool install) noexcept {
  thread_state* ts = ensure_state();
  if (TC_UNLIKELY(ts == nullptr)) return;  // stays off
  if (TC_UNLIKELY(parent.remote)) return begin_remote_child(s, parent, install, ts);
  start_recording(s, parent, reason_none, parent.ts & span_flag_ts_mask, install);
}

void begin_root(span_base& s, const trace_id* tid, bool install) noexcept {
  thread_state* ts = ensure_state();
  if (TC_UNLIKELY(ts == nullptr)) return;
  engine* e = g_engine.load(std::memory_order_relaxed);
  span_data& d = A::d(s);
  std::uint64_t r;
  std::uint8_t ts_bits = e->root_ts_bits;
  if (tid == nullptr) {
    const std::uint64_t hi = next_random(), lo = next_random();
    std::memcpy(d.trace_id, &hi, 8);
    std::memcpy(d.trace_id + 8, &lo, 8);
    d.trace_flags = flag_random;  // all 16 bytes come from the generator
    r = randomness_from_id(d.trace_id);
  } else {
    // Not known to be random: R is a hash, written as `rv` so that every later consistent
    // sampler of the trace uses the same R (standards §5).
    std::memcpy(d.trace_id, tid->bytes, 16);
    d.trace_flags = 0;
    r = randomness_from_host_id(d.trace_id);
    if (ts_bits != 0) ts_bits |= span_flag_ts_rv;
  }
  new_span_id(d.span_id);
  // Kept, or (the rate dropped it, keeping the tail) a skeleton: the same path, so a skeleton
  // costs what a sampled span costs. Otherwise unsampled: counted, installed for the children.
  const bool kept = keep(r, e->threshold);
  if (!kept && !e->keep_tail) {
    thread_state::bump(ts->sampled_out);
    d.span_flags = 0;  // a dropped trace carries no th (and the span record is never written)
    d.ts_handle = 0;
    A::state(s) = A::unsampled_root;
    if (install) A::install(s);
    return;
  }
  d.trace_flags = static_cast<std::uint8_t>(d.trace_flags | (kept ? flag_sampled : 0));
  std::memset(d.parent_id, 0, 8);
  d.parent_remote = 0;
  d.sample_reason = kept ? reason_rate : reason_none;
  reset_record(d);
  d.span_flags = kept ? ts_bits : span_flag_skeleton;
  d.ts_handle = 0;
  d.start = ticks();
  A::state(s) = kept ? A::recording : A::skeleton;
  if (install) A::install(s);
}

void count_sampled_out_slow() noexcept {
  if (thread_state* ts = ensure_state()) thread_state::bump(ts->sampled_out);
}

void finish(span_base& s) noexcept {
  if (g_hot.gen.load(std::memory_order_relaxed) == 0) return;  // engine off: not recorded
  thread_state* ts = ensure_state();
  if (TC_UNLIKELY(ts == nullptr)) return;
  const span_data& d = A::d(s);
  const std::uint64_t end = ticks();
  const std::uint32_t n = round8(sizeof(record_header) + sizeof(span_data) + d.var_len);
  unsigned char* p = ts->ring.try_reserve(n);
  if (TC_UNLIKELY(p == nullptr)) {
    thread_state::bump(ts->ring_full);
    return;
  }
  // Every load below matches the size and place of the store that wrote the field: a wider load
  // over narrower, recent stores cannot be forwarded and waits for them to retire (AMD counts
  // these as STLI; three per span here before, measured with perf). So: the header is built in
  // a register, `end` goes straight to the record, and the counters the setters have just
  // bumped one by one are read one by one and packed.
  static_assert(offsetof(span_data, end) == 40 && offsetof(span_data, name_len) == 56 && sizeof(span_data) == 88 &&
                offsetof(span_data, ts_handle) == 84);
  const std::uint64_t header = std::uint64_t{n} | (std::uint64_t{record_span} << 32);
  std::memcpy(p, &header, 8);
  unsigned char* q = p + sizeof(record_header);
  std::memcpy(q, &d, 40);  // ids and start: written by begin_*() with 8/16-byte stores
  std::memcpy(q + 40, &end, 8);
  std::memcpy(q + 48, &d.name, 8);
  const std::uint64_t w0 = std::uint64_t{d.name_len} | (std::uint64_t{d.kind} << 32) |
                           (std::uint64_t{d.trace_flags} << 40) | (std::uint64_t{d.parent_remote} << 48) |
                           (std::uint64_t{d.status} << 56);
  const std::uint64_t w1 = std::uint64_t{d.sample_reason} | (std::uint64_t{d.span_flags} << 8) |
                           (std::uint64_t{d.frag_count} << 16) | (std::uint64_t{d.n_attrs} << 32) |
                           (std::uint64_t{d.n_events} << 48);
  const std::uint64_t w2 = std::uint64_t{d.n_links} | (std::uint64_t{d.dropped_attrs} << 16) |
                           (std::uint64_t{d.dropped_events} << 32) | (std::uint64_t{d.dropped_links} << 48);
  const std::uint64_t w3 = std::uint64_t{d.var_len} | std::uint64_t{d.ts_handle} << 32;
  std::memcpy(q + 56, &w0, 8);
  std::memcpy(q + 64, &w1, 8);
  std::memcpy(q + 72, &w2, 8);
  std::memcpy(q + 80, &w3, 8);
  std::memcpy(q + sizeof d, A::var(s), d.var_len);
  ts->ring.commit(n);
  thread_state::bump(ts->written);
  ts->ring.prefetch_next(256);  // for the next record: overlaps the ownership transfer with host work
}

unsigned char* reserve_slow(span_base& s, std::size_t n) noexcept {
  spill(s, ensure_state());
  if (n > inline_bytes) return nullptr;
  A::d(s).var_len = static_cast<std::uint16_t>(n);
  return A::var(s);
}

void put_large_string(span_base& s, std::uint8_t kmode, const void* key, std::uint16_t klen,
                      std::string_view v) noexcept {
  thread_state* ts = ensure_state();
  spill(s, ts);  // keep item order: what was inline goes first
  span_data& d = A::d(s);
  if (ts == nullptr) return;
  const std::size_t kbytes = kmode == key_literal ? 8 : klen;
  const std::size_t fixed = sizeof(record_header) + sizeof(fragment_header) + 4 + kbytes + 4;
  const std::size_t room = ts->ring.max_record() - fixed - 8;
  if (v.size() > room) v = utf8_prefix(v, room);
  const std::uint32_t item = static_cast<std::uint32_t>(4 + kbytes + 4 + v.size());
  const std::uint32_t n = round8(sizeof(record_header) + sizeof(fragment_header) + item);
  unsigned char* p = ts->ring.try_reserve(n);
  if (p == nullptr) {
    thread_state::bump(ts->fragments_lost);
    d.span_flags |= span_flag_fragment_lost;
    return;
  }
  const record_header h{n, record_fragment, {0, 0, 0}};
  fragment_header fh;
  std::memcpy(fh.span_id, d.span_id, 8);
  std::memcpy(fh.trace_id, d.trace_id, 16);
  fh.len = item;
  fh.seq = d.frag_count;
  fh.reserved = 0;
  std::memcpy(p, &h, sizeof h);
  std::memcpy(p + sizeof h, &fh, sizeof fh);
  unsigned char* q = p + sizeof h + sizeof fh;
  q[0] = item_string;
  q[1] = kmode;
  std::memcpy(q + 2, &klen, 2);
  std::memcpy(q + 4, key, kbytes);
  const auto len = static_cast<std::uint32_t>(v.size());
  std::memcpy(q + 4 + kbytes, &len, 4);
  std::memcpy(q + 8 + kbytes, v.data(), v.size());
  ts->ring.commit(n);
  ++d.frag_count;
  ++d.n_attrs;
}

std::uint64_t now_ticks() noexcept { return ticks(); }

void adopt_context(const span_context& c) noexcept {
  t_tls.ctx = c;
  if (c.valid()) ensure_state();  // so unsampled children are counted on this thread
}

}  // namespace tracecraft::detail
