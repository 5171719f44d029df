// SPDX-License-Identifier: Apache-2.0
// sampler/w3c.h — W3C Trace Context (traceparent, tracestate), the OpenTelemetry `ot` tracestate
// entry, and W3C Baggage (standards §4, §5). Pure functions over caller-owned memory: nothing here
// allocates except the baggage parser (optional, off the hot path), nothing throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tracecraft::detail::w3c {

inline constexpr std::size_t traceparent_size = 55;
inline constexpr std::size_t max_members = 32;
/// What we propagate at least (and at most: longer lists are truncated by whole entries).
inline constexpr std::size_t tracestate_limit = 512;
inline constexpr std::size_t ot_value_limit = 256;

// ---- traceparent ----------------------------------------------------------------------------

struct traceparent {
  std::uint8_t trace_id[16];
  std::uint8_t parent_id[8];
  std::uint8_t flags;    ///< as received; only 0x01 (sampled) and 0x02 (random) are forwarded
  std::uint8_t version;
};

/// Parses one header value (surrounding spaces and tabs allowed). False on any rule broken:
/// the caller starts a new trace and ignores tracestate.
bool parse_traceparent(std::string_view v, traceparent& out) noexcept;
/// Writes version 00 with flags & 0x03: exactly traceparent_size chars, no terminator.
void format_traceparent(const std::uint8_t trace_id[16], const std::uint8_t span_id[8], std::uint8_t flags,
                        char out[traceparent_size]) noexcept;

// ---- tracestate -----------------------------------------------------------------------------

struct member {
  std::string_view key, value;
};

struct tracestate {
  member m[max_members];
  std::size_t n = 0;
  std::string_view get(std::string_view key) const noexcept;
};

bool valid_key(std::string_view k) noexcept;
bool valid_value(std::string_view v) noexcept;
/// Parses a header value (several headers joined with ','). Empty members and an empty header
/// are fine. Any invalid member, or more than 32, discards the whole header: false, n = 0.
/// A repeated key keeps its first occurrence.
bool parse_tracestate(std::string_view v, tracestate& out) noexcept;
/// Serialises `ts` with `front_key=front_value` first (replacing that key; an empty value means
/// "remove the key") into `out`. At most 32 members (the right-most go first) and at most `limit`
/// chars: whole entries are dropped, first those over 128 chars, then from the right (the front
/// entry is kept). Returns the length; `out` must hold `limit` chars.
std::size_t write_tracestate(const tracestate& ts, std::string_view front_key, std::string_view front_value,
                             char* out, std::size_t limit = tracestate_limit) noexcept;

// ---- the `ot` entry (consistent probability sampling) ---------------------------------------

struct ot_value {
  bool has_th = false;
  bool has_rv = false;
  std::uint64_t th = 0;  ///< 56-bit rejection threshold
  std::uint64_t rv = 0;  ///< 56-bit randomness
  std::string_view others[16];  ///< unknown sub-keys, verbatim `k:v`, in order (kept)
  std::size_t n_others = 0;
};

/// Parses an `ot` value. Malformed structure (bad sub-key, bad characters, over 256 chars): false
/// and nothing is known. A malformed `th` or `rv` alone is dropped (unknown), the rest is kept.
bool parse_ot(std::string_view v, ot_value& out) noexcept;
/// `th:...;rv:...;others`, at most 256 chars (others that do not fit are dropped). Returns length.
std::size_t write_ot(const ot_value& o, char out[ot_value_limit]) noexcept;
/// 1..14 lowercase hex digits, trailing zeros removed ("0" for 0). Returns the length.
std::size_t format_th(std::uint64_t t, char out[14]) noexcept;
bool parse_th(std::string_view s, std::uint64_t& t) noexcept;
bool parse_rv(std::string_view s, std::uint64_t& r) noexcept;

// ---- baggage ----------------------------------------------------------------------------------

inline constexpr std::size_t baggage_max_members = 64;
inline constexpr std::size_t baggage_max_bytes = 8192;

struct baggage_entry {
  std::string key;
  std::string value;       ///< percent-decoded; invalid UTF-8 becomes U+FFFD
  std::string properties;  ///< verbatim, without the leading ';'
};

/// Parses a baggage header (several joined with ','). Invalid members are skipped; beyond 64
/// members or 8192 bytes of header the remaining members are dropped. Returns the members kept
/// and, in `dropped`, how many were skipped or dropped.
std::vector<baggage_entry> parse_baggage(std::string_view v, std::size_t* dropped = nullptr);
/// Serialises (percent-encoding values), whole members only, within the limits.
std::string write_baggage(const std::vector<baggage_entry>& entries);

}  // namespace tracecraft::detail::w3c
