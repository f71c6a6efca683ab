// prometheus.h — metrics in Prometheus' text format (exposition 0.0.4), the
// one renderer for migoctl metrics and the daemons' own counters, and the
// file the daemons keep them in: replaced whole every few seconds (a
// temporary file, then rename), so a reader never sees half of it.
// Conventions: a migo_ prefix, _total for counters, base units, and labels
// whose values come from a short fixed list — never an account, workspace,
// address or domain.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "migo/status.h"

namespace migo {

struct MetricSample {
  std::string labels;  // "" or {name="value",...}
  uint64_t value = 0;
};

// "# HELP", "# TYPE" and the samples of one family.
std::string prometheus_family(const std::string& name, const std::string& help, const std::string& type,
                              const std::vector<MetricSample>& samples);

// Replaces `path` with `text`: written to PATH.tmp in the same directory,
// then renamed over it.
Status write_file_atomically(const std::string& path, const std::string& text, unsigned mode = 0644);

// A daemon's metrics file: render() written to `path` every
// `interval_seconds` from a thread of its own, and once more when
// destroyed. A failure to write is told to on_error (at most once a
// minute) and never stops the daemon.
class MetricsFile {
 public:
  MetricsFile(std::string path, int interval_seconds, std::function<std::string()> render,
              std::function<void(const std::string&)> on_error);
  ~MetricsFile();
  MetricsFile(const MetricsFile&) = delete;
  MetricsFile& operator=(const MetricsFile&) = delete;

 private:
  void write_once();
  std::string path_;
  int interval_;
  std::function<std::string()> render_;
  std::function<void(const std::string&)> on_error_;
  int64_t last_error_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace migo
