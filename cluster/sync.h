// sync.h — a relay's store and the shared state (shared_state.h): bringing
// the store up to date (migo-syncd, and migoctl before it retries), and
// making an admin change through the shared state (migoctl --redis).
#pragma once

#include <functional>
#include <string>

#include "migo/shared.h"
#include "migo/store.h"
#include "shared_state.h"

namespace migo {

struct SyncOptions {
  // Rebuild a store that holds records of its own, or follows another
  // shared state, or is ahead of Redis (Redis lost change sets), from
  // Redis's snapshot. Without it those are refused, loudly.
  bool replace = false;
  size_t batch = 1000;  // change sets read (and applied in one transaction) at a time
  int block_ms = 0;     // wait this long for a change when there is none
};

struct SyncResult {
  size_t applied = 0;       // change sets applied
  bool rebuilt = false;     // from a snapshot
  size_t rows_changed = 0;  // by the rebuild
  SharedPosition at;        // where the store is now
};

// One round: the change sets after the store's position, applied in order
// in one write transaction; or a snapshot when the store is new (follows
// no shared state and holds no workspace), or fell behind what the stream
// keeps. Refused (Code::refused) with the reason when it would lose data
// (see SyncOptions::replace) or there is no shared state yet.
Result<SyncResult> sync_store(Store& store, SharedState& state, const SyncOptions& options = {});

// Makes an admin change through the shared state: `fn` runs in a rehearsal
// on this store with its writes captured; the capture is published if
// Redis is where this store is, then applied here. When another change came
// first, the store catches up and `fn` runs again (at most 20 times, a few
// random milliseconds apart), so it
// is always judged against every relay's changes (a plan's account limit,
// a name taken). Redis unreachable: nothing changes anywhere.
Status shared_write(Store& store, SharedState& state, const std::string& relay, int64_t now,
                    const std::function<Status(WriteTxn&)>& fn);

// `shared init`: this store's rows become the shared state (change set 1),
// and the store follows it.
Result<SharedHead> shared_init(Store& store, SharedState& state, const std::string& relay, int64_t now);

// `shared restore`: Redis lost the shared state (an unpersisted restart, a
// new server): this store's rows become it again, under the origin and
// number the store is at, so relays at that number carry on, those behind
// rebuild from the snapshot, and those ahead say Redis is behind (restore
// from the most advanced relay: `shared status` on each shows where it is).
// Refused while Redis holds any shared state.
Result<SharedHead> shared_restore(Store& store, SharedState& state, const std::string& relay, int64_t now);

}  // namespace migo
