// SPDX-License-Identifier: Apache-2.0
// The drain in steady state allocates nothing: joining spilled spans' fragments, decoding
// records into views, the derived attributes, redaction (batched scans, JSON payloads), and encoding them into OTLP protobuf and OTLP/JSON batches reuse their buffers once
// the first pass has grown them. This thread drives the drain (as tracecraft-bench does), so the
// malloc counter sees exactly the drain's work.
#include <doctest/doctest.h>

#include <string>

#include "core/engine.h"
#include "export/otlp_proto.h"
#include "malloc_counter.h"
#include "tracecraft/trace.h"

namespace tc = tracecraft;
using namespace tracecraft::detail;

namespace {

class proto_exporter final : public exporter {
 public:
  explicit proto_exporter(const resource_info& r) : batch_(r) {}
  const char* name() const noexcept override { return "proto"; }
  void add(const span_view& s, std::uint64_t) noexcept override {
    batch_.add(s);
    if (batch_.spans() == 512) {
      bytes += batch_.seal().size();
      batch_.clear();
    }
    exporter_counters::bump(counters.exported);
  }
  void tick(std::uint64_t) noexcept override {}
  bool flush(std::chrono::steady_clock::time_point, bool) noexcept override { return true; }
  std::size_t bytes = 0;

 private:
  otlp_proto_batch batch_;
};

void produce(int n) {
  for (int i = 0; i < n; ++i) {
    tc::span root("request", tc::kind::server);  // a local root: run_id is derived
    root.set("http.route", "/v1/chat/completions");
    tc::span s("decode step", tc::kind::llm);    // a GenAI kind: derived attributes
    s.set("gen_ai.request.model", "llama-3.1-8b-instruct");
    s.set(tc::key(std::string("runtime.key")), std::string("runtime value"));
    s.set("gen_ai.usage.output_tokens", i);
    s.set("gen_ai.request.temperature", 0.7);
    s.add_event("first_token", {{"gen_ai.token.index", i}});
    if (i % 7 == 0) s.set_error("kv cache full");
    // Larger than a span's inline buffer: spilled into a fragment, joined by the drain, held in
    // the redaction batch and redacted (an e-mail, a card, a phone number).
    tc::span t("tool call", tc::kind::tool);
    const std::string n = std::to_string(i);
    t.set("tool.arguments", "{\"to\": \"user" + n + "@example.com\", \"card\": \"4111 1111 1111 1111\", \"note\": \"" +
                                std::string(200, 'x') + "\"}");
    t.set("tool.output", "called 415-555-0132 about order " + n + "; " + std::string(120, 'y'));
  }
}

}  // namespace

TEST_CASE("the drain and both encoders make no heap allocation in steady state") {
  tc::config c;
  c.exporters = {tc::exporter_kind::jsonl};
  c.jsonl_path = "/dev/null";
  c.max_export_batch_size = 256;
  c.ring_kb = 65536;
  c.diagnostics = tc::log_level::error;
  auto* e = new engine(c);
  auto proto = std::make_unique<proto_exporter>(e->resource);
  proto_exporter* p = proto.get();
  e->exporters.push_back(std::move(proto));
  e->clock = calibrate_clock();
  e->gen = 0x7ffffe01u;
  e->running.store(true);
  e->drain_started.store(true);  // no drain thread: this thread drains
  g_engine.store(e);
  g_hot.gen.store(e->gen);

  produce(3000);
  e->drain_pass(false);  // warm-up: buffers grow to their steady size
  produce(3000);
  tc_malloc::allocations.store(0);
  tc_malloc::counting = true;
  e->drain_pass(false);
  tc_malloc::counting = false;
  const long allocations = tc_malloc::allocations.load();

  g_hot.gen.store(0);
  e->running.store(false);
  CHECK(e->decoded.load() == 18000);
  CHECK(e->snapshot().redaction.values_scanned > 0);
  CHECK(p->bytes > 0);
  CHECK(allocations == 0);
  const std::vector<thread_state*> rings = e->rings;
  for (thread_state* ts : rings) e->fold_and_release(ts);
  e->release_resources();
}
