// SPDX-License-Identifier: Apache-2.0
// The main job end to end: tracecraft-demo with the embedded defaults writes complete, correctly
// nested request traces to JSONL; its summary agrees with the file; same seed, same trace ids.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>

#include "harness.h"

namespace {

std::uint64_t field(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\":");
  REQUIRE_MESSAGE(at != std::string::npos, key << " missing in " << json);
  return std::stoull(json.substr(at + key.size() + 3));
}

struct demo_run {
  std::vector<tct::span> spans;
  std::string summary;
  tct::run_result r;
};

demo_run run_demo(const tct::temp_dir& dir, const std::string& tag, std::vector<std::string> args,
                  std::vector<std::string> env = {}) {
  args.push_back("--summary-json");
  args.push_back(dir.file(tag + ".json"));
  env.push_back("TRACECRAFT_JSONL_PATH=" + dir.file(tag + ".jsonl"));
  demo_run d;
  d.r = tct::run(TC_DEMO_PATH, args, env, dir.path);
  d.spans = tct::read_spans(dir.file(tag + ".jsonl"));
  d.summary = tct::slurp(dir.file(tag + ".json"));
  if (d.r.exit_code == 0) {  // the accounting identity, from the demo's own summary
    const auto dropped = field(d.summary, "ring_full") + field(d.summary, "export_failed") +
                         field(d.summary, "no_exporter") + field(d.summary, "shutdown_deadline") +
                         field(d.summary, "tail_evicted");
    CHECK(field(d.summary, "spans_created") ==
          field(d.summary, "spans_exported") + dropped + field(d.summary, "spans_sampled_out"));
    CHECK(field(d.summary, "spans_pending") == 0);
  }
  return d;
}

std::set<std::string> request_trace_ids(const std::vector<tct::span>& spans) {
  std::set<std::string> ids;
  for (const auto& s : spans)
    if (s.name == "POST /v1/chat/completions") ids.insert(s.trace_id);
  return ids;
}

// The quoted ids of a JSON array of strings in the summary.
std::vector<std::string> id_list(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\":[");
  REQUIRE_MESSAGE(at != std::string::npos, key << " missing");
  const auto end = json.find(']', at);
  std::vector<std::string> out;
  for (auto q = json.find('"', at + key.size() + 3); q < end; q = json.find('"', q + 1)) {
    const auto close = json.find('"', q + 1);
    out.push_back(json.substr(q + 1, close - q - 1));
    q = close;
  }
  return out;
}

// Request traces exported, with the reason their root gives.
std::map<std::string, std::string> request_reasons(const std::vector<tct::span>& spans) {
  std::map<std::string, std::string> out;
  for (const auto& s : spans)
    if (s.name == "POST /v1/chat/completions") out[s.trace_id] = s.attrs.at("tracecraft.sampling.reason").s;
  return out;
}

}  // namespace

TEST_CASE("tracecraft-demo at 1%: every failed and every slowed request is exported, with its reason") {
  tct::temp_dir dir;
  const auto d = run_demo(dir, "tail", {"--requests", "300", "--seed", "11", "--error-rate", "0.03", "--slow-rate", "0.03", "--slow-ms", "400"},
                          {"TRACECRAFT_SAMPLING_RATE=0.01", "TRACECRAFT_ALWAYS_KEEP_SLOW=true", "TRACECRAFT_SLOW_THRESHOLD_MS=300"});
  REQUIRE(d.r.exit_code == 0);
  const auto failed = id_list(d.summary, "failed_trace_ids"), slowed = id_list(d.summary, "slowed_trace_ids");
  CHECK(failed.size() >= 3);
  CHECK(slowed.size() >= 3);
  const auto reasons = request_reasons(d.spans);
  for (const auto& id : failed) {
    REQUIRE_MESSAGE(reasons.count(id) == 1, "failed request " << id << " not exported");
    CHECK(reasons.at(id) == "error");  // errors come first
  }
  for (const auto& id : slowed) {
    REQUIRE_MESSAGE(reasons.count(id) == 1, "slowed request " << id << " not exported");
    CHECK((reasons.at(id) == "slow" || reasons.at(id) == "error"));
  }
  std::map<std::string, int> per_trace;
  for (const auto& s : d.spans) ++per_trace[s.trace_id];
  for (const auto& id : failed) CHECK(per_trace[id] >= 4);  // root, queue, prefill, decode: the whole skeleton
  CHECK(field(d.summary, "tail_kept") > 0);
}

