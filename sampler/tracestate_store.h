// SPDX-License-Identifier: Apache-2.0
// sampler/tracestate_store.h — where incoming tracestates live while their trace runs.
//
// A span_context is 32 trivially copyable bytes, so it carries a 32-bit handle instead of the
// text. The table has a fixed number of slots reused in turn (handle = sequence number, slot =
// sequence % slots), each guarded by a seqlock: a reader copies the slot and checks that its
// version did not move. A handle whose slot was reused reads as lost — the trace's spans then
// export without the foreign entries, and the drain counts it. Writers never wait (a slot being
// written by another thread is skipped); readers never wait. Nothing is allocated after the
// first use (the slots, about 1.1 MiB, are allocated once).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tracecraft::detail {

/// What the sampler needs from an incoming `ot` entry.
struct ot_facts {
  bool has_th = false;
  bool has_rv = false;
  std::uint64_t th = 0;
  std::uint64_t rv = 0;
};

class tracestate_store {
 public:
  static constexpr std::size_t slots = 2048;
  static constexpr std::size_t text_cap = 512;

  /// Stores a validated, serialised tracestate (at most text_cap chars). Returns its handle, or
  /// 0 when it is empty or no memory could be had.
  std::uint32_t put(std::string_view text, const ot_facts& facts) noexcept;
  /// Copies entry `h` into `text` (text_cap chars); false when `h` is 0 or its slot was reused.
  bool get(std::uint32_t h, char* text, std::size_t& len, ot_facts& facts) const noexcept;
  /// The `ot` facts alone.
  bool facts(std::uint32_t h, ot_facts& out) const noexcept;

 private:
  struct slot {
    std::atomic<std::uint64_t> version{0};  // 2 * seq when complete, odd while written
    std::atomic<std::uint64_t> words[3 + text_cap / 8];  // th | has << 63, rv | has << 63, len, text
  };
  bool read(std::uint32_t h, char* text, std::size_t* len, ot_facts& facts) const noexcept;
  slot* table() noexcept;

  std::atomic<slot*> table_{nullptr};
  std::atomic<std::uint32_t> next_{1};
};

/// The process's store (it outlives engines: contexts outlive init/shutdown cycles).
tracestate_store& ts_store() noexcept;

/// The tracestate of a context: the incoming entries of `handle` (if any) with the `ot` entry
/// rebuilt from the trace-state `bits` (span_flag_ts_*): th = `threshold` (ts_th), the incoming
/// th (ts_keep_th) or none; rv = the incoming rv, or `host_rv` (ts_rv). Writes at most 512
/// chars; returns the length. `lost` is set when the handle's slot had been reused.
std::size_t build_tracestate(std::uint32_t handle, std::uint8_t bits, std::uint64_t threshold, std::uint64_t host_rv,
                             char* out, bool* lost = nullptr) noexcept;

}  // namespace tracecraft::detail
