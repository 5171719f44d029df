// SPDX-License-Identifier: Apache-2.0
// sampler/w3c.cpp — W3C Trace Context and Baggage parsing and writing (standards §4, §5).
#include "sampler/w3c.h"

#include <cstring>

namespace tracecraft::detail::w3c {

namespace {

constexpr char k_hex[] = "0123456789abcdef";

inline bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }
inline bool is_lcalpha(char c) noexcept { return c >= 'a' && c <= 'z'; }
inline bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
inline int lower_hex(char c) noexcept {  // lowercase only: uppercase is invalid in traceparent
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}
inline int any_hex(char c) noexcept {
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return lower_hex(c);
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool hex_bytes(const char* p, std::size_t n, std::uint8_t* out) noexcept {
  bool nonzero = false;
  for (std::size_t i = 0; i < n; ++i) {
    const int hi = lower_hex(p[2 * i]), lo = lower_hex(p[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    nonzero |= out[i] != 0;
  }
  return nonzero;
}

// Splits `s` at `sep`, calling f(piece) for each; stops early when f returns false.
template <class F>
bool split(std::string_view s, char sep, F&& f) {
  for (;;) {
    const std::size_t at = s.find(sep);
    if (!f(s.substr(0, at))) return false;
    if (at == std::string_view::npos) return true;
    s.remove_prefix(at + 1);
  }
}

bool parse_hex56(std::string_view s, std::size_t min_len, std::uint64_t& out) noexcept {
  if (s.size() < min_len || s.size() > 14) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    const int d = lower_hex(c);
    if (d < 0) return false;
    v = v << 4 | static_cast<std::uint64_t>(d);
  }
  out = v << (4 * (14 - s.size()));  // right-padded with zeros to 14 digits
  return true;
}

}  // namespace

// ---- traceparent ----------------------------------------------------------------------------

bool parse_traceparent(std::string_view v, traceparent& out) noexcept {
  v = trim(v);
  if (v.size() < traceparent_size) return false;
  const int v_hi = lower_hex(v[0]), v_lo = lower_hex(v[1]);
  if (v_hi < 0 || v_lo < 0) return false;
  const int version = v_hi << 4 | v_lo;
  if (version == 0xff) return false;
  if (v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
  if (version == 0 && v.size() != traceparent_size) return false;
  if (version > 0 && v.size() > traceparent_size && v[traceparent_size] != '-') return false;
  if (!hex_bytes(v.data() + 3, 16, out.trace_id)) return false;   // all zero is invalid too
  if (!hex_bytes(v.data() + 36, 8, out.parent_id)) return false;
  const int f_hi = lower_hex(v[53]), f_lo = lower_hex(v[54]);
  if (f_hi < 0 || f_lo < 0) return false;
  out.flags = static_cast<std::uint8_t>(f_hi << 4 | f_lo);
  out.version = static_cast<std::uint8_t>(version);
  return true;
}

void format_traceparent(const std::uint8_t trace_id[16], const std::uint8_t span_id[8], std::uint8_t flags,
                        char out[traceparent_size]) noexcept {
  char* p = out;
  *p++ = '0';
  *p++ = '0';
  *p++ = '-';
  for (int i = 0; i < 16; ++i) {
    *p++ = k_hex[trace_id[i] >> 4];
    *p++ = k_hex[trace_id[i] & 15];
  }
  *p++ = '-';
  for (int i = 0; i < 8; ++i) {
    *p++ = k_hex[span_id[i] >> 4];
    *p++ = k_hex[span_id[i] & 15];
  }
  *p++ = '-';
  flags &= 0x03;
  *p++ = '0';
  *p = k_hex[flags];
}

// ---- tracestate -----------------------------------------------------------------------------

std::string_view tracestate::get(std::string_view key) const noexcept {
  for (std::size_t i = 0; i < n; ++i)
    if (m[i].key == key) return m[i].value;
  return {};
}

bool valid_key(std::string_view k) noexcept {
  // Level 2: (lcalpha / DIGIT) 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@")
  if (k.empty() || k.size() > 256) return false;
  if (!is_lcalpha(k[0]) && !is_digit(k[0])) return false;
  for (std::size_t i = 1; i < k.size(); ++i) {
    const char c = k[i];
    if (!is_lcalpha(c) && !is_digit(c) && c != '_' && c != '-' && c != '*' && c != '/' && c != '@') return false;
  }
  return true;
}

bool valid_value(std::string_view v) noexcept {
  // 1..256 chars of 0x20-0x7E except ',' and '=', the last not a space.
  if (v.empty() || v.size() > 256 || v.back() == ' ') return false;
  for (char c : v)
    if (c < 0x20 || c > 0x7E || c == ',' || c == '=') return false;
  return true;
}

bool parse_tracestate(std::string_view v, tracestate& out) noexcept {
  out.n = 0;
  const bool ok = split(v, ',', [&](std::string_view piece) {
    piece = trim(piece);
    if (piece.empty()) return true;  // empty members are allowed
    const std::size_t eq = piece.find('=');
    if (eq == std::string_view::npos) return false;
    const std::string_view key = piece.substr(0, eq), value = piece.substr(eq + 1);
    if (!valid_key(key) || !valid_value(value)) return false;
    for (std::size_t i = 0; i < out.n; ++i)
      if (out.m[i].key == key) return true;  // a repeated key: the first one stays
    if (out.n == max_members) return false;    // a 33rd member discards the header
    out.m[out.n++] = {key, value};
    return true;
  });
  if (!ok) out.n = 0;
  return ok;
}

std::size_t write_tracestate(const tracestate& ts, std::string_view front_key, std::string_view front_value,
                             char* out, std::size_t limit) noexcept {
  // Candidates in output order: the front entry, then the others (without front_key), at most 32.
  member list[max_members + 1];
  std::size_t n = 0;
  const bool has_front = !front_key.empty() && !front_value.empty();
  if (has_front) list[n++] = {front_key, front_value};
  for (std::size_t i = 0; i < ts.n && n < max_members; ++i)
    if (ts.m[i].key != front_key) list[n++] = ts.m[i];
  bool keep[max_members + 1];
  std::size_t total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    keep[i] = true;
    total += list[i].key.size() + 1 + list[i].value.size() + (i > 0 ? 1 : 0);
  }
  auto entry = [&](std::size_t i) { return list[i].key.size() + 1 + list[i].value.size(); };
  // Over the limit: drop entries longer than 128 chars (right to left), then from the right.
  const std::size_t first_droppable = has_front ? 1 : 0;
  for (std::size_t i = n; i-- > first_droppable && total > limit;)
    if (entry(i) > 128) keep[i] = false, total -= entry(i) + 1;
  for (std::size_t i = n; i-- > first_droppable && total > limit;)
    if (keep[i]) keep[i] = false, total -= entry(i) + 1;
  std::size_t len = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!keep[i]) continue;
    if (len + (len ? 1 : 0) + entry(i) > limit) continue;  // only the front entry could be this long
    if (len) out[len++] = ',';
    std::memcpy(out + len, list[i].key.data(), list[i].key.size());
    len += list[i].key.size();
    out[len++] = '=';
    std::memcpy(out + len, list[i].value.data(), list[i].value.size());
    len += list[i].value.size();
  }
  return len;
}

