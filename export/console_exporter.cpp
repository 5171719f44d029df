// SPDX-License-Identifier: Apache-2.0
// export/console_exporter.cpp — a readable tree per trace on stdout, for development.
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

#include "export/exporter.h"

namespace tracecraft::detail {
namespace {

std::uint64_t id64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

struct entry {
  std::uint64_t span_id, parent_id;
  std::uint64_t start_ns, end_ns;
  std::string name, summary, status;
  const char* kind;
};

const char* kind_label(kind k) {
  switch (k) {
    case kind::server: return "SERVER";
    case kind::client: return "CLIENT";
    case kind::producer: return "PRODUCER";
    case kind::consumer: return "CONSUMER";
    case kind::agent: return "agent";
    case kind::llm: return "llm";
    case kind::tool: return "tool";
    case kind::retrieval: return "retrieval";
    case kind::memory: return "memory";
    case kind::guardrail: return "guardrail";
    case kind::evaluation: return "evaluation";
    case kind::workflow: return "workflow";
    default: return "internal";
  }
}

class console_exporter final : public exporter {
 public:
  const char* name() const noexcept override { return "console"; }

  void add(const span_view& s, std::uint64_t) noexcept override {
    try {
      entry e;
      e.span_id = id64(s.span_id);
      e.parent_id = s.parent_id && !s.parent_remote ? id64(s.parent_id) : 0;
      e.start_ns = s.start_ns;
      e.end_ns = s.end_ns;
      e.name.assign(s.name);
      e.kind = kind_label(s.step);
      e.status = s.status == 2 ? "ERROR" : s.status == 1 ? "OK" : "";
      if (s.status == 2 && !s.status_message.empty()) e.status.append(": ").append(s.status_message);
      int shown = 0;
      for (const attr_view& a : s.attrs) {
        if (a.key.starts_with("openinference.") || a.key.starts_with("tracecraft.") || a.key == "run_id") continue;
        if (shown++ == 4) break;
        e.summary.append(" ").append(a.key).append("=");
        char buf[64];
        switch (a.type) {
          case value::type::boolean: e.summary.append(a.b ? "true" : "false"); break;
          case value::type::int64: std::snprintf(buf, sizeof buf, "%" PRId64, a.i); e.summary.append(buf); break;
          case value::type::float64: std::snprintf(buf, sizeof buf, "%g", a.d); e.summary.append(buf); break;
          case value::type::string: e.summary.append(a.s.substr(0, 40)); break;
        }
      }
      auto& t = traces_[trace_key(s.trace_id)];
      t.push_back(std::move(e));
      ++pending_;
      if (s.local_root()) print_trace(trace_key(s.trace_id), e.span_id);
      if (pending_ > 100000) flush({}, false);  // bound: print what we have
    } catch (...) {
      exporter_counters::bump(counters.failed);
    }
  }
  void tick(std::uint64_t) noexcept override {}
  bool flush(std::chrono::steady_clock::time_point, bool) noexcept override {
    try {
      std::vector<std::string> keys;
      for (auto& kv : traces_) keys.push_back(kv.first);
      for (auto& k : keys) print_trace(k, 0);
    } catch (...) {
    }
    return true;
  }

 private:
  static std::string trace_key(const std::uint8_t* t) { return std::string(reinterpret_cast<const char*>(t), 16); }

  void print_trace(const std::string& key, std::uint64_t /*root*/) {
    auto it = traces_.find(key);
    if (it == traces_.end()) return;
    std::vector<entry>& spans = it->second;
    std::sort(spans.begin(), spans.end(), [](const entry& a, const entry& b) { return a.start_ns < b.start_ns; });
    std::string out = "trace ";
    static const char hexd[] = "0123456789abcdef";
    for (unsigned char c : key) {
      out.push_back(hexd[c >> 4]);
      out.push_back(hexd[c & 15]);
    }
    out.push_back('\n');
    std::unordered_map<std::uint64_t, bool> present;
    for (auto& e : spans) present[e.span_id] = true;
    // Roots of this batch: spans whose parent is not among them.
    for (std::size_t i = 0; i < spans.size(); ++i)
      if (spans[i].parent_id == 0 || !present.count(spans[i].parent_id)) print_node(spans, i, 1, out);
    [[maybe_unused]] ssize_t w = ::write(1, out.data(), out.size());
    exporter_counters::bump(counters.exported, spans.size());
    exporter_counters::bump(counters.batches);
    exporter_counters::bump(counters.bytes, out.size());
    pending_ -= spans.size();
    traces_.erase(it);
  }

  void print_node(const std::vector<entry>& spans, std::size_t i, int depth, std::string& out) {
    const entry& e = spans[i];
    char line[160];
    std::snprintf(line, sizeof line, "%*s%s [%s] %.3f ms", depth * 2, "", e.name.c_str(), e.kind,
                  static_cast<double>(e.end_ns - e.start_ns) / 1e6);
    out.append(line);
    if (!e.status.empty()) out.append(" ").append(e.status);
    out.append(e.summary).push_back('\n');
    if (depth > 64) return;
    for (std::size_t j = 0; j < spans.size(); ++j)
      if (spans[j].parent_id == e.span_id && j != i) print_node(spans, j, depth + 1, out);
  }

  std::unordered_map<std::string, std::vector<entry>> traces_;
  std::uint64_t pending_ = 0;
};

}  // namespace

std::unique_ptr<exporter> make_console_exporter(const config&, const resource_info&) {
  return std::make_unique<console_exporter>();
}

}  // namespace tracecraft::detail
