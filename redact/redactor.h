// SPDX-License-Identifier: Apache-2.0
// redact/redactor.h — PII and secret redaction on the drain thread: the patterns compiled once
// at init into Hyperscan block-mode databases; scratch owned by the one thread that scans.
//
// Every string is scanned by one database holding every pattern except the four digit ones
// (card, SSN, phone, IPv4). Those have no literal for Hyperscan to anchor on and, in the same
// database, cost the scan over half its speed; they are compiled into a second database that
// runs only over the runs of digits and separators holding four digits or more (an SSE2 pass
// finds them; prose has few). The result is the same as one database over everything: a unit
// test compares the two on random text.
//
// Hyperscan reports where a match ENDS (start-of-match reporting would cost most of the scan
// speed); each pattern has an extent rule that walks back from the end to the start of the
// sensitive part (for `password: x` forms only the value) and validates it (Luhn for cards, the
// octets of an IPv4 address, the digit count of a phone number). Overlapping ranges are merged;
// the text is rebuilt once per value.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tracecraft::detail {

enum class redact_mode : std::uint8_t { mask, hash, remove };

struct redact_settings {
  redact_mode mode = redact_mode::mask;
  std::string hash_key;                     ///< TRACECRAFT_REDACT_HASH_KEY (empty: a random per-process key)
  std::vector<std::string> disabled;        ///< default patterns turned off by name ("all": every one)
  std::vector<std::pair<std::string, std::string>> custom;  ///< name, Hyperscan regex
  std::vector<std::string> allow_values;    ///< exact values never redacted
  std::vector<std::string> allow_patterns;  ///< values matching one of these (whole) are never redacted
  /// Tests only: the reference the fast paths must agree with: the digit patterns in the main
  /// database, scanned over everything, and the e-mail pattern as a full regex.
  bool single_database = false;
};

/// A default pattern's name (the `[REDACTED:<name>]` label), for docs and tools.
std::vector<std::string> default_pattern_names();

class redactor {
 public:
  /// Compiles the database. Patterns Hyperscan rejects are reported in `problems` (with the
  /// compiler's message) and left out; null when no pattern at all could be compiled or the
  /// library is unavailable (then `problems` says why).
  static std::unique_ptr<redactor> create(const redact_settings& s, std::vector<std::string>& problems);
  /// A redactor for a fork child: the same compiled databases (immutable, so the copy the child
  /// inherited is whole even if the parent's drain was scanning), settings and hash key, with a
  /// scratch space, clean-value table and counters of its own. Null when out of memory.
  std::unique_ptr<redactor> clone() const noexcept;
  ~redactor();
  redactor(const redactor&) = delete;
  redactor& operator=(const redactor&) = delete;

  enum class result : std::uint8_t { clean, redacted, failed };
  /// Scans `in`; when something is found writes the redacted text to `out`. `failed` means the
  /// scanner itself failed: the caller must not export `in` (it writes [REDACTION_FAILED]).
  /// Drain thread only (the scratch is not shared).
  result scan(std::string_view in, std::string& out) noexcept;
  /// `n` values in one scan (cheaper than n scans): results[i], and outs[i] when redacted. The
  /// outputs live in a buffer of the redactor's, valid until its next scan (no allocation per
  /// value once the buffer has grown).
  void scan_many(const std::string_view* in, std::size_t n, std::string_view* outs, result* results) noexcept;
  /// Short values seen clean before (model names, routes, status strings repeat on every span):
  /// a direct-mapped table of exact values, compared byte for byte, so a hit is never wrong.
  bool known_clean(std::string_view v) const noexcept;
  void remember_clean(std::string_view v) noexcept;

  /// The replacement of a whole value (field rules): `[REDACTED:<label>]`, a keyed hash, or "".
  void replace_whole(std::string_view value, std::string_view label, std::string& out) const;

  std::size_t pattern_count() const noexcept { return names_.size(); }
  const std::vector<std::string>& names() const noexcept { return names_; }
  /// Counters (drain writes, any thread reads).
  struct counters {
    std::uint64_t values = 0, bytes = 0, failures = 0;
    std::vector<std::uint64_t> matches;  ///< per pattern, index as names()
  };
  const counters& stats() const noexcept { return stats_; }

  struct range {
    std::uint32_t start, end, id, value;
  };
  struct impl;

 private:
  redactor() = default;
  void write_replacement(std::string_view secret, std::uint32_t id, std::string& out) const;
  void put_replacement(std::string_view secret, std::string_view label, std::string& out) const;

  std::unique_ptr<impl> impl_;
  redact_settings s_;
  std::vector<std::string> names_;
  std::uint64_t key_[2] = {};
  counters stats_;
  std::vector<range> ranges_;
  struct clean_entry {
    std::uint64_t hash = 0;
    std::uint32_t len = 0;
    char text[52] = {};
  };
  static constexpr std::size_t k_clean_slots = 2048;
  std::unique_ptr<clean_entry[]> clean_;
  std::vector<std::uint32_t> starts_;  // where each value begins in the joined text
  std::string joined_;
  std::string arena_;  // the redacted values of the last scan_many
  std::vector<std::uint32_t> out_at_;
};

/// SipHash-2-4 (a keyed PRF): equal inputs give equal outputs under one key, and without the key
/// an output says nothing about its input.
std::uint64_t siphash24(const std::uint64_t key[2], const void* data, std::size_t n) noexcept;

/// The Luhn checksum of the digits in `s` (other characters skipped).
bool luhn_ok(std::string_view s) noexcept;

}  // namespace tracecraft::detail
