// shared_state.h — the records every relay shares, on Redis: the current
// rows, a stream of change sets, and each relay's statistics
// (docs/several-relays.md). migoctl --redis publishes here; migo-syncd reads
// from here into each relay's store, which the SASL plugin and the milter
// read without any network on the way.
//
// Keys (the state's share one hash tag, so a Cluster keeps them on one slot
// and a script may touch them all):
//   migo:{state}:origin   the state's random id, made by `shared init`
//   migo:{state}:seq      the last change set's number
//   migo:{state}:rec      hash: "TABLE:KEY" -> the row's bytes (migo/shared.h)
//   migo:{state}:log      stream: entry "SEQ-0" = c (change set bytes),
//                         r (the relay that made it), t (Unix time);
//                         trimmed to about `log_max` entries
//   migo:{state}:relays   hash: relay -> "SEQ TIME" it last reported
//   migo:{state}:dkim     hash: "DOMAIN/SELECTOR" -> a DKIM private key,
//                         sealed (sealed.h)
//   migo:{state}:reports  stream: reports (DSN, ARF) that reached a relay
//                         other than the one that delivered the message:
//                         k (dsn|arf), m (the report), p (return path),
//                         r (relay); trimmed to about 10,000
//   migo:stats:a<ID>      hash: relay -> that relay's AccountStats bytes
// A change set is published only if Redis is still where the publisher's
// store is (origin and number): two admins on two relays can never make
// conflicting changes; the second is told to catch up and try again.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "migo/records.h"
#include "migo/shared.h"
#include "redis_client.h"

namespace migo {

struct SharedHead {
  std::string origin;  // "" while there is no shared state
  uint64_t seq = 0;
};

struct ChangeSet {
  uint64_t seq = 0;
  std::vector<SharedChange> changes;
  std::string relay;
  int64_t time = 0;
};

struct ForwardedReport {
  std::string id;  // the stream entry's
  std::string kind;  // "dsn" or "arf"
  std::string message, return_path, relay;
};

struct SharedSnapshot {
  SharedHead head;
  std::vector<SharedChange> rows;
};

class SharedState {
 public:
  explicit SharedState(RedisClient client, size_t log_max = 100000)
      : client_(std::move(client)), log_max_(log_max) {}

  Result<SharedHead> head();
  // Makes the shared state from a store's rows (`migoctl --redis shared
  // init`): change set 1 is every row. `as`: at that origin and number
  // instead (`shared restore`, into a Redis that lost everything). Code::exists
  // if there is one.
  Result<SharedHead> create(const std::vector<SharedChange>& rows, const std::string& relay, int64_t now,
                            const SharedHead* as = nullptr);
  // Publishes a change set if Redis is at `at` (origin and number), and
  // returns its number. Code::exists if another change came first (catch
  // up, then try again); Code::refused if Redis holds another origin, or
  // none (its data lost: the state must be made again from a relay).
  Result<uint64_t> publish(const SharedHead& at, const std::vector<SharedChange>& changes, const std::string& relay,
                           int64_t now);
  // Up to `max` change sets after `seq`, in order; block_ms > 0 waits that
  // long for one when there is none. A damaged entry is Code::corrupt.
  Result<std::vector<ChangeSet>> read_after(uint64_t seq, size_t max, int block_ms = 0);
  // Every row and the number it is at, read atomically.
  Result<SharedSnapshot> snapshot();

  // This relay's statistics of these accounts, and that it is alive at `seq`.
  Status publish_stats(const std::string& relay, uint64_t seq,
                       const std::vector<std::pair<uint64_t, AccountStats>>& stats, int64_t now);
  // Every relay's statistics of an account.
  Result<std::vector<std::pair<std::string, AccountStats>>> stats(uint64_t account_id);
  Status forget_stats(uint64_t account_id);
  // A sealed DKIM private key, by "DOMAIN/SELECTOR"; "" when there is none.
  Status put_sealed_key(const std::string& name, const std::string& sealed);
  Result<std::string> sealed_key(const std::string& name);

  // A report for the relay that delivered the message (ingest.h's
  // for_another_relay), and those after stream id `after` ("0": all kept).
  Status forward_report(const std::string& kind, std::string_view message, std::string_view return_path,
                        const std::string& relay);
  Result<std::vector<ForwardedReport>> reports_after(const std::string& after, size_t max);

  // The relays that reported: (relay, "SEQ TIME").
  Result<std::vector<std::pair<std::string, std::string>>> relays();

 private:
  Result<std::string> script(const RedisScript& s, const std::vector<std::string>& args);
  RedisClient client_;
  size_t log_max_;
};

}  // namespace migo
