// SPDX-License-Identifier: Apache-2.0
// tools/sink/otlp_transcode.cpp — see otlp_transcode.h.
#include "tools/sink/otlp_transcode.h"

#include <array>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <vector>

#include <simdjson.h>

#include "export/json_writer.h"

namespace tracecraft::sink {
namespace {

using detail::json_writer;
using detail::out_buffer;

enum class ft : std::uint8_t { msg, str, hex_id, b64, fixed64, fixed32, u32, i64, i32, enm, boolean, dbl };

struct msg_def;
struct field_def {
  std::uint32_t num;
  const char* json;
  ft type;
  const msg_def* sub;
  bool repeated;
};
constexpr unsigned wire_of(ft t) noexcept {
  switch (t) {
    case ft::msg: case ft::str: case ft::hex_id: case ft::b64: return 2;
    case ft::fixed64: case ft::dbl: return 1;
    case ft::fixed32: return 5;
    default: return 0;
  }
}
struct msg_def {
  const field_def* fields;
  std::size_t n;
  std::array<std::uint8_t, 32> by_num{};  // field number -> index + 1 (0: unknown); numbers here are < 32
  // field number -> 8 | expected wire type (0: unknown): the validator's check in one load
  std::array<std::uint8_t, 32> wire{};
};
template <std::size_t N>
constexpr msg_def def(const field_def (&f)[N]) {
  msg_def m{f, N, {}, {}};
  for (std::size_t i = 0; i < N; ++i) {
    m.by_num[f[i].num] = static_cast<std::uint8_t>(i + 1);
    m.wire[f[i].num] = static_cast<std::uint8_t>(8 | wire_of(f[i].type));
  }
  return m;
}

extern const msg_def k_any_value, k_key_value, k_kv_list, k_array;

constexpr field_def f_array[] = {{1, "values", ft::msg, &k_any_value, true}};
constexpr field_def f_kv_list[] = {{1, "values", ft::msg, &k_key_value, true}};
constexpr field_def f_any_value[] = {
    {1, "stringValue", ft::str, nullptr, false}, {2, "boolValue", ft::boolean, nullptr, false},
    {3, "intValue", ft::i64, nullptr, false},    {4, "doubleValue", ft::dbl, nullptr, false},
    {5, "arrayValue", ft::msg, &k_array, false}, {6, "kvlistValue", ft::msg, &k_kv_list, false},
    {7, "bytesValue", ft::b64, nullptr, false},
};
constexpr field_def f_key_value[] = {{1, "key", ft::str, nullptr, false}, {2, "value", ft::msg, &k_any_value, false}};
const msg_def k_any_value = def(f_any_value);
const msg_def k_key_value = def(f_key_value);
const msg_def k_kv_list = def(f_kv_list);
const msg_def k_array = def(f_array);

constexpr field_def f_status[] = {{2, "message", ft::str, nullptr, false}, {3, "code", ft::enm, nullptr, false}};
constexpr msg_def k_status = def(f_status);
constexpr field_def f_event[] = {
    {1, "timeUnixNano", ft::fixed64, nullptr, false},
    {2, "name", ft::str, nullptr, false},
    {3, "attributes", ft::msg, &k_key_value, true},
    {4, "droppedAttributesCount", ft::u32, nullptr, false},
};
constexpr msg_def k_event = def(f_event);
constexpr field_def f_link[] = {
    {1, "traceId", ft::hex_id, nullptr, false},  {2, "spanId", ft::hex_id, nullptr, false},
    {3, "traceState", ft::str, nullptr, false},  {4, "attributes", ft::msg, &k_key_value, true},
    {5, "droppedAttributesCount", ft::u32, nullptr, false}, {6, "flags", ft::fixed32, nullptr, false},
};
constexpr msg_def k_link = def(f_link);
constexpr field_def f_span[] = {
    {1, "traceId", ft::hex_id, nullptr, false},
    {2, "spanId", ft::hex_id, nullptr, false},
    {3, "traceState", ft::str, nullptr, false},
    {4, "parentSpanId", ft::hex_id, nullptr, false},
    {16, "flags", ft::fixed32, nullptr, false},
    {5, "name", ft::str, nullptr, false},
    {6, "kind", ft::enm, nullptr, false},
    {7, "startTimeUnixNano", ft::fixed64, nullptr, false},
    {8, "endTimeUnixNano", ft::fixed64, nullptr, false},
    {9, "attributes", ft::msg, &k_key_value, true},
    {10, "droppedAttributesCount", ft::u32, nullptr, false},
    {11, "events", ft::msg, &k_event, true},
    {12, "droppedEventsCount", ft::u32, nullptr, false},
    {13, "links", ft::msg, &k_link, true},
    {14, "droppedLinksCount", ft::u32, nullptr, false},
    {15, "status", ft::msg, &k_status, false},
};
constexpr msg_def k_span = def(f_span);
constexpr field_def f_scope[] = {
    {1, "name", ft::str, nullptr, false}, {2, "version", ft::str, nullptr, false},
    {3, "attributes", ft::msg, &k_key_value, true}, {4, "droppedAttributesCount", ft::u32, nullptr, false},
};
constexpr msg_def k_scope = def(f_scope);
constexpr field_def f_scope_spans[] = {
    {1, "scope", ft::msg, &k_scope, false}, {2, "spans", ft::msg, &k_span, true}, {3, "schemaUrl", ft::str, nullptr, false}};
constexpr msg_def k_scope_spans = def(f_scope_spans);
constexpr field_def f_resource[] = {{1, "attributes", ft::msg, &k_key_value, true},
                                    {2, "droppedAttributesCount", ft::u32, nullptr, false}};
constexpr msg_def k_resource = def(f_resource);
constexpr field_def f_resource_spans[] = {{1, "resource", ft::msg, &k_resource, false},
                                          {2, "scopeSpans", ft::msg, &k_scope_spans, true},
                                          {3, "schemaUrl", ft::str, nullptr, false}};
constexpr msg_def k_resource_spans = def(f_resource_spans);
constexpr field_def f_request[] = {{1, "resourceSpans", ft::msg, &k_resource_spans, true}};
constexpr msg_def k_request = def(f_request);


struct entry {
  std::uint16_t field;  // index into the message's fields
  std::uint64_t v;      // varint / fixed value
  const unsigned char* p;
  std::size_t len;
};

class transcoder {
 public:
  explicit transcoder(out_buffer* out) : out_(out) {}
  std::uint64_t spans = 0;
  std::string error;

