// syncd.h — migo-syncd: keeps one relay's store in step with the shared
// state on Redis (cluster/sync.h), and reports the relay's statistics there
// so migoctl on any relay shows every relay's sum. main.cc only calls
// syncd_main().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "migo/credentials.h"
#include "migo/records.h"
#include "migo/store.h"
#include "shared_state.h"
#include "sync.h"

namespace migo {

// What one relay has reported of its accounts' statistics, so only changes
// travel.
class StatsReporter {
 public:
  explicit StatsReporter(std::string relay) : relay_(std::move(relay)) {}
  // Reports the accounts whose statistics changed since the last report
  // (all of them the first time); *sent (optional) gets how many.
  Status report(const Store& store, SharedState& state, uint64_t seq, int64_t now, size_t* sent = nullptr);
  // The next report sends every account's.
  void forget() { reported_.clear(); }

 private:
  std::string relay_;
  std::map<uint64_t, AccountStats> reported_;
};

// Writes the key file (in `dir`, as migoctl does) of every DKIM key of the
// store's domains that has none here, from the shared state's sealed copy
// (cluster/sealed.h). Returns how many were written; *missing (optional)
// counts keys whose sealed copy is not in Redis (made on a relay without the
// seal key) or does not open with `seal_key`.
Result<size_t> fetch_dkim_keys(const Store& store, SharedState& state, const std::string& dir, const Secret& seal_key,
                               size_t* missing = nullptr);

// Ingests the reports other relays forwarded (they reached them, but name a
// message this relay may have delivered: ingest.h's for_another_relay),
// after the position kept in the store (meta shared.reports), skipping this
// relay's own; at most `max`. Idempotent: a report ingested twice counts
// once (the store's report keys). Returns how many were read.
Result<size_t> ingest_forwarded_reports(Store& store, SharedState& state, const Secret& tag_key,
                                        const std::string& relay, int64_t now, size_t max = 100);

int syncd_main(int argc, char** argv);

}  // namespace migo
