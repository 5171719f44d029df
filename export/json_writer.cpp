// SPDX-License-Identifier: Apache-2.0
// export/json_writer.cpp — hand-written OTLP/JSON encoder; no allocation per span in steady state.
#include "export/json_writer.h"

#include "export/utf8.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "tracecraft/trace.h"

namespace tracecraft::detail {

namespace {

constexpr char hexdig[] = "0123456789abcdef";

}  // namespace

void out_buffer::grow(std::size_t need) {
  std::size_t cap = cap_ == 0 ? 4096 : cap_;
  while (cap < need) cap *= 2;
  void* p = std::realloc(data_, cap);
  if (p == nullptr) throw std::bad_alloc();
  data_ = static_cast<char*>(p);
  cap_ = cap;
}

void out_buffer::prefault(std::size_t n) {
  if (n > cap_) grow(n);
  // One store per page past what is in use: fresh pages from the allocator are not mapped yet.
  for (std::size_t i = size_; i < n; i += 4096) data_[i] = 0;
}

namespace {
// Index of the first byte in [p, p+n) that JSON output cannot copy verbatim (control, '"',
// '\\' or non-ASCII), or n. SSE2 sixteen bytes at a time: most text is plain ASCII.
std::size_t plain_run(const unsigned char* p, std::size_t n) noexcept {
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    // Signed compare: bytes >= 0x80 are negative, so "v < 0x20" catches control and non-ASCII.
    const __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, space), _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
    const int mask = _mm_movemask_epi8(bad);
    if (mask != 0) return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
  }
#endif
  while (i < n && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\') ++i;
  return i;
}
}  // namespace

void json_writer::str(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  // Worst case: every byte a control character (6 bytes each) or a lone invalid byte (3).
  char* o = out_.ensure(2 + 6 * n);
  char* const begin = o;
  *o++ = '"';
  std::size_t i = 0;
  while (i < n) {
    const std::size_t run = plain_run(p + i, n - i);
    std::memcpy(o, p + i, run);
    o += run;
    i += run;
    if (i == n) break;
    const unsigned char c = p[i];
    if (c >= 0x80) {
      i += utf8_copy_or_replace(p + i, n - i, o);  // U+FFFD for each invalid byte
      continue;
    }
    *o++ = '\\';
    switch (c) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '\n': *o++ = 'n'; break;
      case '\r': *o++ = 'r'; break;
      case '\t': *o++ = 't'; break;
      case '\b': *o++ = 'b'; break;
      case '\f': *o++ = 'f'; break;
      default:
        *o++ = 'u';
        *o++ = '0';
        *o++ = '0';
        *o++ = hexdig[c >> 4];
        *o++ = hexdig[c & 15];
    }
    ++i;
  }
  *o++ = '"';
  out_.commit(static_cast<std::size_t>(o - begin));
}

void json_writer::hex(const std::uint8_t* b, std::size_t n) {
  char* o = out_.ensure(2 + 2 * n);
  o[0] = '"';
  for (std::size_t i = 0; i < n; ++i) {
    o[1 + 2 * i] = hexdig[b[i] >> 4];
    o[2 + 2 * i] = hexdig[b[i] & 15];
  }
  o[1 + 2 * n] = '"';
  out_.commit(2 + 2 * n);
}

void json_writer::u64(std::uint64_t v) {
  char* o = out_.ensure(24);
  out_.commit(static_cast<std::size_t>(std::to_chars(o, o + 24, v).ptr - o));
}

void json_writer::u64_quoted(std::uint64_t v) {
  out_.push_back('"');
  u64(v);
  out_.push_back('"');
}

void json_writer::i64_quoted(std::int64_t v) {
  char* o = out_.ensure(26);
  o[0] = '"';
  char* e = std::to_chars(o + 1, o + 25, v).ptr;
  *e++ = '"';
  out_.commit(static_cast<std::size_t>(e - o));
}

