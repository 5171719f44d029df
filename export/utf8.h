// SPDX-License-Identifier: Apache-2.0
// export/utf8.h — UTF-8 validation shared by the encoders: OTLP string fields must be valid
// UTF-8 (strict decoders reject the whole request otherwise), so invalid bytes become U+FFFD.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tracecraft::detail {

/// Length of a valid UTF-8 sequence starting at p (at most `left` bytes), or 0 when invalid
/// (overlong forms, surrogates and code points above U+10FFFF are invalid).
inline std::size_t utf8_seq(const unsigned char* p, std::size_t left) noexcept {
  const unsigned char c = p[0];
  if (c < 0x80) return 1;
  std::size_t n;
  std::uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (n > left) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

/// True when every byte of s is ASCII, without a byte loop and without reading past the end:
/// 16-byte blocks with an overlapping last block, or two overlapping 8- or 4-byte words.
inline bool all_ascii(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
#if defined(__SSE2__)
  if (n >= 16) {
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16)
      if (_mm_movemask_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i))) != 0) return false;
    return i == n || _mm_movemask_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + n - 16))) == 0;
  }
#endif
  if (n >= 8) {
    std::uint64_t a, b;
    std::memcpy(&a, p, 8);
    std::memcpy(&b, p + n - 8, 8);
    return ((a | b) & 0x8080808080808080ull) == 0;
  }
  if (n >= 4) {
    std::uint32_t a, b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + n - 4, 4);
    return ((a | b) & 0x80808080u) == 0;
  }
  unsigned char acc = 0;
  for (std::size_t i = 0; i < n; ++i) acc |= p[i];
  return acc < 0x80;
}

/// Copies s to d (s.size() bytes, nothing past them) and says whether every byte was ASCII: the
/// check rides on the copy's own loads. Meant for short strings (one to four 16-byte blocks).
inline bool copy_ascii(char* d, std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
#if defined(__SSE2__)
  if (n >= 16) {
    __m128i acc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + n - 16));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + n - 16), acc);
    for (std::size_t i = 0; i + 16 < n; i += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), v);
      acc = _mm_or_si128(acc, v);
    }
    return _mm_movemask_epi8(acc) == 0;
  }
#endif
  if (n >= 8) {
    std::uint64_t a, b;
    std::memcpy(&a, p, 8);
    std::memcpy(&b, p + n - 8, 8);
    std::memcpy(d, &a, 8);
    std::memcpy(d + n - 8, &b, 8);
    return ((a | b) & 0x8080808080808080ull) == 0;
  }
  if (n >= 4) {
    std::uint32_t a, b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + n - 4, 4);
    std::memcpy(d, &a, 4);
    std::memcpy(d + n - 4, &b, 4);
    return ((a | b) & 0x80808080u) == 0;
  }
  unsigned char acc = 0;
  for (std::size_t i = 0; i < n; ++i) {
    d[i] = static_cast<char>(p[i]);
    acc |= p[i];
  }
  return acc < 0x80;
}

/// Index of the first non-ASCII byte of s, or s.size(). SSE2 sixteen bytes at a time.
inline std::size_t ascii_prefix(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
#if defined(__SSE2__)
  for (; i + 16 <= n; i += 16) {
    const int mask = _mm_movemask_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)));
    if (mask != 0) return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
  }
#endif
  while (i < n && p[i] < 0x80) ++i;
  return i;
}

/// Size of s once every invalid byte is replaced by U+FFFD (3 bytes).
inline std::size_t utf8_clean_size(std::string_view s) noexcept {
  if (all_ascii(s)) return s.size();  // the common case, without a scalar tail
  std::size_t i = ascii_prefix(s);
  if (i == s.size()) return i;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t out = i;
  while (i < s.size()) {
    const std::size_t len = utf8_seq(p + i, s.size() - i);
    if (len == 0) {
      out += 3;
      i += 1;
    } else {
      out += len;
      i += len;
    }
  }
  return out;
}

/// Copies the UTF-8 sequence at p (at most `left` bytes) to o, or U+FFFD for an invalid byte.
/// Advances o; returns the input bytes consumed.
inline std::size_t utf8_copy_or_replace(const unsigned char* p, std::size_t left, char*& o) noexcept {
  const std::size_t len = utf8_seq(p, left);
  if (len == 0) {
    std::memcpy(o, "\xEF\xBF\xBD", 3);
    o += 3;
    return 1;
  }
  std::memcpy(o, p, len);
  o += len;
  return len;
}

/// Writes s with invalid bytes replaced (exactly utf8_clean_size(s) bytes); returns the end.
inline char* utf8_clean_write(char* o, std::string_view s) noexcept {
  std::size_t i = ascii_prefix(s);
  std::memcpy(o, s.data(), i);
  o += i;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) i += utf8_copy_or_replace(p + i, s.size() - i, o);
  return o;
}

}  // namespace tracecraft::detail
