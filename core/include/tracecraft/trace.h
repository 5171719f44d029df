// SPDX-License-Identifier: Apache-2.0
// tracecraft/trace.h — the one header a host includes: spans, context, init/flush/shutdown, stats.
//
// Hot-path contract (see HACKING.md): after a thread's first span, nothing here allocates, locks,
// makes a system call or throws. Setters write into the span's inline buffer; the finished span is
// copied into the calling thread's ring as one record; everything else runs on the drain thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "tracecraft/config.h"
#include "tracecraft/status.h"

#include "tracecraft/macros.h"

/// Bytes of attribute/event/link data a span keeps inline before it spills a fragment into the
/// ring. Tunable by defining it before the first include (fmt's keep-the-user's-definition idiom).
#ifndef TC_SPAN_INLINE_BYTES
#define TC_SPAN_INLINE_BYTES 320
#endif

namespace tracecraft {

/// The TraceCraft step types plus the plain OpenTelemetry span kinds. Step types map to an OTel
/// kind and to `gen_ai.operation.name` / `openinference.span.kind` on export (README, "Kinds").
enum class kind : std::uint8_t {
  internal = 0,
  server,
  client,
  producer,
  consumer,
  agent,
  llm,
  tool,
  retrieval,
  memory,
  guardrail,
  evaluation,
  workflow,
};

/// W3C trace flags.
inline constexpr std::uint8_t flag_sampled = 0x01;
inline constexpr std::uint8_t flag_random = 0x02;

/// A span's identity: trivially copyable, 32 bytes. All-zero trace id = no context.
struct span_context {
  std::uint8_t trace_id[16] = {};
  std::uint8_t span_id[8] = {};
  std::uint8_t flags = 0;  ///< W3C trace flags
  bool remote = false;     ///< came from another process (an extracted traceparent)
  std::uint8_t ts = 0;     ///< engine-internal: how the trace's tracestate is built (detail::span_flag_ts_*)
  std::uint8_t reserved_ = 0;
  std::uint32_t ts_handle = 0;  ///< engine-internal: the incoming tracestate (0: none), see extract()

  bool valid() const noexcept {
    std::uint64_t a, b, s;
    std::memcpy(&a, trace_id, 8);
    std::memcpy(&b, trace_id + 8, 8);
    std::memcpy(&s, span_id, 8);
    return (a | b) != 0 && s != 0;
  }
  bool sampled() const noexcept { return (flags & flag_sampled) != 0; }
};
static_assert(std::is_trivially_copyable_v<span_context> && sizeof(span_context) == 32);
static_assert(offsetof(span_context, remote) == offsetof(span_context, flags) + 1 &&
              offsetof(span_context, ts) == offsetof(span_context, flags) + 2);

/// A host-supplied 16-byte trace id (for example derived from a request id).
struct trace_id {
  std::uint8_t bytes[16] = {};
};

/// A string with static storage duration: stored by reference, never copied. Only string
/// literals convert (the constructor is consteval); pass runtime text as std::string_view.
struct literal {
  const char* data;
  std::uint32_t size;
  template <std::size_t N>
  consteval literal(const char (&s)[N]) noexcept : data(s), size(static_cast<std::uint32_t>(N - 1)) {}
  constexpr std::string_view view() const noexcept { return {data, size}; }
};

/// A runtime attribute key (copied). Literal keys need no wrapper.
struct key {
  std::string_view text;
  explicit constexpr key(std::string_view t) noexcept : text(t) {}
};

template <class S>
concept runtime_string = std::is_convertible_v<const S&, std::string_view> && !std::is_array_v<S>;

/// An attribute value: bool, int64, double or string (copied when recorded).
struct value {
  enum class type : std::uint8_t { boolean = 1, int64 = 2, float64 = 3, string = 4 };
  type t;
  union {
    bool b;
    std::int64_t i;
    double d;
  };
  std::string_view s;

  constexpr value(bool v) noexcept : t(type::boolean), b(v) {}
  template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, bool>)
  constexpr value(I v) noexcept : t(type::int64), i(static_cast<std::int64_t>(v)) {}
  template <class F>
    requires std::is_floating_point_v<F>
  constexpr value(F v) noexcept : t(type::float64), d(static_cast<double>(v)) {}
  constexpr value(const char* v) noexcept : t(type::string), i(0), s(v ? v : "") {}
  template <class S>
    requires(runtime_string<S> && !std::is_same_v<std::decay_t<S>, const char*> &&
             !std::is_same_v<std::decay_t<S>, char*>)
  constexpr value(const S& v) noexcept : t(type::string), i(0), s(std::string_view(v)) {}
};

/// A key/value pair for events and links: `{{"gen_ai.token.index", 1}}`.
struct attr {
  literal k;
  value v;
};

