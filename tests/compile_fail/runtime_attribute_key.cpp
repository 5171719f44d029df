// SPDX-License-Identifier: Apache-2.0
// MUST NOT COMPILE: attribute keys are literals or an explicit tracecraft::key (copied).
#include <string>

#include "tracecraft/trace.h"

void f(tracecraft::span& s, const std::string& k) { s.set(k, 1); }
