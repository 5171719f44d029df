// SPDX-License-Identifier: Apache-2.0
// tracecraft-sink's decoder: exact OTLP/JSON for a hand-encoded request that uses every field
// type, and a fuzz target in replay mode (a fixed seed, so every run checks the same inputs): no
// input crashes it, and whatever it accepts comes out as valid JSON (simdjson also checks UTF-8).
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <cstdlib>
#include <random>
#include <string>

#include <simdjson.h>

#include "tools/sink/otlp_transcode.h"

namespace ts = tracecraft::sink;

namespace {

// A tiny protobuf writer for building test inputs.
struct pb {
  std::string b;
  pb& varint(std::uint64_t v) {
    while (v >= 0x80) {
      b.push_back(static_cast<char>((v & 0x7F) | 0x80));
      v >>= 7;
    }
    b.push_back(static_cast<char>(v));
    return *this;
  }
  pb& key(unsigned field, unsigned wire) { return varint((field << 3) | wire); }
  pb& len(unsigned field, const std::string& s) {
    key(field, 2).varint(s.size());
    b += s;
    return *this;
  }
  pb& msg(unsigned field, const pb& m) { return len(field, m.b); }
  pb& u(unsigned field, std::uint64_t v) { return key(field, 0).varint(v); }
  pb& f64(unsigned field, std::uint64_t v) {
    key(field, 1);
    for (int i = 0; i < 8; ++i) b.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
  pb& f32(unsigned field, std::uint32_t v) {
    key(field, 5);
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>(v >> (8 * i)));
    return *this;
  }
};

pb kv(const std::string& k, const pb& any) { return pb().len(1, k).msg(2, any); }

std::string sample_request() {
  double d = -2.5;
  std::uint64_t dbits;
  std::memcpy(&dbits, &d, 8);
  const pb arr = pb().msg(1, pb().len(1, "x")).msg(1, pb().u(3, 7));
  const pb kvl = pb().msg(1, kv("inner", pb().u(2, 1)));
  const pb span = pb()
                      .len(1, std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", 16))
                      .len(2, std::string("\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8", 8))
                      .len(3, "ot=th:8")
                      .len(5, "decode \xe6\x97\xa5")  // UTF-8 kept as is
                      .u(6, 2)
                      .f64(7, 1700000000000000000ull)
                      .f64(8, 1700000000000000123ull)
                      .msg(9, kv("neg", pb().u(3, static_cast<std::uint64_t>(-5))))
                      .msg(9, kv("dbl", pb().f64(4, dbits)))
                      .msg(9, kv("arr", pb().msg(5, arr)))
                      .msg(9, kv("map", pb().msg(6, kvl)))
                      .msg(9, kv("raw", pb().len(7, std::string("\x00\xff\x10", 3))))
                      .msg(9, kv("bad", pb().len(1, "a\xff" "b")))  // invalid UTF-8: repaired
                      .u(10, 3)
                      .msg(11, pb().f64(1, 5).len(2, "first_token"))
                      .msg(13, pb().len(1, std::string(16, '\x11')).len(2, std::string(8, '\x22')).f32(6, 0x301))
                      .msg(15, pb().len(2, "boom").u(3, 2))
                      .f32(16, 0x101)
                      .u(99, 12345);  // unknown field: skipped
  const pb scope_spans = pb().msg(1, pb().len(1, "scope").len(2, "1.0")).msg(2, span).msg(2, pb().len(1, std::string(16, '\x01')).len(2, std::string(8, '\x02')).len(5, "second"));
  const pb resource_spans = pb().msg(1, pb().msg(1, kv("service.name", pb().len(1, "svc")))).msg(2, scope_spans);
  return pb().msg(1, resource_spans).b;
}

}  // namespace

TEST_CASE("sink transcoder: every field type, exact OTLP/JSON") {
  std::string json;
  const auto r = ts::transcode_request(sample_request(), &json);
  REQUIRE_MESSAGE(r.ok, r.error);
  CHECK(r.spans == 2);
  const std::string want =
      R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},)"
      R"("scopeSpans":[{"scope":{"name":"scope","version":"1.0"},"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10",)"
      R"("spanId":"a1a2a3a4a5a6a7a8","traceState":"ot=th:8","flags":257,"name":"decode 日","kind":2,)"
      R"("startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000000000123","attributes":[)"
      R"({"key":"neg","value":{"intValue":"-5"}},{"key":"dbl","value":{"doubleValue":-2.5}},)"
      R"({"key":"arr","value":{"arrayValue":{"values":[{"stringValue":"x"},{"intValue":"7"}]}}},)"
      R"({"key":"map","value":{"kvlistValue":{"values":[{"key":"inner","value":{"boolValue":true}}]}}},)"
      R"({"key":"raw","value":{"bytesValue":"AP8Q"}},{"key":"bad","value":{"stringValue":"a�b"}}],)"
      R"("droppedAttributesCount":3,"events":[{"timeUnixNano":"5","name":"first_token"}],)"
      R"("links":[{"traceId":"11111111111111111111111111111111","spanId":"2222222222222222","flags":769}],)"
      R"("status":{"message":"boom","code":2}},{"traceId":"01010101010101010101010101010101","spanId":"0202020202020202","name":"second"}]}]}]})";
  CHECK(json == want);
  simdjson::dom::parser p;
  CHECK(p.parse(json).error() == simdjson::SUCCESS);
}