namespace detail {

#ifdef TC_DISABLE
inline constexpr bool compiled_in = false;
#else
inline constexpr bool compiled_in = true;
#endif

// ---- the record format shared by the producer (here) and the drain (core/drain.cpp) ----------

/// Item tags inside a span's variable section. Layout of each item is documented in
/// ring/record.h; the writers below and the reader in core/decode.cpp must agree.
enum item_tag : std::uint8_t {
  item_bool = 1,
  item_int = 2,
  item_double = 3,
  item_string = 4,
  item_event = 5,
  item_link = 6,
  item_status_message = 7,
  item_name = 8,
};
enum key_mode : std::uint8_t { key_literal = 0, key_inline = 1 };

/// The fixed part of a span record. The span object holds it first, so ending a span is one
/// memcpy of `sizeof(span_data) + var_len` bytes into the ring.
struct span_data {
  std::uint8_t trace_id[16];
  std::uint8_t span_id[8];
  std::uint8_t parent_id[8];  ///< all zero: a root span
  std::uint64_t start;        ///< clock ticks (core/clock.h); the drain converts to UNIX ns
  std::uint64_t end;
  const char* name;           ///< literal name, or nullptr: an item_name item carries the copy
  std::uint32_t name_len;
  std::uint8_t kind;
  std::uint8_t trace_flags;     ///< W3C flags
  std::uint8_t parent_remote;   ///< 0 root, 1 local parent, 2 remote parent
  std::uint8_t status;          ///< 0 unset, 1 ok, 2 error
  std::uint8_t sample_reason;   ///< why the trace is recorded (room for the sampler)
  std::uint8_t span_flags;      ///< span_flag_* bits
  std::uint16_t frag_count;     ///< fragments this span wrote to rings before its final record
  std::uint16_t n_attrs;
  std::uint16_t n_events;
  std::uint16_t n_links;
  std::uint16_t dropped_attrs;
  std::uint16_t dropped_events;
  std::uint16_t dropped_links;
  std::uint16_t var_len;
  std::uint32_t ts_handle;      ///< the incoming tracestate this trace carries (0: none)
};
inline constexpr std::uint8_t span_flag_exclude_input = 0x01;
inline constexpr std::uint8_t span_flag_exclude_output = 0x02;
inline constexpr std::uint8_t span_flag_fragment_lost = 0x04;
/// Trace-state bits, carried by the span and by its context to the children: `ot=th:T` with the
/// engine's threshold, and `rv:` (the hashed randomness of a host-supplied trace id).
inline constexpr std::uint8_t span_flag_ts_th = 0x08;
inline constexpr std::uint8_t span_flag_ts_rv = 0x10;
/// ... and keep the `th` of the incoming tracestate (consistent with the decision).
inline constexpr std::uint8_t span_flag_ts_keep_th = 0x20;
/// A skeleton span (a trace the rate dropped, recorded for the tail); children inherit it.
inline constexpr std::uint8_t span_flag_skeleton = 0x40;
/// A trace kept at the edge provisionally (sampling rules exist): the drain holds it until its
/// root ends, then the rules and the rate decide. Children inherit it.
inline constexpr std::uint8_t span_flag_provisional = 0x80;
inline constexpr std::uint8_t span_flag_ts_state = span_flag_ts_th | span_flag_ts_rv | span_flag_ts_keep_th;
inline constexpr std::uint8_t span_flag_ts_mask = span_flag_ts_state | span_flag_skeleton | span_flag_provisional;

inline constexpr std::size_t inline_bytes = TC_SPAN_INLINE_BYTES;
static_assert(inline_bytes >= 64 && inline_bytes <= 60000);

/// Settings the hot path reads, published by init() before `gen` becomes non-zero.
struct hot_config {
  std::atomic<std::uint32_t> gen{0};  ///< engine generation; 0 = off (never initialised, disabled, shut down)
  std::atomic<std::uint32_t> attr_limit{128};
  std::atomic<std::uint32_t> event_limit{128};
  std::atomic<std::uint32_t> link_limit{128};
  std::atomic<std::uint32_t> event_attr_limit{128};
  std::atomic<std::uint32_t> link_attr_limit{128};
  std::atomic<std::uint32_t> value_cap{0xffffffffu};  ///< bytes kept of a string value (4 x the char limit)
  std::atomic<std::uint32_t> max_input{4096};
  std::atomic<std::uint32_t> max_output{4096};
  std::atomic<bool> capture{false};
};
TC_API extern hot_config g_hot;

/// The producer-side per-thread counters the inline path touches (the rest of the thread's
/// state lives in ring/thread_state.h, which extends this).
struct thread_hot {
  std::atomic<std::uint64_t> sampled_out{0};  ///< written by the owner thread only
  std::uint32_t gen = 0;                      ///< engine generation this state belongs to
};

/// Everything thread-local the hot path needs: one TLS block, initial-exec model.
struct tls_block {
  thread_hot* state;
  span_context ctx;  ///< the thread's current context
  std::uint64_t rng;
};
TC_API extern constinit thread_local tls_block t_tls TC_TLS_IE;

class span_base_access;
}  // namespace detail

