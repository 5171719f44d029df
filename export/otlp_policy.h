// SPDX-License-Identifier: Apache-2.0
// export/otlp_policy.h — the OTLP/HTTP exporter's rules as pure functions (standards §2): endpoint
// composition, which responses are retried, Retry-After, backoff with jitter, the rate limit.
// No I/O, no clock reads: callers pass the time in, so every rule is tested exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tracecraft::detail {

/// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used verbatim (an empty path becomes "/"); otherwise
/// OTEL_EXPORTER_OTLP_ENDPOINT is a base to which "v1/traces" is appended after exactly one "/";
/// neither set: http://localhost:4318/v1/traces.
std::string compose_traces_endpoint(std::string_view traces_endpoint, std::string_view base_endpoint);

/// What to do with an HTTP response status.
enum class http_outcome : std::uint8_t { success, retry, rejected, too_large };
/// 2xx success; 429, 502, 503, 504 retry; 413 too_large; every other status is rejected (never
/// retried, counted as dropped).
http_outcome classify_status(long status) noexcept;

/// Milliseconds to wait from a Retry-After header value: delta-seconds, or an HTTP-date in any
/// of the three forms of RFC 9110 §5.6.7 (IMF-fixdate, RFC 850, asctime), relative to `now_unix`.
/// A date in the past gives 0; an unparsable value gives nothing (use the backoff instead).
std::optional<std::uint64_t> parse_retry_after(std::string_view value, std::int64_t now_unix) noexcept;

/// Capped exponential backoff with jitter for retry `attempt` (0 = first retry):
/// min(max_ms, base_ms * 2^attempt) scaled by a factor in [0.5, 1) drawn from `random`.
std::uint64_t backoff_ms(unsigned attempt, std::uint64_t base_ms, std::uint64_t max_ms, std::uint64_t random) noexcept;

/// What an ExportTraceServiceResponse says (standards §2). `valid` is false when the body could
/// not be decoded; an empty body is a full success.
struct export_response {
  bool valid = true;
  std::int64_t rejected = 0;
  std::string message;
};
/// Decodes a 2xx response body: protobuf, or OTLP/JSON when `json` (rejectedSpans as string or number).
export_response parse_export_response(std::string_view body, bool json) noexcept;

/// A token bucket in spans: `rate` per second, up to `burst` saved. take() never waits: it says
/// whether `n` spans may go now (they are then counted as rate_limited otherwise).
class token_bucket {
 public:
  token_bucket(double rate_per_s, double burst) noexcept;
  bool take(std::uint64_t n, std::uint64_t now_ns) noexcept;
  double tokens() const noexcept { return tokens_; }

 private:
  double rate_, burst_, tokens_;
  std::uint64_t last_ns_ = 0;
  bool started_ = false;
};

}  // namespace tracecraft::detail
