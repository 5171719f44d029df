// SPDX-License-Identifier: Apache-2.0
// tools/sink/sink.cpp — tracecraft-sink: a small OTLP/HTTP trace receiver for development and
// tests. Accepts POST /v1/traces in protobuf or JSON, gzip or not; answers a proper
// ExportTraceServiceResponse; writes each request as one OTLP/JSON line (the JSONL exporter's
// format); GET /stats returns its counters. Fault injection for tests (see --help). Bad input gets
// a 4xx and never brings it down.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "export/gzip.h"
#include "tools/sink/otlp_transcode.h"

namespace {

struct options {
  std::string host = "127.0.0.1";
  int port = 4318;
  std::string port_file;
  std::string out = "-";
  bool discard = false;
  bool quiet = false;
  std::uint64_t fail_n = 0;
  int fail_status = 503;
  std::string retry_after;
  std::uint64_t reset_n = 0;
  std::uint64_t garbage_n = 0;
  int delay_ms = 0;
  std::uint64_t delay_n = 0;  // 0: every request
  std::int64_t partial = 0;
  std::size_t max_body = std::size_t{80} << 20;
};

options g_opt;
int g_out_fd = 1;
std::mutex g_out_mu;
std::atomic<bool> g_stop{false};
std::atomic<int> g_connections{0};

struct counters {
  std::atomic<std::uint64_t> requests{0}, accepted{0}, spans{0}, bytes{0}, injected_failures{0}, resets{0},
      garbage{0}, bad_requests{0}, rejected_spans{0}, gzip_requests{0}, json_requests{0}, max_request_bytes{0};
} g_count;

void usage() {
  std::puts(
      "tracecraft-sink: an OTLP/HTTP trace receiver for development and tests\n"
      "  --host H             listen address (default 127.0.0.1)\n"
      "  --port P             port (default 4318; 0 picks a free one)\n"
      "  --port-file F        write the port to F once listening\n"
      "  --out F              OTLP/JSON lines to F (default - = stdout)\n"
      "  --discard            validate and count only, store nothing\n"
      "  --quiet              no per-request log on stderr (counts still printed at exit)\n"
      "fault injection (each applies to the first N POST requests):\n"
      "  --fail N --status S  answer S (default 503) to the first N requests\n"
      "  --retry-after V      add Retry-After: V to those answers (seconds or an HTTP-date)\n"
      "  --reset N            reset the connection (TCP RST) instead of answering\n"
      "  --garbage N          answer 200 with a body that is not a protobuf/JSON response\n"
      "  --delay-ms D         wait D ms before answering (--delay-count N: only the first N)\n"
      "  --partial R          accept, but report R spans rejected (partial_success) on every request\n"
      "  --max-body B         answer 413 to bodies over B bytes (default 80 MiB)\n"
      "GET /stats answers the counters as JSON. SIGINT/SIGTERM prints them and exits.");
}

bool parse_args(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    auto num = [&](auto& out) {
      const char* v = next();
      if (v == nullptr) return false;
      char* end = nullptr;
      const long long x = std::strtoll(v, &end, 10);
      if (*end != '\0' || x < 0) return false;
      out = static_cast<std::remove_reference_t<decltype(out)>>(x);
      return true;
    };
    bool ok = true;
    if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    } else if (a == "--host") {
      const char* v = next();
      ok = v != nullptr;
      if (ok) g_opt.host = v;
    } else if (a == "--port") ok = num(g_opt.port);
    else if (a == "--port-file") {
      const char* v = next();
      ok = v != nullptr;
      if (ok) g_opt.port_file = v;
    } else if (a == "--out") {
      const char* v = next();
      ok = v != nullptr;
      if (ok) g_opt.out = v;
    } else if (a == "--discard") g_opt.discard = true;
    else if (a == "--quiet") g_opt.quiet = true;
    else if (a == "--fail") ok = num(g_opt.fail_n);
    else if (a == "--status") ok = num(g_opt.fail_status);
    else if (a == "--retry-after") {
      const char* v = next();
      ok = v != nullptr;
      if (ok) g_opt.retry_after = v;
    } else if (a == "--reset") ok = num(g_opt.reset_n);
    else if (a == "--garbage") ok = num(g_opt.garbage_n);
    else if (a == "--delay-ms") ok = num(g_opt.delay_ms);
    else if (a == "--delay-count") ok = num(g_opt.delay_n);
    else if (a == "--partial") ok = num(g_opt.partial);
    else if (a == "--max-body") ok = num(g_opt.max_body);
    else ok = false;
    if (!ok) {
      std::fprintf(stderr, "tracecraft-sink: bad argument '%s' (try --help)\n", a.c_str());
      return false;
    }
  }
  return true;
}

