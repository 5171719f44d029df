// SPDX-License-Identifier: Apache-2.0
// redact/redactor.cpp — the default patterns, their extent rules, and the scan (see redactor.h).
#include "redact/redactor.h"

#include <sys/random.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <array>
#include <cstring>

#define XXH_INLINE_ALL
#include <xxhash.h>

#ifdef TC_HAVE_HYPERSCAN
#include <hs/hs.h>
#endif

namespace tracecraft::detail {

namespace {

// ---- character classes for the extent rules --------------------------------------------------

using cls = std::array<bool, 256>;

constexpr cls make_cls(const char* chars, bool alnum) {
  cls c{};
  for (int i = 0; i < 256; ++i) {
    const char ch = static_cast<char>(i);
    c[static_cast<std::size_t>(i)] = alnum && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'));
  }
  for (const char* p = chars; *p != '\0'; ++p) c[static_cast<unsigned char>(*p)] = true;
  return c;
}

constexpr cls k_email = make_cls("._%+-@", true);
constexpr cls k_domain = make_cls(".-", true);
constexpr cls k_token = make_cls("_-", true);
constexpr cls k_jwt = make_cls("_-.", true);
constexpr cls k_card = make_cls("0123456789 -", false);
constexpr cls k_phone = make_cls("0123456789 ().+-", false);
constexpr cls k_ipv4 = make_cls("0123456789.", false);
constexpr cls k_b64_nopad = make_cls("+/", true);
constexpr cls k_pad = make_cls("=", false);
constexpr cls k_bearer = make_cls("._~+/-", true);
constexpr cls k_api = make_cls("_./+-", true);

constexpr cls make_secret() {
  cls c{};
  for (int i = 0x21; i < 0x100; ++i) c[static_cast<std::size_t>(i)] = true;
  for (const char* p = "\"',;&\x7f"; *p != '\0'; ++p) c[static_cast<unsigned char>(*p)] = false;
  return c;
}
constexpr cls k_secret = make_secret();

inline bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
inline bool is_word(char c) noexcept { return k_token[static_cast<unsigned char>(c)] && c != '-'; }
// No letter, digit or '_' right before `start` and right at `end`: a whole token.
inline bool bounded(std::string_view t, std::size_t start, std::size_t end) noexcept {
  return (start == 0 || !is_word(t[start - 1])) && (end >= t.size() || !is_word(t[end]));
}

// The characters the digit patterns (card, SSN, phone, IPv4) can match, and '(' (a phone's
// area code): a digit-pattern match lies inside one maximal run of these.
constexpr cls k_digit_run = make_cls("0123456789 ().+-", false);

// The first digit at or after `at`, or t.size(): 16 bytes a step.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TC_DIGITS_AVX2 1
// 32 bytes a step where the CPU has AVX2 (chosen once, at run time).
__attribute__((target("avx2"))) std::size_t next_digit_avx2(std::string_view t, std::size_t at) noexcept {
  const char* p = t.data();
  const std::size_t n = t.size();
  const __m256i zero = _mm256_set1_epi8('0'), nine = _mm256_set1_epi8(9);
  for (; at + 32 <= n; at += 32) {
    const __m256i d = _mm256_sub_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + at)), zero);
    const unsigned m = static_cast<unsigned>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_min_epu8(d, nine), d)));
    if (m != 0) return at + static_cast<std::size_t>(__builtin_ctz(m));
  }
  while (at < n && !is_digit(p[at])) ++at;
  return at;
}
const bool k_have_avx2 = [] {
  __builtin_cpu_init();  // a static initializer may run before the library's own CPU detection
  return __builtin_cpu_supports("avx2") != 0;
}();
#endif

[[maybe_unused]] std::size_t next_digit(std::string_view t, std::size_t at) noexcept {
#ifdef TC_DIGITS_AVX2
  if (k_have_avx2) return next_digit_avx2(t, at);
#endif
  const char* p = t.data();
  const std::size_t n = t.size();
#if defined(__SSE2__)
  const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9);
  for (; at + 16 <= n; at += 16) {
    const __m128i d = _mm_sub_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at)), zero);
    const int m = _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, nine), d));  // d <= 9, unsigned
    if (m != 0) return at + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(m)));
  }
#endif
  while (at < n && !is_digit(p[at])) ++at;
  return at;
}

// Walks forward from `at` over `c`, at most `max` characters; returns the end.
[[maybe_unused]] std::size_t forward_over(std::string_view t, std::size_t at, const cls& c, std::size_t max) noexcept {
  std::size_t e = at;
  while (e < t.size() && e - at < max && c[static_cast<unsigned char>(t[e])]) ++e;
  return e;
}

