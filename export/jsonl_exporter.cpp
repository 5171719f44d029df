// SPDX-License-Identifier: Apache-2.0
// export/jsonl_exporter.cpp — one OTLP/JSON ExportTraceServiceRequest per line, the format the
// OpenTelemetry Collector's file exporter writes and its otlpjsonfile receiver reads.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/diag.h"
#include "export/exporter.h"
#include "export/json_writer.h"

namespace tracecraft::detail {
namespace {

// mkdir -p for the directory part of `path`.
void make_parent_dirs(const std::string& path) {
  for (std::size_t i = 1; i < path.size(); ++i) {
    if (path[i] != '/') continue;
    const std::string dir = path.substr(0, i);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return;
  }
}

bool write_all(int fd, const char* p, std::size_t n) noexcept {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

class jsonl_exporter final : public exporter {
 public:
  jsonl_exporter(const config& cfg, const resource_info& res)
      : path_(cfg.jsonl_path),
        prefix_(json_request_prefix(res)),
        batch_(cfg.max_export_batch_size == 0 ? 512 : cfg.max_export_batch_size),
        delay_ns_(std::uint64_t{cfg.schedule_delay_ms} * 1000000u) {
    make_parent_dirs(path_);
    // O_NONBLOCK only for the open: a FIFO with no reader must fail here, not hang init().
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd_ >= 0) ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
    if (fd_ < 0)
      diag(log_level::error, "jsonl exporter: cannot open %s: %s; its spans will be counted as export_failed",
           path_.c_str(), std::strerror(errno));
  }
  ~jsonl_exporter() override {
    if (fd_ >= 0) ::close(fd_);
  }
  const char* name() const noexcept override { return "jsonl"; }

  void add(const span_view& s, std::uint64_t now_ns) noexcept override {
    try {
      if (count_ == 0) {
        line_.clear();
        line_.append(prefix_);
        first_ns_ = now_ns;
      } else {
        line_.push_back(',');
      }
      json_writer(line_).span(s);
      ++count_;
    } catch (...) {  // std::bad_alloc while growing the line
      exporter_counters::bump(counters.failed);
      return;
    }
    if (count_ >= batch_) write_line();
  }
  void tick(std::uint64_t now_ns) noexcept override {
    if (count_ > 0 && now_ns - first_ns_ >= delay_ns_) write_line();
  }
  bool flush(std::chrono::steady_clock::time_point, bool) noexcept override {
    if (count_ > 0) write_line();
    return true;
  }
  void close_in_child() noexcept override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  void write_line() noexcept {
    const std::uint64_t n = count_;
    count_ = 0;
    bool ok = fd_ >= 0;
    if (ok) {
      line_.append(json_suffix);
      ok = write_all(fd_, line_.data(), line_.size());  // one write per line: O_APPEND keeps lines whole
      if (!ok && !warned_) {
        warned_ = true;
        diag(log_level::error, "jsonl exporter: write to %s failed: %s", path_.c_str(), std::strerror(errno));
      }
    }
    if (ok) {
      exporter_counters::bump(counters.exported, n);
      exporter_counters::bump(counters.batches);
      exporter_counters::bump(counters.bytes, line_.size());
    } else {
      exporter_counters::bump(counters.failed, n);
    }
  }

  std::string path_;
  std::string prefix_;
  out_buffer line_;
  std::uint32_t batch_;
  std::uint64_t delay_ns_;
  std::uint64_t first_ns_ = 0;
  std::uint32_t count_ = 0;
  int fd_ = -1;
  bool warned_ = false;
};

}  // namespace

std::unique_ptr<exporter> make_jsonl_exporter(const config& cfg, const resource_info& res) {
  return std::make_unique<jsonl_exporter>(cfg, res);
}

}  // namespace tracecraft::detail
