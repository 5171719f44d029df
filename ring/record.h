// SPDX-License-Identifier: Apache-2.0
// ring/record.h — the binary records producers write into their ring and the drain decodes.
//
// Every record starts with a record_header; sizes are multiples of 8.
//
//   record_span:     header | detail::span_data | var section (var_len bytes)
//   record_fragment: header | fragment_header   | var section bytes (len)
//   record_pad:      header | ignored bytes up to the ring's end
//
// The var section is a sequence of items (tags in tracecraft/trace.h, detail::item_tag):
//   attribute  tag(1) keymode(1) keylen(2) key(8-byte pointer to a literal | keylen bytes) value
//              value: bool 1 byte | int64 8 | double 8 | string: len(4) bytes
//   event      tag(1) keymode(1) namelen(2) name-pointer(8) tick(8) nattrs(2) dropped(2),
//              then nattrs attribute items
//   link       tag(1) flags(1, bit 7 = remote) nattrs(2) dropped(2) pad(2) trace(16) span(8),
//              then nattrs attribute items
//   status msg tag(1) 0(1) 0(2) len(4) bytes
//   name       tag(1) 1(1) len(2) bytes            (a runtime span name, copied)
//
// A span whose items do not fit its inline buffer spills them, in order, as fragments into the
// ring of the thread it is on at that moment; the final record counts its fragments, and the
// drain concatenates fragments (by sequence number) and the final var section.
#pragma once

#include <cstdint>

namespace tracecraft::detail {

enum record_type : std::uint8_t { record_pad = 0, record_span = 1, record_fragment = 2 };

struct record_header {
  std::uint32_t size;  ///< whole record, header included, multiple of 8
  std::uint8_t type;   ///< record_type
  std::uint8_t reserved[3];
};
static_assert(sizeof(record_header) == 8);

struct fragment_header {
  std::uint8_t span_id[8];
  std::uint8_t trace_id[16];
  std::uint32_t len;  ///< var bytes that follow
  std::uint16_t seq;  ///< 0, 1, ... in writing order
  std::uint16_t reserved;
};
static_assert(sizeof(fragment_header) == 32);

constexpr std::uint32_t round8(std::uint64_t n) noexcept { return static_cast<std::uint32_t>((n + 7) & ~std::uint64_t{7}); }

}  // namespace tracecraft::detail
