// SPDX-License-Identifier: Apache-2.0
// tracecraft/config.h — the plain configuration struct; one field per environment variable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tracecraft {

/// Where finished spans go. `none` keeps recording (and counting) but writes nothing.
enum class exporter_kind : std::uint8_t { jsonl, console, none, otlp };

/// OTLP/HTTP body encoding (`OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL`; `grpc` falls back to protobuf).
enum class otlp_protocol : std::uint8_t { http_protobuf, http_json };

/// The sampler (`OTEL_TRACES_SAMPLER`, standards §5). The ratio samplers decide by consistent
/// probability sampling from the trace id; the parent-based ones follow a remote parent's sampled
/// flag and apply their root sampler to new traces only.
enum class sampler_kind : std::uint8_t {
  parentbased_always_on,
  parentbased_always_off,
  parentbased_traceidratio,
  always_on,
  always_off,
  traceidratio,
};

/// A sampling rule (TRACECRAFT_SAMPLING_RULES / _FILE): when every condition it has holds for a
/// trace, the trace is kept at `rate` instead of the sampler's. Rules are tried in order after
/// the error and slow checks; the first match wins. Conditions look at the local root span,
/// except `match_error`, which holds when any span of the trace failed.
struct sampling_rule {
  struct attribute_match {
    std::string key;
    bool any_value = true;  ///< presence of the key is enough
    std::string value;      ///< otherwise the value, compared as text (true/false, numbers as written)
  };
  std::string name;
  double rate = 1.0;
  std::vector<std::string> match_names;            ///< root span name: exact, or a glob with * and ?; any of them
  std::vector<attribute_match> match_attributes;   ///< attributes of the root ("tags"); any of them
  bool match_error = false;                        ///< some span of the trace failed
  std::uint32_t min_duration_ms = 0;               ///< the root took at least this long (0: no condition)
};

/// What replaces a sensitive value (`TRACECRAFT_REDACT_MODE`).
enum class redaction_mode : std::uint8_t {
  mask,    ///< `[REDACTED:<pattern name>]`
  hash,    ///< `[HASH:<16 hex>]`, SipHash-2-4 keyed with TRACECRAFT_REDACT_HASH_KEY
  remove,  ///< nothing
};

/// When redaction runs relative to the tail decision (`TRACECRAFT_PROCESSOR_ORDER`).
enum class processor_order : std::uint8_t {
  safety,      ///< redact every span as the drain reads it, before any decision
  efficiency,  ///< decide first; redact only what is exported
};

/// The proxy variables libcurl reads, for the OTLP exporter (README, "Proxies"). Empty = unset.
struct proxy_settings {
  std::string http_proxy;   ///< http_proxy (lowercase only, as libcurl): http:// endpoints
  std::string https_proxy;  ///< https_proxy, else HTTPS_PROXY: https:// endpoints
  std::string all_proxy;    ///< all_proxy, else ALL_PROXY: when the scheme's own is unset
  std::string no_proxy;     ///< no_proxy, else NO_PROXY: hosts reached directly
};

/// Diagnostic verbosity (`TRACECRAFT_LOG_LEVEL`).
enum class log_level : std::uint8_t { none = 0, error = 1, warn = 2, info = 3 };

/// Engine configuration. `load_config()` fills it from the environment; tests and embedders may
/// build one by hand and pass it to `init(const config&)`. Every field names its variable.
struct config {
  bool disabled = false;                          ///< OTEL_SDK_DISABLED
  std::string service_name;                       ///< OTEL_SERVICE_NAME (empty: derived, see README)
  std::vector<std::pair<std::string, std::string>> resource_attributes;  ///< OTEL_RESOURCE_ATTRIBUTES
  std::vector<exporter_kind> exporters{exporter_kind::otlp};             ///< OTEL_TRACES_EXPORTER
  std::string jsonl_path = "traces/tracecraft.jsonl";                    ///< TRACECRAFT_JSONL_PATH