// Walks back from `end` over `c`; returns the start.
[[maybe_unused]] std::size_t back_over(std::string_view t, std::size_t end, const cls& c) noexcept {
  std::size_t s = end;
  while (s > 0 && c[static_cast<unsigned char>(t[s - 1])]) --s;
  return s;
}

enum class extent : std::uint8_t {
  email,   // '@': forward over the longest valid domain, back over the local part
  email_regex,  // the reference (tests): the whole domain matched by the regex; back over the address
  token,   // a prefixed token (sk-, ghp_, AKIA, xoxb-, ...): back over [A-Za-z0-9_-]
  jwt,     // three base64url parts
  card,    // 13-19 digits with spaces or dashes, Luhn-checked, a known issuer prefix
  phone,   // 10-15 digits with separators
  ssn,     // ddd-dd-dddd, valid area/group/serial
  ipv4,    // four octets <= 255
  // key: value forms: the pattern ends where the value begins; the value runs forward over its class
  aws_secret,  // exactly 40 base64 characters
  bearer,      // an opaque token (base64url, dots, tildes), '=' padding, at least 8
  base64,      // base64 with padding, at least 20
  api_key,     // [A-Za-z0-9_./+-], at least 8
  secret,      // anything up to whitespace, a quote, ',', ';' or '&'
  pem,     // a whole PEM private-key block
  whole,   // custom patterns (start of match known): the whole match
};

struct pattern_def {
  const char* name;
  const char* regex;
  unsigned flags;
  extent how;
  bool digits = false;  // a digit pattern: scanned only over digit runs (see scan_many)
};

#ifdef TC_HAVE_HYPERSCAN
constexpr unsigned k_nocase = HS_FLAG_CASELESS;
constexpr unsigned k_dotall = HS_FLAG_DOTALL;
#else
constexpr unsigned k_nocase = 0, k_dotall = 0;
#endif

// The default set (tracecraft-lessons.md), with the fixes the Python version needed: left
// boundaries (no "risk-assessment"), context for AWS secrets (no git SHAs), separators for phones
// (no timestamps or ids), Luhn and issuer prefixes for cards (15-digit Amex included),
// case-insensitive password/secret fields, whole PEM blocks, opaque bearer tokens, JSON forms.
// No pattern asks for the start of match (with an unbounded tail it costs most of the scan
// speed): key=value forms end where their value begins and the value is found by walking forward.
// The numeric and e-mail patterns carry no \b (word-boundary assertions on digit classes cost
// the combined database half its speed): their extent rules check the boundaries instead.
// The e-mail pattern as a regex (the reference the '@' rule must agree with; tests only): as its
// own pattern it costs the scan about a fifth of its speed, for a character prose rarely has.
constexpr pattern_def k_email_reference = {"email", "@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}", 0, extent::email_regex};

constexpr pattern_def k_defaults[] = {
    {"private_key", "-----BEGIN [A-Z ]{0,20}PRIVATE KEY-----.*?-----END [A-Z ]{0,20}PRIVATE KEY-----", k_dotall, extent::pem},
    {"anthropic_key", "\\bsk-ant-[A-Za-z0-9_-]{20,}", 0, extent::token},
    {"openai_key", "\\bsk-(proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", 0, extent::token},
    {"aws_access_key_id", "\\b(AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\\b", 0, extent::token},
    {"aws_secret_key", "aws_?secret_?access_?key[\"']?[ \\t]*[:=][ \\t]*[\"']?", k_nocase, extent::aws_secret},
    {"github_token", "\\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})", 0, extent::token},
    {"google_api_key", "\\bAIza[0-9A-Za-z_-]{35}", 0, extent::token},
    {"slack_token", "\\bxox[bpare]-[A-Za-z0-9-]{10,}", 0, extent::token},
    {"stripe_key", "\\b[spr]k_(live|test)_[A-Za-z0-9]{16,}", 0, extent::token},
    {"jwt", "\\beyJ[A-Za-z0-9_-]{5,}\\.eyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]{5,}", 0, extent::jwt},
    {"bearer_token", "\\bbearer[ \\t]+", k_nocase, extent::bearer},
    {"azure_account_key", "AccountKey=", 0, extent::base64},
    {"api_key", "\\bapi[_-]?key[\"']?[ \\t]*[:=][ \\t]*[\"']?", k_nocase, extent::api_key},
    {"password", "\\b(password|passwd|pwd|secret|client_secret|access_token|refresh_token|auth_token|token)[\"']?[ \\t]*[:=][ \\t]*[\"']?",
     k_nocase, extent::secret},
    {"email", "@", 0, extent::email},
    {"credit_card", "\\d{13,19}|\\d{4}[ -]\\d{6}[ -]\\d{5}|\\d{4}[ -]\\d{4}[ -]\\d{4}[ -]\\d{1,7}", 0, extent::card, true},
    {"us_ssn", "\\d{3}-\\d{2}-\\d{4}", 0, extent::ssn, true},
    {"phone", "[)\\d][ .-]\\d{3}[ .-]\\d{4}|\\+\\d{1,3}([ .-]\\d{1,4}){2,5}", 0, extent::phone, true},
    {"ipv4", "\\d\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}", 0, extent::ipv4, true},
};

