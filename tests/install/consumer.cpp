// SPDX-License-Identifier: Apache-2.0
// A host program built against an installed (or subproject) TraceCraft: records two spans and
// checks they were exported.
#include <tracecraft/trace.h>

#include <cstdio>

int main() {
  if (tracecraft::init() != tracecraft::status::ok) return 10;
  {
    tracecraft::span root("consumer-root", tracecraft::kind::server);
    tracecraft::span child("consumer-child", tracecraft::kind::llm);
    child.set("gen_ai.usage.output_tokens", 3);
  }
  if (!tracecraft::shutdown(std::chrono::seconds(5))) return 11;
  const tracecraft::stats_snapshot s = tracecraft::stats();
  std::printf("consumer: created %llu exported %llu\n", static_cast<unsigned long long>(s.spans_created),
              static_cast<unsigned long long>(s.spans_exported));
  return s.spans_created == 2 && s.spans_exported == 2 ? 0 : 1;
}