void json_writer::dbl(double v) {
  // proto3 JSON: non-finite doubles are the strings "NaN", "Infinity", "-Infinity".
  if (std::isnan(v)) return raw("\"NaN\"");
  if (std::isinf(v)) return raw(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  char* o = out_.ensure(32);
  char* e = std::to_chars(o, o + 32, v).ptr;
  // A whole number of many digits ("46116860184273879040") is valid JSON, but some parsers read
  // it as an integer and overflow: write such values with an exponent, still shortest round-trip.
  if (e - o > 15 && std::find_if(o, e, [](char c) { return c == '.' || c == 'e'; }) == e)
    e = std::to_chars(o, o + 32, v, std::chars_format::scientific).ptr;
  out_.commit(static_cast<std::size_t>(e - o));
}

void json_writer::any_value(const attr_view& a) {
  switch (a.type) {
    case value::type::boolean: raw(a.b ? "{\"boolValue\":true}" : "{\"boolValue\":false}"); break;
    case value::type::int64:
      raw("{\"intValue\":");
      i64_quoted(a.i);
      ch('}');
      break;
    case value::type::float64:
      raw("{\"doubleValue\":");
      dbl(a.d);
      ch('}');
      break;
    case value::type::string:
      raw("{\"stringValue\":");
      str(a.s);
      ch('}');
      break;
  }
}

void json_writer::attributes(const attr_view* a, std::size_t n) {
  ch('[');
  for (std::size_t i = 0; i < n; ++i) {
    if (i) ch(',');
    raw("{\"key\":");
    str(a[i].key);
    raw(",\"value\":");
    any_value(a[i]);
    ch('}');
  }
  ch(']');
}

void json_writer::span(const span_view& s) {
  raw("{\"traceId\":");
  hex(s.trace_id, 16);
  raw(",\"spanId\":");
  hex(s.span_id, 8);
  if (!s.trace_state.empty()) {
    raw(",\"traceState\":");
    str(s.trace_state);
  }
  if (s.parent_id != nullptr) {
    raw(",\"parentSpanId\":");
    hex(s.parent_id, 8);
  }
  raw(",\"name\":");
  str(s.name);
  raw(",\"kind\":");
  u64(s.otel);
  raw(",\"startTimeUnixNano\":");
  u64_quoted(s.start_ns);
  raw(",\"endTimeUnixNano\":");
  u64_quoted(s.end_ns);
  if (!s.attrs.empty()) {
    raw(",\"attributes\":");
    attributes(s.attrs.data(), s.attrs.size());
  }
  if (s.dropped_attrs) {
    raw(",\"droppedAttributesCount\":");
    u64(s.dropped_attrs);
  }
  if (!s.events.empty()) {
    raw(",\"events\":[");
    for (std::size_t i = 0; i < s.events.size(); ++i) {
      const event_view& e = s.events[i];
      if (i) ch(',');
      raw("{\"timeUnixNano\":");
      u64_quoted(e.time_ns);
      raw(",\"name\":");
      str(e.name);
      if (e.attr_count) {
        raw(",\"attributes\":");
        attributes(s.nested.data() + e.first_attr, e.attr_count);
      }
      if (e.dropped_attrs) {
        raw(",\"droppedAttributesCount\":");
        u64(e.dropped_attrs);
      }
      ch('}');
    }
    ch(']');
  }
  if (s.dropped_events) {
    raw(",\"droppedEventsCount\":");
    u64(s.dropped_events);
  }
  if (!s.links.empty()) {
    raw(",\"links\":[");
    for (std::size_t i = 0; i < s.links.size(); ++i) {
      const link_view& l = s.links[i];
      if (i) ch(',');
      raw("{\"traceId\":");
      hex(l.trace_id, 16);
      raw(",\"spanId\":");
      hex(l.span_id, 8);
      if (l.attr_count) {
        raw(",\"attributes\":");
        attributes(s.nested.data() + l.first_attr, l.attr_count);
      }
      if (l.dropped_attrs) {
        raw(",\"droppedAttributesCount\":");
        u64(l.dropped_attrs);
      }
      raw(",\"flags\":");
      u64((l.flags & 0x03u) | 0x100u | (l.remote ? 0x200u : 0u));
      ch('}');
    }
    ch(']');
  }
  if (s.dropped_links) {
    raw(",\"droppedLinksCount\":");
    u64(s.dropped_links);
  }
  if (s.status != 0) {
    raw(",\"status\":{");
    if (s.status == 2 && !s.status_message.empty()) {
      raw("\"message\":");
      str(s.status_message);
      ch(',');
    }
    raw("\"code\":");
    u64(s.status);
    ch('}');
  }
  raw(",\"flags\":");
  u64(s.otlp_flags());
  ch('}');
}

std::string json_request_prefix(const resource_info& res) {
  out_buffer out;
  json_writer w(out);
  w.raw("{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
  bool first = true;
  for (const auto& [k, v] : res.strings) {
    if (!first) w.ch(',');
    first = false;
    w.raw("{\"key\":");
    w.str(k);
    w.raw(",\"value\":{\"stringValue\":");
    w.str(v);
    w.raw("}}");
  }
  if (!first) w.ch(',');
  w.raw("{\"key\":\"process.pid\",\"value\":{\"intValue\":");
  w.i64_quoted(res.pid);
  w.raw("}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"tracecraft\",\"version\":");
  w.str(version());
  w.raw("},\"spans\":[");
  return std::string(out.view());
}

}  // namespace tracecraft::detail