[[maybe_unused]] bool card_prefix_ok(std::string_view digits) noexcept {
  const std::size_t n = digits.size();
  auto pre = [&](int k) {  // the number the first k digits make
    int v = 0;
    for (int i = 0; i < k && static_cast<std::size_t>(i) < n; ++i) v = v * 10 + (digits[static_cast<std::size_t>(i)] - '0');
    return v;
  };
  if (digits[0] == '4') return n == 13 || n == 16 || n == 19;                                   // Visa
  if ((pre(2) >= 51 && pre(2) <= 55) || (pre(4) >= 2221 && pre(4) <= 2720)) return n == 16;     // Mastercard
  if (pre(2) == 34 || pre(2) == 37) return n == 15;                                              // Amex
  if (pre(4) == 6011 || pre(2) == 65 || (pre(3) >= 644 && pre(3) <= 649)) return n >= 16;       // Discover
  if (pre(2) == 35) return n >= 16;                                                              // JCB
  if (pre(2) == 36 || pre(2) == 38 || (pre(3) >= 300 && pre(3) <= 305)) return n == 14;         // Diners
  if (pre(2) == 62) return n >= 16;                                                              // UnionPay
  return false;
}

}  // namespace

bool luhn_ok(std::string_view s) noexcept {
  int sum = 0, count = 0;
  bool dbl = false;
  for (std::size_t i = s.size(); i-- > 0;) {
    if (!is_digit(s[i])) continue;
    int d = s[i] - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
    ++count;
  }
  return count > 0 && sum % 10 == 0;
}

// SipHash-2-4, from the paper's description (Aumasson and Bernstein, 2012).
std::uint64_t siphash24(const std::uint64_t key[2], const void* data, std::size_t n) noexcept {
  auto rotl = [](std::uint64_t x, int b) { return (x << b) | (x >> (64 - b)); };
  std::uint64_t v0 = 0x736f6d6570736575ull ^ key[0], v1 = 0x646f72616e646f6dull ^ key[1];
  std::uint64_t v2 = 0x6c7967656e657261ull ^ key[0], v3 = 0x7465646279746573ull ^ key[1];
  auto round = [&] {
    v0 += v1, v1 = rotl(v1, 13), v1 ^= v0, v0 = rotl(v0, 32);
    v2 += v3, v3 = rotl(v3, 16), v3 ^= v2;
    v0 += v3, v3 = rotl(v3, 21), v3 ^= v0;
    v2 += v1, v1 = rotl(v1, 17), v1 ^= v2, v2 = rotl(v2, 32);
  };
  const auto* p = static_cast<const unsigned char*>(data);
  const std::size_t whole = n & ~std::size_t{7};
  for (std::size_t i = 0; i < whole; i += 8) {
    std::uint64_t m = 0;
    for (int b = 0; b < 8; ++b) m |= std::uint64_t{p[i + static_cast<std::size_t>(b)]} << (8 * b);
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  std::uint64_t last = std::uint64_t{n & 0xff} << 56;
  for (std::size_t i = whole; i < n; ++i) last |= std::uint64_t{p[i]} << (8 * (i - whole));
  v3 ^= last;
  round();
  round();
  v0 ^= last;
  v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) round();
  return v0 ^ v1 ^ v2 ^ v3;
}

std::vector<std::string> default_pattern_names() {
  std::vector<std::string> n;
  for (const auto& d : k_defaults) n.emplace_back(d.name);
  return n;
}

#ifdef TC_HAVE_HYPERSCAN

