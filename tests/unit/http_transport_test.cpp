// SPDX-License-Identifier: Apache-2.0
// The exporter's transport against a scripted HTTP server on a real local socket: libcurl
// connects, the request is framed by the transport, and the server answers in the ways a
// collector or a proxy may (kept alive, closing, chunked, early, never, garbage).
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "export/http_transport.h"

using namespace tracecraft::detail;
using namespace std::chrono_literals;

namespace {

struct request {
  std::string head, body;
};

// Reads one request (head, then Content-Length bytes of body). False at end of stream.
bool read_request(int fd, request& r, bool head_only = false) {
  r = {};
  std::string buf;
  char tmp[65536];
  std::size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
  r.head = buf.substr(0, end + 4);
  r.body = buf.substr(end + 4);
  if (head_only) return true;
  std::size_t len = 0;
  const auto p = r.head.find("Content-Length: ");
  if (p != std::string::npos) len = std::stoul(r.head.substr(p + 16));
  while (r.body.size() < len) {
    const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    r.body.append(tmp, static_cast<std::size_t>(n));
  }
  return true;
}

void send_str(int fd, const std::string& s) { (void)::send(fd, s.data(), s.size(), MSG_NOSIGNAL); }

// A server on 127.0.0.1 handling one connection at a time with `serve(fd, connection_index)`.
class script_server {
 public:
  using handler = std::function<void(int fd, int conn, script_server& self)>;
  explicit script_server(handler h) : h_(std::move(h)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    REQUIRE(::listen(fd_, 8) == 0);
    thread_ = std::thread([this] {
      for (int conn = 0;; ++conn) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0 || stop_) {
          if (c >= 0) ::close(c);
          return;
        }
        h_(c, conn, *this);
        ::close(c);
      }
    });
  }
  ~script_server() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url(const std::string& path = "/v1/traces") const { return "http://" + authority() + path; }
  std::string authority() const { return "127.0.0.1:" + std::to_string(port_); }
  void record(const request& r) {
    std::lock_guard<std::mutex> lk(mu);
    requests.push_back(r);
  }
  std::vector<request> seen() {
    std::lock_guard<std::mutex> lk(mu);
    return requests;
  }
  std::atomic<int> connections{0};

 private:
  handler h_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mu;
  std::vector<request> requests;
};

http_options options(const std::string& url, std::uint32_t timeout_ms = 5000) {
  http_options o;
  o.url = url;
  o.content_type = "application/x-protobuf";
  o.user_agent = "tracecraft-test/1";
  o.timeout_ms = timeout_ms;
  o.headers = {{"x-tenant", "a b"}};
  return o;
}

const std::string k_ok = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 2\r\n\r\nok";

// A collector (or proxy) that answers 200 to every request, keeping the connection alive.
void keep_alive_ok(int fd, int, script_server& self) {
  ++self.connections;
  request r;
  while (read_request(fd, r)) {
    self.record(r);
    send_str(fd, k_ok);
  }
}

}  // namespace

