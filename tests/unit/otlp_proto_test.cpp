// SPDX-License-Identifier: Apache-2.0
// The protobuf span encoder's space accounting: a span written with the quick bound (computed from
// counts) either fits it or is refused and written again with the exact bound, and both writes give
// the same bytes. Each write gets a buffer of exactly its bound, so a write past it is a heap
// overflow under ASan, and the result must decode in tracecraft-sink's transcoder.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "export/otlp_proto.h"
#include "export/utf8.h"
#include "tools/sink/otlp_transcode.h"

namespace td = tracecraft::detail;

TEST_CASE("copy_ascii copies exactly n bytes and finds any non-ASCII byte") {
  for (std::size_t n = 0; n <= 80; ++n) {
    for (std::size_t bad = 0; bad <= n; ++bad) {  // bad == n: all ASCII
      std::string s(n, 'a');
      for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
      if (bad < n) s[bad] = static_cast<char>(0x80 | bad);
      std::vector<char> out(n + 32, '#');
      const bool ascii = td::copy_ascii(out.data() + 16, s);
      CHECK(ascii == (bad == n));
      CHECK(std::string(out.data() + 16, n) == s);
      CHECK(std::string(out.data(), 16) == std::string(16, '#'));       // nothing before
      CHECK(std::string(out.data() + 16 + n, 16) == std::string(16, '#'));  // nothing after
    }
  }
}

namespace {

// Random spans over the encoder's size edges: keys around 64 bytes, strings around 58, text that is
// ASCII, valid UTF-8 or invalid, every value type, events and links with nested attributes.
struct span_maker {
  std::mt19937_64 rng{20261122};
  std::deque<std::string> text;  // never moves its strings
  std::uint8_t ids[64][16];

  std::size_t pick(std::size_t n) { return static_cast<std::size_t>(rng() % n); }
  std::string_view str(bool key) {
    static const std::size_t sizes[] = {0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 56, 57, 58, 59, 62, 63, 64, 65, 127, 128, 300};
    const std::size_t n = sizes[pick(sizeof sizes / sizeof sizes[0])];
    std::string s(n, 'x');
    for (auto& c : s) c = static_cast<char>('a' + pick(26));
    const std::size_t mode = pick(6);
    if (n > 0 && mode == 0) s[pick(n)] = static_cast<char>(0xC3);  // invalid (or a lead without its tail)
    if (n > 2 && mode == 1) s.replace(pick(n - 1), 2, "\xC3\xA9");   // valid two-byte sequence
    if (n > 0 && mode == 2 && !key) s[pick(n)] = static_cast<char>(0xFF);
    return text.emplace_back(std::move(s));
  }
  td::attr_view attr() {
    td::attr_view a;
    a.key = str(true);
    switch (pick(4)) {
      case 0: a.type = tracecraft::value::type::string, a.s = str(false); break;
      case 1: a.type = tracecraft::value::type::int64, a.i = static_cast<std::int64_t>(rng()) >> pick(64); break;
      case 2: a.type = tracecraft::value::type::float64, a.d = static_cast<double>(rng() % 1000) / 7.0; break;
      default: a.type = tracecraft::value::type::boolean, a.b = pick(2) == 1; break;
    }
    return a;
  }
  td::span_view make(std::size_t i) {
    td::span_view v{};
    for (auto& row : ids)
      for (auto& b : row) b = static_cast<std::uint8_t>(rng());
    v.trace_id = ids[i % 64];
    v.span_id = ids[(i + 1) % 64];
    v.parent_id = pick(2) ? ids[(i + 2) % 64] : nullptr;
    v.trace_state = pick(3) == 0 ? str(false) : std::string_view{};
    v.name = str(false);
    v.step = tracecraft::kind::internal;
    v.otel = td::otel_internal;
    v.start_ns = rng();
    v.end_ns = v.start_ns + pick(1000000);
    v.status = static_cast<std::uint8_t>(pick(3));
    v.status_message = v.status == 2 ? str(false) : std::string_view{};
    if (pick(5) == 0) {  // the kind's derived attributes first, the same for every span of the kind
      v.step = tracecraft::kind::llm;
      td::attr_view op, oi;
      op.key = "gen_ai.operation.name", op.type = tracecraft::value::type::string, op.s = "chat";
      oi.key = "openinference.span.kind", oi.type = tracecraft::value::type::string, oi.s = "LLM";
      REQUIRE(v.attrs.push_back(op));
      REQUIRE(v.attrs.push_back(oi));
      v.fixed_attrs = 2;
    }
    const std::size_t attrs = pick(14);
    for (std::size_t k = 0; k < attrs; ++k) REQUIRE(v.attrs.push_back(attr()));
    const std::size_t events = pick(4), links = pick(3);
    for (std::size_t k = 0; k < events; ++k) {
      td::event_view e{};
      e.name = str(false);
      e.time_ns = rng();
      e.first_attr = static_cast<std::uint32_t>(v.nested.size());
      e.attr_count = static_cast<std::uint32_t>(pick(4));
      e.dropped_attrs = static_cast<std::uint32_t>(pick(2));
      for (std::uint32_t a = 0; a < e.attr_count; ++a) REQUIRE(v.nested.push_back(attr()));
      REQUIRE(v.events.push_back(e));
    }
    for (std::size_t k = 0; k < links; ++k) {
      td::link_view l{};
      l.trace_id = ids[pick(64)];
      l.span_id = ids[pick(64)];
      l.flags = static_cast<std::uint8_t>(pick(4));
      l.remote = pick(2) == 1;
      l.first_attr = static_cast<std::uint32_t>(v.nested.size());
      l.attr_count = static_cast<std::uint32_t>(pick(3));
      for (std::uint32_t a = 0; a < l.attr_count; ++a) REQUIRE(v.nested.push_back(attr()));
      REQUIRE(v.links.push_back(l));
    }
    v.dropped_attrs = static_cast<std::uint32_t>(pick(2) * pick(300));
    v.dropped_events = static_cast<std::uint32_t>(pick(2));
    v.dropped_links = static_cast<std::uint32_t>(pick(2));
    return v;
  }
};

// The usual attribute by the encoder's own definition: ASCII key under 64, scalar or ASCII string under 58.
bool small_attr(const td::attr_view& a) {
  if (a.key.size() >= 64 || !td::all_ascii(a.key)) return false;
  return a.type != tracecraft::value::type::string || (a.s.size() < 58 && td::all_ascii(a.s));
}

}  // namespace

