// SPDX-License-Identifier: Apache-2.0
// export/otlp_policy.h — the OTLP/HTTP exporter's rules as pure functions (standards §2): endpoint
// composition, which responses are retried, Retry-After, backoff with jitter, the rate limit.
// No I/O, no clock reads: callers pass the time in, so every rule is tested exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tracecraft/config.h"

namespace tracecraft::detail {

using tracecraft::proxy_settings;

/// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used verbatim (an empty path becomes "/"); otherwise
/// OTEL_EXPORTER_OTLP_ENDPOINT is a base to which "v1/traces" is appended after exactly one "/";
/// neither set: http://localhost:4318/v1/traces.
std::string compose_traces_endpoint(std::string_view traces_endpoint, std::string_view base_endpoint);

/// The proxy `url` is reached through ("" = directly), by libcurl's rules: the scheme's variable,
/// else all_proxy; none when no_proxy matches the host. A proxy given without a scheme is http://.
std::string choose_proxy(std::string_view url, const proxy_settings& env);

/// libcurl's no_proxy rule: "*" alone matches every host; otherwise entries separated by commas
/// and/or blanks. A name entry matches the host case-insensitively, whole or as a domain suffix
/// ("example.com" and ".example.com" match www.example.com, not notexample.com; trailing dots
/// ignored). An address entry, with an optional /bits prefix length, matches an IPv4 or IPv6 host
/// ("[::1]" or "::1"); names never match addresses.
bool no_proxy_matches(std::string_view host, std::string_view no_proxy) noexcept;

/// A URL's scheme (lowercase, "" when it has none) and host (IPv6 without brackets).
struct url_parts {
  std::string scheme, host;
};
url_parts split_url(std::string_view url);

/// `url` with any user name and password in it replaced by "***" (for logs and tracecraft-envcheck).
std::string hide_credentials(std::string_view url);

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
