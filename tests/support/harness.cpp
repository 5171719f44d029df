// SPDX-License-Identifier: Apache-2.0
// tests/support/harness.cpp — see harness.h.
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <doctest/doctest.h>
#include <simdjson.h>

namespace tct {

temp_dir::temp_dir() {
  std::random_device rd;
  path = std::filesystem::temp_directory_path().string() + "/tracecraft-test-" + std::to_string(::getpid()) + "-" +
         std::to_string(rd());
  std::filesystem::create_directories(path);
}
temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

tracecraft::config jsonl_config(const std::string& path) {
  tracecraft::config c;
  c.exporters = {tracecraft::exporter_kind::jsonl};
  c.jsonl_path = path;
  c.schedule_delay_ms = 60000;
  c.diagnostics = tracecraft::log_level::error;
  return c;
}

namespace {

using namespace simdjson;

std::uint64_t to_u64(dom::element e) {
  if (e.is_string()) return std::strtoull(std::string(std::string_view(e)).c_str(), nullptr, 10);
  if (e.is_uint64()) return e.get_uint64();
  return static_cast<std::uint64_t>(e.get_int64().value());
}

value read_value(dom::object v) {
  value out;
  for (auto [k, x] : v) {
    out.type = std::string(k);
    if (k == "stringValue") out.s = std::string(std::string_view(x));
    else if (k == "intValue") out.i = x.is_string() ? std::strtoll(std::string(std::string_view(x)).c_str(), nullptr, 10) : x.get_int64().value();
    else if (k == "doubleValue") out.d = x.is_string() ? std::strtod(std::string(std::string_view(x)).c_str(), nullptr) : x.get_double().value();
    else if (k == "boolValue") out.b = x.get_bool().value();
  }
  return out;
}

std::map<std::string, value> read_attrs(dom::element arr, std::vector<std::string>* order = nullptr) {
  std::map<std::string, value> m;
  for (dom::element kv : arr.get_array()) {
    std::string key{std::string_view(kv["key"])};
    CHECK_MESSAGE(m.count(key) == 0, "duplicate attribute key " << key);
    m[key] = read_value(kv["value"].get_object());
    if (order) order->push_back(key);
  }
  return m;
}

}  // namespace

std::vector<span> read_spans(const std::string& path) {
  std::vector<span> out;
  std::ifstream in(path);
  dom::parser parser;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    dom::element doc;
    auto err = parser.parse(line).get(doc);
    REQUIRE_MESSAGE(!err, "malformed JSONL line: " << error_message(err));
    for (dom::element rs : doc["resourceSpans"].get_array()) {
      std::map<std::string, value> resource;
      std::int64_t pid = 0;
      dom::element rattrs;
      if (!rs["resource"]["attributes"].get(rattrs)) {
        resource = read_attrs(rattrs);
        if (resource.count("process.pid")) pid = resource["process.pid"].i;
      }
      for (dom::element ss : rs["scopeSpans"].get_array()) {
        CHECK(std::string_view(ss["scope"]["name"]) == "tracecraft");
        for (dom::element sp : ss["spans"].get_array()) {
          span s;
          s.resource = resource;
          s.pid = pid;
          s.trace_id = std::string(std::string_view(sp["traceId"]));
          s.span_id = std::string(std::string_view(sp["spanId"]));
          std::string_view parent;
          if (!sp["parentSpanId"].get(parent)) s.parent_span_id = std::string(parent);
          std::string_view trace_state;
          if (!sp["traceState"].get(trace_state)) s.trace_state = std::string(trace_state);
          s.name = std::string(std::string_view(sp["name"]));
          s.kind = static_cast<int>(sp["kind"].get_int64().value());
          s.start = to_u64(sp["startTimeUnixNano"]);
          s.end = to_u64(sp["endTimeUnixNano"]);
          dom::element x;
          if (!sp["attributes"].get(x)) s.attrs = read_attrs(x, &s.attr_order);
          if (!sp["droppedAttributesCount"].get(x)) s.dropped_attrs = to_u64(x);
          if (!sp["droppedEventsCount"].get(x)) s.dropped_events = to_u64(x);
          if (!sp["droppedLinksCount"].get(x)) s.dropped_links = to_u64(x);
          if (!sp["events"].get(x)) {
            for (dom::element e : x.get_array()) {
              event ev;
              ev.name = std::string(std::string_view(e["name"]));
              ev.time = to_u64(e["timeUnixNano"]);
              dom::element a;
              if (!e["attributes"].get(a)) ev.attrs = read_attrs(a);
              if (!e["droppedAttributesCount"].get(a)) ev.dropped = to_u64(a);
              s.events.push_back(std::move(ev));
            }
          }
          if (!sp["links"].get(x)) {
            for (dom::element l : x.get_array()) {
              link lk;
              lk.trace_id = std::string(std::string_view(l["traceId"]));
              lk.span_id = std::string(std::string_view(l["spanId"]));
              dom::element a;
              if (!l["attributes"].get(a)) lk.attrs = read_attrs(a);
              if (!l["flags"].get(a)) lk.flags = to_u64(a);
              s.links.push_back(std::move(lk));
            }
          }
          if (!sp["status"].get(x)) {
            dom::element c;
            if (!x["code"].get(c)) s.status_code = static_cast<int>(c.get_int64().value());
            std::string_view m;
            if (!x["message"].get(m)) s.status_message = std::string(m);
          }
          if (!sp["flags"].get(x)) s.flags = to_u64(x);
          out.push_back(std::move(s));
        }
      }
    }
  }
  return out;
}