// The compiled databases never change after create(): a fork child's redactor shares them with
// the parent's (clone()), which only a scratch space of its own needs.
struct compiled_db {
  hs_database_t* db = nullptr;        // every pattern but the digit ones (null when none is left)
  hs_database_t* digit_db = nullptr;  // card, SSN, phone, IPv4: run over digit runs only
  hs_database_t* allow_db = nullptr;  // allowlist regexes, anchored: a whole-value test
  std::vector<extent> how;  // by pattern id (both databases use the ids of names())
  compiled_db() = default;
  compiled_db(const compiled_db&) = delete;
  compiled_db& operator=(const compiled_db&) = delete;
  ~compiled_db() {
    if (db) hs_free_database(db);
    if (digit_db) hs_free_database(digit_db);
    if (allow_db) hs_free_database(allow_db);
  }
};

struct redactor::impl {
  std::shared_ptr<compiled_db> c = std::make_shared<compiled_db>();
  hs_scratch_t* scratch = nullptr;
  hs_scratch_t* allow_scratch = nullptr;
  const extent* how = nullptr;  // c->how.data(), for the callback
  std::string_view text;  // the value being scanned (callback context)
  std::size_t base = 0;   // where the scanned window begins in `text`
  std::vector<range>* out = nullptr;
  impl() = default;
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;
  ~impl() {
    if (scratch) hs_free_scratch(scratch);
    if (allow_scratch) hs_free_scratch(allow_scratch);
  }
  bool alloc_scratch() noexcept {
    how = c->how.data();
    if (c->db != nullptr && hs_alloc_scratch(c->db, &scratch) != HS_SUCCESS) return false;
    if (c->digit_db != nullptr && hs_alloc_scratch(c->digit_db, &scratch) != HS_SUCCESS) return false;
    if (c->allow_db != nullptr && hs_alloc_scratch(c->allow_db, &allow_scratch) != HS_SUCCESS) return false;
    return true;
  }
};

