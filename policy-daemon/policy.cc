// policy.cc — see policy.h.
#include "policy.h"

#include <chrono>
#include <ctime>

#include "migo/loggable.h"
#include "migo/accounting.h"
#include "migo/credentials.h"

namespace migo {
namespace {

Verdict dunno(std::string reason) { return {Verdict::Kind::dunno, "DUNNO", std::move(reason)}; }

Verdict tempfail(const PolicyConfig& c, const Status& s) {
  return {Verdict::Kind::tempfail, c.tempfail_action, "store unavailable: " + s.message()};
}

// Start of the UTC month after the one containing t.
int64_t next_month(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  gmtime_r(&tt, &tm);
  tm.tm_mday = 1;
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  tm.tm_mon += 1;
  return static_cast<int64_t>(timegm(&tm));
}

// When a rolling window of `span` minutes has freed `excess` recipients.
int64_t room_in_window(const std::vector<std::pair<uint64_t, uint64_t>>& minutes, uint64_t now_minute,
                       uint64_t span, uint64_t excess) {
  uint64_t freed = 0;
  for (const auto& [bucket, n] : minutes) {
    if (bucket + span <= now_minute) continue;  // already outside the window
    freed += n;
    if (freed >= excess) return static_cast<int64_t>((bucket + span) * 60);
  }
  return static_cast<int64_t>((now_minute + span) * 60);  // not reached: whole window
}

// The account a request's sasl_username names, or a verdict refusing it.
struct AccountLookup {
  bool ok = false;
  Account account;
  Plan plan;
  Verdict verdict;
};

AccountLookup lookup(const ReadTxn& t, const PolicyQuery& q, const PolicyConfig& config, Status* error) {
  AccountLookup out;
  auto name = account_name_of_login(q.sasl_username, config.sasl_realm);
  if (!name) {
    out.verdict = {Verdict::Kind::reject, "REJECT SMTP login " + loggable_login(q.sasl_username) + " is not an SMTP account",
                   "malformed sasl_username " + loggable_login(q.sasl_username)};
    return out;
  }
  auto a = t.account_by_username(*name);
  if (!a.ok()) {
    if (a.status().code() != Code::not_found) {
      *error = a.status();
      out.verdict = tempfail(config, a.status());
      return out;
    }
    out.verdict = {Verdict::Kind::reject, "REJECT SMTP account " + *name + " does not exist",
                   "unknown account " + *name};
    return out;
  }
  if (a->status != AccountStatus::active) {
    out.verdict = {Verdict::Kind::reject, "REJECT SMTP account " + *name + " is disabled", "disabled account " + *name};
    return out;
  }
  auto w = t.workspace(a->workspace_id);
  Status s = w.status();
  Result<Plan> p = w.ok() ? t.plan(w->plan) : Result<Plan>(s);
  if (!p.ok()) {
    *error = p.status();
    out.verdict = tempfail(config, p.status());
    return out;
  }
  out.ok = true;
  out.account = std::move(*a);
  out.plan = std::move(*p);
  return out;
}

// The words for a window's remaining room: "this hour", "in the last 24
// hours" (the rolling day), "this month".
const char* period_of(std::string_view window) {
  return window == "hourly" ? "this hour" : window == "daily" ? "in the last 24 hours" : "this month";
}

// A recipient at RCPT that does not fit beside the `accepted` ones before it
// in the same message, while the window still has some room: say how much.
Verdict rcpt_room_verdict(const LimitCheck& c, const std::string& account, uint64_t accepted) {
  std::string left = std::to_string(c.limit - c.used) + " of " + std::to_string(c.limit) + " recipients left " +
                     period_of(c.window);
  return {Verdict::Kind::defer,
          "451 4.7.1 Workspace " + std::string(c.window) + " limit: " + left + ", and this message has " +
              std::to_string(accepted) + " already; room again at " + rfc3339_utc(c.room_at),
          account + ": " + c.window + " limit: " + left + ", message has " + std::to_string(accepted) +
              ", room at " + rfc3339_utc(c.room_at),
          c.window};
}

Verdict limit_verdict(const LimitCheck& c, const std::string& account, uint64_t needed) {
  std::string what = std::string(c.window) + " limit of " + std::to_string(c.limit) + " recipients";
  if (c.never)
    return {Verdict::Kind::reject,
            "REJECT 5.7.1 Message has " + std::to_string(needed) + " recipients; the workspace's " + what +
                " can never fit it",
            account + ": " + std::to_string(needed) + " recipients exceed the " + what, c.window};
  return {Verdict::Kind::defer,
          "451 4.7.1 Workspace " + what + " reached; room again at " + rfc3339_utc(c.room_at),
          account + ": " + what + " reached (" + std::to_string(c.used) + " used, " + std::to_string(needed) +
              " more asked), room at " + rfc3339_utc(c.room_at),
          c.window};
}

}  // namespace

LimitCheck check_limits(const Plan& plan, const std::vector<std::pair<uint64_t, uint64_t>>& minutes,
                        uint64_t month_used, int64_t now, uint64_t needed) {
  const uint64_t now_minute = static_cast<uint64_t>(now) / 60;
  uint64_t hour = 0, day = 0;
  for (const auto& [bucket, n] : minutes) {
    if (bucket + 1440 <= now_minute || bucket > now_minute) continue;
    day += n;
    if (bucket + 60 > now_minute) hour += n;
  }
  struct Window {
    const char* name;
    uint64_t used, limit, span;  // span in minutes; 0 = calendar month
  };
  // Checked from the shortest window out: its room returns first, and a
  // client told "room at 14:05" should not find the day full at 14:05
  // without having been told. So report the window whose room returns last.
  LimitCheck worst;
  for (const Window& w : {Window{"hourly", hour, plan.hourly, 60}, Window{"daily", day, plan.daily, 1440},
                          Window{"monthly", month_used, plan.monthly, 0}}) {
    if (w.used + needed <= w.limit) continue;
    LimitCheck c;
    c.fits = false;
    c.window = w.name;
    c.limit = w.limit;
    c.used = w.used;
    c.never = needed > w.limit;
    c.room_at = w.span ? room_in_window(minutes, now_minute, w.span, w.used + needed - w.limit) : next_month(now);
    if (c.never) return c;
    if (worst.fits || c.room_at > worst.room_at) worst = c;
  }
  return worst;
}

namespace {
// Whether the account's workspace has room for `needed` more recipients now.
Result<LimitCheck> room_for(const ReadTxn& t, const AccountLookup& a, int64_t now, uint64_t needed) {
  auto minutes = t.usage_minutes(a.account.workspace_id, now);
  if (!minutes.ok()) return minutes.status();
  auto month = t.month_usage(a.account.workspace_id, now);
  if (!month.ok()) return month.status();
  return check_limits(a.plan, *minutes, *month, now, needed);
}
}  // namespace

namespace {
// The verdict at RCPT once the room for accepted + 1 is known.
Verdict rcpt_verdict(const LimitCheck& c, const std::string& username, uint64_t accepted) {
  // A 451 either way when the message already has recipients: this one
  // fits a later message, so it is never "can never fit" (c.never was
  // judged for accepted + 1, not for this recipient alone).
  if (c.fits) return dunno(username + ": room for more recipients");
  if (accepted > 0 && c.used < c.limit) return rcpt_room_verdict(c, username, accepted);
  LimitCheck alone = c;
  alone.never = c.limit < 1;
  return limit_verdict(alone, username, 1);
}

Verdict redis_tempfail(const PolicyConfig& c, const Status& s) {
  return {Verdict::Kind::tempfail, c.tempfail_action, "shared counters unavailable: " + s.message()};
}

// The room in a workspace's shared windows, by the same arithmetic as the
// store's. `cached`: RCPT's read may be SharedWindows::rcpt_cache_ms old.
Result<LimitCheck> shared_room(SharedWindows& shared, const AccountLookup& a, int64_t now, uint64_t needed,
                               bool cached = false) {
  const uint64_t ws = a.account.workspace_id;
  if (cached && shared.rcpt_cache_ms > 0) {
    auto it = shared.rcpt_cache.find(ws);
    if (it != shared.rcpt_cache.end() &&
        std::chrono::steady_clock::now() - it->second.at < std::chrono::milliseconds(shared.rcpt_cache_ms))
      return check_limits(a.plan, it->second.usage.minutes, it->second.usage.month, now, needed);
  }
  auto u = shared.redis->usage(ws, now);
  if (!u.ok()) return u.status();
  if (shared.rcpt_cache_ms > 0) {
    if (shared.rcpt_cache.size() > 100000) shared.rcpt_cache.clear();  // bounded: a day's workspaces at most
    shared.rcpt_cache[ws] = {std::chrono::steady_clock::now(), *u};
  }
  return check_limits(a.plan, u->minutes, u->month, now, needed);
}

std::string shared_queue_id(const SharedWindows& shared, std::string_view queue_id) {
  return shared.relay + "/" + std::string(queue_id);
}
}  // namespace

Verdict check_rcpt(const Store& store, const PolicyQuery& q, int64_t now, const PolicyConfig& config,
                   uint64_t accepted, SharedWindows* shared) {
  if (q.sasl_username.empty()) return {Verdict::Kind::dunno, config.unauthenticated_action, "not authenticated"};
  Verdict v;
  Status error;
  AccountLookup found;
  Status s = store.read([&](const ReadTxn& t) -> Status {
    AccountLookup a = lookup(t, q, config, &error);
    if (!a.ok) {
      v = a.verdict;
      return error;
    }
    if (shared) {
      found = std::move(a);  // the windows are read after the transaction
      return {};
    }
    auto c = room_for(t, a, now, accepted + 1);
    if (!c.ok()) return c.status();
    v = rcpt_verdict(*c, a.account.username, accepted);
    return {};
  });
  if (!s.ok()) return tempfail(config, s);
  if (shared && found.ok) {
    auto c = shared_room(*shared, found, now, accepted + 1, true);
    if (!c.ok()) return redis_tempfail(config, c.status());
    v = rcpt_verdict(*c, found.account.username, accepted);
  }
  return v;
}

namespace {
// END-OF-MESSAGE on the shared windows: see commit_end_of_message.
std::vector<Verdict> commit_shared(Store& store, SharedWindows& shared, const std::vector<PolicyQuery>& batch,
                                   int64_t now, const PolicyConfig& config, const std::vector<std::string>& refunds,
                                   Status* written) {
  std::vector<Verdict> out(batch.size());
  std::vector<AccountLookup> found(batch.size());
  Status s = store.read([&](const ReadTxn& t) -> Status {
    for (size_t i = 0; i < batch.size(); i++) {
      if (batch[i].sasl_username.empty()) {
        out[i] = {Verdict::Kind::dunno, config.unauthenticated_action, "not authenticated"};
        continue;
      }
      Status error;
      found[i] = lookup(t, batch[i], config, &error);
      if (!error.ok()) return error;
      if (!found[i].ok) out[i] = found[i].verdict;
    }
    return {};
  });
  if (written) *written = s;
  if (!s.ok()) return std::vector<Verdict>(batch.size(), tempfail(config, s));
  // Redis first: the check and the count in one script per message.
  std::vector<size_t> counted;   // to record in the store
  std::vector<size_t> new_ones;  // counted in Redis by this call (not duplicates)
  Status down;
  for (size_t i = 0; i < batch.size(); i++) {
    if (!found[i].ok) continue;
    const PolicyQuery& q = batch[i];
    const AccountLookup& a = found[i];
    if (!down.ok()) {
      out[i] = redis_tempfail(config, down);
      continue;
    }
    auto c = shared.redis->commit(a.account.workspace_id, shared_queue_id(shared, q.queue_id), q.recipient_count, now,
                                  a.plan);
    if (!c.ok()) {
      // The rest of the batch would fail alike: no more waiting on Redis.
      down = c.status();
      out[i] = redis_tempfail(config, down);
      continue;
    }
    if (c->fits) {
      counted.push_back(i);
      if (!c->duplicate) new_ones.push_back(i);
      continue;
    }
    // Refused: the same verdict, with when room returns, as the store's.
    auto room = shared_room(shared, a, now, q.recipient_count);
    LimitCheck lc;
    if (room.ok() && !room->fits) {
      lc = *room;
    } else {  // (the windows changed meanwhile) the script's numbers
      lc.fits = false;
      lc.window = c->window;
      lc.limit = c->limit;
      lc.used = c->used;
      lc.never = q.recipient_count > c->limit;
      lc.room_at = (now / 60 + 1) * 60;
    }
    out[i] = limit_verdict(lc, a.account.username, q.recipient_count);
  }
  if (counted.empty() && refunds.empty()) return out;
  s = store.write([&](WriteTxn& t) -> Status {
    for (const std::string& qid : refunds) MIGO_TRY(refund_recipients(t, qid));
    for (size_t i : counted)
      MIGO_TRY(commit_recipients(t, found[i].account, batch[i].queue_id, batch[i].recipient_count, now, true));
    return {};
  });
  if (written) *written = s;
  if (!s.ok()) {
    // Not recorded here, so not accepted: Redis takes back what it counted
    // (if it cannot, the workspace loses that room: the safe side).
    for (size_t i : new_ones)
      (void)shared.redis->refund(found[i].account.workspace_id, shared_queue_id(shared, batch[i].queue_id));
    for (size_t i : counted) out[i] = tempfail(config, s);
    return out;
  }
  for (size_t i : counted)
    out[i] = dunno(found[i].account.username + ": " + std::to_string(batch[i].recipient_count) +
                   " recipients counted (shared)");
  return out;
}
}  // namespace

Result<size_t> drain_shared_refunds(Store& store, SharedWindows& shared, size_t max) {
  std::vector<std::pair<std::string, uint64_t>> pending;
  Status read = store.read([&](const ReadTxn& t) -> Status {
    auto r = t.shared_refunds(max);
    if (!r.ok()) return r.status();
    pending = std::move(*r);
    return {};
  });
  if (!read.ok()) return read;
  if (pending.empty()) return size_t{0};
  std::vector<std::string> done;
  Status failed;
  for (const auto& [qid, ws] : pending) {
    // Idempotent in Redis: a refund carried before a crash, again, is 0.
    auto r = shared.redis->refund(ws, shared_queue_id(shared, qid));
    if (!r.ok()) {
      failed = r.status();
      break;
    }
    done.push_back(qid);
  }
  if (!done.empty()) {
    Status erased = store.write([&](WriteTxn& t) -> Status {
      for (const std::string& qid : done) MIGO_TRY(t.erase_shared_refund(qid));
      return {};
    });
    if (!erased.ok()) return erased;
  }
  if (!failed.ok()) return failed;
  return done.size();
}

std::vector<Verdict> commit_end_of_message(Store& store, const std::vector<PolicyQuery>& batch, int64_t now,
                                           const PolicyConfig& config, const std::vector<std::string>& refunds,
                                           Status* written, SharedWindows* shared) {
  if (shared) return commit_shared(store, *shared, batch, now, config, refunds, written);
  std::vector<Verdict> out;
  Status s = store.write([&](WriteTxn& t) -> Status {
    out.clear();  // the callback may run again after the map grows
    // First what is given back, so the batch sees the room it frees.
    for (const std::string& qid : refunds) MIGO_TRY(refund_recipients(t, qid));
    for (const PolicyQuery& q : batch) {
      if (q.sasl_username.empty()) {
        out.push_back({Verdict::Kind::dunno, config.unauthenticated_action, "not authenticated"});
        continue;
      }
      Status error;
      AccountLookup a = lookup(t, q, config, &error);
      if (!error.ok()) return error;
      if (!a.ok) {
        out.push_back(a.verdict);
        continue;
      }
      auto c = room_for(t, a, now, q.recipient_count);
      if (!c.ok()) return c.status();
      if (!c->fits) {
        out.push_back(limit_verdict(*c, a.account.username, q.recipient_count));
        continue;
      }
      MIGO_TRY(commit_recipients(t, a.account, q.queue_id, q.recipient_count, now));
      out.push_back(dunno(a.account.username + ": " + std::to_string(q.recipient_count) + " recipients counted"));
    }
    return {};
  });
  if (written) *written = s;
  if (!s.ok()) return std::vector<Verdict>(batch.size(), tempfail(config, s));
  return out;
}

Verdict decide(Store& store, const PolicyQuery& q, int64_t now, const PolicyConfig& config, uint64_t accepted,
               SharedWindows* shared) {
  switch (q.stage) {
    case PolicyQuery::Stage::rcpt: return check_rcpt(store, q, now, config, accepted, shared);
    case PolicyQuery::Stage::end_of_message:
      return commit_end_of_message(store, {q}, now, config, {}, nullptr, shared).front();
    case PolicyQuery::Stage::other: break;
  }
  return dunno("protocol state " + q.protocol_state + " is not checked");
}

}  // namespace migo
