// policy.h — what migo-policyd answers.
//
// At RCPT, a read-only check: the account must exist and be active, and its
// workspace must have room in every window for this recipient and the ones
// already accepted for the same message (Postfix's `instance` names it), so
// a recipient that cannot fit is refused at RCPT with the true numbers, not
// after the body was uploaded. At
// END-OF-MESSAGE, the exact check and the commit, in one write transaction:
// the message's recipient_count must fit every window, and then it is
// counted (migo/accounting.h). LMDB lets one writer in at a time across all
// processes, so no limit is ever exceeded however many daemons and smtpd
// processes ask at once. Store trouble is a temporary reply: fail closed.
//
// Several relays (counters = redis://… in policyd.conf): the windows live
// in Redis instead (cluster/redis_counters.h), shared by every relay's
// migo-policyd; RCPT reads them, END-OF-MESSAGE checks and counts in one
// Lua script there, then records the account's statistics and the queue
// entry (marked shared) in this relay's store. LMDB still answers who the
// account is. Redis trouble is a temporary reply too.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "migo/store.h"
#include "redis_counters.h"
#include "request.h"

namespace migo {

// The windows of several relays, on Redis. RedisCounters is not
// thread-safe: one of these per thread.
struct SharedWindows {
  RedisCounters* redis = nullptr;
  // Prefixes queue ids in Redis ("relay/QUEUEID"): two relays' Postfix may
  // give two messages the same queue id.
  std::string relay;
  // RCPT's reads of a workspace's windows, kept this long (milliseconds;
  // 0: none). RCPT only refuses early what END-OF-MESSAGE would refuse
  // anyway — the exact check and count are END-OF-MESSAGE's, in Redis — so
  // a figure a few milliseconds old is as good, and a busy workspace's
  // recipients then cost no round trip each.
  int rcpt_cache_ms = 0;
  struct Cached {
    std::chrono::steady_clock::time_point at;
    WindowUsage usage;
  };
  std::unordered_map<uint64_t, Cached> rcpt_cache{};
};

struct PolicyConfig {
  // For mail without SASL authentication (the same Postfix may receive mail).
  std::string unauthenticated_action = "DUNNO";
  // Postfix's smtpd_sasl_local_domain, if set: sasl_username then ends in
  // "@" and this realm, which is not part of the account name.
  std::string sasl_realm;
  // When the store cannot answer.
  std::string tempfail_action = "451 4.3.0 Sending policy temporarily unavailable; try again later";
};


struct Verdict {
  enum class Kind { dunno, reject, defer, tempfail };
  Kind kind = Kind::dunno;
  std::string action;  // the value of "action=" (no newline)
  std::string reason;  // for the log: what was decided and why (no secrets)
  const char* window = nullptr;  // a limit's refusal: "hourly", "daily" or "monthly"
};

// The outcome of checking `needed` more recipients against a plan's limits.
struct LimitCheck {
  bool fits = true;
  bool never = false;       // needed exceeds a limit outright: it can never fit
  const char* window = "";  // "hourly", "daily" or "monthly"
  uint64_t limit = 0;
  uint64_t used = 0;
  int64_t room_at = 0;  // when enough room returns (Unix seconds)
};

// Pure limit arithmetic. `minutes` are the workspace's non-empty minute
// buckets of the last 24 hours (oldest first), `month_used` its count for the
// current UTC month.
LimitCheck check_limits(const Plan& plan, const std::vector<std::pair<uint64_t, uint64_t>>& minutes,
                        uint64_t month_used, int64_t now, uint64_t needed);

// `accepted` is how many recipients of the same message were accepted at
// RCPT before this one.
// With `shared`, the windows are read from Redis.
Verdict check_rcpt(const Store& store, const PolicyQuery& q, int64_t now, const PolicyConfig& config,
                   uint64_t accepted = 0, SharedWindows* shared = nullptr);

// Decides and commits a batch of END-OF-MESSAGE requests in one write
// transaction, in order, each seeing the ones before it. If the transaction
// fails, every verdict is the temporary failure. `refunds`: queue ids whose
// DUNNO never reached Postfix, taken back in the same transaction (one
// fsync for all) before the batch; *written (optional) says whether the
// transaction committed.
//
// With `shared`, each message is checked and counted in Redis first (a
// script per message; a failure there is the temporary failure for it and
// the rest of the batch), then the accepted ones are recorded in one write
// transaction; if that fails, Redis is given back what it counted. The
// refunds become shared refunds, which drain_shared_refunds carries out.
std::vector<Verdict> commit_end_of_message(Store& store, const std::vector<PolicyQuery>& batch, int64_t now,
                                           const PolicyConfig& config, const std::vector<std::string>& refunds = {},
                                           Status* written = nullptr, SharedWindows* shared = nullptr);

// Carries the store's shared refunds (left by the milter, migo-statd and
// commit_end_of_message) to Redis, at most `max`, and erases those done.
// Returns how many were carried; an error when Redis or the store failed
// (what was not done stays for the next call).
Result<size_t> drain_shared_refunds(Store& store, SharedWindows& shared, size_t max = 256);

// Any request: dispatches by stage (other stages: DUNNO); `accepted` as for
// check_rcpt.
Verdict decide(Store& store, const PolicyQuery& q, int64_t now, const PolicyConfig& config, uint64_t accepted = 0,
               SharedWindows* shared = nullptr);

}  // namespace migo
