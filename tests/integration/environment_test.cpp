// SPDX-License-Identifier: Apache-2.0
// Bad and unknown environment values produce one clear warning each and the engine runs on
// defaults; the real binaries are run with a real environment (no setenv in this process).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"
#include "tracecraft/trace.h"

namespace tc = tracecraft;

namespace {

using tct::run;
using tct::slurp;

const char* const k_bad_env[] = {
    "TRACECRAFT_RING_KB=lots",          "TRACECRAFT_SAMPLING_RATE=1.5",   "TRACECRAFT_CAPTURE_PAYLOADS=yes",
    "TRACECRAFT_SAMPLNG_RATE=0.5",      "OTEL_TRACES_EXPORTER=jsonl,bogus", "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=-3",
    "OTEL_RESOURCE_ATTRIBUTES=a=1,b%zz=2", "TRACECRAFT_DRAIN_CPU=9999",  "OTEL_TRACES_SAMPLER=jaeger_remote",
    nullptr};

}  // namespace

TEST_SUITE("environment") {
  TEST_CASE("load_config: each bad value is reported once, naming the variable, the value and the default") {
    std::vector<tc::config_problem> problems;
    const tc::config c = tc::load_config(k_bad_env, &problems);
    CHECK(c.ring_kb == 256);
    CHECK(c.sampling_rate == 1.0);
    CHECK(c.capture_payloads == false);
    CHECK(c.attribute_count_limit == 128);
    CHECK(c.drain_cpu == -1);
    CHECK(c.resource_attributes.empty());  // a decode error discards the whole value
    REQUIRE(c.exporters.size() == 1);
    CHECK(c.exporters[0] == tc::exporter_kind::jsonl);
    auto problem = [&](const std::string& var) -> const tc::config_problem* {
      const tc::config_problem* found = nullptr;
      int n = 0;
      for (const auto& p : problems)
        if (p.variable == var) found = &p, ++n;
      CHECK_MESSAGE(n == 1, var << " reported " << n << " times");
      return found;
    };
    const auto* ring = problem("TRACECRAFT_RING_KB");
    REQUIRE(ring);
    CHECK(ring->value == "lots");
    CHECK(ring->message.find("default 256") != std::string::npos);
    REQUIRE(problem("TRACECRAFT_SAMPLING_RATE"));
    CHECK(problem("TRACECRAFT_SAMPLING_RATE")->message.find("default 1") != std::string::npos);
    REQUIRE(problem("TRACECRAFT_CAPTURE_PAYLOADS"));
    const auto* typo = problem("TRACECRAFT_SAMPLNG_RATE");
    REQUIRE(typo);
    CHECK(typo->message.find("did you mean TRACECRAFT_SAMPLING_RATE") != std::string::npos);
    CHECK(problem("OTEL_TRACES_EXPORTER")->message.find("bogus") != std::string::npos);
    CHECK(problem("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT")->message.find("default 128") != std::string::npos);
    REQUIRE(problem("OTEL_RESOURCE_ATTRIBUTES"));
    REQUIRE(problem("TRACECRAFT_DRAIN_CPU"));
    REQUIRE(problem("OTEL_TRACES_SAMPLER"));
    CHECK(problem("OTEL_TRACES_SAMPLER")->message.find("does not implement; using the default parentbased_always_on") != std::string::npos);
    CHECK(c.sampler == tc::sampler_kind::parentbased_always_on);
    CHECK(problems.size() == 9);
  }

  TEST_CASE("load_config: valid values, precedence and parsing rules") {
    const char* env[] = {"OTEL_SDK_DISABLED=TRUE",
                         "OTEL_SERVICE_NAME=svc",
                         "OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=prod%2Ceu, team=a%3Db ,empty=",
                         "OTEL_TRACES_EXPORTER=console, JSONL",
                         "OTEL_ATTRIBUTE_COUNT_LIMIT=10",
                         "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=20",
                         "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT=5",
                         "TRACECRAFT_RING_KB=64",
                         "TRACECRAFT_RING_STANDBY=false",
                         "TRACECRAFT_SAMPLING_RATE=0.125",
                         "TRACECRAFT_MAX_INPUT_LENGTH=",  // empty == unset
                         "TRACECRAFT_LOG_LEVEL=none",
                         "UNRELATED=1",
                         nullptr};
    std::vector<tc::config_problem> problems;
    const tc::config c = tc::load_config(env, &problems);
    CHECK(problems.empty());
    CHECK(c.disabled);
    CHECK(c.service_name == "svc");
    REQUIRE(c.resource_attributes.size() == 3);
    CHECK(c.resource_attributes[0].second == "prod,eu");
    CHECK(c.resource_attributes[1].first == "team");
    CHECK(c.resource_attributes[1].second == "a=b");
    CHECK(c.resource_attributes[2].second.empty());
    REQUIRE(c.exporters.size() == 2);
    CHECK(c.exporters[0] == tc::exporter_kind::console);
    CHECK(c.exporters[1] == tc::exporter_kind::jsonl);
    CHECK(c.attribute_count_limit == 20);  // the span-specific variable wins
    CHECK(c.attribute_value_length_limit == 5);
    CHECK(c.ring_kb == 64);
    CHECK_FALSE(c.ring_standby);
    CHECK(tc::config{}.ring_standby);  // on unless turned off
    CHECK(c.sampling_rate == 0.125);
    CHECK(c.max_input_length == 4096);
    CHECK(c.diagnostics == tc::log_level::none);
    const char* none_env[] = {"OTEL_TRACES_EXPORTER=none", nullptr};
    CHECK(tc::load_config(none_env, nullptr).exporters.empty());
    const char* otlp_env[] = {"OTEL_TRACES_EXPORTER=otlp,jsonl", nullptr};
    problems.clear();
    CHECK(tc::load_config(otlp_env, &problems).exporters ==
          std::vector<tc::exporter_kind>{tc::exporter_kind::otlp, tc::exporter_kind::jsonl});
    CHECK(problems.empty());
    const char* empty_env[] = {nullptr};
    CHECK(tc::load_config(empty_env, nullptr).exporters == std::vector<tc::exporter_kind>{tc::exporter_kind::otlp});
  }

  TEST_CASE("load_config: the OTLP exporter's variables (standards §3)") {
    const char* env[] = {"OTEL_EXPORTER_OTLP_ENDPOINT=http://generic:4318",
                         "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=https://traces.example:4318/custom",
                         "OTEL_EXPORTER_OTLP_HEADERS=x-generic=1",
                         "OTEL_EXPORTER_OTLP_TRACES_HEADERS=Authorization=Bearer%20s3cret,x-tenant=a%2Cb",
                         "OTEL_EXPORTER_OTLP_PROTOCOL=http/json",
                         "OTEL_EXPORTER_OTLP_COMPRESSION=GZIP",
                         "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=2500",
                         "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE=/etc/ca.pem",
                         "OTEL_EXPORTER_OTLP_CLIENT_KEY=/etc/key.pem",
                         "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=/etc/cert.pem",
                         "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=http://ignored",  // other signals: silent
                         "OTEL_BSP_MAX_QUEUE_SIZE=4096",
                         "OTEL_BSP_EXPORT_TIMEOUT=0",
                         "TRACECRAFT_EXPORT_MAX_RETRIES=2",
                         "TRACECRAFT_EXPORT_BACKOFF_BASE_MS=10",
                         "TRACECRAFT_EXPORT_BACKOFF_MAX_MS=40",
                         "TRACECRAFT_EXPORT_RATE=2500.5",
                         "TRACECRAFT_EXPORT_BURST=100",
                         "TRACECRAFT_EXPORT_MAX_REQUEST_BYTES=65536",
                         "TRACECRAFT_EXPORT_BATCH_BYTES=1048576",
                         "TRACECRAFT_EXPORT_QUEUE_BYTES=0",
                         nullptr};
    std::vector<tc::config_problem> problems;
    const tc::config c = tc::load_config(env, &problems);
    CHECK(problems.empty());
    CHECK(c.exporters == std::vector<tc::exporter_kind>{tc::exporter_kind::otlp});
    CHECK(c.otlp_endpoint == "http://generic:4318");
    CHECK(c.otlp_traces_endpoint == "https://traces.example:4318/custom");
    REQUIRE(c.otlp_headers.size() == 2);  // the TRACES_ form replaces the generic one
    CHECK(c.otlp_headers[0] == std::pair<std::string, std::string>{"Authorization", "Bearer s3cret"});
    CHECK(c.otlp_headers[1] == std::pair<std::string, std::string>{"x-tenant", "a,b"});
    CHECK(c.protocol == tc::otlp_protocol::http_json);
    CHECK(c.otlp_gzip);
    CHECK(c.otlp_timeout_ms == 2500);
    CHECK(c.otlp_certificate == "/etc/ca.pem");
    CHECK(c.otlp_client_key == "/etc/key.pem");
    CHECK(c.otlp_client_certificate == "/etc/cert.pem");
    CHECK(c.max_queue_size == 4096);
    CHECK(c.export_timeout_ms == 0);
    CHECK(c.export_max_retries == 2);
    CHECK(c.export_backoff_base_ms == 10);
    CHECK(c.export_backoff_max_ms == 40);
    CHECK(c.export_rate == 2500.5);
    CHECK(c.export_burst == 100);
    CHECK(c.export_max_request_bytes == 65536);
    CHECK(c.export_batch_bytes == 1048576);
    CHECK(c.export_queue_bytes == 0);
    // envcheck's view never shows header values.
    bool saw_headers = false;
    for (const auto& e : tc::describe_config(env)) {
      CHECK(e.value.find("s3cret") == std::string::npos);
      if (e.variable == "OTEL_EXPORTER_OTLP_TRACES_HEADERS") {
        saw_headers = true;
        CHECK(e.value.find("Authorization=") != std::string::npos);
      }
    }
    CHECK(saw_headers);
  }

  TEST_CASE("load_config: bad OTLP values warn, name the variable, and never show a header value") {
    const char* env[] = {"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
                         "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=thrift",
                         "OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318",
                         "OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%zzs3cret",
                         "OTEL_EXPORTER_OTLP_TRACES_HEADERS=bad name=s3cret",
                         "OTEL_EXPORTER_OTLP_COMPRESSION=brotli",
                         "OTEL_EXPORTER_OTLP_TIMEOUT=-5",
                         "OTEL_EXPORTER_OTLP_INSECURE=true",
                         "OTEL_BSP_MAX_QUEUE_SIZE=0",
                         "TRACECRAFT_EXPORT_RATE=fast",
                         "TRACECRAFT_EXPORT_QUEUE_BYTES=4294967296",
                         nullptr};
    std::vector<tc::config_problem> problems;
    const tc::config c = tc::load_config(env, &problems);
    CHECK(c.protocol == tc::otlp_protocol::http_protobuf);
    CHECK(c.otlp_endpoint.empty());
    CHECK(c.otlp_headers.empty());
    CHECK_FALSE(c.otlp_gzip);
    CHECK(c.otlp_timeout_ms == 10000);
    CHECK(c.max_queue_size == 2048);
    CHECK(c.export_rate == 0);
    CHECK(c.export_queue_bytes == 67108864);
    std::map<std::string, std::string> by_var;
    for (const auto& p : problems) {
      CHECK(p.value.find("s3cret") == std::string::npos);
      CHECK(p.message.find("s3cret") == std::string::npos);
      by_var[p.variable] = p.message;
    }
    CHECK(problems.size() == 11);
    CHECK(by_var["OTEL_EXPORTER_OTLP_PROTOCOL"].find("http/protobuf") != std::string::npos);
    CHECK(by_var["OTEL_EXPORTER_OTLP_PROTOCOL"].find("grpc") != std::string::npos);
    CHECK(by_var["OTEL_EXPORTER_OTLP_ENDPOINT"].find("http://localhost:4318") != std::string::npos);
    CHECK(by_var["OTEL_EXPORTER_OTLP_TIMEOUT"].find("10000") != std::string::npos);
    CHECK(by_var["OTEL_EXPORTER_OTLP_INSECURE"].find("gRPC") != std::string::npos);
    CHECK(by_var.count("OTEL_EXPORTER_OTLP_TRACES_HEADERS") == 1);
    CHECK(by_var["TRACECRAFT_EXPORT_QUEUE_BYTES"].find("67108864") != std::string::npos);
  }

  TEST_CASE("load_config: the proxy variables as libcurl reads them; credentials never shown") {
    const char* env[] = {"HTTP_PROXY=http://upper:1",  // not read: libcurl ignores it
                         "https_proxy=http://lower:2", "HTTPS_PROXY=http://upper:3",
                         "ALL_PROXY=socks5h://all:4", "NO_PROXY=a", "no_proxy=b, .c", nullptr};
    std::vector<tc::config_problem> problems;
    const tc::config c = tc::load_config(env, &problems);
    CHECK(problems.empty());
    REQUIRE(c.proxy.has_value());
    CHECK(c.proxy->http_proxy.empty());
    CHECK(c.proxy->https_proxy == "http://lower:2");  // the lowercase form wins
    CHECK(c.proxy->all_proxy == "socks5h://all:4");
    CHECK(c.proxy->no_proxy == "b, .c");
    const char* none[] = {nullptr};
    const tc::config d = tc::load_config(none, nullptr);
    REQUIRE(d.proxy.has_value());  // read, and empty: no proxy
    CHECK(d.proxy->http_proxy.empty());
    CHECK_FALSE(tc::config{}.proxy.has_value());  // built by hand: init() reads the environment

    tct::temp_dir dir;
    auto r = run(TC_ENVCHECK_PATH, {}, {"http_proxy=http://user:s3cret@proxy.corp:3128"}, dir.path);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("http://***@proxy.corp:3128") != std::string::npos);
    CHECK(r.out.find("s3cret") == std::string::npos);
  }

  TEST_CASE("the demo warns once per bad variable on stderr and still runs on defaults") {
    tct::temp_dir dir;
    std::vector<std::string> env;
    for (const char* const* e = k_bad_env; *e; ++e) env.push_back(*e);
    const auto r = run(TC_DEMO_PATH, {"--requests", "20", "--summary-json", dir.file("s.json")}, env, dir.path);
    CHECK(r.exit_code == 0);
    for (const char* var : {"TRACECRAFT_RING_KB='lots'", "TRACECRAFT_SAMPLING_RATE='1.5'",
                            "TRACECRAFT_SAMPLNG_RATE='0.5'", "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT='-3'"}) {
      const auto first = r.err.find(var);
      CHECK_MESSAGE(first != std::string::npos, var << " not in: " << r.err);
      CHECK_MESSAGE(r.err.find(var, first + 1) == std::string::npos, var << " warned twice");
    }
    CHECK(r.err.find("tracecraft: warning:") != std::string::npos);
    const auto spans = tct::read_spans(dir.file("traces.jsonl"));
    CHECK(spans.size() > 20);  // defaults: rate 1, everything recorded
    const std::string summary = slurp(dir.file("s.json"));
    CHECK(summary.find("\"requests\":20") != std::string::npos);
  }

  TEST_CASE("tracecraft-envcheck prints the effective configuration; --strict fails on problems") {
    tct::temp_dir dir;
    auto ok = run(TC_ENVCHECK_PATH, {}, {"TRACECRAFT_SAMPLING_RATE=0.5"}, dir.path);
    CHECK(ok.exit_code == 0);
    CHECK(ok.out.find("TRACECRAFT_SAMPLING_RATE") != std::string::npos);
    CHECK(ok.out.find("0.5") != std::string::npos);
    CHECK(ok.out.find("no problems found") != std::string::npos);
    auto strict_ok = run(TC_ENVCHECK_PATH, {"--strict"}, {}, dir.path);
    CHECK(strict_ok.exit_code == 0);
    auto bad = run(TC_ENVCHECK_PATH, {"--strict"}, {"TRACECRAFT_RING_KB=-1", "TRACECRAFT_FOO=1"}, dir.path);
    CHECK(bad.exit_code == 1);
    CHECK(bad.out.find("TRACECRAFT_RING_KB='-1'") != std::string::npos);
    CHECK(bad.out.find("TRACECRAFT_FOO") != std::string::npos);
    CHECK(bad.out.find("env (invalid, default used)") != std::string::npos);
    // Redaction: compiled as init() would, with each rejected pattern a problem.
    CHECK(ok.out.find("redaction: on: 19 patterns in one Hyperscan database, mode mask") != std::string::npos);
    auto rejected = run(TC_ENVCHECK_PATH, {"--strict"}, {"TRACECRAFT_REDACT_PATTERNS=good=EMP-[0-9]+,bad=(x"}, dir.path);
    CHECK(rejected.exit_code == 1);
    CHECK(rejected.out.find("redaction: on: 20 patterns") != std::string::npos);
    CHECK(rejected.out.find("pattern 'bad'") != std::string::npos);
    CHECK(rejected.out.find("rejected by Hyperscan") != std::string::npos);
    auto none = run(TC_ENVCHECK_PATH, {}, {"TRACECRAFT_REDACT_DEFAULTS=none"}, dir.path);
    CHECK(none.out.find("redaction: UNAVAILABLE") != std::string::npos);
    CHECK(none.out.find("captured payloads are dropped") != std::string::npos);
  }
}
