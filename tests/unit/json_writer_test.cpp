// SPDX-License-Identifier: Apache-2.0
// The OTLP/JSON encoder: escaping, UTF-8 repair, numbers as the standard wants them.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include "export/json_writer.h"

using namespace tracecraft::detail;

namespace {
std::string s(std::string_view in) {
  std::string out;
  json_writer(out).str(in);
  return out;
}
}  // namespace

TEST_SUITE("json") {
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
  }

  TEST_CASE("ids are lowercase hex, 64-bit integers are quoted, non-finite doubles are strings") {
    std::string out;
    json_writer w(out);
    const std::uint8_t id[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
    w.hex(id, 8);
    CHECK(out == "\"00f067aa0ba902b7\"");
    out.clear();
    w.u64_quoted(18446744073709551615ull);
    CHECK(out == "\"18446744073709551615\"");
    out.clear();
    w.i64_quoted(-9223372036854775807ll - 1);
    CHECK(out == "\"-9223372036854775808\"");
    out.clear();
    w.dbl(std::numeric_limits<double>::quiet_NaN());
    w.dbl(-std::numeric_limits<double>::infinity());
    w.dbl(0.1);
    CHECK(out == "\"NaN\"\"-Infinity\"0.1");
  }
}
