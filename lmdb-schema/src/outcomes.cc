// outcomes.cc — see outcomes.h.
#include "migo/outcomes.h"

#include <algorithm>
#include <cctype>

#include "migo/credentials.h"

namespace migo {
namespace {

// Dedup key of one outcome: a kind byte and SHA-256 of queue id and
// recipient (recipients are unbounded text; LMDB keys are not). Addresses
// compare without case: receivers and Postfix disagree on it freely.
std::string outcome_key(char kind, std::string_view queue_id, std::string_view recipient) {
  std::string r(recipient);
  std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::string(1, kind) + sha256(std::string(queue_id) + '\0' + r);
}

// The kinds of keys in `reports` (SCHEMA.md).
constexpr char kBounced = 'b';           // (queue id, recipient) bounce counted
constexpr char kComplained = 'c';        // (queue id, recipient or "") complaint counted
constexpr char kDelivered = 'd';         // (queue id, recipient) delivered, per the log
constexpr char kDeliveredMessage = 'm';  // (queue id, "") delivered to someone

uint64_t minus(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }


// Whether the account still exists (it may have been deleted with --force).
Result<bool> account_exists(WriteTxn& t, uint64_t id) {
  auto a = t.account(id);
  if (a.ok()) return true;
  if (a.status().code() == Code::not_found) return false;
  return a.status();
}

}  // namespace

const char* attribution_name(Attribution a) noexcept {
  switch (a) {
    case Attribution::counted: return "counted";
    case Attribution::duplicate: return "duplicate";
    case Attribution::unattributed: return "unattributed";
    case Attribution::unknown_recipient: return "unknown_recipient";
  }
  return "?";
}

Result<Attribution> record_delivery(WriteTxn& t, std::string_view queue_id, std::string_view recipient,
                                    Delivery d, int64_t now, uint64_t* account) {
  auto e = t.queue_entry(queue_id);
  if (!e.ok()) return e.status().code() == Code::not_found ? Result<Attribution>(Attribution::unattributed) : e.status();
  if (account) *account = e->account_id;
  auto exists = account_exists(t, e->account_id);
  if (!exists.ok()) return exists.status();
  if (!*exists) return Attribution::unattributed;  // deleted with --force
  auto s = t.stats(e->account_id);
  if (!s.ok()) return s.status();
  if (d == Delivery::deferred) {
    s->deferred++;
  } else {
    // A final outcome: the queue entry remembers it for "status=expired".
    (d == Delivery::sent ? e->delivered : e->bounced)++;
    MIGO_TRY(t.put_queue(queue_id, *e));
    if (d == Delivery::sent) {
      s->delivered++;
      // What later reports are checked against (outcomes.h).
      MIGO_TRY(t.mark_report(outcome_key(kDelivered, queue_id, recipient), now).status());
      MIGO_TRY(t.mark_report(outcome_key(kDeliveredMessage, queue_id, ""), now).status());
    } else {
      auto first = t.mark_report(outcome_key(kBounced, queue_id, recipient), now);
      if (!first.ok()) return first.status();
      if (!*first) return Attribution::duplicate;  // a DSN for it was fed in first
      s->bounced++;
    }
  }
  MIGO_TRY(t.put_stats(e->account_id, *s));
  return Attribution::counted;
}

Result<Attribution> record_expired(WriteTxn& t, std::string_view queue_id, int64_t, uint64_t* account) {
  auto e = t.queue_entry(queue_id);
  if (!e.ok()) return e.status().code() == Code::not_found ? Result<Attribution>(Attribution::unattributed) : e.status();
  if (account) *account = e->account_id;
  auto exists = account_exists(t, e->account_id);
  if (!exists.ok()) return exists.status();
  if (!*exists) return Attribution::unattributed;
  uint64_t pending = minus(e->recipients, uint64_t{e->delivered} + e->bounced);
  if (pending == 0) return Attribution::duplicate;  // nothing left, or seen before
  auto s = t.stats(e->account_id);
  if (!s.ok()) return s.status();
  s->bounced += pending;
  e->bounced += static_cast<uint32_t>(pending);
  MIGO_TRY(t.put_stats(e->account_id, *s));
  MIGO_TRY(t.put_queue(queue_id, *e));
  return Attribution::counted;
}

Status record_removed(WriteTxn& t, std::string_view queue_id) { return t.erase_queue(queue_id); }

namespace {
// A reported outcome for the tagged message's account: counted by `apply`
// unless the account is gone or the (kind, queue id, recipient) was counted.
Result<Attribution> record_reported(WriteTxn& t, const TagFields& tag, char kind, std::string_view recipient,
                                    int64_t now, void (*apply)(AccountStats&)) {
  auto exists = account_exists(t, tag.account_id);
  if (!exists.ok()) return exists.status();
  if (!*exists) return Attribution::unattributed;
  // Only a recipient the message was delivered to (outcomes.h); a complaint
  // that names nobody, only a message delivered to someone.
  auto real = recipient.empty() ? t.report_seen(outcome_key(kDeliveredMessage, tag.queue_id, ""))
                                : t.report_seen(outcome_key(kDelivered, tag.queue_id, recipient));
  if (!real.ok()) return real.status();
  if (!*real) {
    // A bounce Postfix logged itself was counted then: the report repeats it.
    auto bounced = kind == kBounced ? t.report_seen(outcome_key(kBounced, tag.queue_id, recipient)) : Result<bool>(false);
    if (!bounced.ok()) return bounced.status();
    return *bounced ? Attribution::duplicate : Attribution::unknown_recipient;
  }
  auto first = t.mark_report(outcome_key(kind, tag.queue_id, recipient), now);
  if (!first.ok()) return first.status();
  if (!*first) return Attribution::duplicate;
  auto s = t.stats(tag.account_id);
  if (!s.ok()) return s.status();
  apply(*s);
  MIGO_TRY(t.put_stats(tag.account_id, *s));
  return Attribution::counted;
}
}  // namespace

Result<Attribution> record_async_bounce(WriteTxn& t, const TagFields& tag, std::string_view recipient,
                                        int64_t now) {
  return record_reported(t, tag, kBounced, recipient, now, [](AccountStats& s) {
    s.bounced++;
    s.delivered = minus(s.delivered, 1);  // it had been handed over: counted delivered then
  });
}

Result<Attribution> record_complaint(WriteTxn& t, const TagFields& tag, std::string_view recipient, int64_t now) {
  return record_reported(t, tag, kComplained, recipient, now, [](AccountStats& s) { s.complaints++; });
}

std::optional<double> open_rate(const AccountStats& s) {
  if (s.delivered == 0) return std::nullopt;
  return static_cast<double>(s.unique_opens) / static_cast<double>(s.delivered);
}
std::optional<double> click_rate(const AccountStats& s) {
  if (s.delivered == 0) return std::nullopt;
  return static_cast<double>(s.unique_clicks) / static_cast<double>(s.delivered);
}

std::optional<double> delivery_rate(const AccountStats& s) {
  uint64_t denom = s.delivered + s.bounced;
  if (denom == 0) return std::nullopt;
  return static_cast<double>(s.delivered) / static_cast<double>(denom);
}

}  // namespace migo
