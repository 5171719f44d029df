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

// ---- the per-span plan: every size computed once, then the bytes written once ---------------

inline std::size_t span_encoder::plan_attr(const attr_view& a) {
  attr_plan pl;
  pl.key = static_cast<std::uint32_t>(utf8_clean_size(a.key));
  switch (a.type) {
    case value::type::boolean: pl.value = 2; break;
    case value::type::int64: pl.value = static_cast<std::uint32_t>(1 + varint_size(static_cast<std::uint64_t>(a.i))); break;
    case value::type::float64: pl.value = 9; break;
    case value::type::string:
      pl.str = static_cast<std::uint32_t>(utf8_clean_size(a.s));
      pl.value = static_cast<std::uint32_t>(len_field(pl.str));
      break;
  }
  pl.kv = static_cast<std::uint32_t>(len_field(pl.key) + len_field(pl.value));
  plan_.push_back(pl);
  return len_field(pl.kv);
}

char* span_encoder::write_attr(char* p, unsigned char tag, const attr_view& a, const attr_plan& pl) noexcept {
  p = put_len(p, tag, pl.kv);
  p = put_clean(p, 0x0A, a.key, pl.key);
  p = put_len(p, 0x12, pl.value);  // AnyValue; a set oneof member is written even when zero
  switch (a.type) {
    case value::type::boolean: return put_byte(put_byte(p, 0x10), a.b ? 1 : 0);
    case value::type::int64: return put_varint(put_byte(p, 0x18), static_cast<std::uint64_t>(a.i));
    case value::type::float64: {
      std::uint64_t bits;
      std::memcpy(&bits, &a.d, 8);
      return put_fixed64(put_byte(p, 0x21), bits);
    }
    case value::type::string: return put_clean(p, 0x0A, a.s, pl.str);
  }
  return p;
}

std::size_t span_encoder::plan(const span_view& s) {
  plan_.clear();
  sub_.clear();
  std::size_t n = 18 + 10;                            // trace_id, span_id
  if (s.parent_id != nullptr) n += 10;                // parent_span_id
  name_ = static_cast<std::uint32_t>(utf8_clean_size(s.name));
  n += len_field(name_) + 2 + 9 + 9;                  // name, kind, start, end
  // The kind's derived attributes are the same bytes every time: encoded once per kind.
  skip_ = 0;
  const auto k = static_cast<std::size_t>(s.step) & 15;
  if (s.fixed_attrs > 0 && s.fixed_attrs <= s.attrs.size()) {
    if (kind_bytes_[k].empty()) {
      std::size_t size = 0;
      const std::size_t mark = plan_.size();
      for (std::size_t i = 0; i < s.fixed_attrs; ++i) size += plan_attr(s.attrs[i]);
      std::string bytes(size, '\0');
      char* p = bytes.data();
      for (std::size_t i = 0; i < s.fixed_attrs; ++i) p = write_attr(p, 0x4A, s.attrs[i], plan_[mark + i]);
      plan_.resize(mark);
      kind_bytes_[k] = std::move(bytes);
    }
    skip_ = s.fixed_attrs;
    n += kind_bytes_[k].size();
  }
  for (std::size_t i = skip_; i < s.attrs.size(); ++i) n += plan_attr(s.attrs[i]);
  n += count_field(s.dropped_attrs);
  for (const event_view& e : s.events) {
    std::size_t b = 9 + count_field(e.dropped_attrs);
    const auto name = static_cast<std::uint32_t>(utf8_clean_size(e.name));
    b += len_field(name);
    for (std::uint32_t i = 0; i < e.attr_count; ++i) b += plan_attr(s.nested[e.first_attr + i]);
    sub_.push_back(static_cast<std::uint32_t>(b));
    sub_.push_back(name);
    n += len_field(b);
  }
  n += count_field(s.dropped_events);
  for (const link_view& l : s.links) {
    std::size_t b = 18 + 10 + 5 + count_field(l.dropped_attrs);
    for (std::uint32_t i = 0; i < l.attr_count; ++i) b += plan_attr(s.nested[l.first_attr + i]);
    sub_.push_back(static_cast<std::uint32_t>(b));
    n += len_field(b);
  }
  n += count_field(s.dropped_links);
  status_msg_ = s.status == 2 && !s.status_message.empty() ? static_cast<std::uint32_t>(utf8_clean_size(s.status_message)) : 0;
  if (s.status != 0) n += len_field((status_msg_ ? len_field(status_msg_) : 0) + 2);
  size_ = n + 2 + 4;                                  // flags: tag 0x85 0x01, fixed32
  return size_;
}

