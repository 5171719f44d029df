// SPDX-License-Identifier: Apache-2.0
// The redactor (redact/): for every default pattern, strings it must catch and near-misses that
// must survive untouched; Luhn; each mode's exact output; the keyed hash; custom patterns (a
// rejected one reported while the others work); the allowlist; defaults turned off by name.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <cstdlib>
#include <random>

#include <simdjson.h>

#include "redact/json_payload.h"
#include "redact/redactor.h"

using namespace tracecraft::detail;

namespace {

std::unique_ptr<redactor> make(redact_settings s = {}) {
  std::vector<std::string> problems;
  auto r = redactor::create(s, problems);
  INFO(problems.size());
  for (const auto& p : problems) MESSAGE(p);
  REQUIRE(r);
  return r;
}

std::string run(redactor& r, const std::string& in) {
  std::string out;
  switch (r.scan(in, out)) {
    case redactor::result::clean: return in;
    case redactor::result::redacted: return out;
    case redactor::result::failed: return "<failed>";
  }
  return "<?>";
}

struct pattern_case {
  const char* name;
  std::vector<std::pair<std::string, std::string>> caught;  // input, exact output
  std::vector<std::string> survive;
};

const pattern_case k_cases[] = {
    {"email",
     {{"mail jane.doe+tag@example.co.uk now", "mail [REDACTED:email] now"},
      {"<j@x.io>", "<[REDACTED:email]>"}},
     {"user@localhost", "a @ b.com", "version 1.2.3", "see docs/api@v2"}},
    {"phone",
     {{"call 415-555-0132 today", "call [REDACTED:phone] today"},
      {"(415) 555-0132", "[REDACTED:phone]"},
      {"+44 20 7946 0958", "[REDACTED:phone]"},
      {"tel +1 415.555.0132.", "tel [REDACTED:phone]."}},
     {"2026-11-21T22:34:07Z", "2026-11-21 22:34:07.123", "id 4155550132", "order 2024-000123", "10:30:45",
      "123e4567-e89b-12d3-a456-426614174000", "build 20261121223407"}},
    {"credit_card",
     {{"card 4111 1111 1111 1111 ok", "card [REDACTED:credit_card] ok"},
      {"4111111111111111", "[REDACTED:credit_card]"},
      {"amex 3782-822463-10005", "amex [REDACTED:credit_card]"},
      {"mc 5555555555554444", "mc [REDACTED:credit_card]"}},
     {"4111 1111 1111 1112", "ts 1732230847123", "order 1234567890123456", "3f786850e387550fdab836ed7e6dc881de23001b"}},
    {"us_ssn", {{"ssn 123-45-6789.", "ssn [REDACTED:us_ssn]."}}, {"000-12-3456", "666-12-3456", "123-00-4567", "2026-11-21"}},
    {"openai_key",
     {{"key sk-abcdefghijklmnopqrstuvwxyz012345", "key [REDACTED:openai_key]"},
      {"sk-proj-AbCdEfGhIjKlMnOpQrStUvWx_yz-0123", "[REDACTED:openai_key]"}},
     {"risk-assessment", "task-management-service", "disk-usage-monitoring-service-v2", "sk-short"}},
    {"anthropic_key", {{"sk-ant-api03-abcdefghijklmnopqrstuvwxyz", "[REDACTED:anthropic_key]"}}, {"ask-ant-colony"}},
    {"aws_access_key_id", {{"id AKIAIOSFODNN7EXAMPLE,", "id [REDACTED:aws_access_key_id],"}}, {"AKIA", "AKIAIOSFODNN7EXAMPL"}},
    {"aws_secret_key",
     {{"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_secret_access_key = [REDACTED:aws_secret_key]"},
      {"\"AWS_SECRET_ACCESS_KEY\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"",
       "\"AWS_SECRET_ACCESS_KEY\": \"[REDACTED:aws_secret_key]\""}},
     {"commit 3f786850e387550fdab836ed7e6dc881de23001b", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}},
    {"github_token", {{"ghp_abcdefghijklmnopqrstuvwxyz0123456789", "[REDACTED:github_token]"}}, {"ghp_short", "github_pages"}},
    {"google_api_key", {{"AIzaSyA-abcdefghijklmnopqrstuvwxyz01234", "[REDACTED:google_api_key]"}}, {"AIza short"}},
    {"slack_token", {{"xoxb-123456789012-abcdefghij", "[REDACTED:slack_token]"}}, {"xoxo-hugs"}},
    {"stripe_key", {{"sk_live_abcdefghijklmnop1234", "[REDACTED:stripe_key]"}, {"pk_test_0123456789abcdefgh", "[REDACTED:stripe_key]"}},
     {"sk_live_short"}},
    {"jwt",
     {{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
       "[REDACTED:jwt]"}},
     {"eyJ alone"}},
    {"bearer_token",
     {{"Authorization: Bearer abcdef0123456789.opaque-token~", "Authorization: Bearer [REDACTED:bearer_token]"},
      {"authorization: bearer s3cr3tOpaqueValue==", "authorization: bearer [REDACTED:bearer_token]"}},
     {"the bearer of bad news"}},
    {"azure_account_key",
     {{"DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abcdefghijklmnopqrstuvwxyz0123456789+/AB==;",
       "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=[REDACTED:azure_account_key];"}},
     {"AccountKey=short"}},
    {"api_key",
     {{"api_key=abcdef1234567890", "api_key=[REDACTED:api_key]"},
      {"{\"api_key\": \"abcdef1234567890\"}", "{\"api_key\": \"[REDACTED:api_key]\"}"},
      {"X-API-Key: 0123456789abcdef", "X-API-Key: [REDACTED:api_key]"}},
     {"the api key rotation runbook", "apikey"}},
    {"password",
     {{"Password: hunter2!", "Password: [REDACTED:password]"},
      {"db password=s3cr3t;host=x", "db password=[REDACTED:password];host=x"},
      {"{\"client_secret\":\"abc123\"}", "{\"client_secret\":\"[REDACTED:password]\"}"}},
     {"reset your password in settings", "token bucket", "password-reset-service"}},
    {"private_key",
     {{"x -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY----- y", "x [REDACTED:private_key] y"},
      {"-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----", "[REDACTED:private_key]"}},
     {"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----", "-----BEGIN RSA PRIVATE KEY----- (truncated)"}},
    {"ipv4",
     {{"from 10.0.0.12:443", "from [REDACTED:ipv4]:443"}, {"192.168.1.255", "[REDACTED:ipv4]"}},
     {"version 1.2.3", "v1.2.3.4", "1.2.3.4.5", "999.1.1.1", "release 2026.11.21"}},
};

}  // namespace