namespace {

// An address ending at `end`: back over its characters to the start of the local part (no
// leading dots or @); false when no local part precedes the '@'.
bool email_start(std::string_view t, std::size_t end, std::size_t& start) {
  start = back_over(t, end, k_email);
  while (start < end && !k_token[static_cast<unsigned char>(t[start])]) ++start;
  const std::size_t at = t.substr(start, end - start).find('@');
  return at != std::string_view::npos && at > 0;
}

// The extent of a match that ended at `to` (and, for patterns with start of match, began at
// `from`); false when the candidate fails validation.
bool find_extent(extent how, std::string_view t, std::size_t from, std::size_t to, std::size_t& start, std::size_t& end) {
  end = to;
  switch (how) {
    case extent::email: {
      // `to` is just past an '@'. The domain: the longest run of labels ([A-Za-z0-9-]+, dot
      // separated) ending in a top-level label of two letters or more, not followed by a letter,
      // digit or '_'. One pass, remembering the last end that qualifies.
      std::size_t best = 0, label = 0, dots = 0;
      bool letters = true;
      for (std::size_t i = to;; ++i) {
        if (i > to && dots > 0 && label >= 2 && letters && !(i < t.size() && is_word(t[i]))) best = i;
        if (i >= t.size() || !k_domain[static_cast<unsigned char>(t[i])]) break;
        if (t[i] == '.') {
          if (label == 0) break;  // an empty label: nothing longer qualifies
          ++dots;
          label = 0;
          letters = true;
        } else {
          ++label;
          letters = letters && !is_digit(t[i]) && t[i] != '-';
        }
      }
      if (best == 0) return false;
      end = best;
      return email_start(t, end, start);
    }
    case extent::email_regex: {
      if (to < t.size() && is_word(t[to])) return false;  // the domain goes on: a later match ends it
      return email_start(t, to, start);
    }
    case extent::token:
      start = back_over(t, to, k_token);
      return true;
    case extent::jwt:
      start = back_over(t, to, k_jwt);
      while (start < to && t.compare(start, 3, "eyJ") != 0) ++start;
      return start < to;
    case extent::card: {
      start = back_over(t, to, k_card);
      while (start < to && !is_digit(t[start])) ++start;
      if (!bounded(t, start, to)) return false;
      char digits[19];  // no allocation: this runs in the scan's callback, on the drain thread
      std::size_t n = 0;
      for (std::size_t i = start; i < to; ++i) {
        if (!is_digit(t[i])) continue;
        if (n == sizeof digits) return false;  // more than 19 digits: not a card
        digits[n++] = t[i];
      }
      const std::string_view d(digits, n);
      return n >= 13 && card_prefix_ok(d) && luhn_ok(d);
    }
    case extent::phone: {
      start = back_over(t, to, k_phone);
      while (start < to && !(is_digit(t[start]) || t[start] == '+' || t[start] == '(')) ++start;
      if (!bounded(t, start, to)) return false;
      int digits = 0;
      for (std::size_t i = start; i < to; ++i) digits += is_digit(t[i]) ? 1 : 0;
      return digits >= 10 && digits <= 15;
    }
    case extent::ssn: {
      start = to - 11;
      if (!bounded(t, start, to) || (start > 0 && t[start - 1] == '-') || (to < t.size() && t[to] == '-')) return false;
      const std::string_view s = t.substr(start, 11);
      const int area = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
      return area != 0 && area != 666 && area < 900 && s.substr(4, 2) != "00" && s.substr(7, 4) != "0000";
    }
    case extent::ipv4: {
      start = back_over(t, to, k_ipv4);
      while (start < to && t[start] == '.') ++start;
      int parts = 1;
      for (std::size_t i = start; i < to; ++i) parts += t[i] == '.' ? 1 : 0;
      const bool longer = to + 1 < t.size() && t[to] == '.' && is_digit(t[to + 1]);  // 1.2.3.4.5
      if (parts != 4 || longer || !bounded(t, start, to)) return false;
      int octet = 0, len = 0;  // each octet <= 255
      for (std::size_t i = start; i <= to; ++i) {
        if (i == to || t[i] == '.') {
          if (len == 0 || octet > 255) return false;
          octet = len = 0;
        } else {
          if (++len > 3) return false;  // also keeps the arithmetic small
          octet = octet * 10 + (t[i] - '0');
        }
      }
      return true;
    }
    case extent::aws_secret:
      start = to;
      end = forward_over(t, to, k_b64_nopad, 41);
      return end - start == 40;
    case extent::bearer:
      start = to;
      end = forward_over(t, forward_over(t, to, k_bearer, SIZE_MAX), k_pad, SIZE_MAX);
      return end - start >= 8;
    case extent::base64:
      start = to;
      end = forward_over(t, forward_over(t, to, k_b64_nopad, SIZE_MAX), k_pad, SIZE_MAX);
      return end - start >= 20;
    case extent::api_key:
      start = to;
      end = forward_over(t, to, k_api, SIZE_MAX);
      return end - start >= 8;
    case extent::secret:
      start = to;
      end = forward_over(t, to, k_secret, SIZE_MAX);
      return end > start;
    case extent::pem: {
      const std::size_t b = t.substr(0, to).rfind("-----BEGIN");
      start = b == std::string_view::npos ? from : b;
      return true;
    }
    case extent::whole:
      start = from;
      return start < to;
  }
  return false;
}

int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int, void* ctx) {
  auto* im = static_cast<redactor::impl*>(ctx);
  std::size_t start = 0, end = 0;
  if (!find_extent(im->how[id], im->text, im->base + static_cast<std::size_t>(from), im->base + static_cast<std::size_t>(to), start, end))
    return 0;
  auto& v = *im->out;
  // An unbounded pattern reports every extension of one match: widen the last range instead.
  if (!v.empty() && v.back().id == id && v.back().start == start) {
    v.back().end = std::max<std::uint32_t>(v.back().end, static_cast<std::uint32_t>(end));
    return 0;
  }
  v.push_back({static_cast<std::uint32_t>(start), static_cast<std::uint32_t>(end), id, 0});
  return 0;
}

int on_allow(unsigned int, unsigned long long, unsigned long long, unsigned int, void* ctx) {
  *static_cast<bool*>(ctx) = true;
  return 1;  // one is enough
}

}  // namespace