char* span_encoder::write(char* p, const span_view& s) noexcept {
  std::size_t ai = 0, si = 0;  // cursors into plan_ and sub_, in planning order
  p = put_bytes(p, 0x0A, s.trace_id, 16);
  p = put_bytes(p, 0x12, s.span_id, 8);
  if (s.parent_id != nullptr) p = put_bytes(p, 0x22, s.parent_id, 8);
  p = put_clean(p, 0x2A, s.name, name_);
  p = put_byte(put_byte(p, 0x30), s.otel);
  p = put_fixed64(put_byte(p, 0x39), s.start_ns);
  p = put_fixed64(put_byte(p, 0x41), s.end_ns);
  if (skip_ > 0) {
    const std::string& fixed = kind_bytes_[static_cast<std::size_t>(s.step) & 15];
    std::memcpy(p, fixed.data(), fixed.size());
    p += fixed.size();
  }
  for (std::size_t i = skip_; i < s.attrs.size(); ++i) p = write_attr(p, 0x4A, s.attrs[i], plan_[ai++]);
  p = put_count(p, 0x50, s.dropped_attrs);
  for (const event_view& e : s.events) {
    p = put_len(p, 0x5A, sub_[si]);
    const std::uint32_t name = sub_[si + 1];
    si += 2;
    p = put_fixed64(put_byte(p, 0x09), e.time_ns);
    p = put_clean(p, 0x12, e.name, name);
    for (std::uint32_t i = 0; i < e.attr_count; ++i) p = write_attr(p, 0x1A, s.nested[e.first_attr + i], plan_[ai++]);
    p = put_count(p, 0x20, e.dropped_attrs);
  }
  p = put_count(p, 0x60, s.dropped_events);
  for (const link_view& l : s.links) {
    p = put_len(p, 0x6A, sub_[si++]);
    p = put_bytes(p, 0x0A, l.trace_id, 16);
    p = put_bytes(p, 0x12, l.span_id, 8);
    for (std::uint32_t i = 0; i < l.attr_count; ++i) p = write_attr(p, 0x22, s.nested[l.first_attr + i], plan_[ai++]);
    p = put_count(p, 0x28, l.dropped_attrs);
    p = put_fixed32(put_byte(p, 0x35), (l.flags & 0x03u) | 0x100u | (l.remote ? 0x200u : 0u));
  }
  p = put_count(p, 0x70, s.dropped_links);
  if (s.status != 0) {
    p = put_len(p, 0x7A, (status_msg_ ? len_field(status_msg_) : 0) + 2);
    if (status_msg_) p = put_clean(p, 0x12, s.status_message, status_msg_);
    p = put_byte(put_byte(p, 0x18), s.status);
  }
  p = put_byte(put_byte(p, 0x85), 0x01);
  return put_fixed32(p, s.otlp_flags());
}

// ---- the request envelope -------------------------------------------------------------------

otlp_proto_batch::otlp_proto_batch(const resource_info& res) {
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
  span_encoder enc;
  std::size_t size = 0;
  for (const attr_view& a : attrs) size += enc.plan_attr(a);
  resource_.resize(size);
  char* p = resource_.data();
  for (std::size_t i = 0; i < attrs.size(); ++i) p = span_encoder::write_attr(p, 0x0A, attrs[i], enc.planned(i));
  // InstrumentationScope { name = 1, version = 2 }
  const std::string_view name = "tracecraft", ver = version();
  scope_.resize(string_field(name) + string_field(ver));
  put_string(put_string(scope_.data(), 0x0A, name), 0x12, ver);
  // Envelope: request tag+len, ResourceSpans: resource tag+len+body, scope_spans tag+len,
  // ScopeSpans: scope tag+len+body. Lengths take at most 5 varint bytes each.
  headroom_ = 4 * 6 + resource_.size() + scope_.size();
  clear();
}

void otlp_proto_batch::clear() noexcept {
  buf_.clear();
  buf_.ensure(headroom_);
  buf_.commit(headroom_);
  spans_ = 0;
}

bool otlp_proto_batch::add(const span_view& s, std::size_t max_request) {
  const std::size_t body = enc_.plan(s);
  // buf_ holds the headroom, an upper bound of the envelope: the request stays under the limit.
  if (buf_.size() + len_field(body) > max_request) return false;
  char* p = buf_.ensure(len_field(body));
  char* end = enc_.write(put_len(p, 0x12, body), s);  // ScopeSpans.spans = 2
  buf_.commit(static_cast<std::size_t>(end - p));
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