TEST_CASE("quick bound: fits or refuses; the exact bound always fits; the same bytes either way") {
  span_maker m;
  td::span_encoder enc;
  td::resource_info res;
  res.strings.emplace_back("service.name", "otlp-proto-test");
  td::otlp_proto_batch batch(res);
  std::size_t quick_ok = 0, refused = 0, all_small = 0;
  for (std::size_t i = 0; i < 20000; ++i) {
    const td::span_view v = m.make(i);
    const std::size_t exact = td::span_encoder::bound(v), quick = td::span_encoder::quick_bound(v);
    std::vector<char> a(exact), b(quick);  // exactly the bound: one byte more is a heap overflow under ASan
    char* ea = enc.write(a.data(), v, false);
    REQUIRE(ea != nullptr);
    REQUIRE(static_cast<std::size_t>(ea - a.data()) <= exact);
    char* eb = enc.write(b.data(), v, true);
    bool small = true;
    for (const auto& x : v.attrs) small = small && small_attr(x);
    for (const auto& x : v.nested) small = small && small_attr(x);
    all_small += small;
    if (small) CHECK(eb != nullptr);  // the usual span never takes the second write
    if (eb == nullptr) {
      ++refused;
    } else {
      ++quick_ok;
      REQUIRE(static_cast<std::size_t>(eb - b.data()) <= quick);
      REQUIRE(std::string_view(a.data(), static_cast<std::size_t>(ea - a.data())) ==
              std::string_view(b.data(), static_cast<std::size_t>(eb - b.data())));
    }
    REQUIRE(batch.add(v));
    if (batch.spans() == 500) {  // the batch takes either route; the request must decode whole
      const tracecraft::sink::transcode_result r = tracecraft::sink::transcode_request(batch.seal(), nullptr);
      CHECK_MESSAGE(r.ok, r.error);
      CHECK(r.spans == 500);
      batch.clear();
    }
  }
  MESSAGE("quick bound held for ", quick_ok, " spans, refused ", refused, "; ", all_small, " had only usual attributes");
  CHECK(quick_ok > 500);
  CHECK(refused > 1000);
  CHECK(all_small > 100);
}

TEST_CASE("a batch with front room: the same request, at least that much room before it, the size limit on the request alone") {
  span_maker m;
  td::resource_info res;
  res.strings.emplace_back("service.name", "otlp-proto-test");
  td::otlp_proto_batch plain(res), roomy(res, 700);
  for (std::size_t i = 0; i < 300; ++i) {
    const td::span_view v = m.make(i);
    REQUIRE(plain.add(v));
    REQUIRE(roomy.add(v));
  }
  const std::string a(plain.seal());
  const std::string_view b = roomy.seal();
  CHECK(a == b);
  CHECK(b.data() - roomy.room() >= 700);
  // The limit counts the request's bytes, not the room: both batches stop at the same span.
  td::otlp_proto_batch p2(res), r2(res, 1 << 20);
  const std::size_t limit = a.size() / 2;
  std::size_t np = 0, nr = 0;
  for (std::size_t i = 0; i < 300; ++i) {
    const td::span_view v = m.make(i);
    np += p2.add(v, limit);
    nr += r2.add(v, limit);
  }
  CHECK(np > 0);
  CHECK(np == nr);
  CHECK(p2.seal() == r2.seal());
}

TEST_CASE("quick bound: the largest usual attributes fill their reserve and still fit") {
  // An ASCII key of 63 bytes and an ASCII string of 57: the largest attribute the direct path
  // writes (128 bytes), in the span, in events and in links, with the fewest other bytes to hide in.
  const std::string key(63, 'k'), val(57, 'v');
  std::uint8_t id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  td::span_encoder enc;
  for (std::size_t n = 0; n <= 40; ++n) {
    td::span_view v{};
    v.trace_id = id;
    v.span_id = id;
    v.otel = td::otel_internal;
    td::attr_view a;
    a.key = key, a.type = tracecraft::value::type::string, a.s = val;
    for (std::size_t k = 0; k < n; ++k) REQUIRE(v.attrs.push_back(a));
    td::event_view e{};
    e.attr_count = static_cast<std::uint32_t>(n % 7);
    for (std::uint32_t k = 0; k < e.attr_count; ++k) REQUIRE(v.nested.push_back(a));
    if (n % 2) REQUIRE(v.events.push_back(e));
    td::link_view l{};
    l.trace_id = id, l.span_id = id;
    l.first_attr = static_cast<std::uint32_t>(v.nested.size());
    l.attr_count = static_cast<std::uint32_t>(n % 5);
    for (std::uint32_t k = 0; k < l.attr_count; ++k) REQUIRE(v.nested.push_back(a));
    if (n % 3) REQUIRE(v.links.push_back(l));
    const std::size_t quick = td::span_encoder::quick_bound(v);
    std::vector<char> b(quick);
    char* end = enc.write(b.data(), v, true);
    REQUIRE(end != nullptr);
    CHECK(static_cast<std::size_t>(end - b.data()) <= quick);
  }
}