std::unique_ptr<redactor> redactor::create(const redact_settings& s, std::vector<std::string>& problems) {
  std::unique_ptr<redactor> r(new redactor());
  r->impl_ = std::make_unique<impl>();
  r->s_ = s;
  std::vector<std::string> exprs;
  std::vector<unsigned> flags;
  std::vector<bool> digit;  // goes into the digit-run database
  auto disabled = [&](const std::string& n) {
    return std::find(s.disabled.begin(), s.disabled.end(), n) != s.disabled.end() ||
           std::find(s.disabled.begin(), s.disabled.end(), "all") != s.disabled.end();
  };
  // Custom patterns are compiled alone first, so one Hyperscan rejects is reported and left out;
  // the defaults are known to compile (the unit tests build the full set).
  auto try_add = [&](const std::string& name, const std::string& re, unsigned f, extent how, bool check, bool digits) {
    if (!check) {
      r->names_.push_back(name);
      exprs.push_back(re);
      flags.push_back(f);
      digit.push_back(digits && !s.single_database);
      r->impl_->c->how.push_back(how);
      return;
    }
    hs_database_t* one = nullptr;
    hs_compile_error_t* err = nullptr;
    if (hs_compile(re.c_str(), f, HS_MODE_BLOCK, nullptr, &one, &err) != HS_SUCCESS) {
      problems.push_back("pattern '" + name + "' (" + re + ") is rejected by Hyperscan: " +
                         (err != nullptr && err->message != nullptr ? err->message : "unknown error") + "; the others apply");
      hs_free_compile_error(err);
      return;
    }
    hs_free_database(one);
    r->names_.push_back(name);
    exprs.push_back(re);
    flags.push_back(f);
    digit.push_back(false);
    r->impl_->c->how.push_back(how);
  };
  for (const auto& def : k_defaults) {
    const pattern_def& d = s.single_database && def.how == extent::email ? k_email_reference : def;
    if (!disabled(d.name)) try_add(d.name, d.regex, d.flags, d.how, false, d.digits);
  }
  for (const auto& [name, re] : s.custom) try_add(name, re, HS_FLAG_SOM_LEFTMOST, extent::whole, true, false);
  if (exprs.empty()) {
    problems.push_back("no redaction pattern is left to compile; nothing is redacted");
    return nullptr;
  }
  // Two databases, each pattern in one, ids shared: the digit patterns, and all the others.
  hs_compile_error_t* err = nullptr;
  for (const bool digits : {false, true}) {
    std::vector<const char*> ptrs;
    std::vector<unsigned> ids, fl;
    for (std::size_t i = 0; i < exprs.size(); ++i)
      if (digit[i] == digits) ptrs.push_back(exprs[i].c_str()), ids.push_back(static_cast<unsigned>(i)), fl.push_back(flags[i]);
    if (ptrs.empty()) continue;
    if (hs_compile_multi(ptrs.data(), fl.data(), ids.data(), static_cast<unsigned>(ptrs.size()), HS_MODE_BLOCK, nullptr,
                         digits ? &r->impl_->c->digit_db : &r->impl_->c->db, &err) != HS_SUCCESS) {
      problems.push_back(std::string("the redaction database does not compile: ") +
                         (err != nullptr && err->message != nullptr ? err->message : "unknown error"));
      hs_free_compile_error(err);
      return nullptr;
    }
  }
  // Allowlist regexes: a value is allowed when one matches it whole.
  std::vector<std::string> allow;
  for (const auto& a : s.allow_patterns) {
    const std::string anchored = "^(?:" + a + ")$";
    hs_database_t* one = nullptr;
    if (hs_compile(anchored.c_str(), HS_FLAG_SINGLEMATCH, HS_MODE_BLOCK, nullptr, &one, &err) != HS_SUCCESS) {
      problems.push_back("allowlist pattern (" + a + ") is rejected by Hyperscan: " +
                         (err != nullptr && err->message != nullptr ? err->message : "unknown error"));
      hs_free_compile_error(err);
      continue;
    }
    hs_free_database(one);
    allow.push_back(anchored);
  }
  if (!allow.empty()) {
    std::vector<const char*> ap;
    std::vector<unsigned> af(allow.size(), HS_FLAG_SINGLEMATCH), aid(allow.size(), 0);
    for (const auto& a : allow) ap.push_back(a.c_str());
    if (hs_compile_multi(ap.data(), af.data(), aid.data(), static_cast<unsigned>(ap.size()), HS_MODE_BLOCK, nullptr,
                         &r->impl_->c->allow_db, &err) != HS_SUCCESS)
      hs_free_compile_error(err);
  }
  if (!r->impl_->alloc_scratch()) {
    problems.push_back("no memory for the redaction scratch space");
    return nullptr;
  }
  // The hash key: the configured one, or a random key for this process.
  if (!s.hash_key.empty()) {
    const XXH128_hash_t k = XXH3_128bits(s.hash_key.data(), s.hash_key.size());
    r->key_[0] = k.low64;
    r->key_[1] = k.high64;
  } else if (getrandom(r->key_, sizeof r->key_, 0) != static_cast<ssize_t>(sizeof r->key_)) {
    r->key_[0] = XXH3_64bits(&r, sizeof r);
    r->key_[1] = ~r->key_[0];
  }
  r->stats_.matches.assign(r->names_.size(), 0);
  r->clean_.reset(new (std::nothrow) clean_entry[k_clean_slots]);
  return r;
}