std::size_t count_lines(const std::string& path) {
  std::ifstream in(path);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

void check_accounting(const tracecraft::stats_snapshot& s) {
  INFO("created " << s.spans_created << " exported " << s.spans_exported << " dropped " << s.dropped.total()
                  << " sampled_out " << s.spans_sampled_out << " pending " << s.spans_pending);
  CHECK(s.spans_pending == 0);
  CHECK(s.spans_created == s.spans_exported + s.dropped.total() + s.spans_sampled_out);
}

std::int64_t resident_bytes() {
  std::ifstream f("/proc/self/statm");
  std::int64_t size = 0, resident = -1;
  if (!(f >> size >> resident)) return -1;
  return resident * static_cast<std::int64_t>(::sysconf(_SC_PAGESIZE));
}

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

long thread_named(const std::string& comm) {
  long found = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream in(std::string("/proc/self/task/") + e->d_name + "/comm");
      std::string name;
      std::getline(in, name);
      if (name == comm) found = std::strtol(e->d_name, nullptr, 10);
    }
    closedir(d);
  }
  return found;
}

run_result run(const std::string& exe, std::vector<std::string> args, const std::vector<std::string>& env,
               const std::string& cwd) {
  const std::string out = cwd + "/stdout.txt", err = cwd + "/stderr.txt";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  std::vector<std::string> envs = env;
  bool has_path = false;
  for (const auto& e : envs) has_path |= e.rfind("TRACECRAFT_JSONL_PATH=", 0) == 0;
  if (!has_path) envs.push_back("TRACECRAFT_JSONL_PATH=" + cwd + "/traces.jsonl");
  // Child programs write JSONL unless a test asks for another exporter (the library's default is
  // otlp, to a collector these tests do not run).
  bool has_exporter = false;
  for (const auto& e : envs) has_exporter |= e.rfind("OTEL_TRACES_EXPORTER=", 0) == 0;
  if (!has_exporter) envs.push_back("OTEL_TRACES_EXPORTER=jsonl");
  std::vector<char*> argv{const_cast<char*>(exe.c_str())}, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid;
  REQUIRE(posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), envp.data()) == 0);
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

const span* find(const std::vector<span>& spans, const std::string& name) {
  for (const auto& s : spans)
    if (s.name == name) return &s;
  return nullptr;
}

std::vector<const span*> find_all(const std::vector<span>& spans, const std::string& name) {
  std::vector<const span*> r;
  for (const auto& s : spans)
    if (s.name == name) r.push_back(&s);
  return r;
}

bool within_5sd(double count, double n, double p) {
  return std::abs(count - n * p) <= 5 * std::sqrt(n * p * (1 - p));
}

}  // namespace tct
