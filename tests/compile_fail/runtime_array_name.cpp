// SPDX-License-Identifier: Apache-2.0
// MUST NOT COMPILE: a runtime char array cannot be a span name "by reference" (only string
// literals can; runtime text goes through std::string_view and is copied).
#include "tracecraft/trace.h"

void f(const char* text) {
  char buf[16] = {};
  for (int i = 0; i < 15 && text[i]; ++i) buf[i] = text[i];
  tracecraft::span s(buf);
}
