// accounting.h — counting accepted recipients against an account and its
// workspace, and taking them back. The one place these rules live: the
// policy daemon commits at END-OF-MESSAGE; the milter (a message it refuses
// after that) and the statistics follower (a message Postfix never queued)
// refund by queue id.
//
// Postfix evaluates smtpd_end_of_data_restrictions right after the final
// dot, before it hands the message to cleanup, where the milters give their
// end-of-message verdict and the queue file is finished. So a commit at
// END-OF-MESSAGE may be followed by a refusal; the queue entry written with
// the commit is what makes the refund exact and idempotent.
#pragma once

#include <string_view>

#include "migo/store.h"

namespace migo {

// Counts n recipients of message `queue_id` for `account` at `now`: the
// workspace's usage windows, the account's statistics (total sent, sent
// this month, last used) and a queue entry. A queue id already counted is
// not counted twice (returns ok). `shared`: the recipients were counted on
// the relays' shared counters too (Redis, cluster/), which a refund must
// then reach.
Status commit_recipients(WriteTxn& t, const Account& account, std::string_view queue_id, uint32_t n, int64_t now,
                         bool shared = false);

// Takes back what commit_recipients counted for `queue_id` and forgets the
// queue entry. *refunded (optional) gets the recipients taken back: 0 if the
// queue id was not (or no longer) counted. A message counted on the shared
// counters leaves a shared_refunds entry: the milter and migo-statd, which
// refund too, never talk to Redis; migo-policyd carries it out.
Status refund_recipients(WriteTxn& t, std::string_view queue_id, uint32_t* refunded = nullptr);

}  // namespace migo