std::unique_ptr<redactor> redactor::clone() const noexcept {
  try {
    std::unique_ptr<redactor> r(new redactor());
    r->impl_ = std::make_unique<impl>();
    r->impl_->c = impl_->c;
    if (!r->impl_->alloc_scratch()) return nullptr;
    r->s_ = s_;
    r->names_ = names_;
    r->key_[0] = key_[0];
    r->key_[1] = key_[1];
    r->stats_.matches.assign(names_.size(), 0);
    r->clean_.reset(new (std::nothrow) clean_entry[k_clean_slots]);
    return r;
  } catch (...) {
    return nullptr;
  }
}

redactor::result redactor::scan(std::string_view in, std::string& out) noexcept {
  result r = result::clean;
  std::string_view v;
  scan_many(&in, 1, &v, &r);
  if (r == result::redacted) {
    try {
      out.assign(v);
    } catch (...) {
      r = result::failed;
    }
  }
  return r;
}

// Several values in one Hyperscan call (a call costs about 100 ns before the first byte): the
// values are joined with '\n', which no pattern's value characters include and which makes a
// word boundary, so a match cannot run from one value into the next; a range is clamped to
// the value its end lies in.
void redactor::scan_many(const std::string_view* in, std::size_t n, std::string_view* outs, result* results) noexcept {
  std::size_t total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    results[i] = result::clean;
    total += in[i].size() + 1;
    ++stats_.values;
    stats_.bytes += in[i].size();
  }
  auto fail_all = [&] {
    for (std::size_t i = 0; i < n; ++i) results[i] = in[i].empty() ? result::clean : result::failed;
    stats_.failures += n;
  };
  if (total > 0xffffffffu) return fail_all();
  std::string_view text;
  try {
    starts_.clear();
    if (n == 1) {
      text = in[0];
      starts_.push_back(0);
    } else {
      joined_.clear();
      for (std::size_t i = 0; i < n; ++i) {
        starts_.push_back(static_cast<std::uint32_t>(joined_.size()));
        joined_.append(in[i]);
        joined_ += '\n';
      }
      text = joined_;
    }
  } catch (...) {
    return fail_all();
  }
  if (text.empty()) return;
  ranges_.clear();
  impl_->text = text;
  impl_->base = 0;
  impl_->out = &ranges_;
  const compiled_db& c = *impl_->c;
  if (c.db != nullptr &&
      hs_scan(c.db, text.data(), static_cast<unsigned>(text.size()), 0, impl_->scratch, on_match, impl_.get()) != HS_SUCCESS)
    return fail_all();
  if (c.digit_db != nullptr) {
    // The digit patterns match only characters of k_digit_run. So they are run over the maximal
    // runs of those characters that could hold a match, which a vector pass finds; prose has few. The extent rules see the whole text
    // (boundaries), so the result is the same as scanning everything (a unit test compares).
    // A run can hold a validated match only with 9 digits or more (an SSN; cards and phones
    // need more), or with 4 digits and 3 dots (an IPv4 address): others are not scanned.
    for (std::size_t at = next_digit(text, 0); at < text.size(); at = next_digit(text, at)) {
      std::size_t b = at, e = at, digits = 0, dots = 0;
      while (b > 0 && k_digit_run[static_cast<unsigned char>(text[b - 1])]) --b;
      for (; e < text.size() && k_digit_run[static_cast<unsigned char>(text[e])]; ++e) {
        digits += is_digit(text[e]) ? 1 : 0;
        dots += text[e] == '.' ? 1 : 0;
      }
      at = e;
      if (digits < 9 && (digits < 4 || dots < 3)) continue;
      impl_->base = b;
      if (hs_scan(c.digit_db, text.data() + b, static_cast<unsigned>(e - b), 0, impl_->scratch, on_match, impl_.get()) != HS_SUCCESS)
        return fail_all();
    }
  }
  if (ranges_.empty()) return;
  try {
    // Each range belongs to the value its end lies in, clamped to it; then, per value, merged:
    // by start, widest first, an overlapping range joins the one before it.
    for (range& x : ranges_) {
      const auto k = static_cast<std::size_t>(std::upper_bound(starts_.begin(), starts_.end(), x.end - 1) - starts_.begin() - 1);
      x.start = std::max(x.start, starts_[k]);
      x.value = static_cast<std::uint32_t>(k);
    }
    std::sort(ranges_.begin(), ranges_.end(), [](const range& a, const range& b) {
      return a.start != b.start ? a.start < b.start : a.end != b.end ? a.end > b.end : a.id < b.id;
    });
    std::size_t m = 0;
    for (const range& x : ranges_) {
      if (m > 0 && x.value == ranges_[m - 1].value && x.start < ranges_[m - 1].end) {
        ranges_[m - 1].end = std::max(ranges_[m - 1].end, x.end);
        continue;
      }
      ranges_[m++] = x;
    }
    ranges_.resize(m);
    arena_.clear();
    out_at_.assign(2 * n, 0);  // value k's text: [out_at_[2k], out_at_[2k + 1])
    std::string& out = arena_;
    std::size_t i = 0;
    while (i < m) {
      const std::uint32_t k = ranges_[i].value;
      const std::string_view v = in[k];
      const std::uint32_t base = starts_[k];
      const std::size_t begin = out.size();
      std::size_t at = 0;
      bool any = false;
      for (; i < m && ranges_[i].value == k; ++i) {
        const range& x = ranges_[i];
        const std::size_t from = x.start - base, to = std::min<std::size_t>(x.end - base, v.size());
        if (to <= from) continue;
        const std::string_view secret = v.substr(from, to - from);
        bool allowed = std::find(s_.allow_values.begin(), s_.allow_values.end(), secret) != s_.allow_values.end();
        if (!allowed && impl_->allow_scratch != nullptr)
          hs_scan(impl_->c->allow_db, secret.data(), static_cast<unsigned>(secret.size()), 0, impl_->allow_scratch, on_allow, &allowed);
        if (allowed) continue;
        out.append(v.substr(at, from - at));
        write_replacement(secret, x.id, out);
        at = to;
        any = true;
        ++stats_.matches[x.id];
      }
      if (any) {
        out.append(v.substr(at));
        results[k] = result::redacted;
        out_at_[2 * k] = static_cast<std::uint32_t>(begin);
        out_at_[2 * k + 1] = static_cast<std::uint32_t>(out.size());
      } else {
        out.resize(begin);
      }
    }
    // The views last: the buffer may have moved while it grew.
    for (std::size_t k = 0; k < n; ++k)
      if (results[k] == result::redacted) outs[k] = std::string_view(arena_.data() + out_at_[2 * k], out_at_[2 * k + 1] - out_at_[2 * k]);
  } catch (...) {
    fail_all();
  }
}

