// SPDX-License-Identifier: Apache-2.0
// export/http_transport.cpp — libcurl's multi interface connects one easy handle with
// CURLOPT_CONNECT_ONLY (name resolution on curl's resolver thread, the proxy, TLS and its
// certificates all stay libcurl's); the request is then framed here and written with
// curl_easy_send straight from the caller's buffer. A posted body through libcurl's own HTTP
// code was copied into its upload buffer first: 36-46 ns of the export thread's CPU per span
// (HACKING.md, "the transport"). Answers are read by http_response_reader.
//
// Waiting is poll() on the connection and an eventfd that abort() makes readable, so shutdown
// interrupts a request to a collector that never answers at once.
#include "export/http_transport.h"

#include <curl/curl.h>
#include <poll.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <new>

#include "export/otlp_policy.h"

namespace tracecraft::detail {
namespace {

constexpr std::size_t k_in_bytes = 16 * 1024;  // one read of an answer (a collector's is a few hundred bytes)

// RFC 4648 base64, for credentials given in the endpoint URL (Basic authentication).
std::string base64(std::string_view in) {
  static constexpr char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

// The part of a URL, or "" when it has none.
std::string url_part(CURLU* u, CURLUPart what, unsigned flags = 0) {
  char* p = nullptr;
  std::string r;
  if (curl_url_get(u, what, &p, flags) == CURLUE_OK && p != nullptr) r = p;
  curl_free(p);
  return r;
}

// Whether requests go to an HTTP proxy in absolute form: an http:// endpoint through an http://
// or https:// proxy. Through a socks proxy, or to an https:// endpoint, the connection reaches the
// collector itself (a socks hand-off or a CONNECT tunnel) and the request is as without a proxy.
bool proxied_in_absolute_form(const http_options& o) {
  if (o.proxy.empty()) return false;
  const std::string endpoint = split_url(o.url).scheme, proxy = split_url(o.proxy).scheme;
  return endpoint == "http" && (proxy == "http" || proxy == "https");
}

// The request head up to the per-request lines: request line, Host, credentials from the URL,
// User-Agent, Content-Type and the configured headers. Empty when the URL cannot be parsed.
// `absolute`: the request line names the whole URL (credentials left out) and the proxy's own
// credentials, if its URL has any, go in Proxy-Authorization.
std::string request_head(const http_options& o, bool absolute) {
  CURLU* u = curl_url();
  if (u == nullptr) return {};
  std::string head;
  if (curl_url_set(u, CURLUPART_URL, o.url.c_str(), 0) == CURLUE_OK) {
    const std::string host = url_part(u, CURLUPART_HOST), port = url_part(u, CURLUPART_PORT);
    std::string target = url_part(u, CURLUPART_PATH);
    if (target.empty()) target = "/";
    const std::string query = url_part(u, CURLUPART_QUERY);
    if (!query.empty()) target += "?" + query;
    const std::string authority = host + (port.empty() ? "" : ":" + port);
    if (absolute) target = "http://" + authority + target;
    head = "POST " + target + " HTTP/1.1\r\nHost: " + authority + "\r\n";
    if (absolute) {
      CURLU* pu = curl_url();
      if (pu != nullptr && curl_url_set(pu, CURLUPART_URL, o.proxy.c_str(), 0) == CURLUE_OK) {
        const std::string puser = url_part(pu, CURLUPART_USER, CURLU_URLDECODE);
        if (!puser.empty())
          head += "Proxy-Authorization: Basic " + base64(puser + ":" + url_part(pu, CURLUPART_PASSWORD, CURLU_URLDECODE)) + "\r\n";
      }
      curl_url_cleanup(pu);
    }
    bool has_auth = false;
    for (const auto& kv : o.headers) has_auth = has_auth || (kv.first.size() == 13 && strncasecmp(kv.first.c_str(), "authorization", 13) == 0);
    const std::string user = url_part(u, CURLUPART_USER, CURLU_URLDECODE);
    if (!user.empty() && !has_auth)
      head += "Authorization: Basic " + base64(user + ":" + url_part(u, CURLUPART_PASSWORD, CURLU_URLDECODE)) + "\r\n";
    head += "User-Agent: " + o.user_agent + "\r\nContent-Type: " + o.content_type + "\r\n";
    for (const auto& [k, v] : o.headers) head += k + ": " + v + "\r\n";
    if (host.empty()) head.clear();
  }
  curl_url_cleanup(u);
  return head;
}

// The error text of a result; out of memory it stays empty (the exporter still counts the failure).
void set_text(http_result& r, const char* text) noexcept {
  try {
    r.error = text;
  } catch (...) {
  }
}

}  // namespace

void http_transport::global_init() noexcept {
  static std::once_flag once;
  try {
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  } catch (...) {  // std::system_error: the handles below then fail and the exporter says so
  }
}

http_transport::http_transport(http_options opts) : opts_(std::move(opts)), reader_(response_, opts_.max_response_bytes) {
  global_init();
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  in_.reset(new (std::nothrow) char[k_in_bytes]);
  absolute_form_ = proxied_in_absolute_form(opts_);
  try {
    head_ = request_head(opts_, absolute_form_);
    request_.reserve(head_.size() + 64);
  } catch (...) {
    head_.clear();
  }
  ok_ = wake_fd_ >= 0 && in_ != nullptr && !head_.empty() && open_handles();
}

http_transport::~http_transport() {
  disconnect();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

bool http_transport::open_handles() noexcept {
  CURLM* m = curl_multi_init();
  CURL* e = curl_easy_init();
  if (m == nullptr || e == nullptr) {
    if (m != nullptr) curl_multi_cleanup(m);
    if (e != nullptr) curl_easy_cleanup(e);
    return false;
  }
  multi_ = m;
  easy_ = e;
  curl_easy_setopt(e, CURLOPT_URL, opts_.url.c_str());
  curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));  // ALPN offers http/1.1 only
  // The proxy is decided by the exporter (no_proxy included): libcurl reads no variable itself.
  curl_easy_setopt(e, CURLOPT_PROXY, opts_.proxy.c_str());
  curl_easy_setopt(e, CURLOPT_NOPROXY, "");
  // In absolute form, CONNECT_ONLY stops at the proxy's socket; otherwise a proxy is tunnelled.
  curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, absolute_form_ ? 0L : 1L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf_);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts_.timeout_ms));
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!opts_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, opts_.ca_file.c_str());
  if (!opts_.cert_file.empty()) curl_easy_setopt(e, CURLOPT_SSLCERT, opts_.cert_file.c_str());
  if (!opts_.key_file.empty()) curl_easy_setopt(e, CURLOPT_SSLKEY, opts_.key_file.c_str());
  curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, 1L);
  return true;
}

