// SPDX-License-Identifier: Apache-2.0
// export/http_response.cpp — see http_response.h. RFC 9112 §6 (message body length) decides how
// a body ends: no body for 1xx, 204 and 304; chunked when Transfer-Encoding says so; else
// Content-Length; else the body runs until the server closes the connection.
#include "export/http_response.h"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace tracecraft::detail {
namespace {

constexpr std::size_t k_max_head = 64 * 1024;  // a collector's answer head is a few hundred bytes
constexpr std::size_t k_max_line = 4096;       // a chunk-size or trailer line

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Calls f(token) for each comma-separated token of a header value, trimmed.
template <class F>
void each_token(std::string_view v, F f) {
  while (!v.empty()) {
    const std::size_t c = v.find(',');
    f(trim(v.substr(0, c)));
    if (c == std::string_view::npos) break;
    v.remove_prefix(c + 1);
  }
}

bool parse_decimal(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty() || s.size() > 18) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = v;
  return true;
}

bool parse_hex(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty() || s.size() > 15) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    const char l = lower(c);
    int d;
    if (l >= '0' && l <= '9')
      d = l - '0';
    else if (l >= 'a' && l <= 'f')
      d = l - 'a' + 10;
    else
      return false;
    v = v * 16 + static_cast<std::uint64_t>(d);
  }
  out = v;
  return true;
}

}  // namespace

void http_response_reader::reset() noexcept {
  st_ = state::need_more;
  ph_ = phase::head;
  head_.clear();
  line_.clear();
  retry_after_.clear();
  body_.clear();
  left_ = 0;
  status_ = 0;
  keep_alive_ = true;
  too_large_ = false;
  started_ = false;
  error_ = "";
}

http_response_reader::state http_response_reader::fail(const char* why) noexcept {
  st_ = state::error;
  error_ = why;
  keep_alive_ = false;
  return st_;
}

void http_response_reader::finish() noexcept { st_ = state::done; }

bool http_response_reader::take_body(const char* p, std::size_t n) noexcept {
  if (n > max_body_ - std::min(max_body_, body_.size())) {
    too_large_ = true;  // the status stands; the rest is not read, so the connection is closed
    keep_alive_ = false;
    st_ = state::done;
    return false;
  }
  try {
    body_.append(p, n);
  } catch (...) {
    fail("out of memory reading the response");
    return false;
  }
  return true;
}

