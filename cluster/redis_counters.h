// redis_counters.h — a workspace's limit windows on Redis, for several
// relays that share one workspace (issue 16). The check and the count of
// every window happen in one server-side Lua script: all windows fit, and
// all are incremented, or none is. Redis runs one script at a time, so no
// limit is exceeded however many relays and daemons ask at once.
//
// The keys of one workspace share a hash tag ("{w<id>}"), so the script
// touches one Redis Cluster slot:
//   migo:{w<id>}:win        hash: "m<minute>" -> recipients in that UTC
//                           minute (the last 24 hours), "M<yyyymm>" ->
//                           recipients in that UTC month; expires after 40
//                           days without use
//   migo:{w<id>}:q:<queue>  what one message counted ("n minute yyyymm"),
//                           for an exact, idempotent refund; expires after
//                           8 days (longer than Postfix keeps a message)
// Windows are the store's (migo/accounting.h): rolling 60 minutes and 24
// hours by the minute, the calendar month in UTC. Minutes older than a day
// and months before the last are pruned by the script itself.
//
// One Redis, or a Redis Cluster (redis_client.h): each workspace's keys
// live on its slot's master.
//
// Every failure to reach Redis, or an answer that is not the script's, is
// Code::unavailable: the caller fails closed (a temporary reply). Not
// thread-safe: one RedisCounters per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "migo/records.h"
#include "migo/status.h"

#include "redis_client.h"

namespace migo {

struct WindowCheck {
  bool fits = false;
  bool duplicate = false;   // this queue id was counted already: nothing done
  const char* window = "";  // when it does not fit: "hourly", "daily" or "monthly"
  uint64_t used = 0;        // that window's count before this message
  uint64_t limit = 0;
};

// A workspace's windows as they stand: what check_limits (policy-daemon)
// reads from the store, read from Redis instead.
struct WindowUsage {
  std::vector<std::pair<uint64_t, uint64_t>> minutes;  // (unix minute, recipients), oldest first, last 24 h
  uint64_t month = 0;                                  // this UTC month
};

class RedisCounters {
 public:
  // Over a client of its own (redis_client.h's connect or lazy).
  explicit RedisCounters(RedisClient client) : client_(std::move(client)) {}
  // One endpoint, connected now: the tests' and benchmarks' shorthand.
  static Result<RedisCounters> connect(const RedisEndpoint& e, int timeout_ms);

  // Counts n recipients of message `queue_id` of workspace `ws` at `now`
  // (Unix seconds) if every window of `plan` has room for them.
  Result<WindowCheck> commit(uint64_t ws, std::string_view queue_id, uint64_t n, int64_t now, const Plan& plan);
  // Takes back what commit counted for `queue_id`; 0 if nothing (any more).
  Result<uint64_t> refund(uint64_t ws, std::string_view queue_id);
  // The workspace's windows at `now`, read only.
  Result<WindowUsage> usage(uint64_t ws, int64_t now);
  // Whether the seeds are a cluster (several masters), for the log.
  bool cluster() const { return client_.cluster(); }


 private:
  // Runs a script on the workspace's node; its string answer.
  Result<std::string> run_script(uint64_t ws, const RedisScript& script, const std::vector<std::string>& words);
  RedisClient client_;
};

}  // namespace migo
