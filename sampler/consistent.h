// SPDX-License-Identifier: Apache-2.0
// sampler/consistent.h — the edge decision: consistent probability sampling (standards §5).
//
// R = the low 56 bits of the trace id (bytes 9..15, big-endian); T = 2^56 - round(p * 2^56);
// keep iff R >= T. Same id and rate give the same answer in every process; a higher rate keeps
// a superset. Ids the host supplies are not known to be random, so their R is an XXH3 hash.
#pragma once

#include <cmath>
#include <cstdint>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace tracecraft::detail {

inline constexpr std::uint64_t k_r_mask = (std::uint64_t{1} << 56) - 1;
inline constexpr std::uint64_t k_never = std::uint64_t{1} << 56;  ///< a threshold no R reaches

/// Rejection threshold for probability p in [0, 1]. p <= 0 is "never": k_never.
inline std::uint64_t threshold_for(double p) noexcept {
  if (!(p > 0.0)) return std::uint64_t{1} << 56;  // unreachable R: nothing is kept
  if (p >= 1.0) return 0;
  const double scaled = std::llround(std::ldexp(p, 56));
  return (std::uint64_t{1} << 56) - static_cast<std::uint64_t>(scaled);
}

/// The threshold the engine decides with and writes as `th`: the full-precision T rounded to the
/// nearest at 4 hex digits plus one per leading `f` (the specification's default precision, so
/// 0.1 -> e666, 0.01 -> fd70a). Deciding with the rounded T keeps the decision and the recorded
/// `th` in agreement.
inline std::uint64_t threshold_rounded(double p) noexcept {
  const std::uint64_t full = threshold_for(p);
  if (full == 0 || full >= k_r_mask) return full;
  int lead = 0;
  while (lead < 14 && ((full >> (4 * (13 - lead))) & 15) == 15) ++lead;
  const int digits = 4 + lead;
  if (digits >= 14) return full;
  const std::uint64_t q = std::uint64_t{1} << (4 * (14 - digits));
  const std::uint64_t t = (full + q / 2) / q * q;
  return t > k_r_mask ? full : t;  // a carry past the top keeps the full precision
}

inline std::uint64_t randomness_from_id(const std::uint8_t id[16]) noexcept {
  std::uint64_t r = 0;
  for (int i = 9; i < 16; ++i) r = (r << 8) | id[i];
  return r;
}

inline std::uint64_t randomness_from_host_id(const std::uint8_t id[16]) noexcept {
  return XXH3_64bits(id, 16) & k_r_mask;
}

inline bool keep(std::uint64_t r, std::uint64_t threshold) noexcept { return r >= threshold; }

}  // namespace tracecraft::detail
