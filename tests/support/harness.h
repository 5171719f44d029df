// SPDX-License-Identifier: Apache-2.0
// tests/support/harness.h — helpers shared by the tests: a temp directory, a config that writes
// JSONL there, a reader of the exported lines (simdjson: a parser no one here wrote), and the
// accounting identity every integration test ends with.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tracecraft/trace.h"

namespace tct {

struct value {
  std::string type;  // stringValue, intValue, doubleValue, boolValue
  std::string s;
  std::int64_t i = 0;
  double d = 0;
  bool b = false;
};

struct event {
  std::string name;
  std::uint64_t time = 0;
  std::map<std::string, value> attrs;
  std::uint64_t dropped = 0;
};

struct link {
  std::string trace_id, span_id;
  std::map<std::string, value> attrs;
  std::uint64_t flags = 0;
};

struct span {
  std::string trace_id, span_id, parent_span_id, name, trace_state;
  int kind = 0;
  std::uint64_t start = 0, end = 0;
  std::map<std::string, value> attrs;
  std::vector<std::string> attr_order;
  std::uint64_t dropped_attrs = 0, dropped_events = 0, dropped_links = 0;
  std::vector<event> events;
  std::vector<link> links;
  int status_code = 0;
  std::string status_message;
  std::uint64_t flags = 0;
  std::map<std::string, value> resource;
  std::int64_t pid = 0;
  bool has(const std::string& k) const { return attrs.count(k) != 0; }
};

/// A fresh directory under the build tree, removed by the destructor.
struct temp_dir {
  std::string path;
  temp_dir();
  ~temp_dir();
  std::string file(const std::string& name) const { return path + "/" + name; }
};

/// A config that exports JSONL to `path` only, with a long schedule delay (flush decides).
tracecraft::config jsonl_config(const std::string& path);

/// Every span in the file, in file order. Fails the current test on a malformed line.
std::vector<span> read_spans(const std::string& path);
std::size_t count_lines(const std::string& path);

/// created = exported + dropped (by reason) + sampled out, and nothing pending.
void check_accounting(const tracecraft::stats_snapshot& s);

/// Runs `exe` with exactly `env` (plus TRACECRAFT_JSONL_PATH=<cwd>/traces.jsonl unless given)
/// in directory `cwd`; captures stdout and stderr.
struct run_result {
  int exit_code;
  std::string out, err;
};
run_result run(const std::string& exe, std::vector<std::string> args, const std::vector<std::string>& env,
               const std::string& cwd);
std::string slurp(const std::string& path);
/// This process's resident memory in bytes (/proc/self/statm), or -1.
std::int64_t resident_bytes();
/// The id of this process's thread named `comm` (as in /proc/self/task/*/comm), or 0.
long thread_named(const std::string& comm);

const span* find(const std::vector<span>& spans, const std::string& name);
std::vector<const span*> find_all(const std::vector<span>& spans, const std::string& name);

/// The sampling randomness R of a context (standards §5): the low 56 bits of its trace id, read
/// big-endian. Tests that let the engine generate ids decide each trace's fate from R exactly,
/// so their counts do not depend on luck.
inline std::uint64_t sampling_r(const tracecraft::span_context& c) {
  std::uint64_t r = 0;
  for (int i = 9; i < 16; ++i) r = (r << 8) | c.trace_id[i];
  return r;
}

/// How far a count of `n` Bernoulli(p) trials may stray when the test only checks that the id
/// generator is not biased: 5 sd (a false alarm about once in 1.7 million runs). Exact checks
/// of the decision itself use sampling_r, not this.
bool within_5sd(double count, double n, double p);

}  // namespace tct