  sampler_kind sampler = sampler_kind::parentbased_always_on;  ///< OTEL_TRACES_SAMPLER (TRACECRAFT_SAMPLING_RATE alone: parentbased_traceidratio)
  bool always_keep_errors = true;          ///< TRACECRAFT_ALWAYS_KEEP_ERRORS: a trace the rate drops is kept if any span failed
  bool always_keep_slow = false;           ///< TRACECRAFT_ALWAYS_KEEP_SLOW: ... or if its root took TRACECRAFT_SLOW_THRESHOLD_MS
  std::uint32_t slow_threshold_ms = 5000;  ///< TRACECRAFT_SLOW_THRESHOLD_MS (inclusive)
  std::uint32_t pending_traces = 10000;    ///< TRACECRAFT_PENDING_TRACES: dropped traces held until their root ends
  std::uint32_t decision_wait_ms = 30000;  ///< TRACECRAFT_DECISION_WAIT_MS: the longest a root is waited for
  double sampling_rate = 1.0;
  std::vector<sampling_rule> sampling_rules;  ///< TRACECRAFT_SAMPLING_RULES, then TRACECRAFT_SAMPLING_RULES_FILE          ///< the ratio samplers' probability: OTEL_TRACES_SAMPLER_ARG or TRACECRAFT_SAMPLING_RATE, in [0, 1]
  std::uint32_t ring_kb = 256;         ///< TRACECRAFT_RING_KB, per producer thread, power of two
  std::uint32_t ring_max_kb = 4096;    ///< TRACECRAFT_RING_MAX_KB: a ring a drain pass finds over a quarter full (or dropping) grows 4x, up to this (<= ring_kb: never grows)
  bool ring_standby = true;             ///< TRACECRAFT_RING_STANDBY: one buffer of ring_max_kb kept mapped, taken by a thread whose ring is full before the drain came by
  std::uint32_t ring_shrink_after_ms = 10000;  ///< TRACECRAFT_RING_SHRINK_AFTER_MS: a grown ring this long with little in it shrinks 4x (0: never)
  int drain_cpu = -1;                  ///< TRACECRAFT_DRAIN_CPU (-1: not pinned)
  std::uint32_t drain_interval_ms = 2; ///< TRACECRAFT_DRAIN_INTERVAL_MS, shortest sleep between passes (ring/drain_pacing.h paces longer ones; ring/doorbell.h cuts them short)

  bool capture_payloads = false;          ///< TRACECRAFT_CAPTURE_PAYLOADS
  std::uint32_t max_input_length = 4096;  ///< TRACECRAFT_MAX_INPUT_LENGTH (bytes)
  std::uint32_t max_output_length = 4096; ///< TRACECRAFT_MAX_OUTPUT_LENGTH (bytes)

  std::uint32_t attribute_count_limit = 128;        ///< OTEL_[SPAN_]ATTRIBUTE_COUNT_LIMIT
  std::uint32_t attribute_value_length_limit = 0;   ///< OTEL_[SPAN_]ATTRIBUTE_VALUE_LENGTH_LIMIT (0: none)
  std::uint32_t event_count_limit = 128;            ///< OTEL_SPAN_EVENT_COUNT_LIMIT
  std::uint32_t link_count_limit = 128;             ///< OTEL_SPAN_LINK_COUNT_LIMIT
  std::uint32_t event_attribute_count_limit = 128;  ///< OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT
  std::uint32_t link_attribute_count_limit = 128;   ///< OTEL_LINK_ATTRIBUTE_COUNT_LIMIT

  std::uint32_t max_export_batch_size = 512;  ///< OTEL_BSP_MAX_EXPORT_BATCH_SIZE (spans per request / JSONL line)
  std::uint32_t schedule_delay_ms = 5000;     ///< OTEL_BSP_SCHEDULE_DELAY
  std::uint32_t max_queue_size = 2048;        ///< OTEL_BSP_MAX_QUEUE_SIZE: spans between drain and network
  std::uint32_t export_timeout_ms = 30000;    ///< OTEL_BSP_EXPORT_TIMEOUT: one batch, retries included (0: none)

