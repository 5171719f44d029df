// SPDX-License-Identifier: Apache-2.0
// After a thread's first span, recording spans allocates nothing: malloc is interposed for the
// whole process (this executable's definition wins over libc's, also for libtracecraft.so).
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>

#include "harness.h"
#include "tracecraft/trace.h"

#include "malloc_counter.h"

using namespace std::chrono_literals;
namespace tc = tracecraft;

namespace {
void one_request(int i, const tc::span_context& link_to) {
  tc::span root("request", tc::kind::server);
  root.set("gen_ai.request.model", "model-name-20-bytes!");
  root.set("http.route", "/v1/chat/completions");
  root.set("i", i);
  root.set("ratio", 0.5);
  root.set("flag", true);
  root.add_event("first_token", {{"gen_ai.token.index", 0}});
  root.add_link(link_to);
  {
    tc::span child("decode", tc::kind::llm);
    child.set_input_tokens(128);
    child.set_output("captured output text");
    if (i % 7 == 0) child.set_error("failed");
  }
  tc::async_span detached("queue", tc::kind::internal, root.context());
  detached.end();
}
}  // namespace

TEST_CASE("zero heap allocations per span after warm-up (sampled, unsampled, disabled)") {
  tct::temp_dir dir;
  for (double rate : {1.0, 0.0}) {
    auto cfg = tct::jsonl_config(dir.file("out.jsonl"));
    cfg.capture_payloads = true;
    cfg.sampler = tc::sampler_kind::parentbased_traceidratio;
    cfg.sampling_rate = rate;
    cfg.always_keep_errors = false;  // rate 0: plain unsampled spans (skeletons take the sampled path)
    cfg.ring_kb = 4096;
    REQUIRE(tc::init(cfg) == tc::status::ok);
    tc::span_context link_to;
    {
      tc::span warm("warm-up");  // the thread's first span: attach allocates its ring
      link_to = warm.context();
    }
    one_request(0, link_to);
    tc_malloc::allocations = 0;
    tc_malloc::counting = true;
    for (int i = 1; i <= 20000; ++i) {
      one_request(i, link_to);
      if (i % 500 == 0) {
        // Let the drain catch up (a sleep is not enough on a loaded 2-core CI machine: the ring
        // filled once). flush() itself is outside the measurement.
        tc_malloc::counting = false;
        REQUIRE(tc::flush(10s));
        tc_malloc::counting = true;
      }
    }
    tc_malloc::counting = false;
    CHECK_MESSAGE(tc_malloc::allocations.load() == 0, "rate " << rate);
    REQUIRE(tc::shutdown(10s));
    const auto st = tc::stats();
    tct::check_accounting(st);
    CHECK(st.dropped.ring_full == 0);
  }
  // Disabled engine: nothing at all.
  tc_malloc::allocations = 0;
  tc_malloc::counting = true;
  for (int i = 0; i < 1000; ++i) one_request(i, {});
  tc_malloc::counting = false;
  CHECK(tc_malloc::allocations.load() == 0);
}
