// SPDX-License-Identifier: Apache-2.0
// export/http_transport.h — one persistent connection posting OTLP bodies, used by the export
// thread only. libcurl connects (DNS, proxy, TLS) with CURLOPT_CONNECT_ONLY; the request is
// then framed here and the body handed to the socket (or TLS) from the caller's buffer, without
// libcurl's copy into its upload buffer. Blocking for the caller, but abortable at once from any
// thread (shutdown).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "export/http_response.h"

namespace tracecraft::detail {

struct http_options {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra request headers (never logged)
  std::string content_type;                                  ///< application/x-protobuf or application/json
  std::uint32_t timeout_ms = 10000;                          ///< per request, 0 = none
  std::string ca_file, cert_file, key_file;                  ///< TLS (PEM paths), empty = curl's defaults
  std::string user_agent;
  /// The proxy (choose_proxy in otlp_policy.h), "" = directly; libcurl reads no variable itself.
  /// An http:// endpoint goes through an http(s):// proxy as requests in absolute form, like any
  /// HTTP client's; an https:// endpoint through a CONNECT tunnel; socks proxies carry either.
  std::string proxy;
  std::size_t max_response_bytes = 4u << 20;                 ///< standards §2: 4 MiB
};

struct http_result {
  long status = 0;           ///< HTTP status; 0 when there was no HTTP response
  bool aborted = false;      ///< abort() was called
  bool response_too_large = false;
  std::optional<std::uint64_t> retry_after_ms;
  std::string error;         ///< what went wrong without an HTTP status
};

class http_transport {
 public:
  /// libcurl's process-wide set-up (TLS libraries included), once. Called by init() on the
  /// host's thread: libcurl asks for it before other threads use it, and it takes milliseconds
  /// that the drain must not spend when the first spans arrive.
  static void global_init() noexcept;

  explicit http_transport(http_options opts);
  ~http_transport();
  http_transport(const http_transport&) = delete;
  http_transport& operator=(const http_transport&) = delete;

  /// False when libcurl or the URL could not be set up (every post then fails without I/O).
  bool usable() const noexcept { return ok_; }
  /// POSTs `body`; `gzip` adds Content-Encoding. The response body is left in response().
  /// `room`, when given: the bytes from it up to body.data() are the caller's to overwrite. The
  /// head is then written there and head and body leave in one send (a head sent alone is a
  /// segment of its own, which on loopback wakes the receiver once more).
  http_result post(std::string_view body, bool gzip, char* room = nullptr) noexcept;
  /// The most a post's head takes (its fixed part plus Content-Encoding and Content-Length).
  std::size_t max_head_bytes() const noexcept { return head_.size() + k_length_lines; }
  const std::string& response() const noexcept { return response_; }
  /// From any thread: the post in progress (and every later one) returns with aborted = true.
  void abort() noexcept;

  /// Connections opened so far (the first, and one after each close or failure).
  std::uint64_t connects() const noexcept { return connects_; }
  /// Requests go to an HTTP proxy in absolute form (http:// endpoint, http(s):// proxy).
  bool absolute_form() const noexcept { return absolute_form_; }

 private:
  using clock = std::chrono::steady_clock;
  enum class wait_result { ready, timeout, aborted };
  static constexpr std::size_t k_length_lines = 64;  // "Content-Encoding: gzip\r\n" + "Content-Length: <20 digits>\r\n\r\n"
  bool open_handles() noexcept;
  bool connect(clock::time_point deadline, http_result& r) noexcept;
  void disconnect() noexcept;  // closes the connection by destroying the curl handles
  wait_result wait(short events, clock::time_point deadline, short* revents) noexcept;
  /// Sends all of `data`; reads an early answer when the socket becomes readable. False: stopped
  /// (r says why, or the reader holds an answer that came before the request was sent).
  bool send_all(const char* data, std::size_t n, clock::time_point deadline, http_result& r) noexcept;
  /// Reads into the response reader until it is done; false on an error, timeout or abort.
  bool receive(clock::time_point deadline, http_result& r) noexcept;
  /// One received chunk into the reader. 1: bytes, 0: nothing yet, -1: closed or failed.
  int read_some(http_result& r) noexcept;
  void set_error(http_result& r, const char* what, int code) noexcept;
  bool stale() noexcept;

  http_options opts_;
  void* multi_ = nullptr;   // CURLM*
  void* easy_ = nullptr;    // CURL*, CURLOPT_CONNECT_ONLY
  std::string head_;        // request head up to Content-Encoding / Content-Length
  std::string request_;     // this post's head
  std::string response_;
  http_response_reader reader_{response_, 0};
  std::unique_ptr<char[]> in_;
  int sock_ = -1;           // the connected socket (owned by libcurl), -1: not connected
  int wake_fd_ = -1;        // eventfd: abort() makes it readable for good
  bool ok_ = false;
  bool absolute_form_ = false;
  std::uint64_t connects_ = 0;
  std::atomic<bool> abort_{false};
  char errbuf_[256] = {};
};

}  // namespace tracecraft::detail
