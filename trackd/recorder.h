// recorder.h — group commit for migo-trackd: requests hand their events to
// one writer thread, which commits all that are waiting in one LMDB write
// transaction (one fsync for the lot) and then wakes each request. A
// request answers only once its event is durable or has failed.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "events.h"
#include "migo/store.h"

namespace migo {

class Recorder {
 public:
  // `now` gives the time events are marked with (tests inject one).
  explicit Recorder(Store& store, std::function<int64_t()> now = {});
  ~Recorder();  // commits what is waiting, then stops
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Blocks until the event is committed (or the commit failed).
  Status record(const TrackEvent& e);

  uint64_t commits() const;  // transactions so far (for the log and tests)

 private:
  struct Pending;
  void run();
  Store& store_;
  std::function<int64_t()> now_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Pending*> queue_;
  bool stopping_ = false;
  uint64_t commits_ = 0;
  std::thread writer_;
};

}  // namespace migo