TEST_CASE("tracecraft-demo: the same seed and rate export the same request traces on two runs") {
  tct::temp_dir dir;
  const std::vector<std::string> args = {"--requests", "300", "--seed", "5", "--error-rate", "0.05", "--slow-rate", "0"};
  const auto a = run_demo(dir, "d1", args, {"TRACECRAFT_SAMPLING_RATE=0.05"});
  const auto b = run_demo(dir, "d2", args, {"TRACECRAFT_SAMPLING_RATE=0.05"});
  REQUIRE(a.r.exit_code == 0);
  REQUIRE(b.r.exit_code == 0);
  const auto ra = request_reasons(a.spans), rb = request_reasons(b.spans);
  CHECK(ra == rb);  // the same traces, kept for the same reasons
  CHECK(ra.size() > 10);
  for (const auto& id : id_list(a.summary, "failed_trace_ids")) CHECK(ra.count(id) == 1);
}

TEST_CASE("tracecraft-demo: complete request traces in JSONL, summary consistent with the file") {
  tct::temp_dir dir;
  const auto d = run_demo(dir, "a", {"--requests", "120", "--seed", "7", "--error-rate", "0.1", "--slow-rate", "0.05"});
  REQUIRE(d.r.exit_code == 0);
  CHECK(d.r.out.find("tracecraft-demo: 120 requests") != std::string::npos);
  CHECK(d.r.err.empty());

  // Summary fields and the accounting identity.
  CHECK(field(d.summary, "requests") == 120);
  const auto created = field(d.summary, "spans_created"), exported = field(d.summary, "spans_exported");
  const auto sampled_out = field(d.summary, "spans_sampled_out");
  const auto dropped = field(d.summary, "ring_full") + field(d.summary, "export_failed") +
                       field(d.summary, "no_exporter") + field(d.summary, "shutdown_deadline");
  CHECK(created == exported + dropped + sampled_out);
  CHECK(exported == d.spans.size());
  CHECK(dropped == 0);
  CHECK(field(d.summary, "requests_failed") > 0);
  CHECK(d.summary.find("\"wall_seconds\":") != std::string::npos);

  std::map<std::string, std::vector<const tct::span*>> by_trace;
  std::map<std::string, const tct::span*> by_id;
  for (const auto& s : d.spans) {
    by_trace[s.trace_id].push_back(&s);
    by_id[s.span_id] = &s;
  }
  int roots = 0, failed = 0, agent_paths = 0;
  for (const auto& s : d.spans) {
    if (s.name != "POST /v1/chat/completions") continue;
    ++roots;
    CHECK(s.kind == 2);  // SERVER
    CHECK(s.parent_span_id.empty());
    CHECK(s.attrs.at("gen_ai.request.model").s == "demo-llm-8b");
    CHECK(s.attrs.at("gen_ai.usage.input_tokens").i > 0);
    CHECK(s.attrs.at("gen_ai.usage.output_tokens").i > 0);
    CHECK(s.attrs.at("gen_ai.response.time_to_first_chunk").d > 0);
    REQUIRE(s.events.size() == 1);
    CHECK(s.events[0].name == "gen_ai.first_token");
    CHECK(s.events[0].time >= s.start);
    if (s.status_code == 2) {
      ++failed;
      CHECK(s.attrs.at("error.type").s == "device_oom");
    } else {
      CHECK(s.status_code == 1);
    }
    std::map<std::string, int> children;
    for (const auto* c : by_trace[s.trace_id]) {
      if (c == &s) continue;
      REQUIRE_MESSAGE(by_id.count(c->parent_span_id), c->name << " has no parent in the file");
      const tct::span* p = by_id[c->parent_span_id];
      CHECK(p->trace_id == s.trace_id);
      CHECK(c->start >= p->start);
      if (c->parent_span_id == s.span_id) ++children[c->name];
    }
    CHECK(children["queue"] == 1);
    CHECK(children["prefill"] == 1);
    CHECK(children["decode"] == 1);
    agent_paths += children["invoke_agent planner"];
  }
  CHECK(roots == 120);
  CHECK(failed == static_cast<int>(field(d.summary, "requests_failed")));
  CHECK(agent_paths > 0);
  CHECK(field(d.summary, "traces_exported") >= 120);

  // Agent path: agent -> retrieval, tool, llm with the GenAI operation names.
  const tct::span* agent = tct::find(d.spans, "invoke_agent planner");
  REQUIRE(agent);
  int agent_children = 0;
  for (const auto* c : by_trace[agent->trace_id])
    if (c->parent_span_id == agent->span_id) ++agent_children;
  CHECK(agent_children == 3);
  CHECK(tct::find(d.spans, "chat planner-small")->attrs.at("gen_ai.operation.name").s == "chat");
  CHECK(tct::find(d.spans, "execute_tool search")->attrs.at("gen_ai.tool.name").s == "search");

  // Scheduler steps link the requests they served.
  std::set<std::string> root_ids;
  for (const auto& s : d.spans)
    if (s.name == "POST /v1/chat/completions") root_ids.insert(s.span_id);
  int steps = 0;
  for (const auto* step : tct::find_all(d.spans, "scheduler.step")) {
    ++steps;
    CHECK_FALSE(step->links.empty());
    CHECK(static_cast<std::int64_t>(step->links.size()) == step->attrs.at("tracecraft.step.batch_size").i);
    for (const auto& l : step->links) CHECK(root_ids.count(l.span_id) == 1);
  }
  CHECK(steps > 0);
}

