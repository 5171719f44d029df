// SPDX-License-Identifier: Apache-2.0
// core/hex.h — lowercase hex of 16 bytes (a trace id) in a few vector instructions.
#pragma once

#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tracecraft::detail {

/// Writes the 32 lowercase hex digits of `in[0..16)` to `out[0..32)` (no terminator).
inline void hex_lower_16(const std::uint8_t* in, char* out) noexcept {
#if defined(__SSE2__)
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in));
  const __m128i nib = _mm_set1_epi8(0x0F);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), nib);
  const __m128i lo = _mm_and_si128(b, nib);
  // Digit d becomes '0' + d, plus ('a' - '0' - 10) where d > 9.
  auto digits = [](__m128i d) {
    const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(d, _mm_set1_epi8(9)), _mm_set1_epi8('a' - '0' - 10));
    return _mm_add_epi8(_mm_add_epi8(d, _mm_set1_epi8('0')), letter);
  };
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), digits(_mm_unpacklo_epi8(hi, lo)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), digits(_mm_unpackhi_epi8(hi, lo)));
#else
  constexpr char k[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    out[2 * i] = k[in[i] >> 4];
    out[2 * i + 1] = k[in[i] & 15];
  }
#endif
}

}  // namespace tracecraft::detail