// Closing the handles closes the connection (a CONNECT_ONLY connection would otherwise wait in
// the multi handle's pool, half used, for a later connect to pick it up).
void http_transport::disconnect() noexcept {
  if (easy_ != nullptr && multi_ != nullptr) curl_multi_remove_handle(static_cast<CURLM*>(multi_), static_cast<CURL*>(easy_));
  if (easy_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(easy_));
  if (multi_ != nullptr) curl_multi_cleanup(static_cast<CURLM*>(multi_));
  easy_ = multi_ = nullptr;
  sock_ = -1;
}

void http_transport::abort() noexcept {
  abort_.store(true, std::memory_order_release);
  if (wake_fd_ >= 0) {
    const std::uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd_, &one, sizeof one);  // stays readable: every later wait returns
    (void)ignored;
  }
}

void http_transport::set_error(http_result& r, const char* what, int code) noexcept {
  if (errbuf_[0] == '\0') std::snprintf(errbuf_, sizeof errbuf_, "%s: %s", what, curl_easy_strerror(static_cast<CURLcode>(code)));
  set_text(r, errbuf_);
}

bool http_transport::connect(clock::time_point deadline, http_result& r) noexcept {
  if (easy_ == nullptr && !open_handles()) {
    set_text(r, "libcurl could not be initialised");
    return false;
  }
  CURLM* m = static_cast<CURLM*>(multi_);
  CURL* e = static_cast<CURL*>(easy_);
  errbuf_[0] = '\0';
  if (curl_multi_add_handle(m, e) != CURLM_OK) {
    set_text(r, "curl_multi_add_handle failed");
    disconnect();
    return false;
  }
  CURLcode code = CURLE_OK;
  for (bool finished = false; !finished;) {
    int running = 0;
    if (curl_multi_perform(m, &running) != CURLM_OK) {
      code = CURLE_FAILED_INIT;
      break;
    }
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(m, &queued)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == e) {
        code = msg->data.result;
        finished = true;
      }
    }
    if (finished) break;
    if (abort_.load(std::memory_order_acquire)) {
      r.aborted = true;
      disconnect();
      return false;
    }
    if (clock::now() >= deadline) {
      code = CURLE_OPERATION_TIMEDOUT;
      std::snprintf(errbuf_, sizeof errbuf_, "Connection timed out after %u milliseconds", opts_.timeout_ms);
      break;
    }
    curl_waitfd wake{wake_fd_, CURL_WAIT_POLLIN, 0};
    curl_multi_poll(m, &wake, 1, 1000, nullptr);
  }
  curl_socket_t s = CURL_SOCKET_BAD;
  if (code == CURLE_OK && (curl_easy_getinfo(e, CURLINFO_ACTIVESOCKET, &s) != CURLE_OK || s == CURL_SOCKET_BAD))
    code = CURLE_COULDNT_CONNECT;
  if (code != CURLE_OK) {
    set_error(r, "Connect failure", code);
    disconnect();
    return false;
  }
  sock_ = static_cast<int>(s);
  ++connects_;
  return true;
}