// ---- ot -------------------------------------------------------------------------------------

bool parse_th(std::string_view s, std::uint64_t& t) noexcept { return parse_hex56(s, 1, t); }
bool parse_rv(std::string_view s, std::uint64_t& r) noexcept { return s.size() == 14 && parse_hex56(s, 14, r); }

bool parse_ot(std::string_view v, ot_value& out) noexcept {
  out = ot_value{};
  if (v.empty() || v.size() > ot_value_limit) return false;
  ot_value o;
  const bool ok = split(v, ';', [&](std::string_view sub) {
    const std::size_t colon = sub.find(':');
    if (colon == 0 || colon == std::string_view::npos) return false;
    const std::string_view k = sub.substr(0, colon), val = sub.substr(colon + 1);
    if (!is_lcalpha(k[0])) return false;
    for (char c : k)
      if (!is_lcalpha(c) && !is_digit(c)) return false;
    if (val.empty()) return false;
    for (char c : val)
      if (!is_lcalpha(c) && !is_digit(c) && !(c >= 'A' && c <= 'Z') && c != '.' && c != '_' && c != '-') return false;
    if (k == "th") {
      o.has_th = parse_th(val, o.th);
    } else if (k == "rv") {
      o.has_rv = parse_rv(val, o.rv);
    } else if (o.n_others < 16) {
      o.others[o.n_others++] = sub;
    }
    return true;
  });
  if (ok) out = o;
  return ok;
}

std::size_t format_th(std::uint64_t t, char out[14]) noexcept {
  t &= (std::uint64_t{1} << 56) - 1;
  std::size_t n = 14;
  for (int i = 13; i >= 0; --i) {
    out[i] = k_hex[t & 15];
    t >>= 4;
  }
  while (n > 1 && out[n - 1] == '0') --n;
  return n;
}