#else  // no Hyperscan: redaction unavailable

struct redactor::impl {};

std::unique_ptr<redactor> redactor::create(const redact_settings&, std::vector<std::string>& problems) {
  problems.push_back("this build has no Hyperscan: redaction is unavailable");
  return nullptr;
}

std::unique_ptr<redactor> redactor::clone() const noexcept { return nullptr; }
redactor::result redactor::scan(std::string_view, std::string&) noexcept { return result::failed; }
void redactor::scan_many(const std::string_view*, std::size_t n, std::string_view*, result* results) noexcept {
  for (std::size_t i = 0; i < n; ++i) results[i] = result::failed;
}

#endif

redactor::~redactor() = default;

bool redactor::known_clean(std::string_view v) const noexcept {
  if (!clean_ || v.size() > sizeof(clean_entry::text) || v.empty()) return false;
  const std::uint64_t h = XXH3_64bits(v.data(), v.size());
  const clean_entry& e = clean_[h & (k_clean_slots - 1)];
  return e.hash == h && e.len == v.size() && std::memcmp(e.text, v.data(), v.size()) == 0;
}

void redactor::remember_clean(std::string_view v) noexcept {
  if (!clean_ || v.size() > sizeof(clean_entry::text) || v.empty()) return;
  const std::uint64_t h = XXH3_64bits(v.data(), v.size());
  clean_entry& e = clean_[h & (k_clean_slots - 1)];
  e.hash = h;
  e.len = static_cast<std::uint32_t>(v.size());
  std::memcpy(e.text, v.data(), v.size());
}

void redactor::write_replacement(std::string_view secret, std::uint32_t id, std::string& out) const {
  put_replacement(secret, names_[id], out);
}

void redactor::replace_whole(std::string_view value, std::string_view label, std::string& out) const {
  out.clear();
  put_replacement(value, label, out);
}

// mask: [REDACTED:<label>]; hash: [HASH:<SipHash-2-4 of the value, 16 hex>]; remove: nothing.
void redactor::put_replacement(std::string_view secret, std::string_view label, std::string& out) const {
  switch (s_.mode) {
    case redact_mode::mask:
      out += "[REDACTED:";
      out += label;
      out += ']';
      break;
    case redact_mode::hash: {
      const std::uint64_t h = siphash24(key_, secret.data(), secret.size());
      char hex[16];
      for (int i = 0; i < 16; ++i) hex[i] = "0123456789abcdef"[(h >> (4 * (15 - i))) & 15];
      out += "[HASH:";
      out.append(hex, 16);
      out += ']';
      break;
    }
    case redact_mode::remove: break;
  }
}

}  // namespace tracecraft::detail