void log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log(const char* fmt, ...) {
  if (g_opt.quiet) return;
  va_list ap;
  va_start(ap, fmt);
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "tracecraft-sink: %s\n", buf);
}

bool send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t w = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    s.remove_prefix(static_cast<std::size_t>(w));
  }
  return true;
}

void append_varint(std::string& b, std::uint64_t v) {
  for (; v >= 0x80; v >>= 7) b.push_back(static_cast<char>((v & 0x7F) | 0x80));
  b.push_back(static_cast<char>(v));
}

// google.rpc.Status { code = 1; message = 2 } in the request's encoding.
std::string status_body(bool json, int code, const std::string& msg) {
  if (json) {
    std::string m;
    for (char c : msg) m += (c == '"' || c == '\\') ? ' ' : c;
    return "{\"code\":" + std::to_string(code) + ",\"message\":\"" + m + "\"}";
  }
  std::string b;
  b.push_back(0x08);
  append_varint(b, static_cast<std::uint64_t>(code));
  b.push_back(0x12);
  append_varint(b, msg.size());
  b.append(msg);
  return b;
}

std::string success_body(bool json, std::int64_t rejected) {
  if (rejected <= 0) return json ? "{}" : "";
  const std::string msg = "tracecraft-sink --partial";
  if (json)
    return "{\"partialSuccess\":{\"rejectedSpans\":\"" + std::to_string(rejected) + "\",\"errorMessage\":\"" + msg + "\"}}";
  std::string inner;
  inner.push_back(0x08);
  append_varint(inner, static_cast<std::uint64_t>(rejected));
  inner.push_back(0x12);
  append_varint(inner, msg.size());
  inner += msg;
  std::string b;
  b.push_back(0x0A);
  append_varint(b, inner.size());
  return b + inner;
}

std::string response(int status, const char* reason, const std::string& ctype, const std::string& body,
                     const std::string& extra_headers = {}, bool close = false) {
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  if (!ctype.empty()) r += "Content-Type: " + ctype + "\r\n";
  r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  r += extra_headers;
  if (close) r += "Connection: close\r\n";
  r += "\r\n";
  r += body;
  return r;
}

const char* reason_of(int s) {
  switch (s) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string stats_json() {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"requests\":%" PRIu64 ",\"accepted\":%" PRIu64 ",\"spans\":%" PRIu64 ",\"bytes\":%" PRIu64
                ",\"injected_failures\":%" PRIu64 ",\"resets\":%" PRIu64 ",\"garbage\":%" PRIu64
                ",\"bad_requests\":%" PRIu64 ",\"rejected_spans\":%" PRIu64 ",\"gzip_requests\":%" PRIu64
                ",\"json_requests\":%" PRIu64 ",\"max_request_bytes\":%" PRIu64 "}",
                g_count.requests.load(), g_count.accepted.load(), g_count.spans.load(), g_count.bytes.load(),
                g_count.injected_failures.load(), g_count.resets.load(), g_count.garbage.load(),
                g_count.bad_requests.load(), g_count.rejected_spans.load(), g_count.gzip_requests.load(),
                g_count.json_requests.load(), g_count.max_request_bytes.load());
  return buf;
}

