// SPDX-License-Identifier: Apache-2.0
// W3C Trace Context and Baggage (standards §4) and the `ot` entry (§5): every validation case
// of the standards note, the mutation and truncation rules, the threshold encodings, and a fuzz
// target in replay mode (fixed seed; TC_FUZZ_ITERATIONS raises the count).
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "sampler/consistent.h"
#include "sampler/tracestate_store.h"
#include "sampler/w3c.h"
#include "tracecraft/trace.h"

using namespace tracecraft::detail;
namespace w = tracecraft::detail::w3c;

namespace {

const char* const k_valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

bool tp_ok(std::string_view s) {
  w::traceparent tp;
  return w::parse_traceparent(s, tp);
}

std::string th_of(double p) {
  char buf[14];
  return std::string(buf, w::format_th(threshold_rounded(p), buf));
}

std::string ts_round_trip(std::string_view in, std::string_view key = {}, std::string_view value = {}) {
  w::tracestate ts;
  if (!w::parse_tracestate(in, ts)) return "<invalid>";
  char out[w::tracestate_limit];
  return std::string(out, w::write_tracestate(ts, key, value, out));
}

}  // namespace

TEST_SUITE("traceparent") {
  TEST_CASE("the example parses into its fields") {
    w::traceparent tp;
    REQUIRE(w::parse_traceparent(k_valid, tp));
    CHECK(tp.version == 0);
    CHECK(tp.trace_id[0] == 0x4b);
    CHECK(tp.trace_id[15] == 0x36);
    CHECK(tp.parent_id[0] == 0x00);
    CHECK(tp.parent_id[7] == 0xb7);
    CHECK(tp.flags == 0x01);
    char out[55];
    w::format_traceparent(tp.trace_id, tp.parent_id, tp.flags, out);
    CHECK(std::string(out, 55) == k_valid);
  }

  TEST_CASE("every rule of the note") {
    CHECK(tp_ok(k_valid));
    CHECK(tp_ok(std::string(" \t") + k_valid + "\t "));  // surrounding OWS tolerated
    CHECK_FALSE(tp_ok("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"));  // uppercase
    CHECK_FALSE(tp_ok("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067aa0ba902b7-01"));
    CHECK_FALSE(tp_ok("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));  // version ff
    CHECK_FALSE(tp_ok("0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));  // version not hex
    CHECK_FALSE(tp_ok("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));  // zero trace id
    CHECK_FALSE(tp_ok("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));  // zero parent id
    CHECK_FALSE(tp_ok("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"));    // short trace id
    CHECK_FALSE(tp_ok("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01"));   // short parent id
    CHECK_FALSE(tp_ok("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1"));    // short flags
    CHECK_FALSE(tp_ok("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g"));   // flags not hex
    CHECK_FALSE(tp_ok("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));   // wrong separator
    CHECK_FALSE(tp_ok("00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01"));
    CHECK_FALSE(tp_ok("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01"));
    CHECK_FALSE(tp_ok(std::string(k_valid) + "-"));       // version 00 with anything after the flags
    CHECK_FALSE(tp_ok(std::string(k_valid) + "-extra"));
    CHECK_FALSE(tp_ok(""));
    CHECK_FALSE(tp_ok("00"));
  }

  TEST_CASE("a future version: parsed as 00 when the flags end the header or are followed by '-'") {
    w::traceparent tp;
    REQUIRE(w::parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds", tp));
    CHECK(tp.version == 0xcc);
    CHECK(tp.flags == 0x01);
    CHECK(tp_ok("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    CHECK_FALSE(tp_ok("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what"));
    char out[55];
    w::format_traceparent(tp.trace_id, tp.parent_id, tp.flags, out);
    CHECK(std::string(out, 2) == "00");  // re-emitted as version 00
  }

  TEST_CASE("flags: unknown bits are accepted and never forwarded") {
    w::traceparent tp;
    REQUIRE(w::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", tp));
    CHECK(tp.flags == 0xff);
    char out[55];
    w::format_traceparent(tp.trace_id, tp.parent_id, tp.flags, out);
    CHECK(std::string(out + 53, 2) == "03");
  }
}

TEST_SUITE("tracestate") {
  TEST_CASE("keys and values by the grammar") {
    CHECK(w::valid_key("congo"));
    CHECK(w::valid_key("0vendor"));  // Level 2: a digit may start a key
    CHECK(w::valid_key("tenant@system"));
    CHECK(w::valid_key("a_b-c*d/e"));
    CHECK_FALSE(w::valid_key("Congo"));
    CHECK_FALSE(w::valid_key("_x"));
    CHECK_FALSE(w::valid_key("a=b"));
    CHECK_FALSE(w::valid_key(""));
    CHECK(w::valid_key(std::string(256, 'a')));
    CHECK_FALSE(w::valid_key(std::string(257, 'a')));
    CHECK(w::valid_value("t61rcWkgMzE"));
    CHECK(w::valid_value("a b"));
    CHECK_FALSE(w::valid_value("ab "));  // may not end in a space
    CHECK_FALSE(w::valid_value("a,b"));
    CHECK_FALSE(w::valid_value("a=b"));
    CHECK_FALSE(w::valid_value(""));
    CHECK_FALSE(w::valid_value("a\x7f"));
    CHECK(w::valid_value(std::string(256, 'v')));
    CHECK_FALSE(w::valid_value(std::string(257, 'v')));
  }

  TEST_CASE("parsing: OWS, empty members, empty header, duplicates, 32 members, invalid members") {
    CHECK(ts_round_trip("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE") == "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    CHECK(ts_round_trip(" rojo=1 ,\t congo=2\t") == "rojo=1,congo=2");
    CHECK(ts_round_trip("rojo=1,,congo=2, ,") == "rojo=1,congo=2");
    CHECK(ts_round_trip("") == "");
    CHECK(ts_round_trip("rojo=1,rojo=2") == "rojo=1");  // the first of a repeated key stays
    std::string m32, m33;
    for (int i = 0; i < 33; ++i) {
      std::string m = i ? "," : "";
      m += "k";
      m += std::to_string(i);
      m += "=v";
      if (i < 32) m32 += m;
      m33 += m;
    }
    CHECK(ts_round_trip(m32) == m32);
    CHECK(ts_round_trip(m33) == "<invalid>");                      // 33 members discard the header
    CHECK(ts_round_trip("rojo=1," + std::string(257, 'k') + "=v") == "<invalid>");  // over-long key
    CHECK(ts_round_trip("rojo=1,Congo=2") == "<invalid>");
    CHECK(ts_round_trip("rojo=1,congo") == "<invalid>");
    CHECK(ts_round_trip("rojo=1,congo=") == "<invalid>");
  }

  TEST_CASE("mutation: the updated key goes first, no duplicates, at most 32 (the right-most go)") {
    CHECK(ts_round_trip("rojo=1,congo=2", "congo", "3") == "congo=3,rojo=1");
    CHECK(ts_round_trip("rojo=1,congo=2", "ot", "th:8") == "ot=th:8,rojo=1,congo=2");
    CHECK(ts_round_trip("rojo=1,ot=th:8,congo=2", "ot", "") == "rojo=1,congo=2");  // empty value removes
    std::string m32;
    for (int i = 0; i < 32; ++i) {
      if (i) m32 += ',';
      m32 += 'k';
      m32 += std::to_string(i);
      m32 += "=v";
    }
    const std::string out = ts_round_trip(m32, "ot", "th:c");
    CHECK(out.rfind("ot=th:c,k0=v,", 0) == 0);
    CHECK(out.find("k31=v") == std::string::npos);
    CHECK(out.find("k30=v") != std::string::npos);
  }

  TEST_CASE("truncation to 512 chars: entries over 128 chars go first, then from the right; whole entries only") {
    const std::string big = "big=" + std::string(200, 'b');  // 204 chars
    std::string in = "a=" + std::string(120, 'a') + "," + big + ",c=" + std::string(120, 'c') + ",d=" + std::string(120, 'd') +
                     ",e=" + std::string(120, 'e');
    const std::string out = ts_round_trip(in);
    CHECK(out.size() <= 512);
    CHECK(out.find("big=") == std::string::npos);  // the long entry went first
    CHECK(out.find("e=") != std::string::npos);    // 4 x 122 + 3 commas = 491 fit
    std::string many;
    for (int i = 0; i < 20; ++i) {
      if (i) many += ',';
      many += static_cast<char>('a' + i);
      many += '=';
      many.append(40, 'x');
    }
    const std::string cut = ts_round_trip(many);  // 20 x 42 + 19 = 859 chars
    CHECK(cut.size() <= 512);
    CHECK(cut.rfind("a=", 0) == 0);                // the left ones stay
    CHECK(cut.find("t=") == std::string::npos);   // the right ones went
    CHECK(cut.back() == 'x');                      // whole entries
  }
}

TEST_SUITE("ot") {
  TEST_CASE("thresholds at the default precision, as in the note's examples") {
    CHECK(th_of(1.0) == "0");
    CHECK(th_of(0.5) == "8");
    CHECK(th_of(0.25) == "c");
    CHECK(th_of(0.125) == "e");
    CHECK(th_of(0.1) == "e666");
    CHECK(th_of(1.0 / 3) == "aaab");
    CHECK(th_of(0.01) == "fd70a");
    CHECK(th_of(0.001) == "ffbe77");
    CHECK(th_of(0.0001) == "fff9724");
    // Full precision stays available (opentelemetry-cpp's encoding).
    char buf[14];
    CHECK(std::string(buf, w::format_th(threshold_for(0.1), buf)) == "e6666666666666");
    CHECK(std::string(buf, w::format_th(threshold_for(0.01), buf)) == "fd70a3d70a3d71");
  }

  TEST_CASE("th and rv decoding") {
    std::uint64_t t = 0;
    REQUIRE(w::parse_th("c", t));
    CHECK(t == 0xc0000000000000ull);  // right-padded to 14 digits
    REQUIRE(w::parse_th("0", t));
    CHECK(t == 0);
    CHECK_FALSE(w::parse_th("", t));
    CHECK_FALSE(w::parse_th("C", t));
    CHECK_FALSE(w::parse_th("123456789abcdef", t));  // 15 digits
    std::uint64_t r = 0;
    REQUIRE(w::parse_rv("6e6d1a75832a2f", r));
    CHECK(r == 0x6e6d1a75832a2full);
    CHECK_FALSE(w::parse_rv("6e6d1a75832a2", r));  // exactly 14
  }

  TEST_CASE("the ot value: sub-keys kept, malformed th/rv dropped, malformed structure refused") {
    w::ot_value o;
    REQUIRE(w::parse_ot("th:c;rv:6e6d1a75832a2f", o));
    CHECK(o.has_th);
    CHECK(o.th == 0xc0000000000000ull);
    CHECK(o.has_rv);
    REQUIRE(w::parse_ot("p:8;th:zz;x9:A.b_c-1", o));
    CHECK_FALSE(o.has_th);
    CHECK(o.n_others == 2);
    char out[w::ot_value_limit];
    CHECK(std::string(out, w::write_ot(o, out)) == "p:8;x9:A.b_c-1");
    o.has_th = true;
    o.th = 0xe6660000000000ull;
    CHECK(std::string(out, w::write_ot(o, out)) == "th:e666;p:8;x9:A.b_c-1");
    CHECK_FALSE(w::parse_ot("th", o));
    CHECK_FALSE(w::parse_ot("Th:8", o));
    CHECK_FALSE(w::parse_ot("th:8;;rv:1", o));
    CHECK_FALSE(w::parse_ot("th:8!", o));
    CHECK_FALSE(w::parse_ot(std::string(257, 'a'), o));
  }

  TEST_CASE("build_tracestate: th written, kept or erased; rv never overwritten; others kept") {
    ot_facts f;
    f.has_th = true;
    f.th = 0x80000000000000ull;
    const std::string text = "ot=th:8;rv:6e6d1a75832a2f;q:1,rojo=00f067aa0ba902b7";
    const std::uint32_t h = ts_store().put(text, f);
    REQUIRE(h != 0);
    char out[512];
    auto build = [&](std::uint8_t bits, std::uint64_t t = 0, std::uint64_t host_rv = 0) {
      return std::string(out, build_tracestate(h, bits, t, host_rv, out));
    };
    CHECK(build(span_flag_ts_keep_th) == "ot=th:8;rv:6e6d1a75832a2f;q:1,rojo=00f067aa0ba902b7");
    CHECK(build(span_flag_ts_th, 0xfd70a000000000ull) == "ot=th:fd70a;rv:6e6d1a75832a2f;q:1,rojo=00f067aa0ba902b7");
    CHECK(build(0) == "ot=rv:6e6d1a75832a2f;q:1,rojo=00f067aa0ba902b7");
    CHECK(build(span_flag_ts_th | span_flag_ts_rv, 0, 0x123) == "ot=th:0;rv:6e6d1a75832a2f;q:1,rojo=00f067aa0ba902b7");
    CHECK(std::string(out, build_tracestate(0, span_flag_ts_th | span_flag_ts_rv, 0xc0000000000000ull, 0x123, out)) ==
          "ot=th:c;rv:00000000000123");
    CHECK(build_tracestate(0, 0, 0, 0, out) == 0);
  }

  TEST_CASE("the tracestate table: a reused slot reads as lost, never as another trace's text") {
    ot_facts f;
    const std::uint32_t first = ts_store().put("a=1", f);
    REQUIRE(first != 0);
    for (std::size_t i = 0; i < tracestate_store::slots; ++i) REQUIRE(ts_store().put("b=" + std::to_string(i), f) != 0);
    char text[512];
    std::size_t len = 0;
    CHECK_FALSE(ts_store().get(first, text, len, f));
    bool lost = false;
    char out[512];
    CHECK(build_tracestate(first, 0, 0, 0, out, &lost) == 0);
    CHECK(lost);
    const std::uint32_t last = ts_store().put("c=2", f);
    REQUIRE(ts_store().get(last, text, len, f));
    CHECK(std::string(text, len) == "c=2");
  }
}

TEST_SUITE("baggage") {
  TEST_CASE("members, properties, percent-decoding, OWS, bad UTF-8") {
    std::size_t dropped = 0;
    const auto b = w::parse_baggage(" userId = alice , serverNode=DF%2028;ttl=10 ,isProduction=false,bad=%FF%FEok", &dropped);
    REQUIRE(b.size() == 4);
    CHECK(dropped == 0);
    CHECK(b[0].key == "userId");
    CHECK(b[0].value == "alice");
    CHECK(b[1].value == "DF 28");
    CHECK(b[1].properties == "ttl=10");
    CHECK(b[3].value == "\xEF\xBF\xBD\xEF\xBF\xBDok");  // invalid UTF-8 -> U+FFFD each
    CHECK(w::write_baggage(b) == "userId=alice,serverNode=DF%2028;ttl=10,isProduction=false,bad=%EF%BF%BD%EF%BF%BDok");
  }

  TEST_CASE("invalid members are skipped and counted") {
    std::size_t dropped = 0;
    const auto b = w::parse_baggage("ok=1,novalue,bad key=2,k=a b,k2=%zz,k3=\"q\",fine=2", &dropped);
    REQUIRE(b.size() == 2);
    CHECK(b[0].key == "ok");
    CHECK(b[1].key == "fine");
    CHECK(dropped == 5);
  }

  TEST_CASE("limits: 64 members and 8192 bytes, whole members only") {
    std::string many;
    for (int i = 0; i < 70; ++i) {
      if (i) many += ',';
      many += 'k';
      many += std::to_string(i);
      many += "=v";
    }
    std::size_t dropped = 0;
    CHECK(w::parse_baggage(many, &dropped).size() == 64);
    CHECK(dropped == 6);
    std::string big;
    for (int i = 0; i < 40; ++i) {
      if (i) big += ',';
      big += 'k';
      big += std::to_string(i);
      big += '=';
      big.append(300, 'x');
    }
    const auto b = w::parse_baggage(big, &dropped);
    std::size_t bytes = 0;
    for (const auto& e : b) bytes += e.key.size() + 1 + e.value.size() + 1;
    CHECK(bytes <= 8192 + 1);
    CHECK(b.size() == 26);  // 26 x 305 + 25 = 7955; a 27th would pass 8192
    CHECK(b.back().value.size() == 300);
  }
}

TEST_SUITE("fuzz") {
  TEST_CASE("fuzz (replay): mutated headers never crash, and what is accepted re-parses to itself") {
    std::size_t iterations = 200000;
    if (const char* env = std::getenv("TC_FUZZ_ITERATIONS")) iterations = std::strtoull(env, nullptr, 10);
    std::mt19937_64 rng(20261121);
    const std::string seeds[] = {k_valid, "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
                                 "ot=th:c;rv:6e6d1a75832a2f,rojo=00f067aa0ba902b7, congo=t61rcWkgMzE",
                                 "userId=alice,serverNode=DF%2028;ttl=10,k=%E2%82%AC"};
    const char alphabet[] = "0123456789abcdefABCDEF-=,;: \t%@*/_.xz\x7f\x80\xff";
    std::size_t accepted_tp = 0, accepted_ts = 0;
    for (std::size_t it = 0; it < iterations; ++it) {
      std::string s = seeds[rng() % 4];
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        const std::size_t at = s.empty() ? 0 : rng() % s.size();
        switch (rng() % 4) {
          case 0: if (!s.empty()) s[at] = alphabet[rng() % (sizeof alphabet - 1)]; break;
          case 1: s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), alphabet[rng() % (sizeof alphabet - 1)]); break;
          case 2: if (!s.empty()) s.erase(at, 1 + rng() % 3); break;
          default: s += s.substr(0, rng() % (s.size() + 1)); break;
        }
      }
      w::traceparent tp;
      if (w::parse_traceparent(s, tp)) {
        ++accepted_tp;
        char out[55];
        w::format_traceparent(tp.trace_id, tp.parent_id, tp.flags, out);
        w::traceparent again;
        REQUIRE(w::parse_traceparent(std::string_view(out, 55), again));
        REQUIRE(std::memcmp(again.trace_id, tp.trace_id, 16) == 0);
        REQUIRE(std::memcmp(again.parent_id, tp.parent_id, 8) == 0);
      }
      w::tracestate ts;
      if (w::parse_tracestate(s, ts)) {
        ++accepted_ts;
        char out[512];
        const std::size_t n = w::write_tracestate(ts, "ot", "th:8", out);
        REQUIRE(n <= 512);
        w::tracestate again;
        REQUIRE(w::parse_tracestate(std::string_view(out, n), again));
        REQUIRE(again.n <= 32);
        REQUIRE(again.get("ot") == "th:8");
      }
      w::ot_value o;
      if (w::parse_ot(s, o)) {
        char out[w::ot_value_limit];
        const std::size_t n = w::write_ot(o, out);
        w::ot_value again;
        REQUIRE((n == 0 || w::parse_ot(std::string_view(out, n), again)));
      }
      const auto b = w::parse_baggage(s);
      REQUIRE(b.size() <= 64);
      const std::string back = w::write_baggage(b);
      REQUIRE(back.size() <= 8192);
      REQUIRE(w::parse_baggage(back).size() == b.size());
    }
    MESSAGE("accepted traceparents " << accepted_tp << ", tracestates " << accepted_ts << " of " << iterations);
    CHECK(accepted_tp > 0);
    CHECK(accepted_ts > 0);
  }
}
