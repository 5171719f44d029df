// SPDX-License-Identifier: Apache-2.0
// export/json_writer.cpp — hand-written OTLP/JSON encoder; no allocation per span in steady state.
#include "export/json_writer.h"

#include <charconv>
#include <cmath>

#include "tracecraft/trace.h"

namespace tracecraft::detail {

namespace {

// Length of a valid UTF-8 sequence starting at p (at most `left` bytes), or 0 when invalid
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::size_t utf8_seq(const unsigned char* p, std::size_t left) noexcept {
  const unsigned char c = p[0];
  if (c < 0x80) return 1;
  std::size_t n;
  std::uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (n > left) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

constexpr char hexdig[] = "0123456789abcdef";

}  // namespace

void json_writer::str(std::string_view s) {
  out_.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    // Copy the longest run that needs no escaping in one append.
    std::size_t j = i;
    while (j < n && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '"' && p[j] != '\\') ++j;
    if (j > i) out_.append(s.data() + i, j - i);
    if (j == n) break;
    const unsigned char c = p[j];
    if (c >= 0x80) {
      const std::size_t len = utf8_seq(p + j, n - j);
      if (len == 0) {
        out_.append("\xEF\xBF\xBD");  // U+FFFD for each invalid byte
        i = j + 1;
      } else {
        out_.append(s.data() + j, len);
        i = j + len;
      }
      continue;
    }
    switch (c) {
      case '"': out_.append("\\\""); break;
      case '\\': out_.append("\\\\"); break;
      case '\n': out_.append("\\n"); break;
      case '\r': out_.append("\\r"); break;
      case '\t': out_.append("\\t"); break;
      case '\b': out_.append("\\b"); break;
      case '\f': out_.append("\\f"); break;
      default: {
        char esc[6] = {'\\', 'u', '0', '0', hexdig[c >> 4], hexdig[c & 15]};
        out_.append(esc, 6);
      }
    }
    i = j + 1;
  }
  out_.push_back('"');
}

void json_writer::hex(const std::uint8_t* b, std::size_t n) {
  char buf[34];
  buf[0] = '"';
  for (std::size_t i = 0; i < n && i < 16; ++i) {
    buf[1 + 2 * i] = hexdig[b[i] >> 4];
    buf[2 + 2 * i] = hexdig[b[i] & 15];
  }
  buf[1 + 2 * n] = '"';
  out_.append(buf, 2 + 2 * n);
}

void json_writer::u64(std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void json_writer::u64_quoted(std::uint64_t v) {
  out_.push_back('"');
  u64(v);
  out_.push_back('"');
}

void json_writer::i64_quoted(std::int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.push_back('"');
  out_.append(buf, static_cast<std::size_t>(r.ptr - buf));
  out_.push_back('"');
}

void json_writer::dbl(double v) {
  // proto3 JSON: non-finite doubles are the strings "NaN", "Infinity", "-Infinity".
  if (std::isnan(v)) return raw("\"NaN\"");
  if (std::isinf(v)) return raw(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, static_cast<std::size_t>(r.ptr - buf));
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
  std::string out;
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
  return out;
}

}  // namespace tracecraft::detail