  bool message(const msg_def& m, const unsigned char* p, const unsigned char* end, int depth) {
    if (depth > 64) return fail("nesting deeper than 64");
    if (out_ == nullptr) return validate(m, p, end, depth);
    std::vector<entry> entries;
    while (p < end) {
      entry e;
      if (!next_field(m, p, end, e)) return false;
      if (e.field != 0xFFFF) entries.push_back(e);  // unknown fields are skipped
    }
    if (&m == &k_scope_spans)
      for (const entry& e : entries) spans += m.fields[e.field].num == 2;
    if (out_) out_->push_back('{');
    bool first = true;
    for (std::size_t f = 0; f < m.n; ++f) {
      const field_def& fd = m.fields[f];
      std::size_t count = 0, last = 0;
      for (std::size_t i = 0; i < entries.size(); ++i)
        if (entries[i].field == f) ++count, last = i;
      if (count == 0) continue;
      if (out_) {
        if (!first) out_->push_back(',');
        first = false;
        json_writer(*out_).str(fd.json);
        out_->push_back(':');
        if (fd.repeated) out_->push_back('[');
      }
      bool first_v = true;
      for (std::size_t i = 0; i < entries.size(); ++i) {
        if (entries[i].field != f) continue;
        if (!fd.repeated && i != last) {  // singular: the last one wins, the others must still be valid
          const entry& e = entries[i];
          if (fd.type == ft::hex_id && e.len != 0 && e.len != 8 && e.len != 16) return fail(std::string(fd.json) + " has a bad length");
          if (fd.type == ft::msg && !validate(*fd.sub, e.p, e.p + e.len, depth + 1)) return false;
          continue;
        }
        if (out_ && !first_v) out_->push_back(',');
        first_v = false;
        if (!value(fd, entries[i], depth)) return false;
      }
      if (out_ && fd.repeated) out_->push_back(']');
    }
    if (out_) out_->push_back('}');
    return true;
  }

