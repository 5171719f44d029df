// SPDX-License-Identifier: Apache-2.0
// export/otlp_policy.cpp — see otlp_policy.h.
#include "export/otlp_policy.h"

#include <arpa/inet.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>

#include <simdjson.h>

namespace tracecraft::detail {

std::string compose_traces_endpoint(std::string_view traces_endpoint, std::string_view base_endpoint) {
  auto path_is_empty = [](std::string_view url) {
    const std::size_t scheme = url.find("://");
    const std::size_t host = scheme == std::string_view::npos ? 0 : scheme + 3;
    return url.find('/', host) == std::string_view::npos;
  };
  if (!traces_endpoint.empty()) {  // verbatim; only an empty path becomes "/"
    std::string u(traces_endpoint);
    if (path_is_empty(u)) u.push_back('/');
    return u;
  }
  std::string u(base_endpoint.empty() ? std::string_view("http://localhost:4318") : base_endpoint);
  if (u.empty() || u.back() != '/') u.push_back('/');
  u.append("v1/traces");
  return u;
}

http_outcome classify_status(long status) noexcept {
  if (status >= 200 && status < 300) return http_outcome::success;
  if (status == 429 || status == 502 || status == 503 || status == 504) return http_outcome::retry;
  if (status == 413) return http_outcome::too_large;
  return http_outcome::rejected;
}

namespace {

int month_index(std::string_view m) noexcept {
  static constexpr const char* names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i)
    if (m == names[i]) return i;
  return -1;
}

bool parse_uint(std::string_view s, int& out) noexcept {
  if (s.empty() || s.size() > 9) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

bool parse_clock(std::string_view s, std::tm& tm) noexcept {  // HH:MM:SS
  return s.size() == 8 && s[2] == ':' && s[5] == ':' && parse_uint(s.substr(0, 2), tm.tm_hour) &&
         parse_uint(s.substr(3, 2), tm.tm_min) && parse_uint(s.substr(6, 2), tm.tm_sec);
}

// Splits on runs of spaces.
int split(std::string_view s, std::string_view* parts, int max) noexcept {
  int n = 0;
  std::size_t i = 0;
  while (i < s.size() && n < max) {
    while (i < s.size() && s[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > start) parts[n++] = s.substr(start, i - start);
  }
  return n;
}

std::optional<std::int64_t> parse_http_date(std::string_view v) noexcept {
  std::tm tm{};
  std::string_view p[6];
  const int n = split(v, p, 6);
  if (n == 6 && p[0].size() == 4 && p[0][3] == ',' && p[5] == "GMT") {  // Sun, 06 Nov 1994 08:49:37 GMT
    if (!parse_uint(p[1], tm.tm_mday) || (tm.tm_mon = month_index(p[2])) < 0 || !parse_uint(p[3], tm.tm_year) ||
        p[3].size() != 4 || !parse_clock(p[4], tm))
      return std::nullopt;
    tm.tm_year -= 1900;
  } else if (n == 4 && p[0].back() == ',' && p[3] == "GMT") {  // Sunday, 06-Nov-94 08:49:37 GMT
    const std::string_view d = p[1];
    if (d.size() != 9 || d[2] != '-' || d[6] != '-' || !parse_uint(d.substr(0, 2), tm.tm_mday) ||
        (tm.tm_mon = month_index(d.substr(3, 3))) < 0 || !parse_uint(d.substr(7, 2), tm.tm_year) ||
        !parse_clock(p[2], tm))
      return std::nullopt;
    if (tm.tm_year < 70) tm.tm_year += 100;  // two-digit years: RFC 9110's 50-year rule, simplified
  } else if (n == 5) {  // Sun Nov  6 08:49:37 1994
    if ((tm.tm_mon = month_index(p[1])) < 0 || !parse_uint(p[2], tm.tm_mday) || !parse_clock(p[3], tm) ||
        !parse_uint(p[4], tm.tm_year) || p[4].size() != 4)
      return std::nullopt;
    tm.tm_year -= 1900;
  } else {
    return std::nullopt;
  }
  if (tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace

std::optional<std::uint64_t> parse_retry_after(std::string_view v, std::int64_t now_unix) noexcept {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r' || v.back() == '\n')) v.remove_suffix(1);
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (v.size() > 9) return std::uint64_t{999999999} * 1000;  // absurdly long: clamp, callers cap it
    int secs = 0;
    parse_uint(v, secs);
    return static_cast<std::uint64_t>(secs) * 1000;
  }
  const auto when = parse_http_date(v);
  if (!when) return std::nullopt;
  return *when <= now_unix ? 0 : static_cast<std::uint64_t>(*when - now_unix) * 1000;
}

std::uint64_t backoff_ms(unsigned attempt, std::uint64_t base_ms, std::uint64_t max_ms, std::uint64_t random) noexcept {
  std::uint64_t d = base_ms;
  for (unsigned i = 0; i < attempt && d < max_ms; ++i) d *= 2;
  d = std::min(d, max_ms);
  // Jitter: [0.5, 1) of the delay, so retries from many processes spread out.
  // 52 random bits: 0.5 + k * 2^-53 with k < 2^52 stays below 1 exactly (53 bits would round to 1).
  const double f = 0.5 + static_cast<double>(random >> 12) * 0x1.0p-53;
  return static_cast<std::uint64_t>(static_cast<double>(d) * f);
}

token_bucket::token_bucket(double rate_per_s, double burst) noexcept
    : rate_(rate_per_s), burst_(burst), tokens_(burst) {}

bool token_bucket::take(std::uint64_t n, std::uint64_t now_ns) noexcept {
  if (!started_) {
    started_ = true;
    last_ns_ = now_ns;
  }
  if (now_ns > last_ns_) {
    tokens_ = std::min(burst_, tokens_ + rate_ * static_cast<double>(now_ns - last_ns_) * 1e-9);
    last_ns_ = now_ns;
  }
  if (tokens_ + 1e-9 < static_cast<double>(n)) return false;
  tokens_ -= static_cast<double>(n);
  return true;
}

namespace {

// Protobuf reading for the tiny response message: varints and skipping unknown fields.
bool read_varint(const unsigned char*& p, const unsigned char* end, std::uint64_t& v) noexcept {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (p == end) return false;
    const unsigned char b = *p++;
    v |= std::uint64_t{b & 0x7Fu} << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

bool skip_field(const unsigned char*& p, const unsigned char* end, unsigned wire) noexcept {
  std::uint64_t n = 0;
  switch (wire) {
    case 0: return read_varint(p, end, n);
    case 1: if (end - p < 8) return false; p += 8; return true;
    case 5: if (end - p < 4) return false; p += 4; return true;
    case 2:
      if (!read_varint(p, end, n) || n > static_cast<std::uint64_t>(end - p)) return false;
      p += n;
      return true;
    default: return false;
  }
}

export_response parse_proto_response(std::string_view body) {
  export_response r;
  auto p = reinterpret_cast<const unsigned char*>(body.data());
  const auto end = p + body.size();
  while (p < end) {
    std::uint64_t key = 0;
    if (!read_varint(p, end, key)) return export_response{false, 0, {}};
    if (key == ((1u << 3) | 2u)) {  // partial_success
      std::uint64_t n = 0;
      if (!read_varint(p, end, n) || n > static_cast<std::uint64_t>(end - p)) return export_response{false, 0, {}};
      const unsigned char* q = p;
      const unsigned char* qe = p + n;
      p = qe;
      while (q < qe) {
        std::uint64_t k = 0;
        if (!read_varint(q, qe, k)) return export_response{false, 0, {}};
        if (k == ((1u << 3) | 0u)) {
          std::uint64_t v = 0;
          if (!read_varint(q, qe, v)) return export_response{false, 0, {}};
          r.rejected = static_cast<std::int64_t>(v);
        } else if (k == ((2u << 3) | 2u)) {
          std::uint64_t len = 0;
          if (!read_varint(q, qe, len) || len > static_cast<std::uint64_t>(qe - q)) return export_response{false, 0, {}};
          r.message.assign(reinterpret_cast<const char*>(q), len);
          q += len;
        } else if (!skip_field(q, qe, static_cast<unsigned>(k & 7))) {
          return export_response{false, 0, {}};
        }
      }
    } else if (!skip_field(p, end, static_cast<unsigned>(key & 7))) {
      return export_response{false, 0, {}};
    }
  }
  return r;
}

export_response parse_json_response(std::string_view body) {
  export_response r;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return r;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    r.valid = false;
    return r;
  }
  simdjson::dom::element ps;
  if (doc["partialSuccess"].get(ps) != simdjson::SUCCESS) return r;
  simdjson::dom::element rej;
  if (ps["rejectedSpans"].get(rej) == simdjson::SUCCESS) {
    std::int64_t v = 0;
    std::string_view sv;
    if (rej.get_int64().get(v) == simdjson::SUCCESS) {
      r.rejected = v;
    } else if (rej.get_string().get(sv) == simdjson::SUCCESS) {
      r.rejected = std::strtoll(std::string(sv).c_str(), nullptr, 10);
    } else {
      r.valid = false;
    }
  }
  std::string_view msg;
  if (ps["errorMessage"].get_string().get(msg) == simdjson::SUCCESS) r.message.assign(msg);
  return r;
}

}  // namespace

export_response parse_export_response(std::string_view body, bool json) noexcept {
  try {
    return json ? parse_json_response(body) : parse_proto_response(body);
  } catch (...) {
    return export_response{false, 0, {}};
  }
}

namespace {

// Where a URL's authority starts (after "scheme://", or 0) and where its user information ends
// (the last '@' before the path; npos without one), and the authority's end.
struct authority_span {
  std::size_t start, userinfo_end, end;
};
authority_span find_authority(std::string_view url) noexcept {
  const std::size_t scheme = url.find("://");
  authority_span a{};
  a.start = scheme == std::string_view::npos ? 0 : scheme + 3;
  a.end = std::min(url.find_first_of("/?#", a.start), url.size());
  const std::size_t at = url.substr(0, a.end).rfind('@');
  a.userinfo_end = at != std::string_view::npos && at >= a.start ? at : std::string_view::npos;
  return a;
}

}  // namespace

url_parts split_url(std::string_view url) {
  url_parts r;
  const authority_span a = find_authority(url);
  if (a.start > 0) {
    r.scheme.assign(url.substr(0, a.start - 3));
    for (char& c : r.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const std::size_t from = a.userinfo_end == std::string_view::npos ? a.start : a.userinfo_end + 1;
  std::string_view rest = url.substr(from, a.end - from);
  if (!rest.empty() && rest.front() == '[') {
    const std::size_t close = rest.find(']');
    r.host.assign(rest.substr(1, close == std::string_view::npos ? std::string_view::npos : close - 1));
  } else {
    r.host.assign(rest.substr(0, std::min(rest.find(':'), rest.size())));
  }
  return r;
}

namespace {

// An IPv4 or IPv6 address in network order; `len` 4 or 16, 0 when `s` is not an address.
struct ip_addr {
  unsigned char b[16] = {};
  int len = 0;
};
ip_addr parse_ip(std::string_view s) noexcept {
  ip_addr a;
  char buf[64];
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  if (s.empty() || s.size() >= sizeof buf) return a;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  if (inet_pton(AF_INET, buf, a.b) == 1) a.len = 4;
  else if (inet_pton(AF_INET6, buf, a.b) == 1) a.len = 16;
  return a;
}

// `entry` ("addr" or "addr/bits") covers `host`: the first bits (all without /bits) are equal.
bool ip_entry_matches(const ip_addr& host, std::string_view entry) noexcept {
  const std::size_t slash = entry.find('/');
  const ip_addr net = parse_ip(entry.substr(0, slash));
  if (net.len == 0 || net.len != host.len) return false;
  int bits = net.len * 8;
  if (slash != std::string_view::npos) {
    int v = 0;
    if (!parse_uint(entry.substr(slash + 1), v) || v > net.len * 8) return false;
    if (v > 0) bits = v;  // "/0" is the whole address, as libcurl reads it
  }
  const int whole = bits / 8, rest = bits % 8;
  if (std::memcmp(host.b, net.b, static_cast<std::size_t>(whole)) != 0) return false;
  if (rest == 0) return true;
  const unsigned mask = (0xffu << (8 - rest)) & 0xffu;
  return (host.b[whole] & mask) == (net.b[whole] & mask);
}

bool iequal(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && (a.empty() || strncasecmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace

bool no_proxy_matches(std::string_view host, std::string_view no_proxy) noexcept {
  auto blank = [](char c) { return c == ' ' || c == '\t'; };
  std::size_t a = 0, b = no_proxy.size();
  while (a < b && blank(no_proxy[a])) ++a;
  while (b > a && blank(no_proxy[b - 1])) --b;
  if (no_proxy.substr(a, b - a) == "*") return true;
  const ip_addr ip = parse_ip(host);  // "[::1]" included
  if (ip.len == 0 && !host.empty() && host.back() == '.') host.remove_suffix(1);
  std::size_t i = 0;
  while (i < no_proxy.size()) {
    while (i < no_proxy.size() && (blank(no_proxy[i]) || no_proxy[i] == ',')) ++i;
    std::size_t j = i;
    while (j < no_proxy.size() && !blank(no_proxy[j]) && no_proxy[j] != ',') ++j;
    std::string_view entry = no_proxy.substr(i, j - i);
    i = j;
    if (entry.empty()) continue;
    if (ip.len != 0) {
      if (ip_entry_matches(ip, entry)) return true;
      continue;
    }
    if (entry.back() == '.') entry.remove_suffix(1);
    if (!entry.empty() && entry.front() == '.') entry.remove_prefix(1);
    if (entry.empty() || entry.size() > host.size()) continue;
    if (entry.size() == host.size()) {
      if (iequal(entry, host)) return true;
    } else if (host[host.size() - entry.size() - 1] == '.' && iequal(entry, host.substr(host.size() - entry.size()))) {
      return true;
    }
  }
  return false;
}

std::string choose_proxy(std::string_view url, const proxy_settings& env) {
  const url_parts u = split_url(url);
  std::string_view p = u.scheme == "https" ? env.https_proxy : u.scheme == "http" ? env.http_proxy : std::string_view();
  if (p.empty()) p = env.all_proxy;
  if (p.empty() || no_proxy_matches(u.host, env.no_proxy)) return {};
  std::string r(p);
  if (r.find("://") == std::string::npos) r.insert(0, "http://");
  return r;
}

std::string hide_credentials(std::string_view url) {
  const authority_span a = find_authority(url);
  if (a.userinfo_end == std::string_view::npos) return std::string(url);
  std::string r(url.substr(0, a.start));
  r.append("***").append(url.substr(a.userinfo_end));
  return r;
}

}  // namespace tracecraft::detail