class span_base;

namespace detail {
// Out-of-line parts of the hot path (core/api.cpp). All noexcept, none allocates after the
// thread's first span.
// `install`: make the new span the thread's current context (scoped spans), saving the previous.
TC_API void begin_child(span_base& s, const span_context& parent, bool install) noexcept;
TC_API void begin_root(span_base& s, const trace_id* tid, bool install) noexcept;
TC_API void count_sampled_out_slow() noexcept;
TC_API void finish(span_base& s) noexcept;
TC_API unsigned char* reserve_slow(span_base& s, std::size_t n) noexcept;
TC_API void put_large_string(span_base& s, std::uint8_t kmode, const void* key, std::uint16_t klen,
                             std::string_view v) noexcept;
TC_API std::uint64_t now_ticks() noexcept;
TC_API void adopt_context(const span_context& c) noexcept;

template <class T>
TC_ALWAYS_INLINE void put(unsigned char* p, const T& v) noexcept {
  std::memcpy(p, &v, sizeof(T));
}

/// memcpy for short runtime lengths without a libc call: attribute strings are usually < 32 bytes.
TC_ALWAYS_INLINE void small_copy(unsigned char* d, const void* src, std::size_t n) noexcept {
  const auto* s = static_cast<const unsigned char*>(src);
  if (n <= 16) {
    if (n >= 8) {
      std::uint64_t a, b;
      std::memcpy(&a, s, 8);
      std::memcpy(&b, s + n - 8, 8);
      std::memcpy(d, &a, 8);
      std::memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
      std::uint32_t a, b;
      std::memcpy(&a, s, 4);
      std::memcpy(&b, s + n - 4, 4);
      std::memcpy(d, &a, 4);
      std::memcpy(d + n - 4, &b, 4);
    } else {
      for (std::size_t i = 0; i < n; ++i) d[i] = s[i];
    }
  } else if (n <= 32) {
    unsigned char a[16], b[16];
    std::memcpy(a, s, 16);
    std::memcpy(b, s + n - 16, 16);
    std::memcpy(d, a, 16);
    std::memcpy(d + n - 16, b, 16);
  } else {
    std::memcpy(d, s, n);
  }
}

/// Largest prefix of `s` of at most `n` bytes that does not split a UTF-8 sequence.
TC_ALWAYS_INLINE std::string_view utf8_prefix(std::string_view s, std::size_t n) noexcept {
  if (s.size() <= n) return s;
  std::size_t cut = n;
  // Back off over continuation bytes (10xxxxxx) so the cut lands on a sequence start.
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80 && n - cut < 3) --cut;
  return s.substr(0, cut);
}
}  // namespace detail

/// The common part of `span` and `async_span`: identity, timing and the inline record buffer.
class span_base {
 public:
  span_base(const span_base&) = delete;
  span_base& operator=(const span_base&) = delete;

  /// True when this span records (engine on, trace sampled, not yet ended). Setters on a span
  /// that does not record cost one branch; the `TC_SET` macro also skips evaluating arguments.
  bool recording() const noexcept { return state_ == state_recording; }
  /// True for a skeleton: a span of a trace the rate dropped, kept cheaply (ids, name, times,
  /// status, error message; no attributes, events, links or payloads) until its root ends, in
  /// case the trace fails or is slow (TRACECRAFT_ALWAYS_KEEP_ERRORS / _SLOW).
  bool skeleton() const noexcept { return state_ == state_skeleton; }

  /// This span's context (for links, adoption in other threads and propagation). For a span
  /// that does not record it is the context its children inherit.
  span_context context() const noexcept {
    span_context c;
    if constexpr (detail::compiled_in) {
      if (state_ == state_off) return c;
      std::memcpy(c.trace_id, d_.trace_id, 16);
      std::memcpy(c.span_id, d_.span_id, 8);
      c.flags = d_.trace_flags;
      c.ts = d_.span_flags & detail::span_flag_ts_mask;
      c.ts_handle = d_.ts_handle;
    }
    return c;
  }

  // ---- attributes (copied; keys are literals or `tracecraft::key`) ------------------------
  // Always inlined: out of line, the 40-byte `value` travels through the stack and the reload
  // stalls on store forwarding (measured: +12 ns per attribute in tracecraft-bench).
  TC_ALWAYS_INLINE void set(literal k, value v) noexcept {
    if constexpr (detail::compiled_in) {
      if (recording()) put_attr(detail::key_literal, &k.data, k.size, v);
    }
  }
  TC_ALWAYS_INLINE void set(key k, value v) noexcept {
    if constexpr (detail::compiled_in) {
      if (recording()) {
        std::string_view kt = detail::utf8_prefix(k.text, 255);
        put_attr(detail::key_inline, kt.data(), static_cast<std::uint16_t>(kt.size()), v);
      }
    }
  }

