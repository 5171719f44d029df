// SPDX-License-Identifier: Apache-2.0
// core/propagation.cpp — extract() and inject_*(): W3C Trace Context in and out (standards §4).
// Called on request threads at a request's edges: nothing here allocates (the tracestate table
// is allocated once, on the first incoming tracestate), locks or throws.
#include <cstring>

#include "core/engine.h"
#include "sampler/consistent.h"
#include "sampler/tracestate_store.h"
#include "sampler/w3c.h"
#include "tracecraft/trace.h"

namespace tracecraft {

namespace {

bool name_is(std::string_view a, const char* b) noexcept {
  const std::size_t n = std::strlen(b);
  if (a.size() != n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != b[i]) return false;
  }
  return true;
}

// Stores a valid tracestate (re-serialised: OWS and empty members gone, at most 512 chars by
// the truncation rules) and returns its handle; 0 for none or invalid.
std::uint32_t keep_tracestate(const detail::w3c::tracestate& ts) noexcept {
  if (ts.n == 0) return 0;
  char text[detail::w3c::tracestate_limit];
  const std::size_t n = detail::w3c::write_tracestate(ts, {}, {}, text);
  detail::ot_facts f;
  detail::w3c::ot_value ot;
  if (detail::w3c::parse_ot(ts.get("ot"), ot)) {
    f.has_th = ot.has_th;
    f.th = ot.th;
    f.has_rv = ot.has_rv;
    f.rv = ot.rv;
  }
  return detail::ts_store().put(std::string_view(text, n), f);
}

span_context from_traceparent(const detail::w3c::traceparent& tp) noexcept {
  span_context c;
  std::memcpy(c.trace_id, tp.trace_id, 16);
  std::memcpy(c.span_id, tp.parent_id, 8);
  c.flags = tp.flags & (flag_sampled | flag_random);  // other bits are not ours to forward
  c.remote = true;
  return c;
}

}  // namespace

span_context extract(std::string_view traceparent, std::string_view tracestate) noexcept {
  detail::w3c::traceparent tp;
  if (!detail::w3c::parse_traceparent(traceparent, tp)) return {};
  span_context c = from_traceparent(tp);
  detail::w3c::tracestate ts;
  if (detail::w3c::parse_tracestate(tracestate, ts)) c.ts_handle = keep_tracestate(ts);
  return c;
}

span_context extract(const header_ref* headers, std::size_t count) noexcept {
  std::string_view traceparent;
  int traceparents = 0;
  // Several tracestate headers are one list (RFC 9110 joining): parsed piece by piece into one
  // member list, the same result as parsing the joined text.
  detail::w3c::tracestate ts;
  bool ts_ok = true;
  for (std::size_t i = 0; i < count; ++i) {
    if (name_is(headers[i].name, "traceparent")) {
      traceparent = headers[i].value;
      ++traceparents;
    }
  }
  if (traceparents != 1) return {};
  detail::w3c::traceparent tp;
  if (!detail::w3c::parse_traceparent(traceparent, tp)) return {};
  span_context c = from_traceparent(tp);
  for (std::size_t i = 0; i < count && ts_ok; ++i) {
    if (!name_is(headers[i].name, "tracestate")) continue;
    detail::w3c::tracestate part;
    if (!detail::w3c::parse_tracestate(headers[i].value, part)) {
      ts_ok = false;
      break;
    }
    for (std::size_t k = 0; k < part.n && ts_ok; ++k) {
      if (!ts.get(part.m[k].key).empty()) continue;  // a repeated key: the first one stays
      if (ts.n == detail::w3c::max_members) ts_ok = false;
      else ts.m[ts.n++] = part.m[k];
    }
  }
  if (ts_ok) c.ts_handle = keep_tracestate(ts);
  return c;
}

std::size_t inject_traceparent(const span_context& c, char (&out)[55]) noexcept {
  if (!c.valid()) return 0;
  detail::w3c::format_traceparent(c.trace_id, c.span_id, c.flags, out);
  return 55;
}

std::size_t inject_tracestate(const span_context& c, char (&out)[512]) noexcept {
  if (!c.valid()) return 0;
  const std::uint8_t bits = c.ts & detail::span_flag_ts_mask;
  if (c.ts_handle == 0 && bits == 0) return 0;
  std::uint64_t threshold = 0;
  if (bits & detail::span_flag_ts_th) {
    const detail::engine* e = detail::g_engine.load(std::memory_order_acquire);
    if (e == nullptr) return 0;
    threshold = e->threshold;
  }
  const std::uint64_t host_rv = (bits & detail::span_flag_ts_rv) ? detail::randomness_from_host_id(c.trace_id) : 0;
  return detail::build_tracestate(c.ts_handle, bits, threshold, host_rv, out);
}

}  // namespace tracecraft
