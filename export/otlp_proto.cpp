// SPDX-License-Identifier: Apache-2.0
// export/otlp_proto.cpp — ExportTraceServiceRequest in protobuf, written by hand from the field
// table of standards §1. Every message is written as tag, exact length, body: sizes are computed
// from the view first (string sizes after UTF-8 repair), so nothing is moved or patched.
#include "export/otlp_proto.h"

#include <cstring>

#include "export/utf8.h"
#include "tracecraft/trace.h"

namespace tracecraft::detail {
namespace {

// ---- wire primitives -----------------------------------------------------------------------
constexpr std::size_t varint_size(std::uint64_t v) noexcept {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
inline char* put_varint(char* p, std::uint64_t v) noexcept {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}
inline char* put_byte(char* p, unsigned char b) noexcept {
  *p++ = static_cast<char>(b);
  return p;
}
inline char* put_fixed64(char* p, std::uint64_t v) noexcept {
  std::memcpy(p, &v, 8);  // little-endian host (x86-64, aarch64)
  return p + 8;
}
inline char* put_fixed32(char* p, std::uint32_t v) noexcept {
  std::memcpy(p, &v, 4);
  return p + 4;
}
// A length-delimited field whose body size is known.
inline char* put_len(char* p, unsigned char tag, std::size_t len) noexcept { return put_varint(put_byte(p, tag), len); }
inline std::size_t len_field(std::size_t body) noexcept { return 1 + varint_size(body) + body; }
inline std::size_t string_field(std::string_view s) noexcept { return len_field(utf8_clean_size(s)); }
inline char* put_string(char* p, unsigned char tag, std::string_view s) noexcept {
  return utf8_clean_write(put_len(p, tag, utf8_clean_size(s)), s);
}
inline char* put_bytes(char* p, unsigned char tag, const std::uint8_t* b, std::size_t n) noexcept {
  p = put_len(p, tag, n);
  std::memcpy(p, b, n);
  return p + n;
}

inline std::size_t count_field(std::uint32_t v) noexcept { return v ? 1 + varint_size(v) : 0; }
inline char* put_count(char* p, unsigned char tag, std::uint32_t v) noexcept {
  return v ? put_varint(put_byte(p, tag), v) : p;
}

// Strings: the size after UTF-8 repair is computed once; equal to the raw size means the string
// is valid (a replacement always grows it), and writing it is a plain copy.
inline char* put_clean(char* p, unsigned char tag, std::string_view s, std::size_t clean) noexcept {
  p = put_len(p, tag, clean);
  if (clean == s.size()) {  // short strings: overlapping moves, no libc call
    small_copy(reinterpret_cast<unsigned char*>(p), s.data(), clean);
    return p + clean;
  }
  return utf8_clean_write(p, s);
}

}  // namespace

// ---- one pass: each string scanned once, each message written once --------------------------
//
// A KeyValue's size is known before it is written (its strings are scanned first); a Span, Event
// or Link is written behind a hole for its length sized for the usual case (2 bytes for a span:
// 128 to 16383 bytes; 1 for an event or link: under 128), which is then filled. Only a message
// of another size has its body moved, by the few bytes the difference makes. Bounds reserve the
// largest length (5 bytes), so a body moved up stays inside them.

namespace {

constexpr std::size_t k_hole = 5;  // the largest length varint a bound reserves: up to 2^35 bytes

inline char* open_msg(char* p, unsigned char tag, std::size_t hole) noexcept {
  *p = static_cast<char>(tag);
  return p + 1 + hole;
}
inline char* close_msg(char* tag_at, char* end, std::size_t hole) noexcept {
  char* body = tag_at + 1 + hole;
  const std::size_t n = static_cast<std::size_t>(end - body);
  const std::size_t len = varint_size(n);
  if (__builtin_expect(len != hole, 0)) std::memmove(tag_at + 1 + len, body, n);
  put_varint(tag_at + 1, n);
  return tag_at + 1 + len + n;
}

// Upper bound of one attribute's encoding: invalid UTF-8 at most triples a string.
inline std::size_t attr_bound(const attr_view& a) noexcept { return 3 * (a.key.size() + a.s.size()) + 40; }

// The usual attribute: an ASCII key under 64 bytes and a scalar or an ASCII string under 58
// bytes. Every length then fits one varint byte and nothing needs repair: written directly,
// inline in the span's loop, each string checked for ASCII by the loads that copy it (at most
// k_attr_reserve bytes written). nullptr: not such an attribute (write_attr_general takes it; what
// was written here is overwritten).
inline char* write_attr_direct(char* p, unsigned char tag, const attr_view& a) noexcept {
  const std::size_t kn = a.key.size();
  if (kn >= 64 || !copy_ascii(p + 4, a.key)) return nullptr;
  char* q = p + 4 + kn;  // the AnyValue
  auto head = [&](std::size_t value) {  // KeyValue tag and length, the key's tag and length, AnyValue tag and length
    p[0] = static_cast<char>(tag);
    p[1] = static_cast<char>(kn + value + 4);
    p[2] = 0x0A;
    p[3] = static_cast<char>(kn);
    q[0] = 0x12;
    q[1] = static_cast<char>(value);
    return q + 2;
  };
  switch (a.type) {
    case value::type::string: {
      const std::size_t sn = a.s.size();
      if (sn >= 58 || !copy_ascii(q + 4, a.s)) return nullptr;
      char* v = head(sn + 2);
      v[0] = 0x0A;
      v[1] = static_cast<char>(sn);
      return v + 2 + sn;
    }
    case value::type::int64: {
      const auto v = static_cast<std::uint64_t>(a.i);
      return put_varint(put_byte(head(1 + varint_size(v)), 0x18), v);
    }
    case value::type::float64: {
      std::uint64_t bits;
      std::memcpy(&bits, &a.d, 8);
      return put_fixed64(put_byte(head(9), 0x21), bits);
    }
    case value::type::boolean: return put_byte(put_byte(head(2), 0x10), a.b ? 1 : 0);
  }
  return nullptr;
}

// Any attribute: strings scanned for UTF-8 (invalid bytes replaced), lengths of any size.
__attribute__((noinline)) char* write_attr_general(char* p, unsigned char tag, const attr_view& a) noexcept {
  const std::size_t key = utf8_clean_size(a.key);
  std::size_t str = 0, value = 0;
  switch (a.type) {
    case value::type::boolean: value = 2; break;
    case value::type::int64: value = 1 + varint_size(static_cast<std::uint64_t>(a.i)); break;
    case value::type::float64: value = 9; break;
    case value::type::string:
      str = utf8_clean_size(a.s);
      value = len_field(str);
      break;
  }
  p = put_len(p, tag, len_field(key) + len_field(value));
  p = put_clean(p, 0x0A, a.key, key);
  p = put_len(p, 0x12, value);  // AnyValue; a set oneof member is written even when zero
  switch (a.type) {
    case value::type::boolean: return put_byte(put_byte(p, 0x10), a.b ? 1 : 0);
    case value::type::int64: return put_varint(put_byte(p, 0x18), static_cast<std::uint64_t>(a.i));
    case value::type::float64: {
      std::uint64_t bits;
      std::memcpy(&bits, &a.d, 8);
      return put_fixed64(put_byte(p, 0x21), bits);
    }
    case value::type::string: return put_clean(p, 0x0A, a.s, str);
  }
  return p;
}

// One attribute, direct when it can be. With `quick`, an attribute that might need more than its
// reserve is not written: nullptr (the span is then written again with the exact bound).
inline char* put_attr(char* p, unsigned char tag, const attr_view& a, bool quick) noexcept {
  if (char* q = write_attr_direct(p, tag, a)) return q;
  if (quick && attr_bound(a) > span_encoder::k_attr_reserve) return nullptr;
  return write_attr_general(p, tag, a);
}

// Everything but the attributes: the span's fields, its events and links, the status.
std::size_t bound_without_attrs(const span_view& s) noexcept {
  std::size_t n = 1 + k_hole + 18 + 10 + 10 + 3 * s.name.size() + 6 + 2 + 18 + 3 * 6 + 6 + 8 + 6 + 3 * s.trace_state.size();
  for (const event_view& e : s.events) n += 1 + k_hole + 9 + 3 * e.name.size() + 6 + 6;
  n += s.links.size() * (1 + k_hole + 18 + 10 + 6 + 5);
  n += 1 + k_hole + 3 * s.status_message.size() + 6 + 2;
  return n;
}

}  // namespace

char* span_encoder::write_attr(char* p, unsigned char tag, const attr_view& a) noexcept {
  return put_attr(p, tag, a, false);
}

std::size_t span_encoder::bound(const span_view& s) noexcept {
  std::size_t n = bound_without_attrs(s);
  for (const attr_view& a : s.attrs) n += attr_bound(a);
  for (const attr_view& a : s.nested) n += attr_bound(a);
  return n;
}

std::size_t span_encoder::quick_bound(const span_view& s) noexcept {
  return bound_without_attrs(s) + (s.attrs.size() + s.nested.size()) * k_attr_reserve;
}

const std::string& span_encoder::kind_bytes(const span_view& s) {
  std::string& bytes = kind_bytes_[static_cast<std::size_t>(s.step) & 15];
  if (bytes.empty()) {
    std::size_t b = 0;
    for (std::size_t i = 0; i < s.fixed_attrs; ++i) b += attr_bound(s.attrs[i]);
    std::string out(b, '\0');
    char* p = out.data();
    for (std::size_t i = 0; i < s.fixed_attrs; ++i) p = write_attr(p, 0x4A, s.attrs[i]);
    out.resize(static_cast<std::size_t>(p - out.data()));
    bytes = std::move(out);
  }
  return bytes;
}

char* span_encoder::write(char* at, const span_view& s, bool quick) {
  // The kind's derived attributes are the same bytes every time: encoded once per kind.
  const bool fixed = s.fixed_attrs > 0 && s.fixed_attrs <= s.attrs.size();
  const std::string* kind = fixed ? &kind_bytes(s) : nullptr;
  if (quick && kind != nullptr && kind->size() > k_attr_reserve * s.fixed_attrs) return nullptr;
  char* p = open_msg(at, 0x12, 2);  // ScopeSpans.spans = 2
  p = put_bytes(p, 0x0A, s.trace_id, 16);
  p = put_bytes(p, 0x12, s.span_id, 8);
  if (!s.trace_state.empty()) p = put_clean(p, 0x1A, s.trace_state, utf8_clean_size(s.trace_state));
  if (s.parent_id != nullptr) p = put_bytes(p, 0x22, s.parent_id, 8);
  p = put_clean(p, 0x2A, s.name, utf8_clean_size(s.name));
  p = put_byte(put_byte(p, 0x30), s.otel);
  p = put_fixed64(put_byte(p, 0x39), s.start_ns);
  p = put_fixed64(put_byte(p, 0x41), s.end_ns);
  std::size_t first = 0;
  if (kind != nullptr) {
    std::memcpy(p, kind->data(), kind->size());
    p += kind->size();
    first = s.fixed_attrs;
  }
  for (std::size_t i = first; i < s.attrs.size(); ++i)
    if ((p = put_attr(p, 0x4A, s.attrs[i], quick)) == nullptr) return nullptr;
  p = put_count(p, 0x50, s.dropped_attrs);
  for (const event_view& e : s.events) {
    char* ev = p;
    p = open_msg(p, 0x5A, 1);
    p = put_fixed64(put_byte(p, 0x09), e.time_ns);
    p = put_clean(p, 0x12, e.name, utf8_clean_size(e.name));
    for (std::uint32_t i = 0; i < e.attr_count; ++i)
      if ((p = put_attr(p, 0x1A, s.nested[e.first_attr + i], quick)) == nullptr) return nullptr;
    p = put_count(p, 0x20, e.dropped_attrs);
    p = close_msg(ev, p, 1);
  }
  p = put_count(p, 0x60, s.dropped_events);
  for (const link_view& l : s.links) {
    char* lk = p;
    p = open_msg(p, 0x6A, 1);
    p = put_bytes(p, 0x0A, l.trace_id, 16);
    p = put_bytes(p, 0x12, l.span_id, 8);
    for (std::uint32_t i = 0; i < l.attr_count; ++i)
      if ((p = put_attr(p, 0x22, s.nested[l.first_attr + i], quick)) == nullptr) return nullptr;
    p = put_count(p, 0x28, l.dropped_attrs);
    p = put_fixed32(put_byte(p, 0x35), (l.flags & 0x03u) | 0x100u | (l.remote ? 0x200u : 0u));
    p = close_msg(lk, p, 1);
  }
  p = put_count(p, 0x70, s.dropped_links);
  if (s.status != 0) {
    const std::size_t msg = s.status == 2 && !s.status_message.empty() ? utf8_clean_size(s.status_message) : 0;
    p = put_len(p, 0x7A, (msg ? len_field(msg) : 0) + 2);
    if (msg) p = put_clean(p, 0x12, s.status_message, msg);
    p = put_byte(put_byte(p, 0x18), s.status);
  }
  p = put_byte(put_byte(p, 0x85), 0x01);
  p = put_fixed32(p, s.otlp_flags());
  return close_msg(at, p, 2);
}

// ---- the request envelope -------------------------------------------------------------------

otlp_proto_batch::otlp_proto_batch(const resource_info& res, std::size_t front) : front_(front) {
  // Resource { repeated KeyValue attributes = 1 }: strings, then process.pid as int.
  std::vector<attr_view> attrs;
  for (const auto& [k, v] : res.strings) {
    attr_view a;
    a.key = k;
    a.type = value::type::string;
    a.s = v;
    attrs.push_back(a);
  }
  attr_view pid;
  pid.key = "process.pid";
  pid.type = value::type::int64;
  pid.i = res.pid;
  attrs.push_back(pid);
  std::size_t size = 0;
  for (const attr_view& a : attrs) size += attr_bound(a);
  resource_.resize(size);
  char* p = resource_.data();
  for (const attr_view& a : attrs) p = span_encoder::write_attr(p, 0x0A, a);
  resource_.resize(static_cast<std::size_t>(p - resource_.data()));
  // InstrumentationScope { name = 1, version = 2 }
  const std::string_view name = "tracecraft", ver = version();
  scope_.resize(string_field(name) + string_field(ver));
  put_string(put_string(scope_.data(), 0x0A, name), 0x12, ver);
  // Envelope: request tag+len, ResourceSpans: resource tag+len+body, scope_spans tag+len,
  // ScopeSpans: scope tag+len+body. Lengths take at most 5 varint bytes each.
  headroom_ = front_ + 4 * 6 + resource_.size() + scope_.size();
  clear();
}

void otlp_proto_batch::clear() noexcept {
  buf_.clear();
  buf_.ensure(headroom_);
  buf_.commit(headroom_);
  spans_ = 0;
}

bool otlp_proto_batch::add(const span_view& s, std::size_t max_request) {
  // Sized from the counts; a span with an attribute larger than its reserve is written again
  // with the exact bound (which reads every attribute).
  char* p = buf_.ensure(span_encoder::quick_bound(s));
  char* end = enc_.write(p, s, true);
  if (__builtin_expect(end == nullptr, 0)) {
    p = buf_.ensure(span_encoder::bound(s));
    end = enc_.write(p, s, false);
  }
  const auto n = static_cast<std::size_t>(end - p);
  // buf_ holds the headroom, an upper bound of the envelope (and the front room, not part of the
  // request): the request stays under the limit.
  if (buf_.size() - front_ + n > max_request) return false;  // written past the end, not committed
  buf_.commit(n);
  ++spans_;
  return true;
}

std::string_view otlp_proto_batch::seal() noexcept {
  // Written backwards into the headroom, right before the first span.
  const std::size_t spans_len = span_bytes();
  const std::size_t scope_msg = len_field(scope_.size());                 // ScopeSpans.scope
  const std::size_t scope_spans_body = scope_msg + spans_len;
  const std::size_t resource_msg = len_field(resource_.size());           // ResourceSpans.resource
  const std::size_t resource_spans_body = resource_msg + len_field(scope_spans_body);
  const std::size_t request_len = len_field(resource_spans_body);         // request.resource_spans
  const std::size_t envelope = request_len - spans_len;
  char* start = buf_.data() + headroom_ - envelope;
  char* p = put_len(start, 0x0A, resource_spans_body);
  p = put_len(p, 0x0A, resource_.size());
  std::memcpy(p, resource_.data(), resource_.size());
  p += resource_.size();
  p = put_len(p, 0x12, scope_spans_body);
  p = put_len(p, 0x0A, scope_.size());
  std::memcpy(p, scope_.data(), scope_.size());
  return {start, request_len};
}

}  // namespace tracecraft::detail
