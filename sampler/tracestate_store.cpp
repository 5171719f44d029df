// SPDX-License-Identifier: Apache-2.0
// sampler/tracestate_store.cpp — the incoming-tracestate table and the tracestate builder.
#include "sampler/tracestate_store.h"

#include <cstring>
#include <new>

#include "sampler/w3c.h"
#include "tracecraft/trace.h"

namespace tracecraft::detail {

namespace {
constexpr std::uint64_t k_has = std::uint64_t{1} << 63;
}

tracestate_store::slot* tracestate_store::table() noexcept {
  slot* t = table_.load(std::memory_order_acquire);
  if (t != nullptr) return t;
  slot* fresh = new (std::nothrow) slot[slots];
  if (fresh == nullptr) return nullptr;
  if (!table_.compare_exchange_strong(t, fresh, std::memory_order_acq_rel)) {
    delete[] fresh;  // another thread won; use its table
    return t;
  }
  return fresh;
}

std::uint32_t tracestate_store::put(std::string_view text, const ot_facts& facts) noexcept {
  if (text.empty() || text.size() > text_cap) return 0;
  slot* t = table();
  if (t == nullptr) return 0;
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::uint32_t seq = next_.fetch_add(1, std::memory_order_relaxed);
    if (seq == 0) seq = next_.fetch_add(1, std::memory_order_relaxed);  // 0 means "none"
    slot& s = t[seq % slots];
    std::uint64_t v = s.version.load(std::memory_order_relaxed);
    // Claim the slot; one being written by another thread (odd version) is skipped.
    if ((v & 1) != 0 || !s.version.compare_exchange_strong(v, 2 * std::uint64_t{seq} + 1, std::memory_order_acquire))
      continue;
    s.words[0].store(facts.th | (facts.has_th ? k_has : 0), std::memory_order_relaxed);
    s.words[1].store(facts.rv | (facts.has_rv ? k_has : 0), std::memory_order_relaxed);
    s.words[2].store(text.size(), std::memory_order_relaxed);
    for (std::size_t i = 0; i * 8 < text.size(); ++i) {
      std::uint64_t w = 0;
      std::memcpy(&w, text.data() + i * 8, text.size() - i * 8 < 8 ? text.size() - i * 8 : 8);
      s.words[3 + i].store(w, std::memory_order_relaxed);
    }
    s.version.store(2 * std::uint64_t{seq}, std::memory_order_release);
    return seq;
  }
  return 0;
}

bool tracestate_store::read(std::uint32_t h, char* text, std::size_t* len, ot_facts& facts) const noexcept {
  if (h == 0) return false;
  slot* t = table_.load(std::memory_order_acquire);
  if (t == nullptr) return false;
  const slot& s = t[h % slots];
  const std::uint64_t want = 2 * std::uint64_t{h};
  if (s.version.load(std::memory_order_acquire) != want) return false;
  const std::uint64_t th = s.words[0].load(std::memory_order_relaxed);
  const std::uint64_t rv = s.words[1].load(std::memory_order_relaxed);
  std::size_t n = 0;
  if (text != nullptr) {
    n = static_cast<std::size_t>(s.words[2].load(std::memory_order_relaxed));
    if (n > text_cap) n = 0;  // torn: the version check below rejects it
    for (std::size_t i = 0; i * 8 < n; ++i) {
      const std::uint64_t w = s.words[3 + i].load(std::memory_order_relaxed);
      std::memcpy(text + i * 8, &w, n - i * 8 < 8 ? n - i * 8 : 8);
    }
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  if (s.version.load(std::memory_order_relaxed) != want) return false;
  facts.has_th = (th & k_has) != 0;
  facts.th = th & ~k_has;
  facts.has_rv = (rv & k_has) != 0;
  facts.rv = rv & ~k_has;
  if (len != nullptr) *len = n;
  return true;
}

bool tracestate_store::get(std::uint32_t h, char* text, std::size_t& len, ot_facts& facts) const noexcept {
  return read(h, text, &len, facts);
}

bool tracestate_store::facts(std::uint32_t h, ot_facts& out) const noexcept { return read(h, nullptr, nullptr, out); }

tracestate_store& ts_store() noexcept {
  static tracestate_store store;  // constant-initialised: no guard, no destructor order issue
  return store;
}

std::size_t build_tracestate(std::uint32_t handle, std::uint8_t bits, std::uint64_t threshold, std::uint64_t host_rv,
                             char* out, bool* lost) noexcept {
  w3c::tracestate in;
  w3c::ot_value ot;
  char text[tracestate_store::text_cap];
  if (lost != nullptr) *lost = false;
  if (handle != 0) {
    std::size_t len = 0;
    ot_facts f;
    if (ts_store().get(handle, text, len, f)) {
      w3c::parse_tracestate(std::string_view(text, len), in);  // valid: it was validated when stored
      if (!w3c::parse_ot(in.get("ot"), ot)) ot = w3c::ot_value{};
    } else if (lost != nullptr) {
      *lost = true;
    }
  }
  if (bits & span_flag_ts_th) {
    ot.has_th = true;
    ot.th = threshold;
  } else if (!(bits & span_flag_ts_keep_th)) {
    ot.has_th = false;
  }
  if ((bits & span_flag_ts_rv) && !ot.has_rv) {
    ot.has_rv = true;
    ot.rv = host_rv;
  }
  char otbuf[w3c::ot_value_limit];
  const std::size_t n = w3c::write_ot(ot, otbuf);
  return w3c::write_tracestate(in, "ot", std::string_view(otbuf, n), out);
}

}  // namespace tracecraft::detail