  /// An event with up to OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT attributes, timestamped now.
  void add_event(literal name, std::initializer_list<attr> attrs = {}) noexcept {
    if constexpr (detail::compiled_in) {
      if (!recording()) return;
      if (d_.n_events >= detail::g_hot.event_limit.load(std::memory_order_relaxed)) {
        ++d_.dropped_events;
        return;
      }
      const std::uint32_t lim = detail::g_hot.event_attr_limit.load(std::memory_order_relaxed);
      const std::uint16_t n = static_cast<std::uint16_t>(attrs.size() < lim ? attrs.size() : lim);
      const std::uint16_t dropped = static_cast<std::uint16_t>(attrs.size() - n);
      unsigned char* p = reserve(4 + 8 + 8 + 4);
      if (p == nullptr) return;
      p[0] = detail::item_event;
      p[1] = detail::key_literal;
      detail::put(p + 2, static_cast<std::uint16_t>(name.size));
      detail::put(p + 4, name.data);
      detail::put(p + 12, detail::now_ticks());
      detail::put(p + 20, n);
      detail::put(p + 22, dropped);
      ++d_.n_events;
      put_nested(attrs, n);
    }
  }

  /// A link to another span (a batch step links the requests it serves).
  void add_link(const span_context& to, std::initializer_list<attr> attrs = {}) noexcept {
    if constexpr (detail::compiled_in) {
      if (!recording() || !to.valid()) return;
      if (d_.n_links >= detail::g_hot.link_limit.load(std::memory_order_relaxed)) {
        ++d_.dropped_links;
        return;
      }
      const std::uint32_t lim = detail::g_hot.link_attr_limit.load(std::memory_order_relaxed);
      const std::uint16_t n = static_cast<std::uint16_t>(attrs.size() < lim ? attrs.size() : lim);
      const std::uint16_t dropped = static_cast<std::uint16_t>(attrs.size() - n);
      unsigned char* p = reserve(32);
      if (p == nullptr) return;
      p[0] = detail::item_link;
      p[1] = static_cast<unsigned char>(to.flags | (to.remote ? 0x80 : 0));
      detail::put(p + 2, n);
      detail::put(p + 4, dropped);
      std::memset(p + 6, 0, 2);
      std::memcpy(p + 8, to.trace_id, 16);
      std::memcpy(p + 24, to.span_id, 8);
      ++d_.n_links;
      put_nested(attrs, n);
    }
  }

  /// Status ERROR with a message (copied). Ok is final: an error after set_ok() is ignored.
  void set_error(std::string_view message) noexcept {
    if constexpr (detail::compiled_in) {
      if (!keeps_status() || d_.status == 1) return;
      d_.status = 2;
      if (message.empty()) return;
      std::string_view m = cap_value(message);
      if (m.size() + 8 > detail::inline_bytes) m = detail::utf8_prefix(m, detail::inline_bytes - 8);
      unsigned char* p = reserve(8 + m.size());
      if (p == nullptr) return;
      p[0] = detail::item_status_message;
      p[1] = 0;
      detail::put(p + 2, static_cast<std::uint16_t>(0));
      detail::put(p + 4, static_cast<std::uint32_t>(m.size()));
      std::memcpy(p + 8, m.data(), m.size());
    }
  }
  void set_ok() noexcept {
    if constexpr (detail::compiled_in) {
      if (keeps_status()) d_.status = 1;
    }
  }

  // ---- payload capture (off unless TRACECRAFT_CAPTURE_PAYLOADS=true) ------------------------
  /// Records the step's input text as `input.value`, truncated to TRACECRAFT_MAX_INPUT_LENGTH.
  void set_input(std::string_view text) noexcept {
    if constexpr (detail::compiled_in) {
      if (!recording() || !detail::g_hot.capture.load(std::memory_order_relaxed)) return;
      if (d_.span_flags & detail::span_flag_exclude_input) text = "[EXCLUDED]";
      text = detail::utf8_prefix(text, detail::g_hot.max_input.load(std::memory_order_relaxed));
      put_string_raw(detail::key_literal, &input_key_, 11, text);
    }
  }
  /// Records the step's output text as `output.value`, truncated to TRACECRAFT_MAX_OUTPUT_LENGTH.
  void set_output(std::string_view text) noexcept {
    if constexpr (detail::compiled_in) {
      if (!recording() || !detail::g_hot.capture.load(std::memory_order_relaxed)) return;
      if (d_.span_flags & detail::span_flag_exclude_output) text = "[EXCLUDED]";
      text = detail::utf8_prefix(text, detail::g_hot.max_output.load(std::memory_order_relaxed));
      put_string_raw(detail::key_literal, &output_key_, 12, text);
    }
  }
  /// Per-span exclusion: later set_input/set_output record "[EXCLUDED]" instead of the text.
  void exclude_input() noexcept { d_.span_flags |= detail::span_flag_exclude_input; }
  void exclude_output() noexcept { d_.span_flags |= detail::span_flag_exclude_output; }

