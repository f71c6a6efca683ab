// recorder.h — group commit for migo-trackd. Requests hand their events to
// one writer thread and are answered at once; the writer commits all that
// are waiting in one LMDB write transaction (one durable commit for the
// lot), so under load one commit carries hundreds of events.
//
// Why the answer does not wait for the commit: a person's image or
// redirect must not wait for a disk flush (about 1.5 ms here, the wall the
// policy daemon meets), and a count is not a promise to anyone the way a
// policy decision is. What this gives up is bounded: a crash of the
// machine loses the events answered since the last commit finished — the
// ones in the queue and in the commit under way, a few milliseconds'
// worth — and nothing else. A clean stop (the destructor, SIGTERM)
// commits everything first. The queue has a bound; past it (a store that
// has stopped committing) events are dropped and counted as dropped,
// never held without limit.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "events.h"
#include "migo/store.h"

namespace migo {

class Recorder {
 public:
  // Told (from the writer thread) when a commit of `events` events failed.
  using FailureHook = std::function<void(const Status&, size_t events)>;
  static constexpr size_t kMaxQueued = 100000;

  // `now` gives the time events are marked with (tests inject one).
  explicit Recorder(Store& store, std::function<int64_t()> now = {}, FailureHook on_failure = {},
                    size_t max_queued = kMaxQueued);
  ~Recorder();  // commits what is waiting, then stops
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Queues the event and returns at once; false when it was dropped (the
  // queue is full, or the recorder is stopping).
  bool submit(TrackEvent e);

  // Blocks until every event submitted before the call has been committed
  // (or its commit failed). For a clean stop and for tests.
  void flush();

  uint64_t commits() const;   // transactions so far
  uint64_t committed() const; // events in transactions that succeeded
  uint64_t failed() const;    // events in transactions that failed
  uint64_t dropped() const;   // events refused by submit()

 private:
  void run();
  Store& store_;
  std::function<int64_t()> now_;
  FailureHook on_failure_;
  const size_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable wake_, done_;
  std::deque<TrackEvent> queue_;
  uint64_t submitted_ = 0, finished_ = 0;  // events handed in, events whose commit ended
  uint64_t commits_ = 0, committed_ = 0, failed_ = 0, dropped_ = 0;
  bool stopping_ = false;
  bool writer_idle_ = false;  // waiting on wake_: a submit must wake it
  std::thread writer_;
};

}  // namespace migo
