// SPDX-License-Identifier: Apache-2.0
// export/http_response.h — an incremental HTTP/1.1 response reader for the exporter's own framing
// (http_transport writes requests itself and reads answers through this). Pure: bytes in, state
// out, so every case is tested exactly (tests/unit/http_response_test.cpp). It reads what a
// collector may answer: Content-Length, chunked or read-until-close bodies, interim 1xx responses,
// Connection: close and HTTP/1.0, Retry-After; a body over the cap stops the read (too_large).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tracecraft::detail {

class http_response_reader {
 public:
  enum class state { need_more, done, error };

  /// `body` receives the response body (cleared by reset()); at most `max_body` bytes are kept.
  http_response_reader(std::string& body, std::size_t max_body) noexcept : body_(body), max_body_(max_body) {}

  /// Ready for a new response.
  void reset() noexcept;
  /// Feeds received bytes. After `done` or `error` further bytes are ignored.
  state feed(const char* p, std::size_t n) noexcept;
  /// The peer closed the connection: completes a read-until-close body, else an error.
  state eof() noexcept;

  state current() const noexcept { return st_; }
  /// Any byte of a response seen (a reused connection that fails before this may be retried).
  bool started() const noexcept { return started_; }
  int status() const noexcept { return status_; }
  /// The connection may carry the next request.
  bool keep_alive() const noexcept { return st_ == state::done && keep_alive_ && !too_large_; }
  bool too_large() const noexcept { return too_large_; }
  const std::string& retry_after() const noexcept { return retry_after_; }
  const char* error() const noexcept { return error_; }

 private:
  enum class phase { head, fixed, chunk_size, chunk_data, chunk_crlf, trailers, until_close };
  state fail(const char* why) noexcept;
  bool parse_head() noexcept;  // head_ holds one complete head; false: malformed
  void finish() noexcept;
  bool take_body(const char* p, std::size_t n) noexcept;  // false: over the cap (done, too_large)
  bool take_line(const char*& p, const char* end, std::string& line) noexcept;  // true: a whole line

  std::string& body_;
  std::size_t max_body_;
  state st_ = state::need_more;
  phase ph_ = phase::head;
  std::string head_;
  std::string line_;
  std::string retry_after_;
  std::uint64_t left_ = 0;  // bytes owed in the fixed body or the current chunk
  int status_ = 0;
  bool keep_alive_ = true;
  bool too_large_ = false;
  bool started_ = false;
  const char* error_ = "";
};

}  // namespace tracecraft::detail
