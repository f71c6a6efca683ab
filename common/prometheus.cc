// prometheus.cc — see prometheus.h.
#include "prometheus.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

namespace migo {

std::string prometheus_family(const std::string& name, const std::string& help, const std::string& type,
                              const std::vector<MetricSample>& samples) {
  std::string out = "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  for (const MetricSample& s : samples) out += name + s.labels + " " + std::to_string(s.value) + "\n";
  return out;
}

Status write_file_atomically(const std::string& path, const std::string& text, unsigned mode) {
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return {Code::unavailable, "cannot write " + tmp + ": " + std::strerror(errno)};
  for (size_t at = 0; at < text.size();) {
    ssize_t n = write(fd, text.data() + at, text.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s{Code::unavailable, "cannot write " + tmp + ": " + std::strerror(errno)};
      close(fd);
      unlink(tmp.c_str());
      return s;
    }
    at += static_cast<size_t>(n);
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    Status s{Code::unavailable, "cannot rename " + tmp + ": " + std::strerror(errno)};
    unlink(tmp.c_str());
    return s;
  }
  return {};
}

MetricsFile::MetricsFile(std::string path, int interval_seconds, std::function<std::string()> render,
                         std::function<void(const std::string&)> on_error)
    : path_(std::move(path)), interval_(interval_seconds), render_(std::move(render)), on_error_(std::move(on_error)) {
  write_once();
  // The writer takes no signals: they are the daemon's (libmilter's signal
  // thread sigwaits for SIGTERM; a thread with it unblocked could take it
  // and end the process without a clean stop).
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(interval_), [&] { return stopping_; })) {
      lock.unlock();
      write_once();
      lock.lock();
    }
  });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

MetricsFile::~MetricsFile() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
  write_once();  // the last counts, as the daemon stops
}

void MetricsFile::write_once() {
  Status s = write_file_atomically(path_, render_());
  const int64_t now = static_cast<int64_t>(time(nullptr));
  if (!s.ok() && on_error_ && now - last_error_ >= 60) {
    last_error_ = now;
    on_error_("metrics not written: " + s.message());
  }
}

}  // namespace migo
