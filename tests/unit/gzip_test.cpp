// SPDX-License-Identifier: Apache-2.0
// gzip for OTLP bodies: both implementations produce streams zlib's inflate reads back exactly.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "export/gzip.h"

using namespace tracecraft::detail;

TEST_SUITE("gzip") {
  TEST_CASE("round trip through both compressors, for text, binary, empty and large inputs") {
    std::mt19937 rng(3);
    std::string binary(100000, '\0');
    for (char& c : binary) c = static_cast<char>(rng());
    std::string text;
    for (int i = 0; i < 20000; ++i) text += "gen_ai.request.model=llama-3.1-8b ";
    const std::string inputs[] = {"", "x", text, binary, std::string(5 << 20, 'a')};
    for (auto which : {gzip_compressor::impl::zlib, gzip_compressor::impl::libdeflate}) {
      gzip_compressor gz(which, 1);
      for (const std::string& in : inputs) {
        std::string packed, back;
        REQUIRE(gz.compress(in, packed));
        CHECK(static_cast<unsigned char>(packed[0]) == 0x1f);  // gzip magic
        CHECK(static_cast<unsigned char>(packed[1]) == 0x8b);
        REQUIRE(gunzip(packed, back));
        CHECK(back == in);
        if (in == text) CHECK(packed.size() < in.size() / 20);
      }
    }
  }

  TEST_CASE("gunzip rejects damaged input") {
    gzip_compressor gz;
    std::string packed, back;
    REQUIRE(gz.compress("some OTLP body", packed));
    packed[packed.size() - 3] ^= 0x55;  // the CRC trailer
    CHECK_FALSE(gunzip(packed, back));
    CHECK_FALSE(gunzip("not gzip at all", back));
  }
}