TEST_CASE("sink transcoder: malformed input is refused with a reason") {
  const std::string good = sample_request();
  CHECK_FALSE(ts::transcode_request(good.substr(0, good.size() - 3), nullptr).ok);  // truncated
  CHECK_FALSE(ts::transcode_request(std::string("\x0a\xff\xff\xff\xff\x0f", 6), nullptr).ok);  // length past the end
  CHECK_FALSE(ts::transcode_request(std::string("\x0b", 1), nullptr).ok);  // group wire type
  CHECK_FALSE(ts::transcode_request(std::string("\x09\x01", 2), nullptr).ok);  // resource_spans as fixed64
  const auto r = ts::transcode_request(std::string("\x0a\x02\x0a", 3), nullptr);
  CHECK_FALSE(r.ok);
  CHECK_FALSE(r.error.empty());
  // Nesting deeper than 64 levels (arrays in arrays) is refused, not a stack overflow.
  pb any = pb().len(1, "leaf");
  for (int i = 0; i < 200; ++i) any = pb().msg(5, pb().msg(1, any));
  const pb span = pb().len(1, std::string(16, '\x01')).len(2, std::string(8, '\x02')).len(5, "deep").msg(9, kv("k", any));
  const std::string deep = pb().msg(1, pb().msg(2, pb().msg(2, span))).b;
  CHECK_FALSE(ts::transcode_request(deep, nullptr).ok);
  CHECK(ts::transcode_request("", nullptr).ok);  // an empty request is valid protobuf (no spans)
}

TEST_CASE("sink JSON check: counts spans, refuses what is not OTLP/JSON") {
  std::string out;
  auto r = ts::check_json_request(R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"a"},{"name":"b"}]}]}]})", &out);
  CHECK(r.ok);
  CHECK(r.spans == 2);
  CHECK(out.find("\"name\":\"b\"") != std::string::npos);
  CHECK_FALSE(ts::check_json_request("{\"resourceSpans\":3}", nullptr).ok);
  CHECK_FALSE(ts::check_json_request("[1,2]", nullptr).ok);
  CHECK_FALSE(ts::check_json_request("{\"resourceSpans\":[", nullptr).ok);
}

TEST_CASE("fuzz (replay): mutated and random inputs never crash; accepted input gives valid JSON") {
  const std::string seed = sample_request();
  std::mt19937_64 rng(20261121);
  const char* env = std::getenv("TC_FUZZ_ITERATIONS");
  const int iterations = env ? std::atoi(env) : 200000;
  simdjson::dom::parser parser;
  int accepted = 0;
  for (int i = 0; i < iterations; ++i) {
    std::string in;
    switch (i % 4) {
      case 0: {  // random bytes
        in.resize(rng() % 256);
        for (char& c : in) c = static_cast<char>(rng());
        break;
      }
      default: {  // the valid request with a few flips, cuts and insertions
        in = seed;
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int e = 0; e < edits && !in.empty(); ++e) {
          const std::size_t at = rng() % in.size();
          switch (rng() % 4) {
            case 0: in[at] = static_cast<char>(in[at] ^ (1u << (rng() % 8))); break;
            case 1: in.resize(at); break;
            case 2: in.insert(at, 1, static_cast<char>(rng())); break;
            case 3: in[at] = static_cast<char>(rng()); break;
          }
        }
      }
    }
    std::string json;
    const auto r = ts::transcode_request(in, &json);
    if (r.ok) {
      ++accepted;
      const auto err = parser.parse(json).error();
      if (err != simdjson::SUCCESS) {
        std::string hex;
        for (unsigned char c : in) hex += "0123456789abcdef"[c >> 4], hex += "0123456789abcdef"[c & 15];
        FAIL_CHECK("accepted input produced invalid JSON (" << std::string(simdjson::error_message(err)) << "): " << json
                                                            << "\ninput: " << hex);
      }
    }
    // The counting-only path (tracecraft-sink --discard) accepts exactly the same inputs.
    const auto v = ts::transcode_request(in, nullptr);
    CHECK(v.ok == r.ok);
    if (v.ok && r.ok) CHECK(v.spans == r.spans);
    // The JSON path with the same bytes.
    ts::check_json_request(in, nullptr);
  }
  MESSAGE(accepted << " of " << iterations << " inputs accepted");
  CHECK(accepted > 0);
}