  // ---- GenAI typed setters (semantic convention names, standards §6) ------------------------
  void set_model(std::string_view m) noexcept { set("gen_ai.request.model", m); }
  void set_provider(std::string_view p) noexcept { set("gen_ai.provider.name", p); }
  void set_input_tokens(std::int64_t n) noexcept { set("gen_ai.usage.input_tokens", n); }
  void set_output_tokens(std::int64_t n) noexcept { set("gen_ai.usage.output_tokens", n); }

 protected:
  // unsampled: shares its parent's context; unsampled_root: a new trace that is not recorded
  // (its context is installed so children inherit the decision).
  // skeleton: records ids, name, times and status only (a dropped trace kept for its tail).
  enum : std::uint8_t {
    state_off = 0,
    state_unsampled = 1,
    state_recording = 2,
    state_ended = 3,
    state_unsampled_root = 4,
    state_skeleton = 5,
  };
  bool keeps_status() const noexcept { return state_ == state_recording || state_ == state_skeleton; }

  span_base() noexcept = default;

  // Starts the span: parent = the thread's current context unless `parent` is given. With
  // `install`, the span becomes the current context (restored by restore_context()).
  TC_ALWAYS_INLINE void start(const span_context* parent, const trace_id* tid, bool install) noexcept {
    if constexpr (detail::compiled_in) {
      const std::uint32_t gen = detail::g_hot.gen.load(std::memory_order_relaxed);
      if (TC_UNLIKELY(gen == 0)) return;  // disabled: one predictable branch
      detail::tls_block& t = detail::t_tls;
      const span_context& p = parent != nullptr ? *parent : t.ctx;
      if (TC_LIKELY(tid == nullptr && p.valid())) {
        // A local unsampled parent: inherit, count, nothing else. A remote parent, sampled or
        // not, goes to the sampler, and a skeleton parent makes a skeleton (begin_child).
        // One load and one test: flags, remote and ts are adjacent bytes of the context.
        std::uint32_t word;
        std::memcpy(&word, &p.flags, 4);
        constexpr std::uint32_t follow = flag_sampled | 0xFF00u | (std::uint32_t{detail::span_flag_skeleton} << 16);
        if (TC_UNLIKELY((word & follow) == 0)) {
          std::memcpy(d_.trace_id, p.trace_id, 16);
          std::memcpy(d_.span_id, p.span_id, 8);
          d_.trace_flags = p.flags;
          d_.span_flags = p.ts;
          d_.ts_handle = p.ts_handle;
          state_ = state_unsampled;
          if (install && parent != nullptr) install_inherited(p);  // an explicit unsampled parent
          detail::thread_hot* st = t.state;
          if (TC_LIKELY(st != nullptr && st->gen == gen))
            st->sampled_out.store(st->sampled_out.load(std::memory_order_relaxed) + 1,
                                  std::memory_order_relaxed);
          else
            detail::count_sampled_out_slow();
          return;
        }
        detail::begin_child(*this, p, install);
      } else {
        detail::begin_root(*this, tid, install);
      }
    }
  }
  void set_kind(kind k) noexcept { d_.kind = static_cast<std::uint8_t>(k); }
  void set_runtime_name(std::string_view n) noexcept {
    if (!keeps_status()) return;
    n = detail::utf8_prefix(n, 200);
    unsigned char* p = reserve(4 + n.size());
    if (p == nullptr) return;
    p[0] = detail::item_name;
    p[1] = detail::key_inline;
    detail::put(p + 2, static_cast<std::uint16_t>(n.size()));
    std::memcpy(p + 4, n.data(), n.size());
  }
  void end_impl() noexcept {
    if constexpr (detail::compiled_in) {
      if (keeps_status()) detail::finish(*this);
      state_ = state_ended;
    }
  }
  void move_from(span_base& o) noexcept {
    state_ = o.state_;
    installed_ = false;  // only scoped spans install, and they do not move
    std::memcpy(&d_, &o.d_, sizeof(d_));
    if (keeps_status()) std::memcpy(var_, o.var_, d_.var_len);
    o.state_ = state_ended;
  }

  void restore_context() noexcept {
    if (installed_) std::memcpy(&detail::t_tls.ctx, saved_, sizeof(span_context));
    installed_ = false;
  }
  void install_inherited(const span_context& p) noexcept {
    std::memcpy(saved_, &detail::t_tls.ctx, sizeof(span_context));
    detail::t_tls.ctx = p;
    installed_ = true;
  }

