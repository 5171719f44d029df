// SPDX-License-Identifier: Apache-2.0
// The example in README.md, extracted and compiled by the build, does what the README says.
#include <doctest/doctest.h>

#include "harness.h"

TEST_CASE("the README example records a request with a child decode span") {
  tct::temp_dir dir;
  const auto r = tct::run(TC_README_EXAMPLE_PATH, {}, {"OTEL_SERVICE_NAME=readme"}, dir.path);
  REQUIRE(r.exit_code == 0);
  const auto spans = tct::read_spans(dir.file("traces.jsonl"));
  REQUIRE(spans.size() == 2);
  const auto* req = tct::find(spans, "POST /v1/chat/completions");
  const auto* dec = tct::find(spans, "decode");
  REQUIRE((req && dec));
  CHECK(req->kind == 2);
  CHECK(req->attrs.at("gen_ai.request.model").s == "llama-3.1-8b");
  CHECK(dec->parent_span_id == req->span_id);
  CHECK(dec->trace_id == req->trace_id);
  CHECK(dec->attrs.at("gen_ai.usage.output_tokens").i == 128);
  CHECK(req->resource.at("service.name").s == "readme");
}
