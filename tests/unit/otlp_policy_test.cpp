// SPDX-License-Identifier: Apache-2.0
// The OTLP/HTTP exporter's rules (standards §2): endpoints, retry classes, Retry-After, backoff,
// the token bucket. Pure functions, so every case is exact.
#include <doctest/doctest.h>

#include <set>

#include "export/otlp_policy.h"

using namespace tracecraft::detail;

TEST_SUITE("otlp policy") {
  TEST_CASE("endpoint composition follows the specification's examples") {
    CHECK(compose_traces_endpoint("", "") == "http://localhost:4318/v1/traces");
    CHECK(compose_traces_endpoint("", "http://c:4318") == "http://c:4318/v1/traces");
    CHECK(compose_traces_endpoint("", "http://c:4318/") == "http://c:4318/v1/traces");  // no double slash
    CHECK(compose_traces_endpoint("", "http://c:4318/mycollector/") == "http://c:4318/mycollector/v1/traces");
    CHECK(compose_traces_endpoint("", "https://c/base") == "https://c/base/v1/traces");
    CHECK(compose_traces_endpoint("http://collector:4318", "http://ignored") == "http://collector:4318/");  // verbatim
    CHECK(compose_traces_endpoint("http://collector:4318/custom/path", "") == "http://collector:4318/custom/path");
    CHECK(compose_traces_endpoint("http://collector:4318/v1/traces", "") == "http://collector:4318/v1/traces");
  }

  TEST_CASE("only 429, 502, 503 and 504 are retried") {
    CHECK(classify_status(200) == http_outcome::success);
    CHECK(classify_status(202) == http_outcome::success);
    for (long s : {429L, 502L, 503L, 504L}) CHECK(classify_status(s) == http_outcome::retry);
    CHECK(classify_status(413) == http_outcome::too_large);
    for (long s : {400L, 401L, 403L, 404L, 408L, 500L, 501L, 505L}) CHECK(classify_status(s) == http_outcome::rejected);
  }

  TEST_CASE("Retry-After: delta-seconds and the three HTTP-date forms") {
    const std::int64_t now = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
    CHECK(parse_retry_after("120", now) == 120000u);
    CHECK(parse_retry_after(" 0 ", now) == 0u);
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now) == 10000u);  // IMF-fixdate
    CHECK(parse_retry_after("Sunday, 06-Nov-94 08:50:37 GMT", now) == 60000u);  // RFC 850
    CHECK(parse_retry_after("Sun Nov  6 08:49:57 1994", now) == 20000u);       // asctime
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:27 GMT", now) == 0u);      // in the past
    CHECK_FALSE(parse_retry_after("", now).has_value());
    CHECK_FALSE(parse_retry_after("soon", now).has_value());
    CHECK_FALSE(parse_retry_after("-5", now).has_value());
    CHECK_FALSE(parse_retry_after("Sun, 06 Foo 1994 08:49:47 GMT", now).has_value());
    CHECK_FALSE(parse_retry_after("Sun, 06 Nov 1994 25:49:47 GMT", now).has_value());
  }

  TEST_CASE("backoff doubles up to the cap and is jittered into [0.5, 1) of it") {
    for (unsigned a = 0; a < 12; ++a) {
      const std::uint64_t full = std::min<std::uint64_t>(5000, 100ull << a);
      CHECK(backoff_ms(a, 100, 5000, 0) == full / 2);
      CHECK(backoff_ms(a, 100, 5000, ~0ull) < full);
      CHECK(backoff_ms(a, 100, 5000, ~0ull) >= full - 1);
    }
    std::set<std::uint64_t> distinct;
    std::uint64_t x = 1;
    for (int i = 0; i < 100; ++i) distinct.insert(backoff_ms(3, 100, 5000, x = x * 6364136223846793005ull + 1442695040888963407ull));
    CHECK(distinct.size() > 50);  // jitter spreads retries
  }

  TEST_CASE("token bucket: burst, refill at the rate, never more than the burst") {
    token_bucket b(1000, 100);  // 1000 spans/s, burst 100
    const std::uint64_t t0 = 1'000'000'000;
    CHECK(b.take(100, t0));
    CHECK_FALSE(b.take(1, t0));
    CHECK(b.take(10, t0 + 10'000'000));  // 10 ms -> 10 tokens
    CHECK_FALSE(b.take(1, t0 + 10'000'000));
    CHECK(b.take(100, t0 + 10'000'000'000));  // long idle: capped at the burst
    CHECK_FALSE(b.take(1, t0 + 10'000'000'000));
    std::uint64_t taken = 0;
    for (std::uint64_t ms = 1; ms <= 1000; ++ms) taken += b.take(5, t0 + 10'000'000'000 + ms * 1'000'000) ? 5 : 0;
    CHECK(taken >= 990);  // ~1000 per second sustained
    CHECK(taken <= 1000);
  }

  TEST_CASE("split_url: scheme, host without credentials, port or brackets") {
    CHECK(split_url("http://c:4318/v1/traces").host == "c");
    CHECK(split_url("HTTPS://User:p@ss@Collector.Example:443?x").scheme == "https");
    CHECK(split_url("HTTPS://User:p@ss@Collector.Example:443?x").host == "Collector.Example");
    CHECK(split_url("http://[::1]:4318/").host == "::1");
    CHECK(split_url("proxy.corp:3128").scheme.empty());
    CHECK(split_url("http://10.0.0.1").host == "10.0.0.1");
  }

  TEST_CASE("hide_credentials: user name and password never shown") {
    CHECK(hide_credentials("http://user:secret@proxy:3128") == "http://***@proxy:3128");
    CHECK(hide_credentials("user:s@cret@proxy:3128/") == "***@proxy:3128/");
    CHECK(hide_credentials("http://proxy:3128/a@b") == "http://proxy:3128/a@b");  // an @ in the path is not userinfo
    CHECK(hide_credentials("http://proxy:3128") == "http://proxy:3128");
    CHECK(hide_credentials("").empty());
  }

  TEST_CASE("no_proxy: libcurl's rules for names") {
    CHECK(no_proxy_matches("anything", "*"));
    CHECK(no_proxy_matches("anything", " * "));
    CHECK_FALSE(no_proxy_matches("anything", "*.example.com"));  // no globs: "*" only alone
    CHECK_FALSE(no_proxy_matches("anything", ""));
    CHECK(no_proxy_matches("example.com", "example.com"));
    CHECK(no_proxy_matches("www.example.com", "example.com"));
    CHECK(no_proxy_matches("www.example.com", ".example.com"));
    CHECK(no_proxy_matches("WWW.Example.COM", "example.com"));
    CHECK(no_proxy_matches("example.com.", "example.com"));
    CHECK(no_proxy_matches("example.com", "example.com."));
    CHECK_FALSE(no_proxy_matches("notexample.com", "example.com"));
    CHECK_FALSE(no_proxy_matches("example.com", "www.example.com"));
    CHECK_FALSE(no_proxy_matches("example.org", "example.com"));
    CHECK(no_proxy_matches("collector", "localhost,collector"));
    CHECK(no_proxy_matches("collector", "localhost collector"));   // blanks separate too
    CHECK(no_proxy_matches("collector", " localhost ,, collector ,"));
    CHECK(no_proxy_matches("otel.svc.cluster.local", "foo,.cluster.local"));
    CHECK_FALSE(no_proxy_matches("collector", "collector.svc"));
    CHECK_FALSE(no_proxy_matches("collector", "10.0.0.0/8"));  // names never match addresses
  }

  TEST_CASE("no_proxy: addresses and prefix lengths, IPv4 and IPv6") {
    CHECK(no_proxy_matches("127.0.0.1", "127.0.0.1"));
    CHECK_FALSE(no_proxy_matches("127.0.0.2", "127.0.0.1"));
    CHECK(no_proxy_matches("10.1.2.3", "10.0.0.0/8"));
    CHECK_FALSE(no_proxy_matches("11.1.2.3", "10.0.0.0/8"));
    CHECK(no_proxy_matches("192.168.5.9", "192.168.4.0/23"));
    CHECK_FALSE(no_proxy_matches("192.168.6.9", "192.168.4.0/23"));
    CHECK(no_proxy_matches("10.1.2.3", "10.1.2.3/32"));
    CHECK_FALSE(no_proxy_matches("10.1.2.3", "10.0.0.0/33"));  // not a prefix length: no match
    CHECK_FALSE(no_proxy_matches("10.1.2.3", "10.0.0.0/x"));
    CHECK_FALSE(no_proxy_matches("127.0.0.1", "localhost"));  // no name lookups
    CHECK(no_proxy_matches("::1", "::1"));
    CHECK(no_proxy_matches("[::1]", "::1"));
    CHECK(no_proxy_matches("fd00::5", "fd00::/8"));
    CHECK_FALSE(no_proxy_matches("fe80::5", "fd00::/8"));
    CHECK_FALSE(no_proxy_matches("::ffff:10.0.0.1", "10.0.0.0/8"));  // families never mix
    CHECK_FALSE(no_proxy_matches("10.0.0.1", "::/0"));
  }

  TEST_CASE("choose_proxy: the scheme's variable, then all_proxy, unless no_proxy covers the host") {
    // proxy_settings{http_proxy, https_proxy, all_proxy, no_proxy}
    const std::string t = "http://c:4318/v1/traces", ts = "https://c/v1/traces";
    CHECK(choose_proxy(t, proxy_settings{}).empty());
    CHECK(choose_proxy(t, proxy_settings{"", "http://sec:3128", "", ""}).empty());  // https_proxy is not for http://
    CHECK(choose_proxy(ts, proxy_settings{"", "http://sec:3128", "", ""}) == "http://sec:3128");
    CHECK(choose_proxy(t, proxy_settings{"plain:3128", "", "", ""}) == "http://plain:3128");  // no scheme: http://
    CHECK(choose_proxy(t, proxy_settings{"plain:3128", "", "socks5h://all:1080", ""}) == "http://plain:3128");
    CHECK(choose_proxy(t, proxy_settings{"", "http://sec:3128", "socks5h://all:1080", ""}) == "socks5h://all:1080");
    CHECK(choose_proxy("HTTP://c:4318/v1/traces", proxy_settings{"", "", "socks5h://all:1080", ""}) == "socks5h://all:1080");
    const proxy_settings skip_c{"http://p:1", "http://sec:3128", "", "c"};
    CHECK(choose_proxy(t, skip_c).empty());
    CHECK(choose_proxy(ts, skip_c).empty());
    CHECK(choose_proxy("https://d.c/v1/traces", skip_c).empty());  // a subdomain of c
    CHECK(choose_proxy("https://dc/v1/traces", skip_c) == "http://sec:3128");
    const proxy_settings loopback{"", "", "socks5h://all:1080", "127.0.0.0/8"};
    CHECK(choose_proxy("http://127.0.0.1:4318/v1/traces", loopback).empty());
    CHECK(choose_proxy("http://[::1]:4318/v1/traces", loopback) == "socks5h://all:1080");
  }
}