  detail::span_data d_;
  unsigned char var_[detail::inline_bytes];
  std::uint8_t state_ = state_off;
  bool installed_ = false;
  alignas(8) unsigned char saved_[sizeof(span_context)];  // the previous context, when installed_

 private:
  friend class detail::span_base_access;  // the out-of-line hot path in core/api.cpp

  static constexpr const char* input_key_ = "input.value";
  static constexpr const char* output_key_ = "output.value";

  TC_ALWAYS_INLINE unsigned char* reserve(std::size_t n) noexcept {
    if (TC_LIKELY(d_.var_len + n <= detail::inline_bytes)) {
      unsigned char* p = var_ + d_.var_len;
      d_.var_len = static_cast<std::uint16_t>(d_.var_len + n);
      return p;
    }
    return detail::reserve_slow(*this, n);
  }
  static std::string_view cap_value(std::string_view v) noexcept {
    const std::uint32_t cap = detail::g_hot.value_cap.load(std::memory_order_relaxed);
    return v.size() > cap ? detail::utf8_prefix(v, cap) : v;
  }
  TC_ALWAYS_INLINE void put_attr(std::uint8_t kmode, const void* kp, std::uint16_t klen, const value& v) noexcept {
    if (TC_UNLIKELY(d_.n_attrs >= detail::g_hot.attr_limit.load(std::memory_order_relaxed))) {
      ++d_.dropped_attrs;
      return;
    }
    if (v.t == value::type::string) {
      put_string_raw(kmode, kp, klen, cap_value(v.s));
      return;
    }
    if (put_item(kmode, kp, klen, v)) ++d_.n_attrs;
  }
  // Writes one non-string attribute item; true when written.
  TC_ALWAYS_INLINE bool put_item(std::uint8_t kmode, const void* kp, std::uint16_t klen, const value& v) noexcept {
    const std::size_t kbytes = kmode == detail::key_literal ? 8 : klen;
    const std::size_t vbytes = v.t == value::type::boolean ? 1 : 8;
    unsigned char* p = reserve(4 + kbytes + vbytes);
    if (p == nullptr) return false;
    p[0] = static_cast<unsigned char>(v.t);
    p[1] = kmode;
    detail::put(p + 2, klen);
    std::memcpy(p + 4, kp, kbytes);
    p += 4 + kbytes;
    if (v.t == value::type::boolean)
      p[0] = v.b ? 1 : 0;
    else
      std::memcpy(p, &v.i, 8);  // int64 and double share the union's storage
    return true;
  }
  TC_ALWAYS_INLINE void put_string_raw(std::uint8_t kmode, const void* kp, std::uint16_t klen,
                                       std::string_view s) noexcept {
    const std::size_t kbytes = kmode == detail::key_literal ? 8 : klen;
    const std::size_t need = 4 + kbytes + 4 + s.size();
    if (TC_UNLIKELY(need > detail::inline_bytes)) {
      detail::put_large_string(*this, kmode, kp, klen, s);
      return;
    }
    unsigned char* p = reserve(need);
    if (p == nullptr) return;
    p[0] = detail::item_string;
    p[1] = kmode;
    detail::put(p + 2, klen);
    std::memcpy(p + 4, kp, kbytes);
    p += 4 + kbytes;
    detail::put(p, static_cast<std::uint32_t>(s.size()));
    detail::small_copy(p + 4, s.data(), s.size());
    ++d_.n_attrs;
  }
  void put_nested(std::initializer_list<attr> attrs, std::uint16_t n) noexcept {
    std::uint16_t i = 0;
    for (const attr& a : attrs) {
      if (i++ == n) break;
      if (a.v.t == value::type::string) {
        std::string_view s = cap_value(a.v.s);
        if (s.size() + 16 > detail::inline_bytes) s = detail::utf8_prefix(s, detail::inline_bytes - 16);
        unsigned char* p = reserve(16 + s.size());
        if (p == nullptr) return;
        p[0] = detail::item_string;
        p[1] = detail::key_literal;
        detail::put(p + 2, static_cast<std::uint16_t>(a.k.size));
        detail::put(p + 4, a.k.data);
        detail::put(p + 12, static_cast<std::uint32_t>(s.size()));
        std::memcpy(p + 16, s.data(), s.size());
      } else {
        put_item(detail::key_literal, &a.k.data, static_cast<std::uint16_t>(a.k.size), a.v);
      }
    }
  }
};