std::size_t write_ot(const ot_value& o, char out[ot_value_limit]) noexcept {
  std::size_t len = 0;
  auto add = [&](std::string_view s) {
    if (len + (len ? 1 : 0) + s.size() > ot_value_limit) return;
    if (len) out[len++] = ';';
    std::memcpy(out + len, s.data(), s.size());
    len += s.size();
  };
  char buf[17];
  if (o.has_th) {
    std::memcpy(buf, "th:", 3);
    add(std::string_view(buf, 3 + format_th(o.th, buf + 3)));
  }
  if (o.has_rv) {
    std::memcpy(buf, "rv:", 3);
    std::uint64_t r = o.rv;
    for (int i = 13; i >= 0; --i, r >>= 4) buf[3 + i] = k_hex[r & 15];
    add(std::string_view(buf, 17));
  }
  for (std::size_t i = 0; i < o.n_others; ++i) add(o.others[i]);
  return len;
}

// ---- baggage ----------------------------------------------------------------------------------

namespace {

bool is_tchar(char c) noexcept {
  if (is_lcalpha(c) || is_digit(c) || (c >= 'A' && c <= 'Z')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}
bool is_baggage_octet(unsigned char c) noexcept {
  return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) || (c >= 0x3C && c <= 0x5B) ||
         (c >= 0x5D && c <= 0x7E);
}

// Appends `s` with invalid UTF-8 sequences replaced by U+FFFD.
void append_utf8_fixed(std::string& out, const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) len = 1, cp = c;
    else if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07;
    bool ok = len > 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) ok = false;
      else cp = cp << 6 | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid too.
    if (ok && ((len == 2 && cp < 0x80) || (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
               (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))))
      ok = false;
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
}

}  // namespace

std::vector<baggage_entry> parse_baggage(std::string_view v, std::size_t* dropped) {
  std::vector<baggage_entry> out;
  std::size_t bad = 0;
  if (v.size() > baggage_max_bytes) {  // keep whole members within the first 8192 bytes
    const std::size_t cut = v.substr(0, baggage_max_bytes + 1).rfind(',');
    ++bad;  // at least one member is cut off
    v = cut == std::string_view::npos ? std::string_view() : v.substr(0, cut);
  }
  split(v, ',', [&](std::string_view piece) {
    piece = trim(piece);
    if (piece.empty()) return true;
    if (out.size() == baggage_max_members) {
      ++bad;
      return true;
    }
    const std::size_t semi = piece.find(';');
    const std::string_view kv = trim(piece.substr(0, semi));
    const std::string_view props = semi == std::string_view::npos ? std::string_view() : trim(piece.substr(semi + 1));
    const std::size_t eq = kv.find('=');
    if (eq == std::string_view::npos) {
      ++bad;
      return true;
    }
    const std::string_view key = trim(kv.substr(0, eq)), raw = trim(kv.substr(eq + 1));
    bool ok = !key.empty();
    for (char c : key) ok = ok && is_tchar(c);
    std::string decoded;
    for (std::size_t i = 0; ok && i < raw.size(); ++i) {
      const auto c = static_cast<unsigned char>(raw[i]);
      if (c == '%') {
        const int hi = i + 2 < raw.size() ? any_hex(raw[i + 1]) : -1;
        const int lo = hi >= 0 ? any_hex(raw[i + 2]) : -1;
        if (lo < 0) {
          ok = false;
          break;
        }
        decoded += static_cast<char>(hi << 4 | lo);
        i += 2;
      } else if (is_baggage_octet(c)) {
        decoded += static_cast<char>(c);
      } else {
        ok = false;
      }
    }
    if (!ok) {
      ++bad;
      return true;
    }
    baggage_entry e;
    e.key = std::string(key);
    append_utf8_fixed(e.value, decoded);
    e.properties = std::string(props);
    out.push_back(std::move(e));
    return true;
  });
  if (dropped != nullptr) *dropped = bad;
  return out;
}

std::string write_baggage(const std::vector<baggage_entry>& entries) {
  std::string out;
  std::size_t members = 0;
  for (const baggage_entry& e : entries) {
    if (members == baggage_max_members) break;
    std::string m = e.key + "=";
    for (unsigned char c : e.value) {
      if (is_baggage_octet(c) && c != '%') {
        m += static_cast<char>(c);
      } else {
        m += '%';
        m += "0123456789ABCDEF"[c >> 4];
        m += "0123456789ABCDEF"[c & 15];
      }
    }
    if (!e.properties.empty()) m += ";" + e.properties;
    if (out.size() + (out.empty() ? 0 : 1) + m.size() > baggage_max_bytes) continue;
    if (!out.empty()) out += ',';
    out += m;
    ++members;
  }
  return out;
}

}  // namespace tracecraft::detail::w3c