bool http_response_reader::take_line(const char*& p, const char* end, std::string& line) noexcept {
  const void* nl = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
  const char* stop = nl != nullptr ? static_cast<const char*>(nl) : end;
  try {
    line.append(p, static_cast<std::size_t>(stop - p));
  } catch (...) {
    fail("out of memory reading the response");
    p = end;
    return false;
  }
  p = nl != nullptr ? stop + 1 : end;
  if (nl == nullptr) {
    if (line.size() > k_max_line) fail("a chunk line of the response is too long");
    return false;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

// head_ holds a status line and header lines, up to and including the empty line.
bool http_response_reader::parse_head() noexcept {
  std::string_view h(head_);
  std::size_t eol = h.find('\n');
  const std::string_view first = trim(h.substr(0, eol));
  // HTTP/1.x SSS [reason]
  if (first.size() < 12 || first.substr(0, 7) != "HTTP/1." || first[8] != ' ' || first[7] < '0' || first[7] > '9')
    return fail("the answer is not an HTTP/1.x response"), false;
  int status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (first[i] < '0' || first[i] > '9') return fail("the answer's status code is malformed"), false;
    status = status * 10 + (first[i] - '0');
  }
  if (first.size() > 12 && first[12] != ' ') return fail("the answer's status code is malformed"), false;
  if (status < 100) return fail("the answer's status code is malformed"), false;
  status_ = status;
  keep_alive_ = first[7] != '0';  // HTTP/1.1 keeps the connection unless told otherwise; 1.0 closes it

  bool chunked = false, has_length = false;
  std::uint64_t length = 0;
  while (eol != std::string_view::npos) {
    h.remove_prefix(eol + 1);
    eol = h.find('\n');
    const std::string_view line = trim(h.substr(0, eol));
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return fail("a header line of the answer is malformed"), false;
    const std::string_view name = line.substr(0, colon), val = trim(line.substr(colon + 1));
    if (iequals(name, "content-length")) {
      std::uint64_t n = 0;
      if (!parse_decimal(val, n) || (has_length && n != length)) return fail("the answer's Content-Length is invalid"), false;
      has_length = true;
      length = n;
    } else if (iequals(name, "transfer-encoding")) {
      each_token(val, [&](std::string_view t) { chunked = iequals(t, "chunked"); });  // chunked must come last
    } else if (iequals(name, "connection")) {
      each_token(val, [&](std::string_view t) {
        if (iequals(t, "close")) keep_alive_ = false;
        if (iequals(t, "keep-alive")) keep_alive_ = true;
      });
    } else if (iequals(name, "retry-after")) {
      try {
        retry_after_.assign(val);
      } catch (...) {
      }
    }
  }
  if (status < 200) {  // an interim answer (100 Continue, 103 Early Hints): the real one follows
    if (status == 101) return fail("the server switched protocols"), false;
    head_.clear();
    retry_after_.clear();
    status_ = 0;
    return true;
  }
  if (status == 204 || status == 304) {
    finish();
  } else if (chunked) {
    ph_ = phase::chunk_size;
  } else if (has_length) {
    left_ = length;
    if (length == 0)
      finish();
    else
      ph_ = phase::fixed;
  } else {
    ph_ = phase::until_close;
    keep_alive_ = false;
  }
  return true;
}

http_response_reader::state http_response_reader::feed(const char* p, std::size_t n) noexcept {
  if (st_ != state::need_more) return st_;
  if (n > 0) started_ = true;
  const char* end = p + n;
  while (p < end && st_ == state::need_more) {
    switch (ph_) {
      case phase::head: {
        const std::size_t old = head_.size();
        const std::size_t room = k_max_head + 4 - std::min(k_max_head + 4, old);
        const std::size_t take = std::min(room, static_cast<std::size_t>(end - p));
        try {
          head_.append(p, take);
        } catch (...) {
          return fail("out of memory reading the response");
        }
        // The head ends at an empty line ("\r\n\r\n", or bare "\n\n" from a lenient server).
        std::size_t stop = std::string::npos;
        for (std::size_t i = old >= 3 ? old - 3 : 0; i + 1 < head_.size(); ++i) {
          if (head_[i] != '\n') continue;
          if (head_[i + 1] == '\n') {
            stop = i + 2;
            break;
          }
          if (head_[i + 1] == '\r' && i + 2 < head_.size() && head_[i + 2] == '\n') {
            stop = i + 3;
            break;
          }
        }
        if (stop == std::string::npos) {
          if (head_.size() > k_max_head) return fail("the answer's head is over 64 KiB");
          p += take;
          break;
        }
        p += stop - old;
        head_.resize(stop);
        if (!parse_head()) return st_;
        if (ph_ == phase::head) head_.clear();  // an interim response, or a finished one
        break;
      }
      case phase::fixed:
      case phase::chunk_data: {
        const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(left_, static_cast<std::uint64_t>(end - p)));
        if (!take_body(p, take)) return st_;
        p += take;
        left_ -= take;
        if (left_ == 0) {
          if (ph_ == phase::fixed)
            finish();
          else
            ph_ = phase::chunk_crlf;
        }
        break;
      }
      case phase::until_close:
        if (!take_body(p, static_cast<std::size_t>(end - p))) return st_;
        p = end;
        break;
      case phase::chunk_size: {
        if (!take_line(p, end, line_)) break;
        std::string_view s(line_);
        s = trim(s.substr(0, s.find(';')));  // chunk extensions are ignored
        std::uint64_t size = 0;
        if (!parse_hex(s, size)) return fail("a chunk size of the answer is malformed");
        line_.clear();
        if (size == 0) {
          ph_ = phase::trailers;
        } else {
          left_ = size;
          ph_ = phase::chunk_data;
        }
        break;
      }
      case phase::chunk_crlf:
        if (!take_line(p, end, line_)) break;
        if (!line_.empty()) return fail("a chunk of the answer is longer than its size");
        ph_ = phase::chunk_size;
        break;
      case phase::trailers:
        if (!take_line(p, end, line_)) break;
        if (line_.empty()) finish();
        line_.clear();
        break;
    }
  }
  return st_;
}

http_response_reader::state http_response_reader::eof() noexcept {
  if (st_ != state::need_more) return st_;
  if (ph_ == phase::until_close) {
    keep_alive_ = false;
    finish();
    return st_;
  }
  return fail(started_ ? "the connection closed before the answer was complete" : "empty reply from server");
}

}  // namespace tracecraft::detail