  // OTLP/HTTP exporter (standards §2, §3). The TRACES_ form of each variable replaces the generic one.
  std::string otlp_traces_endpoint;  ///< OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, used verbatim
  std::string otlp_endpoint;         ///< OTEL_EXPORTER_OTLP_ENDPOINT, base for /v1/traces
  std::vector<std::pair<std::string, std::string>> otlp_headers;  ///< OTEL_EXPORTER_OTLP_[TRACES_]HEADERS, decoded
  otlp_protocol protocol = otlp_protocol::http_protobuf;          ///< OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL
  bool otlp_gzip = false;                  ///< OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION=gzip
  std::uint32_t otlp_timeout_ms = 10000;   ///< OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT, per request (0: none)
  std::string otlp_certificate;            ///< OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE (CA bundle, PEM)
  std::string otlp_client_certificate;     ///< OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_CERTIFICATE (PEM)
  std::string otlp_client_key;             ///< OTEL_EXPORTER_OTLP_[TRACES_]CLIENT_KEY (PEM)
  std::uint32_t export_max_retries = 5;        ///< TRACECRAFT_EXPORT_MAX_RETRIES
  std::uint32_t export_backoff_base_ms = 1000; ///< TRACECRAFT_EXPORT_BACKOFF_BASE_MS
  std::uint32_t export_backoff_max_ms = 5000;  ///< TRACECRAFT_EXPORT_BACKOFF_MAX_MS
  double export_rate = 0;                      ///< TRACECRAFT_EXPORT_RATE, spans/s (0: unlimited)
  std::uint32_t export_burst = 0;              ///< TRACECRAFT_EXPORT_BURST, spans (0: one second's worth)
  std::uint32_t export_max_request_bytes = 67108864;  ///< TRACECRAFT_EXPORT_MAX_REQUEST_BYTES (before compression)
  std::uint32_t export_batch_bytes = 0;  ///< TRACECRAFT_EXPORT_BATCH_BYTES: a batch this big is sent before it has max_export_batch_size spans (0: 7/8 of a core's L2 cache, at least 256 KiB, or a quarter of export_queue_bytes if smaller)
  std::uint32_t export_queue_bytes = 67108864;  ///< TRACECRAFT_EXPORT_QUEUE_BYTES: encoded bytes held between drain and network (0: by the span count only)
  std::optional<proxy_settings> proxy;  ///< http_proxy, https_proxy, all_proxy, no_proxy; unset: init() reads them

  // PII and secret redaction (redact/), on the drain thread.
  bool redact = true;                                   ///< TRACECRAFT_REDACT
  redaction_mode redact_mode = redaction_mode::mask;    ///< TRACECRAFT_REDACT_MODE
  std::string redact_hash_key;                          ///< TRACECRAFT_REDACT_HASH_KEY (empty: random per process)
  std::vector<std::string> redact_disabled_defaults;    ///< TRACECRAFT_REDACT_DEFAULTS: default patterns turned off ("all": every one)
  std::vector<std::pair<std::string, std::string>> redact_patterns;  ///< TRACECRAFT_REDACT_PATTERNS: name, Hyperscan regex
  std::vector<std::string> redact_allow;                ///< TRACECRAFT_REDACT_ALLOW: values never redacted
  std::vector<std::string> redact_allow_patterns;       ///< TRACECRAFT_REDACT_ALLOW_PATTERNS: regexes; a match they cover whole is kept
  std::vector<std::string> redact_fields;               ///< TRACECRAFT_REDACT_FIELDS: attribute keys (globs) replaced whole
  std::vector<std::string> redact_json_paths;           ///< TRACECRAFT_REDACT_JSON_PATHS: in JSON payloads, values replaced whole
  bool redact_allow_unredacted = false;                 ///< TRACECRAFT_REDACT_ALLOW_UNREDACTED: export payloads when redaction is unavailable
  processor_order order = processor_order::safety;      ///< TRACECRAFT_PROCESSOR_ORDER

  log_level diagnostics = log_level::warn;  ///< TRACECRAFT_LOG_LEVEL
};

/// One problem found while reading the environment: the variable, the offending value and
/// what was used instead. `load_config` reports each problem once.
struct config_problem {
  std::string variable;
  std::string value;
  std::string message;
};

/// One row of the effective configuration, for `tracecraft-envcheck`.
struct config_entry {
  std::string variable;
  std::string value;       ///< effective value
  std::string default_value;
  std::string source;      ///< "env", "default" or "env (invalid, default used)"
  std::string meaning;
};

}  // namespace tracecraft
