// filter.cc — see filter.h.
#include "filter.h"

#include "from_header.h"
#include "migo/accounting.h"
#include "migo/domain.h"
#include "migo/loggable.h"
#include "migo/tag.h"

namespace migo {

Result<bool> domain_allowed(const ReadTxn& t, uint64_t ws, const std::string& domain) {
  // The domain itself, then each parent (for entries added with
  // --include-subdomains).
  for (size_t at = 0; at != std::string::npos;) {
    std::string candidate = domain.substr(at);
    auto d = t.domain(ws, candidate);
    if (d.ok()) {
      if (domain_covers(*d, domain)) return true;
    } else if (d.status().code() != Code::not_found) {
      return d.status();
    }
    at = domain.find('.', at);
    if (at != std::string::npos) at++;
  }
  return false;
}

FilterDecision decide_message(Store& store, const Secret& key, const MilterConfig& config, const std::string& login,
                              const std::vector<std::string>& froms, const std::string& queue_id, int64_t now) {
  FilterDecision d;
  auto reject = [&](std::string reply, std::string log) {
    d.kind = FilterDecision::Kind::reject;
    d.reply = std::move(reply);
    d.log = std::move(log);
  };
  if (login.empty()) {
    if (config.reject_unauthenticated) reject("5.7.1 Authentication required", "not authenticated");
    else d.log = "not authenticated: passed untouched";
    return d;
  }
  auto name = account_name_of_login(login, config.sasl_realm);
  // Decide in a read transaction: most messages need no write at all, and a
  // write would take LMDB's one write lock (shared with every daemon) and,
  // with a change, an fsync.
  uint64_t account_id = 0;
  bool need_queue_entry = false;
  Status s = store.read([&](const ReadTxn& t) -> Status {
    d = FilterDecision{};
    if (!name) {
      reject("5.7.1 Not an SMTP account", "login " + loggable_login(login) + " is not an account");
      return {};
    }
    auto a = t.account_by_username(*name);
    if (!a.ok()) {
      if (a.status().code() != Code::not_found) return a.status();
      reject("5.7.1 SMTP account " + *name + " does not exist", "unknown account " + *name);
      return {};
    }
    account_id = a->id;
    if (a->status != AccountStatus::active) {
      reject("5.7.1 SMTP account " + *name + " is disabled", "disabled account " + *name);
      return {};
    }
    if (froms.size() != 1) {
      reject("5.7.1 Message must have exactly one From header (it has " + std::to_string(froms.size()) + ")",
             *name + ": " + std::to_string(froms.size()) + " From headers");
      return {};
    }
    auto mailboxes = parse_from(froms[0]);
    if (!mailboxes.ok()) {
      reject("5.7.1 Malformed From header", *name + ": " + mailboxes.status().message());
      return {};
    }
    for (const Mailbox& m : *mailboxes) {
      auto domain = normalize_domain(m.domain);
      std::string shown = domain.ok() ? *domain : loggable_text(m.domain);
      Result<bool> ok = domain.ok() ? domain_allowed(t, a->workspace_id, *domain) : Result<bool>(false);
      if (!ok.ok()) return ok.status();
      if (!*ok) {
        reject("5.7.1 From domain " + shown + " is not verified for this account's workspace",
               *name + ": From domain " + shown + " not verified");
        return {};
      }
    }
    d.kind = FilterDecision::Kind::accept;
    d.tag = make_tag(key, a->id, queue_id, now);
    d.log = *name + ": From verified, tagged";
    auto existing = t.queue_entry(queue_id);
    if (!existing.ok() && existing.status().code() != Code::not_found) return existing.status();
    need_queue_entry = !existing.ok();
    return {};
  });
  if (s.ok() && d.kind == FilterDecision::Kind::accept && need_queue_entry) {
    // No policy service wrote the entry at END-OF-MESSAGE: record the
    // account here (unless someone did meanwhile).
    s = store.write([&](WriteTxn& t) -> Status {
      auto existing = t.queue_entry(queue_id);
      if (existing.ok()) return {};
      if (existing.status().code() != Code::not_found) return existing.status();
      return t.put_queue(queue_id, QueueEntry{account_id, now, 0});
    });
  } else if (s.ok() && d.kind == FilterDecision::Kind::reject && !queue_id.empty()) {
    // Refused here, after the policy daemon counted it: take the count back.
    s = store.write([&](WriteTxn& t) { return refund_recipients(t, queue_id, &d.refunded); });
  }
  if (!s.ok()) {
    d = FilterDecision{};
    d.kind = FilterDecision::Kind::tempfail;
    d.reply = "4.3.0 Sender check temporarily unavailable; try again later";
    d.log = "store unavailable: " + s.message();
  }
  return d;
}

}  // namespace migo