http_transport::wait_result http_transport::wait(short events, clock::time_point deadline, short* revents) noexcept {
  pollfd fds[2] = {{sock_, events, 0}, {wake_fd_, POLLIN, 0}};
  for (;;) {
    if (abort_.load(std::memory_order_acquire)) return wait_result::aborted;
    int ms = -1;
    if (deadline != clock::time_point::max()) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now()).count();
      if (left <= 0) return wait_result::timeout;
      ms = left > INT_MAX ? INT_MAX : static_cast<int>(left);
    }
    const int n = ::poll(fds, 2, ms);
    if (n < 0 && errno != EINTR) {  // cannot wait: let the I/O call report what is wrong
      *revents = POLLIN | POLLOUT;
      return wait_result::ready;
    }
    if (n > 0 && fds[0].revents != 0) {
      *revents = fds[0].revents;
      return wait_result::ready;
    }
  }
}

int http_transport::read_some(http_result& r) noexcept {
  std::size_t got = 0;
  errbuf_[0] = '\0';
  const CURLcode c = curl_easy_recv(static_cast<CURL*>(easy_), in_.get(), k_in_bytes, &got);
  if (c == CURLE_AGAIN) return 0;
  if (c != CURLE_OK) {
    set_error(r, "Recv failure", c);
    return -1;
  }
  const auto st = got == 0 ? reader_.eof() : reader_.feed(in_.get(), got);
  if (st == http_response_reader::state::error) {
    set_text(r, reader_.error());
    return -1;
  }
  return got == 0 && st == http_response_reader::state::need_more ? -1 : 1;
}

bool http_transport::send_all(const char* data, std::size_t n, clock::time_point deadline, http_result& r) noexcept {
  CURL* e = static_cast<CURL*>(easy_);
  while (n > 0) {
    std::size_t sent = 0;
    errbuf_[0] = '\0';
    const CURLcode c = curl_easy_send(e, data, n, &sent);
    if (c == CURLE_OK) {
      data += sent;
      n -= sent;
      continue;
    }
    if (c != CURLE_AGAIN) {
      set_error(r, "Send failure", c);
      return false;
    }
    short rev = 0;
    const wait_result w = wait(POLLOUT | POLLIN, deadline, &rev);
    if (w == wait_result::aborted) {
      r.aborted = true;
      return false;
    }
    if (w == wait_result::timeout) {
      std::snprintf(errbuf_, sizeof errbuf_, "Operation timed out after %u milliseconds sending the request", opts_.timeout_ms);
      set_text(r, errbuf_);
      return false;
    }
    if ((rev & POLLIN) != 0) {  // an answer before the whole request (413, or a closing server)
      const int got = read_some(r);
      if (got < 0) return false;
      if (got > 0) return false;  // the caller reads the rest of the answer
    }
  }
  return true;
}

