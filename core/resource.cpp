// SPDX-License-Identifier: Apache-2.0
// core/resource.cpp — resource attributes (standards §7), decided once per engine (and again in
// a fork child, which has its own pid and instance id).
#include <sys/random.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "core/engine.h"

namespace tracecraft::detail {

namespace {

std::string executable_name() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  buf[n] = '\0';
  const char* slash = std::strrchr(buf, '/');
  return slash != nullptr ? slash + 1 : buf;
}

// Random UUID v4 (one per process; standards §7 recommends it for service.instance.id).
std::string uuid_v4() {
  unsigned char b[16] = {};
  if (getrandom(b, sizeof b, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof b)) {
    std::uint64_t x = static_cast<std::uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ull ^ reinterpret_cast<std::uintptr_t>(&b);
    for (auto& c : b) c = static_cast<unsigned char>(x >>= 3);
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
  char s[37];
  std::snprintf(s, sizeof s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
                b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return s;
}

}  // namespace

resource_info build_resource(const config& cfg) {
  resource_info r;
  const std::string exe = executable_name();
  std::string service = cfg.service_name;
  for (const auto& [k, v] : cfg.resource_attributes)
    if (k == "service.name" && service.empty()) service = v;
  if (service.empty()) service = exe.empty() ? "unknown_service" : "unknown_service:" + exe;

  // Engine-owned keys first; OTEL_RESOURCE_ATTRIBUTES may not override them.
  r.strings.emplace_back("service.name", service);
  r.strings.emplace_back("telemetry.sdk.name", "tracecraft");
  r.strings.emplace_back("telemetry.sdk.language", "cpp");
  r.strings.emplace_back("telemetry.sdk.version", TRACECRAFT_VERSION);
  for (const auto& [k, v] : cfg.resource_attributes) {
    if (k == "service.name" || k.rfind("telemetry.sdk.", 0) == 0 || k == "process.pid") continue;
    r.strings.emplace_back(k, v);
  }
  auto has = [&](const char* key) {
    for (const auto& kv : r.strings)
      if (kv.first == key) return true;
    return false;
  };
  if (!has("service.instance.id")) r.strings.emplace_back("service.instance.id", uuid_v4());
  char host[256] = {};
  if (!has("host.name") && ::gethostname(host, sizeof host - 1) == 0) r.strings.emplace_back("host.name", host);
  if (!exe.empty() && !has("process.executable.name")) r.strings.emplace_back("process.executable.name", exe);
  r.pid = ::getpid();
  return r;
}

}  // namespace tracecraft::detail