void write_line(const std::string& line) {
  if (g_opt.discard) return;
  std::lock_guard<std::mutex> lk(g_out_mu);
  std::string l = line;
  l.push_back('\n');
  std::string_view s = l;
  while (!s.empty()) {
    const ssize_t w = ::write(g_out_fd, s.data(), s.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      return;
    }
    s.remove_prefix(static_cast<std::size_t>(w));
  }
}

struct request {
  std::string method, path, content_type, content_encoding;
  bool chunked = false, close = false;
  std::size_t content_length = 0;
  bool has_length = false;
};

// Reads until the socket has `need` bytes in `buf` (or fails).
bool fill(int fd, std::string& buf, std::size_t need) {
  char tmp[65536];
  while (buf.size() < need) {
    const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
  return true;
}

// Reads until `delim` appears at or after `from`; returns its position or npos.
std::size_t fill_until(int fd, std::string& buf, std::string_view delim, std::size_t from, std::size_t cap) {
  char tmp[65536];
  for (;;) {
    const std::size_t pos = buf.find(delim, from);
    if (pos != std::string::npos) return pos;
    if (buf.size() > cap) return std::string::npos;
    const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::string::npos;
    buf.append(tmp, static_cast<std::size_t>(n));
  }
}

// Ends a connection without losing the last response (RFC 9112 §9.6): the write side is closed
// first, then whatever the client still sends (the rest of a body refused with 413, say) is read
// and dropped until it closes too, for at most two seconds. A plain close() with unread input
// sends a reset instead, and a client still writing its body then fails on its next send without
// ever reading the answer.
void close_lingering(int fd) {
  ::shutdown(fd, SHUT_WR);
  char tmp[65536];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
  }
  ::close(fd);
}

