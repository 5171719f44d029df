// SPDX-License-Identifier: Apache-2.0
// The OTLP/JSON encoder: escaping, UTF-8 repair, numbers as the standard wants them.
#include <doctest/doctest.h>

#include <malloc.h>
#include <sys/resource.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "export/json_writer.h"

using namespace tracecraft::detail;

namespace {
std::string s(std::string_view in) {
  out_buffer out;
  json_writer(out).str(in);
  return std::string(out.view());
}
}  // namespace

namespace {
long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return u.ru_minflt;
}
}  // namespace

TEST_SUITE("json") {
  TEST_CASE("out_buffer: prefault() maps the pages up front, so filling the buffer takes no page faults") {
    // meson test sets MALLOC_PERTURB_, and glibc then fills each allocation (touching every
    // page) before prefault() could. Memory earlier tests freed may come back with its pages
    // still mapped: give it back to the kernel first, so that both buffers start cold.
    mallopt(M_PERTURB, 0);
    malloc_trim(0);
    constexpr std::size_t n = 2u << 20;  // 512 pages
    std::string chunk(4096, 'x');
    auto fill = [&](out_buffer& b) {
      const long before = minor_faults();
      while (b.size() + chunk.size() <= n) b.append(chunk);
      return minor_faults() - before;
    };
    out_buffer cold;
    cold.ensure(n);  // capacity only: its pages are not mapped yet
    const long cold_faults = fill(cold);
    malloc_trim(0);
    out_buffer warm;
    warm.append("head");
    warm.prefault(n);
    CHECK(warm.view() == "head");  // contents and size unchanged
    const char* const at = warm.data();
    const long warm_faults = fill(warm);
    CHECK(warm.data() == at);  // no reallocation while filling up to n
    CHECK(warm.size() == 4 + (n / 4096 - 1) * 4096);
    CHECK(cold_faults >= 256);   // the check below would pass for the wrong reason otherwise
    CHECK(warm_faults <= 16);
  }

  TEST_CASE("strings are escaped and invalid UTF-8 becomes U+FFFD") {
    CHECK(s("plain") == "\"plain\"");
    CHECK(s("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(s("\n\r\t\b\f") == "\"\\n\\r\\t\\b\\f\"");
    CHECK(s(std::string_view("\x01\x1f", 2)) == "\"\\u0001\\u001f\"");
    CHECK(s("caf\xC3\xA9 \xF0\x9F\x98\x80") == "\"caf\xC3\xA9 \xF0\x9F\x98\x80\"");
    CHECK(s("bad \xC3 end") == "\"bad \xEF\xBF\xBD end\"");         // truncated sequence
    CHECK(s("\xC0\xAF") == "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");          // overlong
    CHECK(s("\xED\xA0\x80") == "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");  // surrogate
    CHECK(s("\xFF") == "\"\xEF\xBF\xBD\"");
    // Long runs cross the 16-byte SIMD blocks; the escape may sit at any offset.
    for (std::size_t at = 0; at < 40; ++at) {
      std::string in(40, 'a');
      in[at] = '"';
      std::string want(1, '"');
      want.append(in, 0, at).append("\\\"").append(in, at + 1).push_back('"');
      CHECK(s(in) == want);
    }
  }

  TEST_CASE("ids are lowercase hex, 64-bit integers are quoted, non-finite doubles are strings") {
    out_buffer buf;
    json_writer w(buf);
    std::string out;
    auto take = [&] {
      out.assign(buf.view());
      buf.clear();
    };
    const std::uint8_t id[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
    w.hex(id, 8);
    take();
    CHECK(out == "\"00f067aa0ba902b7\"");
    w.u64_quoted(18446744073709551615ull);
    take();
    CHECK(out == "\"18446744073709551615\"");
    w.i64_quoted(-9223372036854775807ll - 1);
    take();
    CHECK(out == "\"-9223372036854775808\"");
    w.dbl(std::numeric_limits<double>::quiet_NaN());
    w.dbl(-std::numeric_limits<double>::infinity());
    w.dbl(0.1);
    take();
    CHECK(out == "\"NaN\"\"-Infinity\"0.1");
    // Huge whole doubles get an exponent, so no parser mistakes them for an overflowing integer.
    w.dbl(-46116860184273879040.0);
    take();
    CHECK(out == "-4.611686018427388e+19");
    CHECK(std::strtod(out.c_str(), nullptr) == -46116860184273879040.0);
    w.dbl(123456789012345.0);  // 15 digits: written as is
    take();
    CHECK(out == "123456789012345");
  }
}