TEST_SUITE("redact") {
  TEST_CASE("every default pattern: what it catches (exact output) and the near-misses it leaves") {
    auto r = make();
    CHECK(r->pattern_count() == default_pattern_names().size());
    std::size_t covered = 0;
    for (const auto& c : k_cases) {
      ++covered;
      for (const auto& [in, want] : c.caught) CHECK_MESSAGE(run(*r, in) == want, std::string(c.name) << ": " << in);
      for (const auto& in : c.survive) CHECK_MESSAGE(run(*r, in) == in, std::string(c.name) << " near-miss: " << in);
    }
    CHECK(covered == default_pattern_names().size());  // a case for every default pattern
    // Ordinary engineering text survives whole.
    const std::string prose =
        "Deployed task-management-service v2.14.3 (commit 3f786850e387550fdab836ed7e6dc881de23001b) at "
        "2026-11-21T22:34:07.123Z; trace 4bf92f3577b34da6a3ce929d0e0e4736, request 123e4567-e89b-12d3-a456-426614174000, "
        "order ORD-2024-000123, p99 41.7 ms, risk-assessment passed.";
    CHECK(run(*r, prose) == prose);
  }

  TEST_CASE("Luhn") {
    CHECK(luhn_ok("4111111111111111"));
    CHECK(luhn_ok("378282246310005"));
    CHECK(luhn_ok("4111 1111 1111 1111"));
    CHECK_FALSE(luhn_ok("4111111111111112"));
    CHECK_FALSE(luhn_ok(""));
  }

  TEST_CASE("modes: mask, hash (keyed, stable, different across keys), remove") {
    const std::string in = "mail bob@example.com and bob@example.com, not alice@example.com";
    CHECK(run(*make(), in) == "mail [REDACTED:email] and [REDACTED:email], not [REDACTED:email]");
    redact_settings h;
    h.mode = redact_mode::hash;
    h.hash_key = "key-one";
    const std::string a = run(*make(h), in);
    CHECK(a.rfind("mail [HASH:", 0) == 0);
    CHECK(a.size() == 5 + 23 + 5 + 23 + 6 + 23);  // "[HASH:" + 16 hex + "]" for each
    const auto first = a.substr(5, 23), second = a.substr(33, 23);
    CHECK(first == second);  // equal values correlate
    CHECK(a.find(first, 40) == std::string::npos);  // alice differs
    CHECK(run(*make(h), in) == a);  // stable under one key
    h.hash_key = "key-two";
    CHECK(run(*make(h), in) != a);  // another key, another hash
    redact_settings rm;
    rm.mode = redact_mode::remove;
    CHECK(run(*make(rm), in) == "mail  and , not ");
    // Whole-value replacement (field rules) follows the mode.
    std::string out;
    make()->replace_whole("anything", "field", out);
    CHECK(out == "[REDACTED:field]");
  }

  TEST_CASE("SipHash-2-4 test vector") {
    // The paper's vector: key 00..0f, message 00..0e (15 bytes) -> a129ca6149be45e5.
    const std::uint64_t key[2] = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
    unsigned char msg[15];
    for (int i = 0; i < 15; ++i) msg[i] = static_cast<unsigned char>(i);
    CHECK(siphash24(key, msg, 15) == 0xa129ca6149be45e5ull);
  }

  TEST_CASE("custom patterns; a rejected one is reported with the compiler's message, the others work") {
    redact_settings s;
    s.custom = {{"employee_id", "EMP-[0-9]{6}"}, {"broken", "(unclosed"}, {"badref", "(a)\\1"}};
    std::vector<std::string> problems;
    auto r = redactor::create(s, problems);
    REQUIRE(r);
    REQUIRE(problems.size() == 2);
    CHECK(problems[0].find("'broken'") != std::string::npos);
    CHECK(problems[0].find("rejected by Hyperscan") != std::string::npos);
    CHECK(problems[1].find("'badref'") != std::string::npos);
    CHECK(run(*r, "badge EMP-123456 for jane@example.com") == "badge [REDACTED:employee_id] for [REDACTED:email]");
  }

  TEST_CASE("allowlist: exact values and whole-value regexes are never redacted") {
    redact_settings s;
    s.allow_values = {"support@example.com"};
    s.allow_patterns = {".*@tracecraft\\.dev"};
    auto r = make(s);
    CHECK(run(*r, "write support@example.com or ops@tracecraft.dev, not jane@example.com") ==
          "write support@example.com or ops@tracecraft.dev, not [REDACTED:email]");
  }

  TEST_CASE("default patterns turned off by name") {
    redact_settings s;
    s.disabled = {"ipv4", "phone"};
    auto r = make(s);
    CHECK(r->pattern_count() == default_pattern_names().size() - 2);
    CHECK(run(*r, "10.0.0.1 415-555-0132 a@b.io") == "10.0.0.1 415-555-0132 [REDACTED:email]");
    s.disabled = {"all"};
    std::vector<std::string> problems;
    CHECK_FALSE(redactor::create(s, problems));  // nothing left: said so
    CHECK(problems.size() == 1);
  }

  TEST_CASE("counters: values, bytes, matches per pattern") {
    auto r = make();
    run(*r, "a@b.io and c@d.io");
    run(*r, "clean text");
    CHECK(r->stats().values == 2);
    CHECK(r->stats().bytes == 27);
    const auto& names = r->names();
    const auto at = std::find(names.begin(), names.end(), "email") - names.begin();
    CHECK(r->stats().matches[static_cast<std::size_t>(at)] == 2);
  }
}

