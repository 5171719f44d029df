// SPDX-License-Identifier: Apache-2.0
// core/diag.cpp — default handler (one line to stderr) and the exception-proof dispatch.
#include "core/diag.h"

#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>

#include "tracecraft/trace.h"

namespace tracecraft {
namespace {

void default_handler(log_level level, std::string_view msg) {
  char line[1200];
  const char* tag = level == log_level::error ? "error" : level == log_level::warn ? "warning" : "info";
  const int n = std::snprintf(line, sizeof line, "tracecraft: %s: %.*s\n", tag, static_cast<int>(msg.size()), msg.data());
  if (n > 0) {
    // One write() per line so lines from several processes do not interleave.
    [[maybe_unused]] ssize_t w = ::write(2, line, static_cast<std::size_t>(n) < sizeof line ? static_cast<std::size_t>(n) : sizeof line - 1);
  }
}

std::atomic<diagnostic_handler> g_handler{&default_handler};
std::atomic<log_level> g_level{log_level::warn};

}  // namespace

void set_diagnostic_handler(diagnostic_handler h) noexcept { g_handler.store(h != nullptr ? h : &default_handler); }

namespace detail {

void set_diag_level(log_level level) noexcept { g_level.store(level, std::memory_order_relaxed); }

void diag(log_level level, const char* fmt, ...) noexcept {
  if (level == log_level::none || level > g_level.load(std::memory_order_relaxed)) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  const std::size_t len = static_cast<std::size_t>(n) < sizeof buf ? static_cast<std::size_t>(n) : sizeof buf - 1;
  try {
    g_handler.load()(level, std::string_view(buf, len));
  } catch (...) {  // a host handler must not take the engine down
  }
}

}  // namespace detail
}  // namespace tracecraft