bool http_transport::receive(clock::time_point deadline, http_result& r) noexcept {
  while (reader_.current() == http_response_reader::state::need_more) {
    const int got = read_some(r);
    if (got < 0) return false;
    if (got > 0) continue;
    short rev = 0;
    const wait_result w = wait(POLLIN, deadline, &rev);
    if (w == wait_result::aborted) {
      r.aborted = true;
      return false;
    }
    if (w == wait_result::timeout) {
      std::snprintf(errbuf_, sizeof errbuf_, "Operation timed out after %u milliseconds with %zu bytes of the answer received",
                    opts_.timeout_ms, response_.size());
      set_text(r, errbuf_);
      return false;
    }
  }
  return reader_.current() == http_response_reader::state::done;
}

// A kept-alive connection is stale when the server closed it (or sent something unasked) while it
// was idle. A read that finds nothing keeps it; over TLS that read also consumes session tickets.
bool http_transport::stale() noexcept {
  std::size_t got = 0;
  const CURLcode c = curl_easy_recv(static_cast<CURL*>(easy_), in_.get(), k_in_bytes, &got);
  return c != CURLE_AGAIN;
}

http_result http_transport::post(std::string_view body, bool gzip, char* room) noexcept {
  http_result r;
  if (abort_.load(std::memory_order_acquire)) {
    r.aborted = true;
    return r;
  }
  if (!ok_) {
    set_text(r, head_.empty() ? "the endpoint URL cannot be used" : "libcurl could not be initialised");
    return r;
  }
  const clock::time_point deadline =
      opts_.timeout_ms == 0 ? clock::time_point::max() : clock::now() + std::chrono::milliseconds(opts_.timeout_ms);
  char length[k_length_lines + 1];
  std::snprintf(length, sizeof length, "%sContent-Length: %zu\r\n\r\n", gzip ? "Content-Encoding: gzip\r\n" : "", body.size());
  try {
    request_.assign(head_).append(length);
  } catch (...) {
    set_text(r, "out of memory");
    return r;
  }
  for (int attempt = 0;; ++attempt) {
    bool reused = sock_ >= 0;
    if (reused && stale()) {
      disconnect();
      reused = false;
    }
    if (sock_ < 0 && !connect(deadline, r)) return r;
    reader_.reset();
    r.error.clear();
    bool sent;
    if (room != nullptr && static_cast<std::size_t>(body.data() - room) >= request_.size()) {
      char* head = const_cast<char*>(body.data()) - request_.size();  // inside the caller's room
      std::memcpy(head, request_.data(), request_.size());
      sent = send_all(head, request_.size() + body.size(), deadline, r);
    } else {
      sent = send_all(request_.data(), request_.size(), deadline, r) && send_all(body.data(), body.size(), deadline, r);
    }
    if (!sent && !r.aborted && clock::now() < deadline) {
      // The server may have answered and closed before taking the whole request: read what came.
      http_result ignored;
      while (reader_.current() == http_response_reader::state::need_more && read_some(ignored) > 0) {
      }
    }
    bool answered = reader_.current() == http_response_reader::state::done;
    if (!answered && !r.aborted && (sent || reader_.started()) && reader_.current() == http_response_reader::state::need_more)
      answered = receive(deadline, r);
    if (r.aborted) {
      disconnect();
      return r;
    }
    if (answered) {
      r.error.clear();
      r.status = reader_.status();
      r.response_too_large = reader_.too_large();
      if (!reader_.retry_after().empty())
        r.retry_after_ms = parse_retry_after(reader_.retry_after(), static_cast<std::int64_t>(std::time(nullptr)));
      if (!reader_.keep_alive()) disconnect();
      return r;
    }
    disconnect();
    // A kept-alive connection the server closed just as this request began: once more on a new one.
    if (reused && attempt == 0 && !reader_.started() && clock::now() < deadline) {
      r = http_result{};
      continue;
    }
    if (r.error.empty()) set_text(r, "the connection failed without an answer");
    return r;
  }
}

}  // namespace tracecraft::detail
