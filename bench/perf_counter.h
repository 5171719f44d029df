// SPDX-License-Identifier: Apache-2.0
// bench/perf_counter.h — user-space instructions retired (or core cycles) by the calling thread,
// from the kernel's perf events. Timings on these shared VMs swing 2x within a minute; the
// instruction count of the same code path does not (stable to about 0.1%), so the gate uses it beside the time
// ratios. Some machines do not expose the counter (a VM without a virtual PMU, or
// perf_event_paranoid above 2): then available() is false and the figure is reported as not
// measured, never as zero.
#pragma once

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

namespace tcbench {

class perf_counter {
 public:
  /// `config`: PERF_COUNT_HW_INSTRUCTIONS, or PERF_COUNT_HW_CPU_CYCLES (user-space cycles: the
  /// time a core spent on this thread, whatever the host did to the wall clock meanwhile).
  explicit perf_counter(std::uint64_t config = PERF_COUNT_HW_INSTRUCTIONS) noexcept {
    perf_event_attr a;
    std::memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_HARDWARE;
    a.config = config;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    a.disabled = 0;
    fd_ = static_cast<int>(syscall(SYS_perf_event_open, &a, 0 /* this thread */, -1, -1, 0));
    for (int i = 0; i < 1000; ++i) asm volatile("" ::: "memory");  // some work to count
    if (fd_ >= 0 && read() < 1000) {  // opened, but a counter that does not move is not a counter
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~perf_counter() {
    if (fd_ >= 0) ::close(fd_);
  }
  perf_counter(const perf_counter&) = delete;
  perf_counter& operator=(const perf_counter&) = delete;

  bool available() const noexcept { return fd_ >= 0; }
  /// Instructions retired in user space by this thread since the counter opened (0 if none).
  std::uint64_t read() const noexcept {
    std::uint64_t v = 0;
    if (fd_ < 0 || ::read(fd_, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) return 0;
    return v;
  }

 private:
  int fd_ = -1;
};

}  // namespace tcbench
