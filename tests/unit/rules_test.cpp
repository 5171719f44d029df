// SPDX-License-Identifier: Apache-2.0
// Sampling rules (sampler/rules): the compact syntax, the JSON form, globs, and matching with
// ANDed conditions. Malformed rules are reported with their text and skipped.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "sampler/rules.h"

using namespace tracecraft::detail;
using tracecraft::sampling_rule;

namespace {

struct fake_root {
  std::map<std::string, std::string> attrs;
};

bool lookup(const void* ctx, std::string_view key, std::string& text) {
  const auto& a = static_cast<const fake_root*>(ctx)->attrs;
  auto it = a.find(std::string(key));
  if (it == a.end()) return false;
  text = it->second;
  return true;
}

rule_subject subject(const fake_root& r, std::string_view name, bool error = false, std::uint64_t ms = 0) {
  rule_subject s;
  s.root_seen = true;
  s.root_name = name;
  s.error = error;
  s.root_duration_ns = ms * 1000000;
  s.attribute = &lookup;
  s.ctx = &r;
  return s;
}

}  // namespace

TEST_SUITE("rules") {
  TEST_CASE("globs") {
    CHECK(glob_match("process_*", "process_payment"));
    CHECK(glob_match("*", ""));
    CHECK(glob_match("a?c", "abc"));
    CHECK_FALSE(glob_match("a?c", "ac"));
    CHECK(glob_match("*pay*", "refund_payment_v2"));
    CHECK_FALSE(glob_match("process_*", "reprocess_x"));
    CHECK(glob_match("GET /healthz", "GET /healthz"));
    CHECK_FALSE(glob_match("GET /healthz", "GET /healthz2"));
  }

  TEST_CASE("the compact syntax") {
    std::vector<sampling_rule> rules;
    std::vector<std::string> problems;
    parse_rules_compact(" payments:rate=1,name=process_payment|refund_*,attr=tenant ; health:rate=0.01,tag=http.route:/healthz;"
                        "auth:rate=1,error=true,attr=auth;slow:rate=0.5,min_duration_ms=10000",
                        rules, problems);
    CHECK(problems.empty());
    REQUIRE(rules.size() == 4);
    CHECK(rules[0].name == "payments");
    CHECK(rules[0].rate == 1.0);
    CHECK(rules[0].match_names == std::vector<std::string>{"process_payment", "refund_*"});
    REQUIRE(rules[0].match_attributes.size() == 1);
    CHECK(rules[0].match_attributes[0].any_value);
    CHECK(rules[1].match_attributes[0].key == "http.route");
    CHECK(rules[1].match_attributes[0].value == "/healthz");
    CHECK_FALSE(rules[1].match_attributes[0].any_value);
    CHECK(rules[2].match_error);
    CHECK(rules[3].min_duration_ms == 10000);
  }

  TEST_CASE("malformed compact rules: each reported with its text, skipped; the rest apply") {
    std::vector<sampling_rule> rules;
    std::vector<std::string> problems;
    parse_rules_compact("good:rate=1,name=a;no colon here;noconds:rate=1;badrate:rate=2,name=x;norate:name=y;"
                        "weird:rate=1,colour=red;bad name!:rate=1,name=z;also_good:rate=0,error=true",
                        rules, problems);
    REQUIRE(rules.size() == 2);
    CHECK(rules[0].name == "good");
    CHECK(rules[1].name == "also_good");
    REQUIRE(problems.size() == 6);
    CHECK(problems[0].find("'no colon here'") != std::string::npos);
    CHECK(problems[1].find("'noconds:rate=1'") != std::string::npos);
    CHECK(problems[1].find("no condition") != std::string::npos);
    CHECK(problems[2].find("rate '2'") != std::string::npos);
    CHECK(problems[3].find("no rate") != std::string::npos);
    CHECK(problems[4].find("unknown setting 'colour'") != std::string::npos);
    CHECK(problems[5].find("'bad name!:rate=1,name=z'") != std::string::npos);
    for (const auto& p : problems) CHECK(p.find("skipped") != std::string::npos);
  }

  TEST_CASE("the JSON form (simdjson), and malformed entries") {
    std::vector<sampling_rule> rules;
    std::vector<std::string> problems;
    parse_rules_json(R"({"rules": [
        {"name": "payments", "rate": 1, "match_names": ["process_*"], "match_attributes": {"tenant": null, "tier": "gold", "n": 3}},
        {"name": "tags", "rate": 0.25, "match_tags": ["health_check", "internal"]},
        {"name": "errors", "rate": 1.0, "match_error": true, "min_duration_ms": 250},
        {"name": "broken", "rate": "high", "match_error": true},
        {"rate": 1, "match_error": true},
        {"name": "nothing", "rate": 1},
        {"name": "extra", "rate": 1, "match_error": true, "colour": "red"},
        42
      ]})",
                     rules, problems);
    REQUIRE(rules.size() == 3);
    CHECK(rules[0].match_attributes.size() == 3);
    CHECK(rules[0].match_attributes[0].any_value);
    CHECK(rules[0].match_attributes[1].value == "gold");
    CHECK(rules[0].match_attributes[2].value == "3");
    CHECK(rules[1].rate == 0.25);
    CHECK(rules[1].match_attributes.size() == 2);
    CHECK(rules[2].min_duration_ms == 250);
    REQUIRE(problems.size() == 5);
    CHECK(problems[0].find("\"rate\":\"high\"") != std::string::npos);  // the offending text is shown
    CHECK(problems[4].find("42") != std::string::npos);
    std::vector<sampling_rule> arr;
    problems.clear();
    parse_rules_json(R"([{"name": "a", "rate": 1, "match_error": true}])", arr, problems);
    CHECK(arr.size() == 1);
    parse_rules_json("{not json", arr, problems);
    CHECK(problems.size() == 1);
  }

  TEST_CASE("conditions are ANDed; names and attributes match any of theirs") {
    std::vector<sampling_rule> rules;
    std::vector<std::string> problems;
    parse_rules_compact("r:rate=1,name=process_*|refund,attr=tenant|tier:gold,error=true,min_duration_ms=100", rules, problems);
    REQUIRE(rules.size() == 1);
    const sampling_rule& r = rules[0];
    fake_root with_tenant{{{"tenant", "acme"}}};
    fake_root gold{{{"tier", "gold"}}};
    fake_root silver{{{"tier", "silver"}}};
    CHECK(rule_matches(r, subject(with_tenant, "process_payment", true, 100)));  // inclusive duration
    CHECK(rule_matches(r, subject(gold, "refund", true, 500)));
    CHECK_FALSE(rule_matches(r, subject(silver, "refund", true, 500)));         // attribute value differs
    CHECK_FALSE(rule_matches(r, subject(with_tenant, "checkout", true, 500)));  // name
    CHECK_FALSE(rule_matches(r, subject(with_tenant, "process_payment", false, 500)));  // no error
    CHECK_FALSE(rule_matches(r, subject(with_tenant, "process_payment", true, 99)));    // too fast
    rule_subject rootless;
    rootless.error = true;
    CHECK_FALSE(rule_matches(r, rootless));  // name and duration need the root
  }
}
