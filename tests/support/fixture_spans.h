// SPDX-License-Identifier: Apache-2.0
// tests/support/fixture_spans.h — spans that use every field the engine can emit (for the checks
// with the official OpenTelemetry definitions). The engine must be running.
#pragma once

#include <cmath>
#include <limits>
#include <string>
#include <thread>

#include "tracecraft/trace.h"

namespace tct {

inline void produce_fixture_spans() {
  namespace tc = tracecraft;
  // An incoming request with a tracestate: the trace's spans carry it as their trace_state.
  const tc::span_context remote = tc::extract("00-101112131415161718191a1b1c1d1e1f-a0a1a2a3a4a5a6a7-03",
                                              "ot=th:8;rv:ffffffffffffff,rojo=00f067aa0ba902b7");
  {
    tc::span root("POST /v1/chat/completions", tc::kind::server, remote);
    root.set("b", true);
    root.set("i.neg", std::int64_t{-9007199254740993});
    root.set("i.max", std::numeric_limits<std::int64_t>::max());
    root.set("d", 0.25);
    root.set("d.nan", std::nan(""));
    root.set("d.inf", -std::numeric_limits<double>::infinity());
    root.set("s.empty", "");
    root.set("s.unicode", "caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x98\x80");
    root.set("s.invalid", std::string("bad \xC3 byte \xFF"));
    root.set("s.escapes", "q\" b\\ n\n t\t c\x01");
    root.set(tc::key(std::string("runtime.key")), 1);
    root.set_input("a prompt longer than sixteen bytes");
    root.add_event("first_token", {{"gen_ai.token.index", 0}, {"x", 1.5}, {"dropped", true}});
    root.add_event("second");
    root.add_event("third (dropped)");
    tc::span_context linked;
    {
      tc::span step(std::string("step \xE2\x86\x92 runtime name"), tc::kind::internal);
      linked = step.context();
      step.set_error("decode failed: \"oom\"");
    }
    root.add_link(linked, {{"tracecraft.link.reason", "batch"}});
    root.add_link(remote);  // over the link limit: counted
    for (int k = 0; k < 25; ++k) root.set(tc::key("many." + std::to_string(k)), k);  // over the count limit
    root.set_ok();
  }
  tc::async_span moved("moved", tc::kind::llm);
  moved.set_model("demo");
  std::thread([&] { moved.end(); }).join();
  {  // a host value for a derived attribute, before and after spans of the same kind that keep theirs
    tc::span a("llm default", tc::kind::llm);
    tc::span b("llm override", tc::kind::llm);
    b.set("gen_ai.operation.name", "text_completion");
    b.set("openinference.span.kind", "LLM");
  }
  { tc::span c("llm default again", tc::kind::llm); }
  {  // the protobuf encoder's size edges: a span under 128 bytes and one over 16 KiB (their length
     // prefixes are not the usual 2 bytes), an event over 128 bytes, and the bounds of its direct
     // path for attributes (keys of 63 and 64 bytes, strings of 57 and 58, a key that is not ASCII)
    tc::span parent("p", tc::kind::internal);
    { tc::span tiny("t", tc::kind::internal); }
    tc::span big("big", tc::kind::internal);
    big.set("big.value", std::string(20000, 'x'));
    const std::string long_text(300, 'y');
    big.add_event("long event", {{"text", std::string_view(long_text)}});
    big.set(tc::key(std::string(63, 'k')), std::string(57, 'v'));
    big.set(tc::key(std::string(64, 'k')), std::string(58, 'v'));
    big.set(tc::key(std::string(62, 'j')), std::int64_t{-1});
    big.set("k\xC3\xA9y", "value");
  }
  for (tc::kind k : {tc::kind::agent, tc::kind::tool, tc::kind::retrieval, tc::kind::memory, tc::kind::guardrail,
                     tc::kind::evaluation, tc::kind::workflow, tc::kind::client, tc::kind::producer, tc::kind::consumer}) {
    tc::span s("kind", k);
  }
}

}  // namespace tct