void reset_connection(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

// Returns false when the connection was reset (fd already closed).
bool handle_traces(int fd, const request& rq, std::string& body) {
  const std::uint64_t k = g_count.requests.fetch_add(1);
  const std::string ct = lower(rq.content_type.substr(0, rq.content_type.find(';')));
  const bool json = ct == "application/json";
  if (!json && ct != "application/x-protobuf") {
    g_count.bad_requests.fetch_add(1);
    send_all(fd, response(415, reason_of(415), "application/json", status_body(true, 3, "content type must be application/x-protobuf or application/json")));
    return true;
  }
  const std::string rtype = json ? "application/json" : "application/x-protobuf";
  if (k < g_opt.reset_n) {
    g_count.resets.fetch_add(1);
    log("request %" PRIu64 ": connection reset (--reset)", k);
    reset_connection(fd);
    return false;
  }
  if (g_opt.delay_ms > 0 && (g_opt.delay_n == 0 || k < g_opt.delay_n))
    std::this_thread::sleep_for(std::chrono::milliseconds(g_opt.delay_ms));
  if (k < g_opt.fail_n) {
    g_count.injected_failures.fetch_add(1);
    const std::string extra = g_opt.retry_after.empty() ? std::string() : "Retry-After: " + g_opt.retry_after + "\r\n";
    log("request %" PRIu64 ": answering %d (--fail)", k, g_opt.fail_status);
    send_all(fd, response(g_opt.fail_status, reason_of(g_opt.fail_status), rtype,
                          status_body(json, 14, "tracecraft-sink --fail"), extra));
    return true;
  }
  std::string plain;
  const std::string enc = lower(rq.content_encoding);
  if (enc == "gzip") {
    g_count.gzip_requests.fetch_add(1);
    if (!tracecraft::detail::gunzip(body, plain, g_opt.max_body)) {
      g_count.bad_requests.fetch_add(1);
      send_all(fd, response(400, reason_of(400), rtype, status_body(json, 3, "invalid gzip body (or over --max-body)")));
      return true;
    }
  } else if (enc.empty() || enc == "identity") {
    plain.swap(body);
  } else {
    g_count.bad_requests.fetch_add(1);
    send_all(fd, response(415, reason_of(415), rtype, status_body(json, 3, "unsupported Content-Encoding")));
    return true;
  }
  if (json) g_count.json_requests.fetch_add(1);
  for (std::uint64_t m = g_count.max_request_bytes.load(); plain.size() > m && !g_count.max_request_bytes.compare_exchange_weak(m, plain.size());) {
  }
  std::string line;
  const auto r = json ? tracecraft::sink::check_json_request(plain, g_opt.discard ? nullptr : &line)
                      : tracecraft::sink::transcode_request(plain, g_opt.discard ? nullptr : &line);
  if (!r.ok) {
    g_count.bad_requests.fetch_add(1);
    log("request %" PRIu64 ": 400 (%s)", k, r.error.c_str());
    send_all(fd, response(400, reason_of(400), rtype, status_body(json, 3, "cannot decode ExportTraceServiceRequest: " + r.error)));
    return true;
  }
  if (r.spans > 0) write_line(line);
  g_count.accepted.fetch_add(1);
  g_count.spans.fetch_add(r.spans);
  g_count.bytes.fetch_add(plain.size());
  if (k < g_opt.garbage_n) {
    g_count.garbage.fetch_add(1);
    send_all(fd, response(200, "OK", rtype, json ? "<html>not json" : "\xff\xff\xff\xff garbage"));
    return true;
  }
  const std::int64_t rejected = std::min<std::int64_t>(g_opt.partial, static_cast<std::int64_t>(r.spans));
  g_count.rejected_spans.fetch_add(static_cast<std::uint64_t>(rejected));
  send_all(fd, response(200, "OK", rtype, success_body(json, rejected)));
  return true;
}

void serve(int fd) {
  std::string buf;
  bool keep = true;
  while (keep && !g_stop.load()) {
    const std::size_t hdr_end = fill_until(fd, buf, "\r\n\r\n", 0, 64 * 1024);
    if (hdr_end == std::string::npos) {
      if (buf.size() > 64 * 1024) send_all(fd, response(431, reason_of(431), "", "", {}, true));
      break;
    }
    request rq;
    const std::string_view head(buf.data(), hdr_end);
    const std::size_t line_end = head.find("\r\n");
    const std::string_view first = head.substr(0, line_end);
    const std::size_t sp1 = first.find(' '), sp2 = first.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 <= sp1) {
      send_all(fd, response(400, reason_of(400), "", "", {}, true));
      break;
    }
    rq.method = std::string(first.substr(0, sp1));
    rq.path = std::string(first.substr(sp1 + 1, sp2 - sp1 - 1));
    if (first.substr(sp2 + 1) == "HTTP/1.0") rq.close = true;
    bool bad = false;
    for (std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2; pos < head.size();) {
      std::size_t e = head.find("\r\n", pos);
      if (e == std::string_view::npos) e = head.size();
      const std::string_view h = head.substr(pos, e - pos);
      pos = e + 2;
      const std::size_t colon = h.find(':');
      if (colon == std::string_view::npos) continue;
      const std::string name = lower(h.substr(0, colon));
      std::string_view v = h.substr(colon + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      if (name == "content-length") {
        char* endp = nullptr;
        const std::string vs(v);
        const unsigned long long n = std::strtoull(vs.c_str(), &endp, 10);
        if (vs.empty() || *endp != '\0') bad = true;
        rq.content_length = static_cast<std::size_t>(n);
        rq.has_length = true;
      } else if (name == "content-type") {
        rq.content_type = std::string(v);
      } else if (name == "content-encoding") {
        rq.content_encoding = std::string(v);
      } else if (name == "transfer-encoding") {
        rq.chunked = lower(v).find("chunked") != std::string::npos;
      } else if (name == "connection") {
        if (lower(v) == "close") rq.close = true;
      }
    }
    buf.erase(0, hdr_end + 4);
    if (bad) {
      send_all(fd, response(400, reason_of(400), "", "", {}, true));
      break;
    }
    // Body.
    std::string body;
    if (rq.chunked) {
      bool ok = true;
      for (;;) {
        const std::size_t le = fill_until(fd, buf, "\r\n", 0, 1024);
        if (le == std::string::npos) { ok = false; break; }
        const unsigned long long n = std::strtoull(buf.substr(0, le).c_str(), nullptr, 16);
        buf.erase(0, le + 2);
        if (n == 0) {  // trailers until an empty line
          const std::size_t te = fill_until(fd, buf, "\r\n", 0, 64 * 1024);
          if (te == std::string::npos) { ok = false; break; }
          if (te == 0) { buf.erase(0, 2); break; }
          const std::size_t end = fill_until(fd, buf, "\r\n\r\n", 0, 64 * 1024);
          if (end == std::string::npos) { ok = false; break; }
          buf.erase(0, end + 4);
          break;
        }
        if (body.size() + n > g_opt.max_body) {
          g_count.requests.fetch_add(1);
          g_count.bad_requests.fetch_add(1);
          send_all(fd, response(413, reason_of(413), "", "", {}, true));
          ok = false;
          break;
        }
        if (!fill(fd, buf, n + 2)) { ok = false; break; }
        body.append(buf, 0, n);
        buf.erase(0, n + 2);
      }
      if (!ok) break;
    } else if (rq.has_length) {
      if (rq.content_length > g_opt.max_body) {
        g_count.requests.fetch_add(1);
        g_count.bad_requests.fetch_add(1);
        send_all(fd, response(413, reason_of(413), "application/json",
                              status_body(true, 8, "body over --max-body"), {}, true));
        break;  // the body is not read; close_lingering() drains it
      }
      if (!fill(fd, buf, rq.content_length)) break;
      body = buf.substr(0, rq.content_length);
      buf.erase(0, rq.content_length);
    }
    keep = !rq.close;
    if (rq.path == "/stats" && rq.method == "GET") {
      send_all(fd, response(200, "OK", "application/json", stats_json(), {}, !keep));
    } else if (rq.path == "/v1/traces") {
      if (rq.method != "POST") {
        send_all(fd, response(405, reason_of(405), "", "", "Allow: POST\r\n", !keep));
      } else {
        if (!handle_traces(fd, rq, body)) return;  // reset: already closed
      }
    } else {
      send_all(fd, response(404, reason_of(404), "", "", {}, !keep));
    }
  }
  close_lingering(fd);
}

void on_signal(int) { g_stop.store(true); }

}  // namespace

