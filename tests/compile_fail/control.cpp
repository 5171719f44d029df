// SPDX-License-Identifier: Apache-2.0
// MUST COMPILE: the correct forms of what the other files in this folder get wrong.
#include <string>

#include "tracecraft/trace.h"

void f(const char* text, const std::string& k) {
  char buf[16] = {};
  tracecraft::span a("literal");
  tracecraft::span b{std::string_view(buf)};
  tracecraft::span c{std::string(text)};
  tracecraft::span d(text);
  a.set(tracecraft::key(k), 1);
  a.set("literal.key", k);
}