TEST_CASE("tracecraft-demo: same seed, same workload and trace ids; another seed, other ids") {
  tct::temp_dir dir;
  const auto a = run_demo(dir, "a", {"--requests", "40", "--seed", "11"});
  const auto b = run_demo(dir, "b", {"--requests", "40", "--seed", "11"});
  const auto c = run_demo(dir, "c", {"--requests", "40", "--seed", "12"});
  REQUIRE(a.r.exit_code == 0);
  const auto ia = request_trace_ids(a.spans), ib = request_trace_ids(b.spans), ic = request_trace_ids(c.spans);
  CHECK(ia.size() == 40);
  CHECK(ia == ib);
  CHECK(ia != ic);
  CHECK(field(a.summary, "requests_failed") == field(b.summary, "requests_failed"));
}

TEST_CASE("tracecraft-demo: --prompts with payload capture records each prompt as the request input") {
  tct::temp_dir dir;
  {
    std::FILE* f = std::fopen(dir.file("prompts.txt").c_str(), "w");
    std::fputs("first prompt line\nsecond \"quoted\" prompt\nthird prompt with unicode \xC3\xA9\n", f);
    std::fclose(f);
  }
  const auto d = run_demo(dir, "p", {"--requests", "9", "--prompts", dir.file("prompts.txt")},
                          {"TRACECRAFT_CAPTURE_PAYLOADS=true"});
  REQUIRE(d.r.exit_code == 0);
  std::map<std::int64_t, std::string> inputs;
  for (const auto& s : d.spans)
    if (s.name == "POST /v1/chat/completions") inputs[s.attrs.at("tracecraft.request.id").i] = s.attrs.at("input.value").s;
  REQUIRE(inputs.size() == 9);
  CHECK(inputs[0] == "first prompt line");
  CHECK(inputs[1] == "second \"quoted\" prompt");
  CHECK(inputs[2] == "third prompt with unicode \xC3\xA9");
  CHECK(inputs[3] == "first prompt line");  // cycles
  CHECK(inputs[8] == "third prompt with unicode \xC3\xA9");
}

