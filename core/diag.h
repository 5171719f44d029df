// SPDX-License-Identifier: Apache-2.0
// core/diag.h — the one diagnostic channel: warnings and errors go through a replaceable handler.
#pragma once

#include <string_view>

#include "tracecraft/config.h"

namespace tracecraft::detail {

/// Sends one message to the handler if `level` is within TRACECRAFT_LOG_LEVEL. Never throws;
/// safe from any thread. Formats into a fixed buffer (truncates).
void diag(log_level level, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));
void set_diag_level(log_level level) noexcept;

}  // namespace tracecraft::detail
