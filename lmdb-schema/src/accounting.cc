// accounting.cc — see accounting.h.
#include "migo/accounting.h"

namespace migo {

Status commit_recipients(WriteTxn& t, const Account& account, std::string_view queue_id, uint32_t n, int64_t now,
                         bool shared) {
  auto existing = t.queue_entry(queue_id);
  if (existing.ok()) return {};  // already counted: a retried END-OF-MESSAGE
  if (existing.status().code() != Code::not_found) return existing.status();
  MIGO_TRY(t.add_usage(account.workspace_id, now, n));
  auto stats = t.stats(account.id);
  if (!stats.ok()) return stats.status();
  uint32_t month = month_of(now);
  stats->sent_this_month = stats->sent_in(month) + n;
  stats->month = month;
  stats->total_sent += n;
  stats->last_used = now;
  MIGO_TRY(t.put_stats(account.id, *stats));
  QueueEntry e{account.id, now, n};
  e.shared = shared;
  return t.put_queue(queue_id, e);
}

Status refund_recipients(WriteTxn& t, std::string_view queue_id, uint32_t* refunded) {
  if (refunded) *refunded = 0;
  auto e = t.queue_entry(queue_id);
  if (!e.ok()) return e.status().code() == Code::not_found ? Status() : e.status();
  MIGO_TRY(t.erase_queue(queue_id));
  auto account = t.account(e->account_id);
  if (e->shared && e->recipients > 0) {
    // Whatever became of the account, the workspace's shared windows hold
    // these recipients until migo-policyd takes them back.
    uint64_t ws = account.ok() ? account->workspace_id : 0;
    if (ws) MIGO_TRY(t.put_shared_refund(queue_id, ws));
  }
  if (!account.ok()) {
    // Deleted meanwhile (with --force): its statistics went with it.
    return account.status().code() == Code::not_found ? Status() : account.status();
  }
  MIGO_TRY(t.remove_usage(account->workspace_id, e->queued_at, e->recipients));
  auto stats = t.stats(account->id);
  if (!stats.ok()) return stats.status();
  auto sub = [](uint64_t a, uint64_t b) { return a > b ? a - b : 0; };
  stats->total_sent = sub(stats->total_sent, e->recipients);
  if (stats->month == month_of(e->queued_at)) stats->sent_this_month = sub(stats->sent_this_month, e->recipients);
  MIGO_TRY(t.put_stats(account->id, *stats));
  if (refunded) *refunded = e->recipients;
  return {};
}

}  // namespace migo