TEST_CASE("tracecraft-demo --prompts with payload capture: no sensitive string reaches the JSONL, harmless prompts unchanged") {
  tct::temp_dir dir;
  // Each sensitive line holds one secret (the part after "|" is what must never appear).
  const std::vector<std::pair<std::string, std::string>> sensitive = {
      {"please mail the invoice to jane.doe@example.com today", "jane.doe@example.com"},
      {"my card is 4111 1111 1111 1111, expiry next year", "4111 1111 1111 1111"},
      {"amex 378282246310005 was declined", "378282246310005"},
      {"call me on (415) 555-0132 after five", "555-0132"},
      {"here is my key sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123 please debug", "AbCdEfGhIjKlMnOpQrStUvWx0123"},
      {"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
      {"the id is AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"},
      {"login with Password: Tr0ub4dor&3 fails", "Tr0ub4dor"},
      {"curl -H 'Authorization: Bearer abc.def-ghi_jkl~mno' https://api", "abc.def-ghi_jkl~mno"},
      {"ssn 123-45-6789 on the form", "123-45-6789"},
      {"the db host is 10.20.30.40 in staging", "10.20.30.40"},
      {"token ghp_abcdefghijklmnopqrstuvwxyz0123456789 leaked", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"},
      {"{\"api_key\": \"abcd1234efgh5678\", \"model\": \"x\"}", "abcd1234efgh5678"},
  };
  const std::vector<std::string> harmless = {
      "run the risk-assessment for task-management-service v2.14.3",
      "commit 3f786850e387550fdab836ed7e6dc881de23001b broke the build at 2026-11-21T22:34:07Z",
      "request 123e4567-e89b-12d3-a456-426614174000 for order ORD-2024-000123 took 41.7 ms",
      "summarise the quarterly report in three bullet points",
  };
  {
    std::FILE* f = std::fopen(dir.file("prompts.txt").c_str(), "w");
    REQUIRE(f);
    for (const auto& [line, secret] : sensitive) std::fprintf(f, "%s\n", line.c_str());
    for (const auto& line : harmless) std::fprintf(f, "%s\n", line.c_str());
    std::fclose(f);
  }
  const int n = static_cast<int>(sensitive.size() + harmless.size());
  const auto d = run_demo(dir, "r", {"--requests", std::to_string(n), "--agent-rate", "1", "--prompts", dir.file("prompts.txt")},
                          {"TRACECRAFT_CAPTURE_PAYLOADS=true"});
  REQUIRE(d.r.exit_code == 0);
  const std::string raw = tct::slurp(dir.file("r.jsonl"));
  for (const auto& [line, secret] : sensitive) CHECK_MESSAGE(raw.find(secret) == std::string::npos, "leaked: " << secret);
  std::map<std::int64_t, std::string> inputs;
  for (const auto& s : d.spans)
    if (s.name == "POST /v1/chat/completions") inputs[s.attrs.at("tracecraft.request.id").i] = s.attrs.at("input.value").s;
  REQUIRE(inputs.size() == static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < sensitive.size(); ++i)
    CHECK_MESSAGE(inputs[static_cast<std::int64_t>(i)].find("[REDACTED:") != std::string::npos, sensitive[i].first);
  for (std::size_t i = 0; i < harmless.size(); ++i)
    CHECK(inputs[static_cast<std::int64_t>(sensitive.size() + i)] == harmless[i]);
  // The agent path's llm step captured the same prompts: redacted there too (the raw check above).
  CHECK(raw.find("[REDACTED:email]") != std::string::npos);
}

TEST_CASE("tracecraft-demo: sampling at 10% records whole traces or nothing, and counts the rest") {
  tct::temp_dir dir;
  const auto d = run_demo(dir, "s", {"--requests", "300"}, {"TRACECRAFT_SAMPLING_RATE=0.1"});
  REQUIRE(d.r.exit_code == 0);
  const auto created = field(d.summary, "spans_created"), exported = field(d.summary, "spans_exported");
  const auto sampled_out = field(d.summary, "spans_sampled_out");
  CHECK(created == exported + sampled_out);
  CHECK(sampled_out > exported);
  std::map<std::string, int> per_trace;
  for (const auto& s : d.spans) ++per_trace[s.trace_id];
  for (const auto& s : d.spans)
    if (s.name == "POST /v1/chat/completions") CHECK(per_trace[s.trace_id] >= 4);  // root, queue, prefill, decode
  const auto roots = request_trace_ids(d.spans).size();
  CHECK(roots > 5);
  CHECK(roots < 70);
}

TEST_CASE("tracecraft-demo --untraced runs the same workload without the engine") {
  tct::temp_dir dir;
  const auto d = run_demo(dir, "u", {"--requests", "30", "--untraced"});
  REQUIRE(d.r.exit_code == 0);
  CHECK(d.spans.empty());
  CHECK(field(d.summary, "spans_created") == 0);
  CHECK(d.summary.find("\"traced\":false") != std::string::npos);
}

TEST_CASE("the console exporter prints a readable tree per trace") {
  tct::temp_dir dir;
  const auto r = tct::run(TC_DEMO_PATH, {"--requests", "3", "--agent-rate", "1"}, {"OTEL_TRACES_EXPORTER=console"}, dir.path);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("trace ") != std::string::npos);
  CHECK(r.out.find("  POST /v1/chat/completions [SERVER]") != std::string::npos);
  CHECK(r.out.find("    invoke_agent planner [agent]") != std::string::npos);
  CHECK(r.out.find("      retrieval docs [retrieval]") != std::string::npos);
  CHECK(r.out.find(" ms") != std::string::npos);
  CHECK(r.out.find("gen_ai.request.model=demo-llm-8b") != std::string::npos);
}