int main(int argc, char** argv) {
  if (!parse_args(argc, argv)) return 2;
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  if (g_opt.out != "-" && !g_opt.discard) {
    g_out_fd = ::open(g_opt.out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (g_out_fd < 0) {
      std::fprintf(stderr, "tracecraft-sink: cannot open %s: %s\n", g_opt.out.c_str(), std::strerror(errno));
      return 1;
    }
  }
  const int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(g_opt.port));
  if (::inet_pton(AF_INET, g_opt.host.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "tracecraft-sink: --host must be an IPv4 address\n");
    return 2;
  }
  if (::bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(ls, 128) != 0) {
    std::fprintf(stderr, "tracecraft-sink: cannot listen on %s:%d: %s\n", g_opt.host.c_str(), g_opt.port, std::strerror(errno));
    return 1;
  }
  socklen_t len = sizeof addr;
  ::getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  if (!g_opt.port_file.empty()) {
    const std::string tmp = g_opt.port_file + ".tmp";
    if (FILE* f = std::fopen(tmp.c_str(), "w")) {
      std::fprintf(f, "%d\n", port);
      std::fclose(f);
      std::rename(tmp.c_str(), g_opt.port_file.c_str());
    }
  }
  std::fprintf(stderr, "tracecraft-sink: listening on http://%s:%d/v1/traces\n", g_opt.host.c_str(), port);
  while (!g_stop.load()) {
    pollfd p{ls, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    const int fd = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (g_connections.load() >= 256) {
      ::close(fd);
      continue;
    }
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    g_connections.fetch_add(1);
    try {
      std::thread([fd] {
        serve(fd);
        g_connections.fetch_sub(1);
      }).detach();
    } catch (...) {
      ::close(fd);
      g_connections.fetch_sub(1);
    }
  }
  std::fprintf(stderr, "tracecraft-sink: %s\n", stats_json().c_str());
  return 0;
}
