// SPDX-License-Identifier: Apache-2.0
// Writes spans that use every field the engine can emit to the JSONL file named by argv[1], for
// the check with the official OpenTelemetry definitions (tests/otlp-js). With an endpoint and a
// mode (proto | json | proto-gzip) it also POSTs them there over OTLP/HTTP, the JSONL file then
// being the backup the received spans are compared with; then optionally a CA file, client
// certificate and client key for https.
#include <string>

#include "fixture_spans.h"
#include "tracecraft/trace.h"

namespace tc = tracecraft;

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  tc::config c;
  c.jsonl_path = argv[1];
  c.exporters = {tc::exporter_kind::jsonl};
  c.service_name = "otlp-fixture";
  c.resource_attributes = {{"deployment.environment.name", "test"}};
  c.capture_payloads = true;
  c.max_input_length = 16;
  c.attribute_count_limit = 20;     // forces droppedAttributesCount
  c.event_count_limit = 2;          // forces droppedEventsCount
  c.link_count_limit = 1;           // forces droppedLinksCount
  c.event_attribute_count_limit = 2;
  c.max_export_batch_size = 3;      // several lines
  if (argc >= 4) {
    const std::string mode = argv[3];
    c.exporters = {tc::exporter_kind::otlp, tc::exporter_kind::jsonl};
    c.otlp_endpoint = argv[2];
    c.protocol = mode == "json" ? tc::otlp_protocol::http_json : tc::otlp_protocol::http_protobuf;
    c.otlp_gzip = mode == "proto-gzip";
    c.otlp_headers = {{"x-tenant", "acme, inc"}};
    if (argc >= 5) c.otlp_certificate = argv[4];  // https: the CA, then the client certificate and key
    if (argc >= 7) {
      c.otlp_client_certificate = argv[5];
      c.otlp_client_key = argv[6];
    }
    c.export_max_retries = 1;
    c.export_backoff_base_ms = 10;
  }
  if (tc::init(c) != tc::status::ok) return 3;

  tct::produce_fixture_spans();
  return tc::shutdown(std::chrono::seconds(5)) ? 0 : 4;
}
