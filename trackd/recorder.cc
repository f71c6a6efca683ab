// recorder.cc — see recorder.h.
#include "recorder.h"

#include <ctime>
#include <vector>

namespace migo {

Recorder::Recorder(Store& store, std::function<int64_t()> now, FailureHook on_failure, size_t max_queued)
    : store_(store), now_(std::move(now)), on_failure_(std::move(on_failure)), max_queued_(max_queued) {
  if (!now_) now_ = [] { return static_cast<int64_t>(time(nullptr)); };
  writer_ = std::thread([this] { run(); });
}

Recorder::~Recorder() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();  // the writer empties the queue before it returns
}

bool Recorder::submit(TrackEvent e) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= max_queued_) {
      dropped_++;
      return false;
    }
    queue_.push_back(std::move(e));
    submitted_++;
    // Under load the writer is busy committing and finds the queue full
    // when it is done: waking it for every event would cost a futex call
    // and a context switch per request for nothing.
    if (!writer_idle_) return true;
  }
  wake_.notify_one();
  return true;
}

void Recorder::flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = submitted_;
  done_.wait(lock, [&] { return finished_ >= target; });
}

uint64_t Recorder::commits() const {
  std::lock_guard lock(mu_);
  return commits_;
}
uint64_t Recorder::committed() const {
  std::lock_guard lock(mu_);
  return committed_;
}
uint64_t Recorder::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}
uint64_t Recorder::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void Recorder::run() {
  std::unique_lock lock(mu_);
  std::vector<TrackEvent> batch;
  for (;;) {
    writer_idle_ = true;
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    writer_idle_ = false;
    if (queue_.empty() && stopping_) return;
    // Everything waiting goes into this one transaction; what arrives while
    // it commits waits for the next.
    batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    lock.unlock();
    const int64_t now = now_();
    Status s = store_.write([&](WriteTxn& t) -> Status {
      for (const TrackEvent& e : batch) MIGO_TRY(apply_event(t, e, now));
      return {};
    });
    if (!s.ok() && on_failure_) on_failure_(s, batch.size());
    lock.lock();
    commits_++;
    (s.ok() ? committed_ : failed_) += batch.size();
    finished_ += batch.size();
    done_.notify_all();
  }
}

}  // namespace migo