 private:
  // Validation and counting only (--discard): one pass, nothing buffered, each field read once.
  // This is what a benchmark's sink spends per span, on the same cores as the engine it measures.
  bool validate(const msg_def& m, const unsigned char* p, const unsigned char* end, int depth) {
    while (p < end) {
      entry e;
      if (!next_field(m, p, end, e)) return false;
      if (e.field == 0xFFFF) continue;  // unknown: skipped
      const field_def& fd = m.fields[e.field];
      if (fd.type == ft::hex_id && e.len != 0 && e.len != 8 && e.len != 16) return fail(std::string(fd.json) + " has a bad length");
      if (fd.type == ft::msg) {
        if (depth + 1 > 64) return fail("nesting deeper than 64");
        if (!validate(*fd.sub, e.p, e.p + e.len, depth + 1)) return false;
        if (&m == &k_scope_spans && fd.num == 2) ++spans;
      }
    }
    return true;
  }

  // Reads one field of `m` at p: its value into `e` (e.field = 0xFFFF for a field `m` does not
  // know, which is skipped); false (with the reason) on malformed input or a wrong wire type.
  // The wire type is checked first, from the message's table (one load).
  __attribute__((always_inline)) bool next_field(const msg_def& m, const unsigned char*& p, const unsigned char* end,
                                                 entry& e) {
    std::uint64_t key;
    if (!varint(p, end, key)) return fail("truncated field key");
    const std::uint64_t num = key >> 3;
    const unsigned wire = static_cast<unsigned>(key & 7);
    if (num == 0) return fail("field number 0");
    const unsigned expect = num < m.wire.size() ? m.wire[num] : 0u;
    if (expect != 0 && wire != (expect & 7u))
      return fail(std::string("wrong wire type for ") + m.fields[m.by_num[num] - 1].json);
    e = entry{expect != 0 ? static_cast<std::uint16_t>(m.by_num[num] - 1) : std::uint16_t{0xFFFF}, 0, nullptr, 0};
    switch (wire) {
      case 0: if (!varint(p, end, e.v)) return fail("truncated varint"); break;
      case 1: if (end - p < 8) return fail("truncated fixed64"); std::memcpy(&e.v, p, 8); p += 8; break;
      case 5: {
        if (end - p < 4) return fail("truncated fixed32");
        std::uint32_t v32;
        std::memcpy(&v32, p, 4);
        e.v = v32;
        p += 4;
        break;
      }
      case 2: {
        std::uint64_t n;
        if (!varint(p, end, n) || n > static_cast<std::uint64_t>(end - p)) return fail("length past the end");
        e.p = p;
        e.len = static_cast<std::size_t>(n);
        p += n;
        break;
      }
      default: return fail("unsupported wire type");
    }
    return true;
  }

  bool fail(std::string why) {
    if (error.empty()) error = std::move(why);
    return false;
  }
  static bool varint(const unsigned char*& p, const unsigned char* end, std::uint64_t& v) noexcept {
    if (p != end && *p < 0x80) {  // one byte: most keys and lengths
      v = *p++;
      return true;
    }
    v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (p == end) return false;
      const unsigned char b = *p++;
      if (shift == 63 && (b & 0x7E) != 0) return false;  // more than 64 bits
      v |= std::uint64_t{b & 0x7Fu} << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }

  bool value(const field_def& fd, const entry& e, int depth) {
    if (fd.type == ft::msg) return message(*fd.sub, e.p, e.p + e.len, depth + 1);
    if (fd.type == ft::hex_id && e.len != 0 && e.len != 8 && e.len != 16) return fail(std::string(fd.json) + " has a bad length");
    if (!out_) return true;
    json_writer w(*out_);
    char buf[32];
    switch (fd.type) {
      case ft::str: w.str(std::string_view(reinterpret_cast<const char*>(e.p), e.len)); break;
      case ft::hex_id:
        out_->push_back('"');
        {
          static constexpr char hexd[] = "0123456789abcdef";
          for (std::size_t i = 0; i < e.len; ++i) {
            out_->push_back(hexd[e.p[i] >> 4]);
            out_->push_back(hexd[e.p[i] & 15]);
          }
        }
        out_->push_back('"');
        break;
      case ft::b64: base64(e.p, e.len); break;
      case ft::fixed64: w.u64_quoted(e.v); break;
      case ft::i64: w.i64_quoted(static_cast<std::int64_t>(e.v)); break;
      case ft::fixed32: case ft::u32:
        std::snprintf(buf, sizeof buf, "%" PRIu32, static_cast<std::uint32_t>(e.v));
        w.raw(std::string_view(buf));
        break;
      case ft::i32: case ft::enm:
        std::snprintf(buf, sizeof buf, "%" PRId32, static_cast<std::int32_t>(e.v));
        w.raw(std::string_view(buf));
        break;
      case ft::boolean: w.raw(e.v != 0 ? std::string_view("true") : std::string_view("false")); break;
      case ft::dbl: {
        double d;
        std::memcpy(&d, &e.v, 8);
        w.dbl(d);
        break;
      }
      case ft::msg: break;
    }
    return true;
  }

  void base64(const unsigned char* p, std::size_t n) {
    static constexpr char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out_->push_back('"');
    std::size_t i = 0;
    for (; i + 3 <= n; i += 3) {
      const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8) | p[i + 2];
      for (int s = 18; s >= 0; s -= 6) out_->push_back(tbl[(v >> s) & 63]);
    }
    if (n - i == 1) {
      const std::uint32_t v = std::uint32_t{p[i]} << 16;
      out_->push_back(tbl[(v >> 18) & 63]);
      out_->push_back(tbl[(v >> 12) & 63]);
      out_->append("==");
    } else if (n - i == 2) {
      const std::uint32_t v = (std::uint32_t{p[i]} << 16) | (std::uint32_t{p[i + 1]} << 8);
      out_->push_back(tbl[(v >> 18) & 63]);
      out_->push_back(tbl[(v >> 12) & 63]);
      out_->push_back(tbl[(v >> 6) & 63]);
      out_->push_back('=');
    }
    out_->push_back('"');
  }

  out_buffer* out_;
};

}  // namespace

transcode_result transcode_request(std::string_view pb, std::string* json) {
  transcode_result r;
  try {
    out_buffer buf;
    transcoder t(json ? &buf : nullptr);
    const auto* p = reinterpret_cast<const unsigned char*>(pb.data());
    r.ok = t.message(k_request, p, p + pb.size(), 0);
    r.spans = t.spans;
    r.error = t.error;
    if (r.ok && json) json->append(buf.data() == nullptr ? "" : buf.data(), buf.size());
  } catch (const std::exception& e) {
    r.ok = false;
    r.error = e.what();
  }
  return r;
}

transcode_result check_json_request(std::string_view body, std::string* json) {
  transcode_result r;
  try {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (auto err = parser.parse(body.data(), body.size()).get(doc)) {
      r.error = std::string("not JSON: ") + simdjson::error_message(err);
      return r;
    }
    if (!doc.is_object()) {
      r.error = "not a JSON object";
      return r;
    }
    simdjson::dom::array rs;
    if (doc["resourceSpans"].get_array().get(rs) == simdjson::SUCCESS) {
      for (simdjson::dom::element res : rs) {
        simdjson::dom::array ss;
        if (res["scopeSpans"].get_array().get(ss) != simdjson::SUCCESS) continue;
        for (simdjson::dom::element sc : ss) {
          simdjson::dom::array spans;
          if (sc["spans"].get_array().get(spans) == simdjson::SUCCESS) r.spans += spans.size();
        }
      }
    } else if (doc["resourceSpans"].error() != simdjson::NO_SUCH_FIELD) {
      r.error = "resourceSpans is not an array";
      return r;
    }
    if (json) json->append(simdjson::minify(doc));
    r.ok = true;
  } catch (const std::exception& e) {
    r.ok = false;
    r.error = e.what();
  }
  return r;
}

}  // namespace tracecraft::sink
