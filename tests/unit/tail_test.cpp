// SPDX-License-Identifier: Apache-2.0
// The tail table's own structures: the open-addressing trace-id map against std::unordered_map
// under random inserts and erases (backward-shift deletion is easy to get wrong), the record
// buffer's entries, and the table's accounting: every record added is settled exactly once, by
// its trace's decision, through eviction, the wait, late arrival or the final decision.
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "sampler/tail.h"

namespace td = tracecraft::detail;

TEST_CASE("trace_id_map agrees with std::unordered_map under random inserts and erases") {
  std::mt19937_64 rng(7);
  td::trace_id_map<std::uint32_t> m(rng());
  std::unordered_map<std::uint64_t, std::uint32_t> ref;
  auto key_of = [](std::uint64_t x) { return td::trace_key{x * 0x9E3779B97F4A7C15ull, ~x}; };
  for (int op = 0; op < 300000; ++op) {
    const std::uint64_t x = rng() % 4000;  // a small pool: many erases of present keys, long probe runs
    const td::trace_key k = key_of(x);
    switch (rng() % 3) {
      case 0: {
        const auto v = static_cast<std::uint32_t>(rng());
        m[k] = v;
        ref[x] = v;
        break;
      }
      case 1:
        m.erase(k);
        ref.erase(x);
        break;
      default: {
        const std::uint32_t* v = m.find(k);
        const auto it = ref.find(x);
        REQUIRE((v != nullptr) == (it != ref.end()));
        if (v != nullptr) REQUIRE(*v == it->second);
      }
    }
    REQUIRE(m.size() == ref.size());
  }
  for (std::uint64_t x = 0; x < 4000; ++x) {  // every key, at the end
    const std::uint32_t* v = m.find(key_of(x));
    const auto it = ref.find(x);
    REQUIRE((v != nullptr) == (it != ref.end()));
    if (v != nullptr) CHECK(*v == it->second);
  }
}

TEST_CASE("tail_records: entries come back as appended, records 8-byte aligned") {
  std::mt19937_64 rng(11);
  td::tail_records r;
  for (int round = 0; round < 3; ++round) {  // reused after clear(): the same buffer
    r.clear();
    std::vector<std::pair<std::string, std::string>> want;
    for (int i = 0; i < 200; ++i) {
      std::string j(rng() % 3 == 0 ? rng() % 40 : 0, 'j'), rec(8 + rng() % 300, 'r');
      for (auto& c : j) c = static_cast<char>(rng());
      for (auto& c : rec) c = static_cast<char>(rng());
      REQUIRE(r.append(j, reinterpret_cast<const unsigned char*>(rec.data()), rec.size()));
      want.emplace_back(j, rec);
    }
    REQUIRE(r.count() == want.size());
    std::size_t i = 0;
    for (const td::tail_records::entry e : r) {
      REQUIRE(i < want.size());
      CHECK(e.joined == want[i].first);
      CHECK(e.record == want[i].second);
      CHECK(reinterpret_cast<std::uintptr_t>(e.record.data()) % 8 == 0);
      ++i;
    }
    CHECK(i == want.size());
    CHECK(r.front().record == want[0].second);
  }
}

namespace {

// Keeps traces whose first record's first byte is odd; counts every record settled.
struct counting_sink final : td::tail_sink {
  std::uint64_t settled = 0, kept = 0, evicted = 0, judged = 0;
  std::map<std::string, int> seen;  // record bytes -> times settled
  td::tail_decision judge(const td::tail_trace& t) noexcept override {
    ++judged;
    td::tail_decision d;
    const bool odd = (static_cast<unsigned char>(t.records->front().record[0]) & 1) != 0;
    d.verdict = t.error || odd ? td::tail_verdict::keep
                               : (t.evicting && !t.root_seen ? td::tail_verdict::evicted : td::tail_verdict::discard);
    return d;
  }
  void settle(const td::tail_decision& d, const td::tail_records& records) noexcept override {
    for (const td::tail_records::entry e : records) {
      ++settled;
      ++seen[std::string(e.record)];
      if (d.verdict == td::tail_verdict::keep) ++kept;
      if (d.verdict == td::tail_verdict::evicted) ++evicted;
    }
  }
};

}  // namespace

TEST_CASE("tail_table: every record is settled exactly once (eviction, wait, late spans, the end)") {
  std::mt19937_64 rng(3);
  counting_sink sink;
  td::tail_settings s;
  s.max_traces = 50;        // small: evictions happen
  s.wait_ns = 1000000;      // 1 ms of simulated time
  s.slow_ns = 500;
  td::tail_table table(s, sink);
  std::uint64_t added = 0, now = 0, pass = 1;
  std::vector<std::array<std::uint8_t, 16>> ids(300);
  for (auto& id : ids)
    for (auto& b : id) b = static_cast<std::uint8_t>(rng());
  for (int i = 0; i < 20000; ++i) {
    const auto& id = ids[rng() % ids.size()];  // traces recur: some records arrive after their decision
    std::string rec(16 + rng() % 64, '\0');
    for (auto& c : rec) c = static_cast<char>(rng());
    std::memcpy(rec.data() + 8, &added, 8);  // unique bytes
    const bool root = rng() % 5 == 0, error = rng() % 50 == 0;
    REQUIRE(table.add(id.data(), reinterpret_cast<const unsigned char*>(rec.data()), rec.size(), {}, root, error,
                      rng() % 1000, now, pass));
    ++added;
    now += rng() % 2000;
    if (i % 37 == 0) table.decide(now, ++pass, false);
    CHECK(table.pending_traces() <= s.max_traces);
  }
  table.decide(now, pass + 2, true);
  CHECK(table.pending_traces() == 0);
  CHECK(sink.settled == added);
  CHECK(sink.seen.size() == added);  // none twice
  CHECK(sink.kept > 0);
  CHECK(sink.judged > 0);
  MESSAGE("added ", added, " settled ", sink.settled, " kept ", sink.kept, " evicted ", sink.evicted);
}