/// A scoped span: starts on construction, ends on destruction, and is the thread's current
/// context in between (spans created inside become its children). Not movable: for a span that
/// travels between threads use `async_span`.
///
/// Allocates: never after the thread's first span. Blocks: never. Thread-safe: use from the
/// thread that created it.
class span : public span_base {
 public:
  /// Child of the current context, or a new root (kind usually kind::server for a request).
  explicit span(literal name, kind k = kind::internal) noexcept { init(name, k, nullptr, nullptr); }
  /// Runtime name: copied, truncated to 200 bytes.
  template <class S>
    requires runtime_string<S>
  explicit span(const S& name, kind k = kind::internal) noexcept {
    init(literal(""), k, nullptr, nullptr);
    set_runtime_name(std::string_view(name));
  }
  /// Explicit parent, e.g. a context extracted from an incoming request.
  span(literal name, kind k, const span_context& parent) noexcept { init(name, k, &parent, nullptr); }
  /// New root in a host-supplied trace.
  span(literal name, kind k, const trace_id& tid) noexcept { init(name, k, nullptr, &tid); }

  ~span() { end(); }

  /// Ends the span now (idempotent) and restores the previous context.
  void end() noexcept {
    if constexpr (detail::compiled_in) {
      if (state_ == state_ended || state_ == state_off) return;
      end_impl();
      restore_context();
    }
  }

 private:
  TC_ALWAYS_INLINE void init(literal name, kind k, const span_context* parent, const trace_id* tid) noexcept {
    if constexpr (detail::compiled_in) {
      d_.name = name.data;
      d_.name_len = name.size;
      set_kind(k);
      start(parent, tid, true);
    }
  }
};

/// A span that is not tied to a scope or a thread: start it on one thread, move it, end it on
/// another (accept -> scheduler -> streamer). It never becomes the current context by itself;
/// use `context_scope scope(s.context())` to make children of it.
class async_span : public span_base {
 public:
  async_span() noexcept = default;
  explicit async_span(literal name, kind k = kind::internal) noexcept { init(name, k, nullptr, nullptr); }
  template <class S>
    requires runtime_string<S>
  explicit async_span(const S& name, kind k = kind::internal) noexcept {
    init(literal(""), k, nullptr, nullptr);
    set_runtime_name(std::string_view(name));
  }
  async_span(literal name, kind k, const span_context& parent) noexcept { init(name, k, &parent, nullptr); }
  async_span(literal name, kind k, const trace_id& tid) noexcept { init(name, k, nullptr, &tid); }
  async_span(async_span&& o) noexcept { move_from(o); }
  async_span& operator=(async_span&& o) noexcept {
    if (this != &o) {
      end();
      move_from(o);
    }
    return *this;
  }
  ~async_span() { end(); }

  /// Ends the span now, on the calling thread (idempotent).
  void end() noexcept { end_impl(); }

 private:
  TC_ALWAYS_INLINE void init(literal name, kind k, const span_context* parent, const trace_id* tid) noexcept {
    if constexpr (detail::compiled_in) {
      d_.name = name.data;
      d_.name_len = name.size;
      set_kind(k);
      start(parent, tid, false);
    }
  }
};

/// Makes `c` the current context of this thread for the scope: spans created inside become its
/// children (thread-pool tasks, callbacks, the scheduler adopting a request).
class context_scope {
 public:
  explicit context_scope(const span_context& c) noexcept {
    if constexpr (detail::compiled_in) {
      saved_ = detail::t_tls.ctx;
      detail::adopt_context(c);
    }
  }
  ~context_scope() {
    if constexpr (detail::compiled_in) detail::t_tls.ctx = saved_;
  }
  context_scope(const context_scope&) = delete;
  context_scope& operator=(const context_scope&) = delete;

 private:
  span_context saved_;
};

/// The calling thread's current context (all zero when none).
inline span_context current_context() noexcept {
  if constexpr (detail::compiled_in) return detail::t_tls.ctx;
  return {};
}

// ---- W3C Trace Context (standards §4) --------------------------------------------------------

/// One HTTP header, for extract() from a whole header list.
struct header_ref {
  std::string_view name;
  std::string_view value;
};

/// The context of an incoming request: pass it as the parent of the request's first span. An
/// invalid `traceparent` gives an invalid context (the span starts a new trace) and `tracestate`
/// is then ignored; an invalid `tracestate` is dropped without affecting `traceparent`.
/// Allocates nothing; a valid non-empty tracestate is kept in a bounded table (2048 entries
/// reused in turn; a trace whose entry was reused exports without the foreign entries, counted
/// as `tracestate_lost`).
#ifndef TC_DISABLE
TC_API span_context extract(std::string_view traceparent, std::string_view tracestate = {}) noexcept;
/// The same from a request's headers: names in any case, several `tracestate` headers joined,
/// and two `traceparent` headers make the context invalid.
TC_API span_context extract(const header_ref* headers, std::size_t count) noexcept;
/// `traceparent` for an outgoing call made in context `c` (version 00): writes 55 chars and
/// returns 55, or returns 0 when `c` is not valid.
TC_API std::size_t inject_traceparent(const span_context& c, char (&out)[55]) noexcept;
/// `tracestate` for the same call: the incoming entries with OpenTelemetry's `ot` entry first
/// (its `th` kept, replaced or erased by the sampling decision). Returns its length (0: send no
/// tracestate header). At most 512 chars.
TC_API std::size_t inject_tracestate(const span_context& c, char (&out)[512]) noexcept;
#endif

