// SPDX-License-Identifier: Apache-2.0
// bench/sink_process.h — starts a tracecraft-sink process that decodes and counts every span and
// stores none (--discard), on an ephemeral port written to `port_file`.
#pragma once

#include <spawn.h>
#include <sys/types.h>

#include <string>
#include <vector>

extern char** environ;

namespace tcbench {

/// The sink's pid, or -1 when it could not be started.
inline pid_t spawn_discard_sink(const std::string& path, const std::string& port_file) {
  std::vector<std::string> a = {path, "--port", "0", "--port-file", port_file, "--discard", "--quiet"};
  std::vector<char*> argv;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, path.c_str(), nullptr, nullptr, argv.data(), environ) != 0) return -1;
  return pid;
}

}  // namespace tcbench
