// SPDX-License-Identifier: Apache-2.0
// The edge decision's arithmetic (standards §5): thresholds, determinism, superset.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "sampler/consistent.h"

using namespace tracecraft::detail;

TEST_SUITE("sampler") {
  TEST_CASE("thresholds match the full-precision examples of the standard") {
    CHECK(threshold_for(1.0) == 0);
    CHECK(threshold_for(0.5) == 0x80000000000000ull);
    CHECK(threshold_for(0.25) == 0xc0000000000000ull);
    CHECK(threshold_for(0.1) == 0xe6666666666666ull);
    CHECK(threshold_for(0.01) == 0xfd70a3d70a3d71ull);
    CHECK(threshold_for(0.0) == (1ull << 56));  // unreachable: R < 2^56
  }

  TEST_CASE("R is the low 56 bits of the trace id, big-endian") {
    std::uint8_t id[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7};
    CHECK(randomness_from_id(id) == 0x01020304050607ull);
  }

  TEST_CASE("deterministic, and a higher rate keeps a superset") {
    std::mt19937_64 rng(7);
    const double rates[] = {0.001, 0.01, 0.1, 0.3, 0.5, 0.9};
    int kept[6] = {};
    for (int i = 0; i < 100000; ++i) {
      std::uint8_t id[16];
      for (int b = 0; b < 16; b += 8) {
        const std::uint64_t v = rng();
        std::memcpy(id + b, &v, 8);
      }
      const std::uint64_t r = randomness_from_id(id);
      bool prev = false;
      for (int k = 0; k < 6; ++k) {
        const bool keep_it = keep(r, threshold_for(rates[k]));
        CHECK(keep_it == keep(randomness_from_id(id), threshold_for(rates[k])));
        if (prev) CHECK(keep_it);  // kept at a lower rate => kept at every higher rate
        prev = keep_it;
        kept[k] += keep_it;
      }
    }
    for (int k = 0; k < 6; ++k) {
      const double n = 100000, p = rates[k];
      const double sd = std::sqrt(n * p * (1 - p));
      CHECK_MESSAGE(std::abs(kept[k] - n * p) <= 3 * sd, "rate " << p << " kept " << kept[k]);
    }
  }

  TEST_CASE("host ids are hashed: sequential ids still sample at the rate") {
    int kept = 0;
    for (std::uint32_t i = 0; i < 100000; ++i) {
      std::uint8_t id[16] = {};
      std::memcpy(id + 12, &i, 4);
      kept += keep(randomness_from_host_id(id), threshold_for(0.2));
    }
    const double sd = std::sqrt(100000 * 0.2 * 0.8);
    CHECK(std::abs(kept - 20000) <= 3 * sd);
  }
}
