// filter.cc — see filter.h.
#include "filter.h"

#include "from_header.h"
#include "migo/accounting.h"
#include "migo/domain.h"
#include "migo/loggable.h"
#include "migo/tag.h"

namespace migo {

namespace {
// The verified domain record of workspace `ws` that covers `domain`: the
// domain itself, then each parent (for entries added with
// --include-subdomains). not_found if none.
Result<Domain> covering_domain(const ReadTxn& t, uint64_t ws, const std::string& domain) {
  for (size_t at = 0; at != std::string::npos;) {
    std::string candidate = domain.substr(at);
    auto d = t.domain(ws, candidate);
    if (d.ok()) {
      if (domain_covers(*d, domain)) return d;
    } else if (d.status().code() != Code::not_found) {
      return d.status();
    }
    at = domain.find('.', at);
    if (at != std::string::npos) at++;
  }
  return Status(Code::not_found, "no verified domain covers " + domain);
}
}  // namespace

Status refund_message(Store& store, const std::string& queue_id, uint32_t* refunded) {
  *refunded = 0;
  if (queue_id.empty()) return {};
  return store.write([&](WriteTxn& t) { return refund_recipients(t, queue_id, refunded); });
}

Result<bool> domain_allowed(const ReadTxn& t, uint64_t ws, const std::string& domain) {
  auto d = covering_domain(t, ws, domain);
  if (d.ok()) return true;
  if (d.status().code() == Code::not_found) return false;
  return d.status();
}

Result<MessagePlan> plan_message(const Store& store, const MilterConfig& config, const std::string& login,
                                 const std::vector<std::string>& froms) {
  MessagePlan out;
  SigningPlan& plan = out.signing;
  auto name = account_name_of_login(login, config.sasl_realm);
  if (login.empty() || !name) return out;
  Status s = store.read([&](const ReadTxn& t) -> Status {
    auto a = t.account_by_username(*name);
    if (!a.ok()) return a.status().code() == Code::not_found ? Status() : a.status();
    if (a->status != AccountStatus::active) return {};
    auto w = t.workspace(a->workspace_id);
    if (!w.ok()) return w.status();
    out.account_id = a->id;
    out.tracking = tracking_for(*w, *a);
    if (froms.size() != 1) return {};
    auto mailboxes = parse_from(froms[0]);
    if (!mailboxes.ok() || mailboxes->empty()) return {};
    // Signed by the first address's domain: a From with several addresses
    // in different domains is still signed for one of them, and
    // decide_message checks every address.
    auto domain = normalize_domain((*mailboxes)[0].domain);
    if (!domain.ok()) return {};
    auto d = covering_domain(t, a->workspace_id, *domain);
    if (!d.ok()) return d.status().code() == Code::not_found ? Status() : d.status();
    for (const DkimKey* k : signing_keys(*d))
      if (k->algorithm == DkimAlgorithm::rsa_sha256 || !plan.keys.empty())  // RSA first, Ed25519 beside it
        plan.keys.push_back({k->selector, k->algorithm});
    plan.sign = !plan.keys.empty();
    if (plan.sign) plan.domain = d->name;
    return {};
  });
  if (!s.ok()) return s;
  return out;
}

TrackingPlan narrow_tracking(TrackingPlan plan, const std::vector<std::string>& header_values) {
  auto lower_trimmed = [](std::string_view v) {
    std::string out;
    for (char c : v)
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  };
  for (const std::string& value : header_values) {
    std::string v = lower_trimmed(value);
    size_t at = 0;
    while (at <= v.size()) {
      size_t end = v.find_first_of(",;", at);
      if (end == std::string::npos) end = v.size();
      std::string item = v.substr(at, end - at);
      at = end + 1;
      size_t eq = item.find('=');
      if (eq == std::string::npos) continue;
      std::string key = item.substr(0, eq), val = item.substr(eq + 1);
      bool no = val == "no" || val == "off" || val == "false" || val == "0";
      if (key == "opens" && no) plan.opens = false;
      if (key == "clicks" && plan.clicks != ClickTracking::off) {
        if (no) plan.clicks = ClickTracking::off;
        else if (val == "html-only" || val == "html") plan.clicks = ClickTracking::html;
        else if (val == "all") plan.clicks = ClickTracking::all;
      }
    }
  }
  return plan;
}

FilterDecision decide_message(Store& store, const Secret& key, const MilterConfig& config, const std::string& login,
                              const std::vector<std::string>& froms, const std::string& queue_id, int64_t now,
                              const std::string& mail_from) {
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
    std::string from_record;  // the verified domain covering the first address
    for (const Mailbox& m : *mailboxes) {
      auto domain = normalize_domain(m.domain);
      std::string shown = domain.ok() ? *domain : loggable_text(m.domain);
      Result<Domain> cover = Status(Code::not_found, "not a domain");
      if (domain.ok()) cover = covering_domain(t, a->workspace_id, *domain);
      if (!cover.ok() && cover.status().code() != Code::not_found) return cover.status();
      if (!cover.ok()) {
        reject("5.7.1 From domain " + shown + " is not verified for this account's workspace",
               *name + ": From domain " + shown + " not verified");
        return {};
      }
      if (from_record.empty()) from_record = cover->name;
    }
    // The envelope sender: kept when it is on a verified domain of the
    // workspace (the customer handles its bounces); otherwise the relay's
    // own return path on the From domain's bounce subdomain, so bounces come
    // back here and SPF aligns with From (or refused, as configured).
    std::string return_path, return_note;
    if (!mail_from.empty() && config.unverified_sender != MilterConfig::UnverifiedSender::keep) {
      size_t at = mail_from.rfind('@');
      auto env = at == std::string::npos ? Result<std::string>(Status(Code::invalid, "no domain"))
                                         : normalize_domain(mail_from.substr(at + 1));
      Result<bool> env_ok = env.ok() ? domain_allowed(t, a->workspace_id, *env) : Result<bool>(false);
      if (!env_ok.ok()) return env_ok.status();
      if (!*env_ok) {
        std::string shown = env.ok() ? *env : loggable_text(mail_from);
        if (config.unverified_sender == MilterConfig::UnverifiedSender::refuse) {
          reject("5.7.1 Envelope sender domain " + shown + " is not verified for this account's workspace",
                 *name + ": envelope sender domain " + shown + " not verified");
          return {};
        }
        auto rp = make_return_path(key, a->id, queue_id, now, from_record);
        if (rp) return_path = *rp;
        else return_note = "; no return path could be made (queue id too long, or no From address), envelope sender kept";
      }
    }
    d.kind = FilterDecision::Kind::accept;
    d.tag = make_tag(key, a->id, queue_id, now);
    d.return_path = return_path;
    d.log = *name + ": From verified, tagged" + (return_path.empty() ? "" : ", return path " + return_path) + return_note;
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
    s = refund_message(store, queue_id, &d.refunded);
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

namespace migo {

MessageTracking message_tracking(const TrackingKeys& keys, const TrackingPlan& plan, const std::string& host,
                                 uint64_t account_id, const std::string& queue_id, int64_t now,
                                 const std::vector<std::string>& list_unsubscribe) {
  MessageTracking m;
  const std::string base = "https://" + host + "/";
  if (plan.clicks != ClickTracking::off) {
    m.html.click = [&keys, base, account_id, queue_id, now](const std::string& url,
                                                             uint16_t index) -> std::optional<std::string> {
      auto token = make_track_token(keys, {TrackToken::Kind::click, account_id, now, queue_id, index, url});
      if (!token) return std::nullopt;
      return base + "c/" + *token;
    };
  }
  if (plan.opens) {
    if (auto token = make_track_token(keys, {TrackToken::Kind::open, account_id, now, queue_id, 0, ""}))
      m.html.pixel_url = base + "o/" + *token;
  }
  m.html.tracking_host = host;
  for (const std::string& v : list_unsubscribe)
    for (std::string& url : list_unsubscribe_urls(v)) m.html.skip_urls.push_back(std::move(url));
  m.plain_clicks = plan.clicks == ClickTracking::all;
  return m;
}

}  // namespace migo
