// outcomes.h — what became of accepted mail, counted against the account
// that sent it. The one place these rules live: the statistics follower
// (Postfix's log) and `migoctl ingest-dsn` / `ingest-arf` (reports that
// receivers send later) both call these.
//
//   delivered   a recipient's "status=sent" line
//   bounced     a recipient's "status=bounced" line; the recipients still
//               pending when Postfix logs "status=expired"; a receiver's
//               DSN with Action: failed (an asynchronous bounce: the
//               recipient was counted delivered when our Postfix handed it
//               over, so it moves from delivered to bounced)
//   deferred    every "status=deferred" line (delivery attempts that will be
//               retried: a recipient deferred three times counts three)
//   complaints  an RFC 5965 report about a message (once per message and
//               reporting recipient)
//
// A bounce is counted once per (queue id, recipient) whichever way it is
// learnt first — our own log line, or a DSN fed in later — and a complaint
// once per (queue id, recipient); the dedup keys live in the store's
// `reports` table. delivery rate = delivered / (delivered + bounced).
//
// Reports are client-made text: anyone who received one genuine tag can
// quote it in reports listing any recipients. So a report counts only for a
// recipient the message really had: one Postfix's log said it delivered
// (a `sent` line leaves a keyed marker in `reports`), and a complaint
// without a recipient only for a message delivered to someone, once. Per
// message, bounces and complaints can therefore never exceed its real
// recipients. A report about a recipient the log has not shown delivered
// (yet) is `unknown_recipient` and counts nothing.
#pragma once

#include <optional>
#include <string_view>

#include "migo/store.h"
#include "migo/tag.h"

namespace migo {

enum class Attribution {
  counted,       // the account's statistics changed
  duplicate,     // already counted (the same bounce or complaint seen again)
  unattributed,  // no queue entry / no such account any more: nobody's
  unknown_recipient,  // a report about a recipient the message was not delivered to
};
const char* attribution_name(Attribution a) noexcept;

enum class Delivery { sent, bounced, deferred };

// One recipient's delivery result from Postfix's log, by queue id. *account
// (optional) gets the account id when attributed.
Result<Attribution> record_delivery(WriteTxn& t, std::string_view queue_id, std::string_view recipient,
                                    Delivery d, int64_t now, uint64_t* account = nullptr);

// Postfix gave up on the message: recipients not yet delivered or bounced
// are bounced.
Result<Attribution> record_expired(WriteTxn& t, std::string_view queue_id, int64_t now,
                                   uint64_t* account = nullptr);

// Postfix removed the queue file: the queue entry is forgotten (absent is ok).
Status record_removed(WriteTxn& t, std::string_view queue_id);

// A receiver's DSN says `recipient` of the tagged message failed.
Result<Attribution> record_async_bounce(WriteTxn& t, const TagFields& tag, std::string_view recipient,
                                        int64_t now);

// A receiver's complaint (ARF) about the tagged message; `recipient` is the
// report's Original-Rcpt-To, empty when the report does not say.
Result<Attribution> record_complaint(WriteTxn& t, const TagFields& tag, std::string_view recipient,
                                     int64_t now);

// delivered / (delivered + bounced), 0..1; nullopt while both are 0.
std::optional<double> delivery_rate(const AccountStats& s);
// People's unique opens and unique clicks over messages delivered (machines'
// events are not in them); nullopt before anything was delivered.
std::optional<double> open_rate(const AccountStats& s);
std::optional<double> click_rate(const AccountStats& s);

}  // namespace migo
