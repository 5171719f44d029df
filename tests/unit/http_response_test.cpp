// SPDX-License-Identifier: Apache-2.0
// The exporter's HTTP/1.1 answer reader: every way a body may end, answers split at every byte,
// interim answers, connection reuse rules, the body cap, and malformed input.
#include <doctest/doctest.h>

#include <string>

#include "export/http_response.h"

using tracecraft::detail::http_response_reader;
using st = http_response_reader::state;

namespace {

// Feeds `wire` in pieces of `step` bytes (0: split at `at` only); returns the final state.
st feed_split(http_response_reader& r, const std::string& wire, std::size_t step, std::size_t at = 0) {
  r.reset();
  st s = st::need_more;
  if (step == 0) {
    s = r.feed(wire.data(), at);
    if (s == st::need_more) s = r.feed(wire.data() + at, wire.size() - at);
    return s;
  }
  for (std::size_t i = 0; i < wire.size() && s == st::need_more; i += step)
    s = r.feed(wire.data() + i, std::min(step, wire.size() - i));
  return s;
}

}  // namespace

TEST_SUITE("http answer reader") {
  TEST_CASE("Content-Length body, whole or split at every byte") {
    std::string body;
    http_response_reader r(body, 1 << 20);
    const std::string wire = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\ncontent-length: 5\r\n\r\nhello";
    for (std::size_t at = 0; at <= wire.size(); ++at) {
      CAPTURE(at);
      REQUIRE(feed_split(r, wire, 0, at) == st::done);
      CHECK(r.status() == 200);
      CHECK(body == "hello");
      CHECK(r.keep_alive());
    }
    CHECK(feed_split(r, wire, 1) == st::done);
    CHECK(body == "hello");
    // Bytes short of the length: not done; the connection closing then is an error.
    r.reset();
    CHECK(r.feed(wire.data(), wire.size() - 1) == st::need_more);
    CHECK(r.eof() == st::error);
    CHECK_FALSE(r.keep_alive());
  }

  TEST_CASE("chunked body with extensions and trailers, split at every byte") {
    std::string body;
    http_response_reader r(body, 1 << 20);
    const std::string wire =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        "5;name=v\r\nhello\r\n1A\r\n abcdefghijklmnopqrstuvwxy\r\n0\r\nX-Trailer: 1\r\n\r\n";
    for (std::size_t step : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}, wire.size()}) {
      CAPTURE(step);
      REQUIRE(feed_split(r, wire, step) == st::done);
      CHECK(body == "hello abcdefghijklmnopqrstuvwxy");
      CHECK(r.keep_alive());
    }
    CHECK(feed_split(r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n", 1) == st::error);
    CHECK(feed_split(r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 1) == st::error);
  }

  TEST_CASE("interim 1xx answers are skipped; 204 and 304 have no body") {
    std::string body;
    http_response_reader r(body, 1 << 20);
    CHECK(feed_split(r, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\nok",
                     1) == st::done);
    CHECK(r.status() == 202);
    CHECK(body == "ok");
    CHECK(feed_split(r, "HTTP/1.1 204 No Content\r\n\r\n", 1) == st::done);
    CHECK(r.status() == 204);
    CHECK(r.keep_alive());
    CHECK(feed_split(r, "HTTP/1.1 101 Switching Protocols\r\n\r\n", 1) == st::error);
  }

  TEST_CASE("when the connection may be reused") {
    std::string body;
    http_response_reader r(body, 1 << 20);
    CHECK(feed_split(r, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 1) == st::done);
    CHECK_FALSE(r.keep_alive());
    CHECK(feed_split(r, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 1) == st::done);
    CHECK_FALSE(r.keep_alive());
    CHECK(feed_split(r, "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", 1) == st::done);
    CHECK(r.keep_alive());
    // No length and not chunked: the body runs until the server closes.
    r.reset();
    const std::string wire = "HTTP/1.1 200 OK\r\n\r\nuntil close";
    CHECK(r.feed(wire.data(), wire.size()) == st::need_more);
    CHECK(r.eof() == st::done);
    CHECK(body == "until close");
    CHECK_FALSE(r.keep_alive());
  }

  TEST_CASE("a body over the cap stops the read: the status stands, the connection is not reused") {
    std::string body;
    http_response_reader r(body, 10);
    CHECK(feed_split(r, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234567890123456789", 1) == st::done);
    CHECK(r.status() == 200);
    CHECK(r.too_large());
    CHECK_FALSE(r.keep_alive());
    CHECK(body.size() <= 10);
    CHECK(feed_split(r, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 1) == st::done);
    CHECK_FALSE(r.too_large());
    CHECK(body == "0123456789");
  }

  TEST_CASE("Retry-After and lenient line ends") {
    std::string body;
    http_response_reader r(body, 1 << 20);
    CHECK(feed_split(r, "HTTP/1.1 429 Too Many Requests\r\nRETRY-AFTER:  7 \r\nContent-Length: 0\r\n\r\n", 1) == st::done);
    CHECK(r.status() == 429);
    CHECK(r.retry_after() == "7");
    CHECK(feed_split(r, "HTTP/1.1 503 Unavailable\nContent-Length: 1\n\nx", 1) == st::done);
    CHECK(r.status() == 503);
    CHECK(r.retry_after().empty());
    CHECK(body == "x");
  }

  TEST_CASE("malformed answers are errors, never crashes") {
    std::string body;
    http_response_reader r(body, 1 << 20);
    CHECK(feed_split(r, "garbage that is not HTTP\r\n\r\n", 1) == st::error);
    CHECK(feed_split(r, "HTTP/1.1 2x0 OK\r\n\r\n", 1) == st::error);
    CHECK(feed_split(r, "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 1) == st::error);
    CHECK(feed_split(r, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 1) == st::error);
    CHECK(feed_split(r, "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", 1) == st::error);
    CHECK(std::string(r.error()).size() > 0);
    r.reset();
    CHECK(r.eof() == st::error);
    CHECK(std::string(r.error()) == "empty reply from server");
    const std::string endless(70 * 1024, 'h');
    CHECK(feed_split(r, "HTTP/1.1 200 OK\r\nX: " + endless, 4096) == st::error);
  }

  TEST_CASE("bytes after a complete answer are ignored") {
    std::string body;
    http_response_reader r(body, 1 << 20);
    const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA";
    r.reset();
    CHECK(r.feed(wire.data(), wire.size()) == st::done);
    CHECK(body == "ok");
    CHECK(r.feed("more", 4) == st::done);
    CHECK(body == "ok");
  }
}
