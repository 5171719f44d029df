// SPDX-License-Identifier: Apache-2.0
// export/http_transport.h — one persistent libcurl connection posting OTLP bodies, used by the
// export thread only. Blocking for the caller, but abortable at once from any thread (shutdown).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tracecraft::detail {

struct http_options {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra request headers (never logged)
  std::string content_type;                                  ///< application/x-protobuf or application/json
  std::uint32_t timeout_ms = 10000;                          ///< per request, 0 = none
  std::string ca_file, cert_file, key_file;                  ///< TLS (PEM paths), empty = curl's defaults
  std::string user_agent;
  std::size_t max_response_bytes = 4u << 20;                 ///< standards §2: 4 MiB
};

struct http_result {
  long status = 0;           ///< HTTP status; 0 when there was no HTTP response
  bool aborted = false;      ///< abort() was called
  bool response_too_large = false;
  std::optional<std::uint64_t> retry_after_ms;
  std::string error;         ///< what went wrong without an HTTP status (curl's message)
};

class http_transport {
 public:
  explicit http_transport(http_options opts);
  ~http_transport();
  http_transport(const http_transport&) = delete;
  http_transport& operator=(const http_transport&) = delete;

  /// False when libcurl could not be set up (every post then fails without I/O).
  bool usable() const noexcept { return multi_ != nullptr && easy_ != nullptr; }
  /// POSTs `body`; `gzip` adds Content-Encoding. The response body is left in response().
  http_result post(std::string_view body, bool gzip) noexcept;
  const std::string& response() const noexcept { return response_; }
  /// From any thread: the post in progress (and every later one) returns with aborted = true.
  void abort() noexcept;

  // libcurl callbacks (public for the C linkage trampolines only).
  std::size_t on_body(const char* p, std::size_t n) noexcept;
  std::size_t on_header(const char* p, std::size_t n) noexcept;

 private:
  http_options opts_;
  void* multi_ = nullptr;   // CURLM*
  void* easy_ = nullptr;    // CURL*
  void* headers_ = nullptr; // curl_slist* without Content-Encoding
  void* headers_gz_ = nullptr;
  std::string response_;
  std::string retry_after_;
  bool too_large_ = false;
  std::atomic<bool> abort_{false};
  char errbuf_[256] = {};
};

}  // namespace tracecraft::detail