/// Called with every diagnostic (warnings about configuration, export failures). The default
/// writes one line to stderr at or below TRACECRAFT_LOG_LEVEL. Exceptions from it are swallowed.
using diagnostic_handler = void (*)(log_level level, std::string_view message);

#ifndef TC_DISABLE
/// Starts the engine from the environment (OTEL_* and TRACECRAFT_*). Allocates; starts one
/// thread; never throws. Problems are reported once each through the diagnostic handler.
TC_API status init() noexcept;
/// Starts the engine from an explicit configuration (tests, embedders). The environment is not read.
TC_API status init(const config& cfg) noexcept;
/// Exports everything recorded before the call. Returns true if it all left the process (or was
/// counted as dropped) before the deadline. Never blocks past the deadline.
TC_API bool flush(std::chrono::milliseconds deadline) noexcept;
/// Flushes, stops the drain thread and turns the engine off. Whatever is still pending when the
/// deadline passes is counted as dropped (shutdown_deadline); a request to a collector still in
/// flight is aborted. Returns within the deadline: true when every exporter had delivered (or
/// definitively settled) everything, false when something was counted as shutdown_deadline.
TC_API bool shutdown(std::chrono::milliseconds deadline) noexcept;
/// A snapshot of the counters. Cheap enough to poll once a second.
TC_API stats_snapshot stats() noexcept;
/// True when the engine runs, its drain thread and every exporter thread are alive, and each
/// export queue is below 90% of OTEL_BSP_MAX_QUEUE_SIZE. Cheap: poll it from a health check.
TC_API bool healthy() noexcept;
/// Reads the configuration from an environment block (`environ` style, null-terminated).
TC_API config load_config(const char* const* envp, std::vector<config_problem>* problems) noexcept;
/// The effective configuration with defaults and sources, for tools.
TC_API std::vector<config_entry> describe_config(const char* const* envp) noexcept;
TC_API void set_diagnostic_handler(diagnostic_handler h) noexcept;
/// Whether redaction works with `cfg` (compiles its patterns, as init() would): a one-line
/// summary, and in `problems` each pattern Hyperscan rejects. For tools (tracecraft-envcheck).
TC_API std::string redaction_summary(const config& cfg, std::vector<std::string>* problems) noexcept;
/// The engine's version string, e.g. "0.1.0".
TC_API const char* version() noexcept;
#else
inline status init() noexcept { return status::disabled; }
inline status init(const config&) noexcept { return status::disabled; }
inline bool flush(std::chrono::milliseconds) noexcept { return true; }
inline bool shutdown(std::chrono::milliseconds) noexcept { return true; }
inline stats_snapshot stats() noexcept { return {}; }
inline bool healthy() noexcept { return true; }
inline void set_diagnostic_handler(diagnostic_handler) noexcept {}
inline std::string redaction_summary(const config&, std::vector<std::string>*) noexcept { return "off (compiled out)"; }
inline const char* version() noexcept { return "disabled"; }
inline span_context extract(std::string_view, std::string_view = {}) noexcept { return {}; }
inline span_context extract(const header_ref*, std::size_t) noexcept { return {}; }
inline std::size_t inject_traceparent(const span_context&, char (&)[55]) noexcept { return 0; }
inline std::size_t inject_tracestate(const span_context&, char (&)[512]) noexcept { return 0; }
#endif

}  // namespace tracecraft

#define TC_CAT_(a, b) a##b
#define TC_CAT(a, b) TC_CAT_(a, b)
/// `TC_SPAN(s, "prefill", tracecraft::kind::llm);` declares a scoped span named `s`.
#define TC_SPAN(var, ...) ::tracecraft::span var { __VA_ARGS__ }
/// A scoped span without a handle, for pure timing of the enclosing block.
#define TC_SCOPE(...) ::tracecraft::span TC_CAT(tc_scope_, __LINE__) { __VA_ARGS__ }
/// Sets an attribute without evaluating the value unless the span records.
#define TC_SET(var, k, ...)                          \
  do {                                               \
    if ((var).recording()) (var).set(k, __VA_ARGS__); \
  } while (0)
/// Adds an event without evaluating its attributes unless the span records.
#define TC_EVENT(var, ...)                            \
  do {                                                \
    if ((var).recording()) (var).add_event(__VA_ARGS__); \
  } while (0)
