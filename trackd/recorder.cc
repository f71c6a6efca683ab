// recorder.cc — see recorder.h.
#include "recorder.h"

#include <ctime>
#include <vector>

namespace migo {

struct Recorder::Pending {
  explicit Pending(const TrackEvent* e) : event(e) {}
  const TrackEvent* event;
  bool done = false;
  Status result;
  std::condition_variable done_cv;
};

Recorder::Recorder(Store& store, std::function<int64_t()> now) : store_(store), now_(std::move(now)) {
  if (!now_) now_ = [] { return static_cast<int64_t>(time(nullptr)); };
  writer_ = std::thread([this] { run(); });
}

Recorder::~Recorder() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();
}

Status Recorder::record(const TrackEvent& e) {
  Pending p(&e);
  std::unique_lock lock(mu_);
  if (stopping_) return {Code::unavailable, "migo-trackd is stopping"};
  queue_.push_back(&p);
  wake_.notify_one();
  p.done_cv.wait(lock, [&] { return p.done; });
  return p.result;
}

uint64_t Recorder::commits() const {
  std::lock_guard lock(mu_);
  return commits_;
}

void Recorder::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty() && stopping_) return;
    // Everything waiting goes into this one transaction; what arrives while
    // it commits waits for the next.
    std::vector<Pending*> batch(queue_.begin(), queue_.end());
    queue_.clear();
    lock.unlock();
    const int64_t now = now_();
    Status s = store_.write([&](WriteTxn& t) -> Status {
      for (Pending* p : batch) MIGO_TRY(apply_event(t, *p->event, now));
      return {};
    });
    lock.lock();
    commits_++;
    for (Pending* p : batch) {
      p->result = s;
      p->done = true;
      p->done_cv.notify_one();
    }
  }
}

}  // namespace migo
