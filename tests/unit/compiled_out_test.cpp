// SPDX-License-Identifier: Apache-2.0
// Built with -DTC_DISABLE and NOT linked with libtracecraft: it links only because the switch
// removes every reference to the engine. The API still compiles and behaves as a no-op.
#include <cstdio>
#include <string>

#include "tracecraft/trace.h"

#ifndef TC_DISABLE
#error "this test must be built with TC_DISABLE"
#endif

int main() {
  int failures = 0;
  auto check = [&](bool ok, const char* what) {
    if (!ok) {
      std::printf("FAIL: %s\n", what);
      ++failures;
    }
  };
  check(tracecraft::init() == tracecraft::status::disabled, "init() reports disabled");
  {
    TC_SPAN(s, "request", tracecraft::kind::server);
    bool evaluated = false;
    TC_SET(s, "k", (evaluated = true, 1));
    s.set("gen_ai.request.model", std::string("m"));
    s.add_event("e", {{"i", 1}});
    s.set_error("x");
    check(!s.recording(), "span does not record");
    check(!s.context().valid(), "span has no context");
    check(!evaluated, "TC_SET does not evaluate its value");
    tracecraft::async_span a("queue");
    tracecraft::context_scope scope(a.context());
    check(!tracecraft::current_context().valid(), "no current context");
  }
  check(tracecraft::flush(std::chrono::milliseconds(1)), "flush");
  check(tracecraft::shutdown(std::chrono::milliseconds(1)), "shutdown");
  check(tracecraft::stats().spans_created == 0, "stats are empty");
  std::printf("%s\n", failures ? "compiled_out: FAILED" : "compiled_out: ok");
  return failures ? 1 : 0;
}
