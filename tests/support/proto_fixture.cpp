// SPDX-License-Identifier: Apache-2.0
// Encodes the same decoded spans with the OTLP protobuf encoder and the OTLP/JSON writer, batch
// by batch, into DIR/batch-N.pb and DIR/batch-N.json, for tests/otlp-js/check_otlp_proto.js. The
// engine runs without its drain thread; this program drains it itself.
#include <cstdio>
#include <memory>
#include <string>

#include "core/engine.h"
#include "export/json_writer.h"
#include "export/otlp_proto.h"
#include "fixture_spans.h"

namespace tc = tracecraft;
using namespace tracecraft::detail;

namespace {

class capture_exporter final : public exporter {
 public:
  capture_exporter(std::string dir, const resource_info& res) : dir_(std::move(dir)), prefix_(json_request_prefix(res)), proto_(res) {}
  const char* name() const noexcept override { return "capture"; }
  void add(const span_view& s, std::uint64_t) noexcept override {
    if (proto_.spans() == 0) {
      json_.clear();
      json_.append(prefix_);
    } else {
      json_.push_back(',');
    }
    json_writer(json_).span(s);
    proto_.add(s);
    if (proto_.spans() == 7) write_batch();
  }
  void tick(std::uint64_t) noexcept override {}
  bool flush(std::chrono::steady_clock::time_point, bool) noexcept override {
    write_batch();
    return true;
  }
  void write_batch() noexcept {
    if (proto_.spans() == 0) return;
    json_.append(json_suffix);
    write("json", json_.view());
    write("pb", proto_.seal());
    exporter_counters::bump(counters.exported, proto_.spans());
    proto_.clear();
    ++batch_;
  }

 private:
  void write(const char* ext, std::string_view bytes) {
    const std::string path = dir_ + "/batch-" + std::to_string(batch_) + "." + ext;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return;
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  std::string dir_, prefix_;
  out_buffer json_;
  otlp_proto_batch proto_;
  int batch_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  tc::config c;
  c.service_name = "proto-fixture";
  c.resource_attributes = {{"deployment.environment.name", "test \xE2\x9C\x93"}};
  c.capture_payloads = true;
  c.exporters.clear();
  auto* e = new engine(c);
  e->clock = calibrate_clock();
  e->gen = 0x7ffff001u;
  e->running.store(true);
  e->drain_started.store(true);  // no drain thread: drained below
  e->exporters.push_back(std::make_unique<capture_exporter>(argv[1], e->resource));
  g_hot.capture.store(true);
  g_hot.max_input.store(16);
  g_hot.attr_limit.store(20);
  g_hot.event_limit.store(2);
  g_hot.link_limit.store(1);
  g_hot.event_attr_limit.store(2);
  g_engine.store(e);
  g_hot.gen.store(e->gen);
  tct::produce_fixture_spans();
  for (int i = 0; i < 40; ++i) {  // volume: varint lengths above one byte, many batches
    tc::span s("decode step", tc::kind::llm);
    s.set("gen_ai.request.model", "llama-3.1-8b-instruct");
    s.set("gen_ai.usage.output_tokens", i * 1000003);
    s.set("gen_ai.request.temperature", 0.7);
    s.set("long", std::string(static_cast<std::size_t>(i) * 50, 'x'));
    s.add_event("token", {{"i", i}});
  }
  e->drain_pass(false);
  e->drain_pass(true);
  for (auto& x : e->exporters) x->flush({}, false);
  g_hot.gen.store(0);
  std::printf("proto_fixture: %llu spans in batches\n",
              static_cast<unsigned long long>(e->exporters[0]->counters.exported.load()));
  return e->exporters[0]->counters.exported.load() > 40 ? 0 : 1;
}