TEST_SUITE("redact json") {
  std::vector<json_path> paths(std::initializer_list<const char*> texts) {
    std::vector<json_path> out;
    for (const char* t : texts) {
      json_path p;
      REQUIRE(parse_json_path(t, p));
      out.push_back(p);
    }
    return out;
  }

  bool valid_json(const std::string& s) {
    simdjson::dom::parser p;
    simdjson::dom::element e;
    return p.parse(s).get(e) == simdjson::SUCCESS;
  }

  TEST_CASE("paths") {
    json_path p;
    CHECK(parse_json_path("messages[*].content", p));
    REQUIRE(p.steps.size() == 3);
    CHECK(p.steps[1].any);
    CHECK(parse_json_path("choices[0].message.content", p));
    CHECK(p.steps[1].n == 0);
    CHECK(parse_json_path("[*].text", p));
    CHECK_FALSE(parse_json_path("", p));
    CHECK_FALSE(parse_json_path("a..b", p));
    CHECK_FALSE(parse_json_path("a[x]", p));
    CHECK_FALSE(parse_json_path("a[1", p));
  }

  TEST_CASE("an OpenAI-style body: strings scanned, keys and numbers kept, secret keys replaced, valid JSON out") {
    auto r = make();
    const std::string in = R"({"model": "gpt-4o", "messages": [{"role": "user", "content": "mail jane@example.com, card 4111111111111111"},
      {"role": "system", "content": "be brief"}], "temperature": 0.2, "n": 3, "stream": true, "stop": null,
      "api_key": "abcd1234efgh5678", "Authorization": "Basic dXNlcjpwYXNz"})";
    std::string out;
    bool changed = false;
    REQUIRE(redact_json(*r, in, {}, out, changed));
    CHECK(changed);
    CHECK(valid_json(out));
    CHECK(out == R"({"model":"gpt-4o","messages":[{"role":"user","content":"mail [REDACTED:email], card [REDACTED:credit_card]"},)"
                 R"({"role":"system","content":"be brief"}],"temperature":0.2,"n":3,"stream":true,"stop":null,)"
                 R"("api_key":"[REDACTED:api_key]","Authorization":"[REDACTED:bearer_token]"})");
  }

  TEST_CASE("configured paths are replaced whole; other paths are scanned") {
    auto r = make();
    const std::string in = R"({"messages":[{"content":"anything at all"},{"content":"more"}],"choices":[{"message":{"content":"x@y.io"}}, {"message":{"content":"keep"}}]})";
    std::string out;
    bool changed = false;
    REQUIRE(redact_json(*r, in, paths({"messages[*].content", "choices[1].message.content"}), out, changed));
    CHECK(out == R"({"messages":[{"content":"[REDACTED:path]"},{"content":"[REDACTED:path]"}],)"
                 R"("choices":[{"message":{"content":"[REDACTED:email]"}},{"message":{"content":"[REDACTED:path]"}}]})");
    CHECK(valid_json(out));
  }

  TEST_CASE("not JSON, or invalid JSON: handled as text by the caller") {
    auto r = make();
    std::string out;
    bool changed = false;
    CHECK_FALSE(redact_json(*r, "plain text with a@b.io", {}, out, changed));
    CHECK_FALSE(redact_json(*r, R"({"a": "b@c.io", )", {}, out, changed));
    CHECK_FALSE(redact_json(*r, "[1, 2", {}, out, changed));
    CHECK(run(*r, R"({"a": "b@c.io", )") == R"({"a": "[REDACTED:email]", )");  // the text scan still catches it
    REQUIRE(redact_json(*r, " [1, 2.5, \"ok\"] ", {}, out, changed));
    CHECK_FALSE(changed);
  }

  TEST_CASE("the fast paths (digit patterns over digit runs, e-mail from '@') find exactly what the full regexes in one database find") {
    redact_settings ref_settings;
    ref_settings.single_database = true;
    auto fast = make();
    auto ref = make(ref_settings);
    std::mt19937_64 rng(11);
    // Digits, every separator the digit patterns use, letters and '_' (boundaries), and PII.
    const std::string alphabet = "0123456789 ().+-_aZx\n,;:/@.@ioc%";
    const std::vector<std::string> pieces = {"4111 1111 1111 1111", "378282246310005", "4111-1111-1111-1111", "123-45-6789",
                                             "415-555-0132", "(415) 555-0132", "+44 20 7946 0958", "+1.415.555.0132",
                                             "10.0.0.1", "192.168.1.254", "1.2.3.4", "8.8.4.4", "1.2.3.4.5", "2026-11-21T22:34:07Z", "v2.14.3",
                                             "ORD-2024-000123", "x4111111111111111", "4111111111111111_", "jane@example.com",
                                             "a@b.c", "x@y.co.uk", "a@b@c.io", "j@x.io_", "m@-a.io", "a@b..io", "u@d.c0m",
                                             "u@d.com-x", "u@d.com.", ".a%b+c@mail-1.example.org", "@x.io", "a@x.io@y.org"};
    std::size_t redacted = 0;
    std::string_view out_fast[4], out_ref[4];
    for (int it = 0; it < 20000; ++it) {
      std::string v[4];
      for (auto& one : v) {
        const std::size_t n = rng() % 10;
        for (std::size_t i = 0; i < n; ++i) {
          if (rng() % 3 == 0) {
            one += pieces[rng() % pieces.size()];
          } else {
            const std::size_t run = 1 + rng() % 20;
            for (std::size_t k = 0; k < run; ++k) one += alphabet[rng() % alphabet.size()];
          }
        }
      }
      const std::string_view in[4] = {v[0], v[1], v[2], v[3]};
      const std::size_t n = 1 + rng() % 4;  // one value, or several joined into one scan
      redactor::result rf[4], rr[4];
      fast->scan_many(in, n, out_fast, rf);
      ref->scan_many(in, n, out_ref, rr);
      for (std::size_t i = 0; i < n; ++i) {
        INFO("value: " << v[i]);
        REQUIRE(rf[i] == rr[i]);
        if (rf[i] == redactor::result::redacted) {
          REQUIRE(out_fast[i] == out_ref[i]);
          ++redacted;
        }
      }
    }
    CHECK(redacted > 10000);  // the comparison covered many redactions, not only clean text
    CHECK(fast->stats().matches == ref->stats().matches);
  }

  TEST_CASE("fuzz (replay): random bytes and random JSON never crash; valid UTF-8 stays valid; JSON stays JSON") {
    std::size_t iterations = 20000;
    if (const char* env = std::getenv("TC_FUZZ_ITERATIONS")) iterations = std::strtoull(env, nullptr, 10) / 10 + 1;
    auto r = make();
    std::mt19937_64 rng(5);
    const std::vector<std::string> pieces = {"jane@example.com", "4111 1111 1111 1111", "sk-abcdefghijklmnopqrstuvwxyz01", "password=x",
                                             "\u00e9", "caf\xC3\xA9", "\"", "\\", "{", "}", "[", "]", ",", ":", " ", "10.0.0.1",
                                             "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----", "\n", "415-555-0132",
                                             "Bearer abcdefghijkl", "AKIAIOSFODNN7EXAMPLE", "\xF0\x9F\x98\x80", "123"};
    auto valid_utf8 = [](std::string_view s) {
      return simdjson::validate_utf8(s.data(), s.size());
    };
    std::string out;
    std::size_t json_seen = 0;
    for (std::size_t it = 0; it < iterations; ++it) {
      std::string in;
      const int kind = static_cast<int>(rng() % 3);
      if (kind == 0) {  // random bytes
        const std::size_t n = rng() % 200;
        for (std::size_t i = 0; i < n; ++i) in += static_cast<char>(rng() & 0xff);
      } else if (kind == 1) {  // pieces of text and PII
        const std::size_t n = rng() % 12;
        for (std::size_t i = 0; i < n; ++i) in += pieces[rng() % pieces.size()];
      } else {  // random JSON: an object of strings, numbers and arrays with PII inside
        in = "{";
        const std::size_t n = rng() % 6;
        for (std::size_t i = 0; i < n; ++i) {
          if (i) in += ",";
          in += "\"k" + std::to_string(i) + "\":";
          switch (rng() % 4) {
            case 0: in += "\"" + pieces[rng() % 4] + " and " + pieces[rng() % 4] + "\""; break;
            case 1: in += std::to_string(rng() % 100000); break;
            case 2: in += "[\"" + pieces[rng() % 4] + "\", 1, null, true]"; break;
            default: in += "{\"api_key\": \"abcdef123456\", \"x\": \"10.0.0.1\"}"; break;
          }
        }
        in += "}";
      }
      const redactor::result res = r->scan(in, out);
      REQUIRE(res != redactor::result::failed);
      if (valid_utf8(in) && res == redactor::result::redacted) REQUIRE(valid_utf8(out));
      bool changed = false;
      if (redact_json(*r, in, {}, out, changed)) {
        ++json_seen;
        REQUIRE(valid_json(out));
        REQUIRE(out.find("jane@example.com") == std::string::npos);
        REQUIRE(out.find("abcdef123456") == std::string::npos);
      }
    }
    MESSAGE("JSON inputs: " << json_seen << " of " << iterations);
    CHECK(json_seen > iterations / 4);
  }
}
