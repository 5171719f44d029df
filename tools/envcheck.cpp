// SPDX-License-Identifier: Apache-2.0
// tools/envcheck.cpp — tracecraft-envcheck: the effective configuration and every problem found.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tracecraft/trace.h"

extern char** environ;

int main(int argc, char** argv) {
  bool strict = false, markdown = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--strict") == 0) strict = true;
    else if (std::strcmp(argv[i], "--markdown") == 0) markdown = true;
    else {
      std::printf("usage: tracecraft-envcheck [--strict] [--markdown]\n"
                  "  --strict    exit 1 when a problem is found\n"
                  "  --markdown  print the configuration table for README.md\n");
      return std::strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  std::vector<tracecraft::config_problem> problems;
  const tracecraft::config cfg = tracecraft::load_config(environ, &problems);
  const auto rows = tracecraft::describe_config(environ);
  if (markdown) {
    std::printf("| Variable | Default | Meaning |\n|---|---|---|\n");
    for (const auto& r : rows)
      std::printf("| `%s` | %s | %s |\n", r.variable.c_str(),
                  r.default_value.empty() ? "(unset)" : ("`" + r.default_value + "`").c_str(), r.meaning.c_str());
    return 0;
  }
  std::printf("tracecraft %s — effective configuration\n\n", tracecraft::version());
  std::printf("%-40s %-28s %-28s %s\n", "VARIABLE", "VALUE", "DEFAULT", "SOURCE");
  for (const auto& r : rows)
    std::printf("%-40s %-28s %-28s %s\n", r.variable.c_str(), r.value.empty() ? "(unset)" : r.value.c_str(),
                r.default_value.empty() ? "(unset)" : r.default_value.c_str(), r.source.c_str());
  std::vector<std::string> redaction_problems;
  std::printf("\nredaction: %s\n", tracecraft::redaction_summary(cfg, &redaction_problems).c_str());
  for (const auto& p : redaction_problems) problems.push_back({"redaction", "", p});
  if (problems.empty()) {
    std::printf("\nno problems found\n");
    return 0;
  }
  std::printf("\n%zu problem(s):\n", problems.size());
  for (const auto& p : problems) std::printf("  %s='%s' %s\n", p.variable.c_str(), p.value.c_str(), p.message.c_str());
  return strict ? 1 : 0;
}