TEST_SUITE("http transport") {
  TEST_CASE("one kept-alive connection carries every request; the request is framed exactly") {
    script_server s(keep_alive_ok);
    http_transport t(options(s.url("/base/v1/traces?x=1")));
    REQUIRE(t.usable());
    const std::string body(300000, 'b');
    for (int i = 0; i < 3; ++i) {
      const http_result r = t.post(body, i == 2);
      CHECK(r.status == 200);
      CHECK(r.error.empty());
      CHECK(t.response() == "ok");
    }
    CHECK(t.connects() == 1);
    const auto seen = s.seen();
    REQUIRE(seen.size() == 3);
    CHECK(seen[0].body == body);
    CHECK(seen[0].head.rfind("POST /base/v1/traces?x=1 HTTP/1.1\r\n", 0) == 0);
    CHECK(seen[0].head.find("\r\nHost: 127.0.0.1:") != std::string::npos);
    CHECK(seen[0].head.find("\r\nUser-Agent: tracecraft-test/1\r\n") != std::string::npos);
    CHECK(seen[0].head.find("\r\nContent-Type: application/x-protobuf\r\n") != std::string::npos);
    CHECK(seen[0].head.find("\r\nx-tenant: a b\r\n") != std::string::npos);
    CHECK(seen[0].head.find("\r\nContent-Length: 300000\r\n") != std::string::npos);
    CHECK(seen[0].head.find("Content-Encoding") == std::string::npos);
    CHECK(seen[0].head.find("Expect") == std::string::npos);
    CHECK(seen[2].head.find("\r\nContent-Encoding: gzip\r\n") != std::string::npos);
  }

  TEST_CASE("with room in front of the body the head is written there, so head and body leave in one send") {
    script_server s(keep_alive_ok);
    http_transport t(options(s.url()));
    REQUIRE(t.usable());
    const std::size_t room = t.max_head_bytes();
    std::string buf(room + 200000, 'x');
    for (std::size_t i = room; i < buf.size(); ++i) buf[i] = static_cast<char>('a' + i % 26);
    const std::string_view body(buf.data() + room, buf.size() - room);
    CHECK(t.post(body, false, buf.data()).status == 200);  // room enough: one send
    CHECK(t.post(body, true, buf.data()).status == 200);   // the longest head (Content-Encoding) fits too
    CHECK(t.post(body, false).status == 200);              // no room: head, then body
    // Room too small for the head: the bytes before the body are left alone.
    std::string small(16 + body.size(), 'y');
    std::memcpy(small.data() + 16, body.data(), body.size());
    CHECK(t.post(std::string_view(small.data() + 16, body.size()), false, small.data()).status == 200);
    CHECK(small.compare(0, 16, std::string(16, 'y')) == 0);
    CHECK(t.connects() == 1);
    const auto seen = s.seen();
    REQUIRE(seen.size() == 4);
    for (const auto& r : seen) CHECK(r.body == body);
    CHECK(seen[0].head == seen[2].head);  // the same request either way
    CHECK(seen[3].head == seen[2].head);
    CHECK(seen[1].head.find("\r\nContent-Encoding: gzip\r\n") != std::string::npos);
    // The last head was written right before the body, inside the room; the room's start untouched.
    CHECK(std::string_view(body.data() - seen[1].head.size(), seen[1].head.size()) == seen[1].head);
    CHECK(seen[1].head.size() <= room);
    CHECK(buf[0] == 'x');
  }

  TEST_CASE("Connection: close, a chunked answer, and a server that closes an idle connection") {
    script_server s([](int fd, int conn, script_server& self) {
      ++self.connections;
      request r;
      if (!read_request(fd, r)) return;
      self.record(r);
      if (conn == 0) {  // answers and closes as it said it would
        send_str(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
      } else if (conn == 1) {  // a chunked answer, kept alive; then the idle connection is closed
        send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
      } else {
        send_str(fd, k_ok);
        while (read_request(fd, r)) {
          self.record(r);
          send_str(fd, k_ok);
        }
      }
    });
    http_transport t(options(s.url()));
    CHECK(t.post("one", false).status == 200);
    CHECK(t.connects() == 1);
    const http_result r2 = t.post("two", false);
    CHECK(r2.status == 200);
    CHECK(t.response() == "abcde");
    CHECK(t.connects() == 2);
    std::this_thread::sleep_for(100ms);  // the server has closed connection 2 by now
    const http_result r3 = t.post("three", false);
    CHECK(r3.status == 200);
    CHECK(r3.error.empty());
    CHECK(t.connects() == 3);
    CHECK(t.post("four", false).status == 200);
    CHECK(t.connects() == 3);
    const auto seen = s.seen();
    REQUIRE(seen.size() == 4);
    CHECK(seen[3].body == "four");
  }

  TEST_CASE("an answer before the whole body was read (413) is the answer") {
    script_server s([](int fd, int, script_server& self) {
      ++self.connections;
      request r;
      if (!read_request(fd, r, true)) return;
      self.record(r);
      send_str(fd, "HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      ::shutdown(fd, SHUT_WR);
      std::this_thread::sleep_for(50ms);
    });
    http_transport t(options(s.url()));
    const std::string body(16u << 20, 'x');  // more than the socket buffers hold
    const http_result r = t.post(body, false);
    CHECK(r.status == 413);
    CHECK(r.error.empty());
  }

  TEST_CASE("Retry-After, garbage, refusal, timeout and abort") {
    script_server s([](int fd, int conn, script_server& self) {
      ++self.connections;
      request r;
      if (!read_request(fd, r)) return;
      if (conn == 0) {
        send_str(fd, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n");
        if (!read_request(fd, r)) return;
        send_str(fd, "this is not HTTP\r\n\r\n");
      } else if (conn == 1) {
        send_str(fd, k_ok);
      } else {  // never answers
        while (read_request(fd, r)) {
        }
      }
    });
    http_transport t(options(s.url(), 400));
    const http_result r1 = t.post("x", false);
    CHECK(r1.status == 429);
    REQUIRE(r1.retry_after_ms.has_value());
    CHECK(*r1.retry_after_ms == 3000u);
    const http_result r2 = t.post("x", false);  // garbage: no status, an error, the connection dropped
    CHECK(r2.status == 0);
    CHECK_FALSE(r2.error.empty());
    CHECK(t.post("x", false).status == 200);  // on a new connection
    CHECK(t.connects() == 2);

    auto t0 = std::chrono::steady_clock::now();
    const http_result r4 = t.post("x", false);  // the server never answers: the timeout ends it
    auto took = std::chrono::steady_clock::now() - t0;
    CHECK(r4.status == 0);
    CHECK(r4.error.find("timed out") != std::string::npos);
    CHECK(took >= 390ms);
    CHECK(took < 3s);

    http_transport forever(options(s.url(), 0));  // no timeout: only abort() ends the wait
    std::thread stopper([&] {
      std::this_thread::sleep_for(200ms);
      forever.abort();
    });
    t0 = std::chrono::steady_clock::now();
    const http_result r5 = forever.post("x", false);
    took = std::chrono::steady_clock::now() - t0;
    stopper.join();
    CHECK(r5.aborted);
    CHECK(took < 2s);
    CHECK(forever.post("x", false).aborted);  // and every later post
  }

  TEST_CASE("a refused connection is an error without a status; credentials in the URL become Basic") {
    int port = 0;
    {
      script_server gone([](int, int, script_server&) {});
      port = std::stoi(gone.url().substr(17));
    }
    http_transport t(options("http://127.0.0.1:" + std::to_string(port) + "/v1/traces", 2000));
    const http_result r = t.post("x", false);
    CHECK(r.status == 0);
    CHECK_FALSE(r.error.empty());
    CHECK_FALSE(r.aborted);

    script_server s([](int fd, int, script_server& self) {
      request r;
      if (!read_request(fd, r)) return;
      self.record(r);
      send_str(fd, k_ok);
    });
    const std::string u = s.url();
    http_transport a(options("http://user:p%40ss@" + u.substr(7), 2000));
    CHECK(a.post("x", false).status == 200);
    const auto seen = s.seen();
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].head.find("\r\nAuthorization: Basic dXNlcjpwQHNz\r\n") != std::string::npos);  // user:p@ss
  }

  TEST_CASE("through an HTTP proxy an http:// endpoint is requested in absolute form, kept alive") {
    script_server proxy(keep_alive_ok);
    // The collector's name resolves nowhere: only the proxy is ever connected to.
    http_options o = options("http://collector.invalid:4318/v1/traces?x=1");
    o.proxy = "http://pu:p%40ss@" + proxy.authority();
    {
      http_transport t(o);
      CHECK(t.absolute_form());
      for (int i = 0; i < 3; ++i) {
        const http_result r = t.post("body" + std::to_string(i), false);
        CHECK(r.status == 200);
        CHECK(r.error.empty());
      }
      CHECK(t.connects() == 1);
    }
    CHECK(proxy.connections == 1);
    const auto seen = proxy.seen();
    REQUIRE(seen.size() == 3);
    CHECK(seen[0].head.rfind("POST http://collector.invalid:4318/v1/traces?x=1 HTTP/1.1\r\n", 0) == 0);
    CHECK(seen[0].head.find("\r\nHost: collector.invalid:4318\r\n") != std::string::npos);
    CHECK(seen[0].head.find("\r\nProxy-Authorization: Basic cHU6cEBzcw==\r\n") != std::string::npos);  // pu:p@ss
    CHECK(seen[0].head.find("\r\nx-tenant: a b\r\n") != std::string::npos);
    CHECK(seen[2].body == "body2");

    o.proxy = "http://" + proxy.authority();  // no credentials: no Proxy-Authorization
    http_transport bare(o);
    CHECK(bare.post("x", false).status == 200);
    CHECK(proxy.seen().back().head.find("Proxy-Authorization") == std::string::npos);
  }

  TEST_CASE("an https:// endpoint goes through a CONNECT tunnel; a proxy that refuses it fails the connection") {
    script_server proxy([](int fd, int, script_server& self) {
      request r;
      if (!read_request(fd, r, true)) return;
      self.record(r);
      send_str(fd, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    });
    http_options o = options("https://collector.invalid:4318/v1/traces", 2000);
    o.proxy = "http://" + proxy.authority();
    http_transport t(o);
    CHECK_FALSE(t.absolute_form());
    const http_result r = t.post("x", false);
    CHECK(r.status == 0);
    CHECK_FALSE(r.error.empty());
    const auto seen = proxy.seen();
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].head.rfind("CONNECT collector.invalid:4318 HTTP/1.1\r\n", 0) == 0);

    o.url = "http://collector.invalid:4318/v1/traces";
    o.proxy = "socks5h://127.0.0.1:1";  // a socks proxy reaches the collector itself: origin form
    CHECK_FALSE(http_transport(o).absolute_form());
  }

  TEST_CASE("libcurl reads no proxy variable itself: without a proxy chosen, the collector is reached directly") {
    script_server s([](int fd, int, script_server& self) {
      request r;
      if (!read_request(fd, r)) return;
      self.record(r);
      send_str(fd, k_ok);
    });
    std::string bad;
    {
      script_server gone([](int, int, script_server&) {});
      bad = "http://" + gone.authority();  // nothing listens there once it is gone
    }
    ::setenv("http_proxy", bad.c_str(), 1);
    ::setenv("all_proxy", bad.c_str(), 1);
    http_transport t(options(s.url(), 2000));
    const http_result r = t.post("x", false);
    ::unsetenv("http_proxy");
    ::unsetenv("all_proxy");
    CHECK(r.status == 200);
    CHECK_FALSE(t.absolute_form());
    REQUIRE(s.seen().size() == 1);
    CHECK(s.seen()[0].head.rfind("POST /v1/traces HTTP/1.1\r\n", 0) == 0);
  }
}
