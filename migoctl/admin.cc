// admin.cc — see admin.h.
#include "admin.h"

#include "migo/shared.h"

#include "verification.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "migo/domain.h"

namespace migo {

Actor current_actor() {
  Actor a;
  a.uid = getuid();
  struct passwd pw, *res = nullptr;
  char buf[4096];
  if (getpwuid_r(a.uid, &pw, buf, sizeof buf, &res) == 0 && res) {
    a.name = res->pw_name;
  } else {
    a.name = "uid " + std::to_string(a.uid);
  }
  // SUDO_USER is only informative, and only believed for root.
  if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo && a.uid == 0)
    a.name += std::string(" (sudo: ") + sudo + ")";
  return a;
}

bool is_valid_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (size_t i = 0; i < s.size(); i++) {
    char c = s[i];
    bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-'))) return false;
  }
  return true;
}

Status check_label(std::string_view s) {
  if (s.empty()) return {Code::invalid, "label is empty"};
  if (s.size() > 100) return {Code::invalid, "label is longer than 100 bytes"};
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return {Code::invalid, "label contains a control character"};
  return {};
}

namespace {

Status name_error(const std::string& what, const std::string& name) {
  return {Code::invalid, what + " name '" + name +
                             "' is not valid: use 1-64 of a-z 0-9 . _ - starting with a letter or digit"};
}

Status not_found(const Status& s, const std::string& what) {
  if (s.code() == Code::not_found) return {Code::not_found, what};
  return s;
}

Result<Plan> find_plan(const ReadTxn& t, const std::string& name) {
  auto p = t.plan(name);
  if (!p.ok()) return not_found(p.status(), "no plan named '" + name + "' (see: migoctl plan list)");
  return p;
}

std::string plural(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

Status label_taken(const ReadTxn& t, uint64_t ws, const std::string& label, uint64_t except) {
  auto accounts = t.accounts(ws);
  if (!accounts.ok()) return accounts.status();
  for (const Account& a : *accounts)
    if (a.label == label && a.id != except)
      return {Code::exists, "workspace already has an account labelled '" + label + "' (" + a.username + ")"};
  return {};
}

}  // namespace

Result<Workspace> find_workspace(const ReadTxn& t, const std::string& name) {
  auto w = t.workspace_by_name(name);
  if (!w.ok()) return not_found(w.status(), "no workspace named '" + name + "'");
  return w;
}

Result<Account> find_account(const ReadTxn& t, const std::string& username) {
  auto a = t.account_by_username(username);
  if (!a.ok()) return not_found(a.status(), "no SMTP account '" + username + "'");
  return a;
}

Status Admin::commit(const std::function<Status(WriteTxn&)>& fn) {
  if (writer_) return writer_(store_, fn);
  return store_.write([&](WriteTxn& t) -> Status {
    auto p = shared_position(t);
    if (!p.ok()) return p.status();
    if (!p->origin.empty())
      return Status(Code::refused, "this relay's store follows the shared state of several relays (migo-syncd): "
                                   "make changes through it, with --redis URL or --redis-file FILE");
    return fn(t);
  });
}

Status Admin::audit(WriteTxn& t, uint64_t ws, const std::string& action, const std::string& detail) {
  return t.append_audit(AuditEntry{0, now_, actor_.uid, actor_.name, ws, action, detail});
}

Result<Plan> Admin::set_plan(const std::string& name, const PlanChange& c) {
  if (!is_valid_name(name)) return name_error("plan", name);
  Plan result;
  Status s = commit([&](WriteTxn& t) -> Status {
    auto existing = t.plan(name);
    if (!existing.ok() && existing.status().code() != Code::not_found) return existing.status();
    Plan p;
    if (existing.ok()) {
      p = *existing;
    } else {
      if (!c.max_accounts || !c.monthly || !c.daily || !c.hourly)
        return {Code::invalid, "a new plan needs --max-accounts, --monthly, --daily and --hourly"};
      p.name = name;
    }
    if (c.max_accounts) p.max_accounts = *c.max_accounts;
    if (c.monthly) p.monthly = *c.monthly;
    if (c.daily) p.daily = *c.daily;
    if (c.hourly) p.hourly = *c.hourly;
    if (p.max_accounts == 0 || p.monthly == 0 || p.daily == 0 || p.hourly == 0)
      return {Code::invalid, "plan limits must be positive"};
    if (p.hourly > p.daily || p.daily > p.monthly)
      return {Code::invalid, "limits must satisfy hourly <= daily <= monthly (a larger limit inside a "
                             "smaller window could never be reached)"};
    // A plan may not shrink below a workspace that uses it.
    auto workspaces = t.workspaces();
    if (!workspaces.ok()) return workspaces.status();
    for (const Workspace& w : *workspaces) {
      if (w.plan != name) continue;
      auto n = t.account_count(w.id);
      if (!n.ok()) return n.status();
      if (*n > p.max_accounts)
        return {Code::refused, "workspace '" + w.name + "' on plan " + name + " has " +
                                   plural(*n, "account", "accounts") + "; --max-accounts " +
                                   std::to_string(p.max_accounts) + " would leave it over its limit"};
    }
    MIGO_TRY(t.put(p));
    result = p;
    return audit(t, 0, existing.ok() ? "plan.update" : "plan.create",
                 "plan=" + name + " max_accounts=" + std::to_string(p.max_accounts) +
                     " monthly=" + std::to_string(p.monthly) + " daily=" + std::to_string(p.daily) +
                     " hourly=" + std::to_string(p.hourly));
  });
  if (!s.ok()) return s;
  return result;
}

Result<Workspace> Admin::create_workspace(const std::string& name, const std::string& plan) {
  if (!is_valid_name(name)) return name_error("workspace", name);
  Workspace result;
  Status s = commit([&](WriteTxn& t) -> Status {
    auto p = find_plan(t, plan);
    if (!p.ok()) return p.status();
    auto existing = t.workspace_by_name(name);
    if (existing.ok()) return {Code::exists, "workspace '" + name + "' already exists"};
    if (existing.status().code() != Code::not_found) return existing.status();
    auto id = t.new_workspace_id();
    if (!id.ok()) return id.status();
    result = Workspace{*id, name, plan, now_};
    MIGO_TRY(t.put(result));
    return audit(t, result.id, "workspace.create", "workspace=" + name + " plan=" + plan);
  });
  if (!s.ok()) return s;
  return result;
}

Result<Workspace> Admin::set_workspace_plan(const std::string& name, const std::string& plan) {
  Workspace result;
  Status s = commit([&](WriteTxn& t) -> Status {
    auto w = find_workspace(t, name);
    if (!w.ok()) return w.status();
    auto p = find_plan(t, plan);
    if (!p.ok()) return p.status();
    auto n = t.account_count(w->id);
    if (!n.ok()) return n.status();
    if (*n > p->max_accounts)
      return {Code::refused, "workspace '" + name + "' has " + plural(*n, "SMTP account", "SMTP accounts") +
                                 " and plan " + plan + " allows " + std::to_string(p->max_accounts) +
                                 ": delete " + std::to_string(*n - p->max_accounts) + " first"};
    std::string old = w->plan;
    w->plan = plan;
    MIGO_TRY(t.put(*w));
    result = *w;
    return audit(t, w->id, "workspace.set-plan", "workspace=" + name + " plan=" + old + "->" + plan);
  });
  if (!s.ok()) return s;
  return result;
}

Result<Workspace> Admin::set_workspace_tracking(const std::string& ws, const TrackingChange& change) {
  Workspace result;
  Status s = commit([&](WriteTxn& t) -> Status {
    auto w = find_workspace(t, ws);
    if (!w.ok()) return w.status();
    std::string detail = "workspace=" + ws;
    if (change.opens) {
      w->tracking.opens = *change.opens;
      detail += std::string(" opens=") + (*change.opens ? "on" : "off");
    }
    if (change.clicks) {
      w->tracking.clicks = *change.clicks;
      detail += std::string(" clicks=") + click_tracking_name(*change.clicks);
    }
    if (change.domain && *change.domain != w->tracking.domain) {
      w->tracking.domain = *change.domain;
      w->tracking.domain_token = change.domain->empty() ? "" : change.domain_token;
      w->tracking.domain_verified = false;
      detail += " domain=" + (change.domain->empty() ? std::string("(relay's)") : *change.domain);
    }
    MIGO_TRY(t.put(*w));
    result = *w;
    return audit(t, w->id, "tracking.set", detail);
  });
  if (!s.ok()) return s;
  return result;
}

Result<Workspace> Admin::record_tracking_domain_check(const std::string& ws, const std::string& domain, bool proven) {
  Workspace result;
  Status s = commit([&](WriteTxn& t) -> Status {
    auto w = find_workspace(t, ws);
    if (!w.ok()) return w.status();
    if (w->tracking.domain != domain || domain.empty())
      return {Code::refused, "workspace '" + ws + "' changed its tracking domain while DNS was asked; try again"};
    result = *w;
    if (w->tracking.domain_verified == proven) return {};
    w->tracking.domain_verified = proven;
    MIGO_TRY(t.put(*w));
    result = *w;
    return audit(t, w->id, proven ? "tracking.domain-verify" : "tracking.domain-lapse", "domain=" + domain);
  });
  if (!s.ok()) return s;
  return result;
}

Result<Account> Admin::set_account_tracking(const std::string& username, std::optional<std::optional<bool>> opens,
                                            std::optional<std::optional<ClickTracking>> clicks) {
  Account result;
  Status s = commit([&](WriteTxn& t) -> Status {
    auto a = find_account(t, username);
    if (!a.ok()) return a.status();
    std::string detail = "username=" + username;
    if (opens) {
      a->track_opens = *opens;
      detail += " opens=" + (*opens ? std::string(**opens ? "on" : "off") : "inherit");
    }
    if (clicks) {
      a->track_clicks = *clicks;
      detail += " clicks=" + (*clicks ? std::string(click_tracking_name(**clicks)) : "inherit");
    }
    MIGO_TRY(t.put(*a));
    result = *a;
    return audit(t, a->workspace_id, "tracking.set", detail);
  });
  if (!s.ok()) return s;
  return result;
}

Result<Domain> Admin::add_domain(const std::string& ws, const std::string& domain, bool include_sub,
                                 const std::vector<DkimKey>& dkim) {
  auto name = normalize_domain(domain);
  if (!name.ok()) return name.status();
  auto token = new_verification_token();
  if (!token.ok()) return token.status();
  Domain result;
  Status s = commit([&](WriteTxn& t) -> Status {
    auto w = find_workspace(t, ws);
    if (!w.ok()) return w.status();
    auto existing = t.domain(w->id, *name);
    if (existing.ok()) return {Code::exists, "domain " + *name + " is already in workspace '" + ws + "'"};
    if (existing.status().code() != Code::not_found) return existing.status();
    result = Domain{.workspace_id = w->id, .name = *name, .include_subdomains = include_sub, .added = now_,
                    .token = *token};
    result.dkim = dkim;
    MIGO_TRY(t.put(result));
    return audit(t, w->id, "domain.add",
                 "domain=" + *name + (include_sub ? " include_subdomains=yes" : ""));
  });
  if (!s.ok()) return s;
  return result;
}

Status find_domain(const ReadTxn& t, const std::string& ws, const std::string& name, Workspace* w, Domain* d) {
  auto found = find_workspace(t, ws);
  if (!found.ok()) return found.status();
  *w = *found;
  auto r = t.domain(w->id, name);
  if (!r.ok())
    return not_found(r.status(), "domain " + name + " is not in workspace '" + ws +
                                     "' (add it first: migoctl domain add " + ws + " " + name + ")");
  *d = *r;
  return {};
}

Result<Domain> Admin::update_domain(const std::string& ws, const std::string& domain,
                                    const std::function<Status(WriteTxn&, const Workspace&, Domain&)>& change) {
  auto name = normalize_domain(domain);
  if (!name.ok()) return name.status();
  Domain d;
  Status s = commit([&](WriteTxn& t) -> Status {
    Workspace w;
    MIGO_TRY(find_domain(t, ws, *name, &w, &d));
    return change(t, w, d);
  });
  if (!s.ok()) return s;
  return d;
}

Result<Domain> Admin::verify_domain_manually(const std::string& ws, const std::string& domain) {
  return update_domain(ws, domain, [&](WriteTxn& t, const Workspace& w, Domain& d) -> Status {
    if (d.verified && d.manual) return {};  // verifying twice is harmless and changes nothing
    d.verified = true;
    d.manual = true;
    d.lapsed = false;
    d.missing_since = 0;
    d.verified_at = now_;
    for (DkimKey& k : d.dkim)  // signing keys on the admin's word too
      if (k.state == DkimKeyState::pending) {
        k.state = DkimKeyState::active;
        k.state_since = now_;
      }
    MIGO_TRY(t.put(d));
    return audit(t, w.id, "domain.verify", "domain=" + d.name + " method=manual");
  });
}

Result<Domain> Admin::record_dns_check(const std::string& ws, const std::string& domain, const std::string& token,
                                       bool found, int64_t grace, const std::vector<std::string>& dkim_seen,
                                       int64_t retire_after) {
  return update_domain(ws, domain, [&](WriteTxn& t, const Workspace& w, Domain& d) -> Status {
    if (d.token != token || d.token.empty())
      return {Code::refused, "domain " + d.name + " changed while DNS was asked; try again"};
    std::string event, detail = "domain=" + d.name;
    d.checked_at = now_;
    bool active_key = d.dkim.empty();  // domains from before DKIM have none
    for (DkimKey& k : d.dkim) {
      if (k.state == DkimKeyState::pending &&
          std::find(dkim_seen.begin(), dkim_seen.end(), k.selector) != dkim_seen.end()) {
        k.state = DkimKeyState::active;
        k.state_since = now_;
        detail += " dkim=" + k.selector + ":active";
      }
      active_key = active_key || k.state == DkimKeyState::active;
    }
    // Each algorithm rotates on its own: a new RSA key retires older RSA
    // keys only. "Older" is every other active key of its algorithm, not one
    // active since an earlier second: a key verified and rotated within one
    // second has the same state_since as its successor (signing_key breaks
    // that tie by order), and used to stay active for good.
    for (const DkimKey* newest : signing_keys(d)) {
      if (now_ - newest->state_since < retire_after) continue;
      const DkimAlgorithm algorithm = newest->algorithm;
      for (DkimKey& k : d.dkim)
        if (&k != newest && k.algorithm == algorithm && k.state == DkimKeyState::active) {
          k.state = DkimKeyState::retired;
          k.state_since = now_;
          detail += " dkim=" + k.selector + ":retired";
        }
    }
    if (found && (active_key || d.verified)) {
      if (!d.verified || d.manual) {
        event = "domain.verify";
        detail += std::string(" method=dns") + (d.lapsed ? " (was lapsed)" : "") + (d.manual ? " (was manual)" : "");
        d.verified_at = now_;
      }
      d.verified = true;
      d.manual = d.lapsed = false;
      d.missing_since = 0;
    } else if (d.verified && !d.manual) {
      if (d.missing_since == 0) d.missing_since = now_;
      if (now_ - d.missing_since >= grace) {
        d.verified = false;
        d.lapsed = true;
        event = "domain.lapse";
        detail += " token missing since " + rfc3339_utc(d.missing_since);
      }
    }
    MIGO_TRY(t.put(d));
    if (event.empty() && detail.find(" dkim=") != std::string::npos) event = "domain.dkim";
    return event.empty() ? Status() : audit(t, w.id, event, detail);
  });
}

Result<Domain> Admin::add_dkim_key(const std::string& ws, const std::string& domain, const DkimKey& key) {
  return update_domain(ws, domain, [&](WriteTxn& t, const Workspace& w, Domain& d) -> Status {
    for (const DkimKey& k : d.dkim)
      if (k.state == DkimKeyState::pending && k.algorithm == key.algorithm)
        return {Code::refused, "domain " + d.name + " already has a new " + dkim_key_type(k.algorithm) +
                                   " DKIM key waiting for its DNS record (" + k.selector +
                                   "): publish it, or run migoctl domain recheck"};
    if (d.dkim.size() >= kMaxDkimKeysPerDomain) {
      auto oldest = std::find_if(d.dkim.begin(), d.dkim.end(),
                                 [](const DkimKey& k) { return k.state == DkimKeyState::retired; });
      if (oldest == d.dkim.end()) return {Code::refused, "domain " + d.name + " has too many DKIM keys"};
      d.dkim.erase(oldest);
    }
    d.dkim.push_back(key);
    MIGO_TRY(t.put(d));
    return audit(t, w.id, "domain.rotate-dkim",
                 "domain=" + d.name + " selector=" + key.selector + " algorithm=" + dkim_algorithm_name(key.algorithm));
  });
}

Result<Domain> Admin::remove_domain(const std::string& ws, const std::string& domain) {
  auto name = normalize_domain(domain);
  if (!name.ok()) return name.status();
  Domain result;
  Status s = commit([&](WriteTxn& t) -> Status {
    auto w = find_workspace(t, ws);
    if (!w.ok()) return w.status();
    auto d = t.domain(w->id, *name);
    if (!d.ok()) return not_found(d.status(), "domain " + *name + " is not in workspace '" + ws + "'");
    MIGO_TRY(t.erase_domain(w->id, *name));
    result = *d;
    return audit(t, w->id, "domain.remove", "domain=" + *name);
  });
  if (!s.ok()) return s;
  return result;
}

Result<NewCredentials> Admin::create_account(const std::string& ws, const std::string& label) {
  MIGO_TRY(check_label(label));
  // Generated outside the transaction: write() may run its callback again.
  auto password = generate_password();
  if (!password.ok()) return password.status();
  auto verifiers = make_verifiers(password->reveal());
  if (!verifiers.ok()) return verifiers.status();
  Account result;
  Status s = commit([&](WriteTxn& t) -> Status {
    auto w = find_workspace(t, ws);
    if (!w.ok()) return w.status();
    auto p = find_plan(t, w->plan);
    if (!p.ok()) return p.status();
    auto n = t.account_count(w->id);
    if (!n.ok()) return n.status();
    if (*n >= p->max_accounts)
      return {Code::refused, "workspace '" + ws + "' has " + std::to_string(*n) + " of " +
                                 std::to_string(p->max_accounts) + " SMTP accounts allowed by plan " +
                                 p->name + ": delete an account or move to a larger plan"};
    MIGO_TRY(label_taken(t, w->id, label, 0));
    std::string username;
    for (int tries = 0; username.empty(); tries++) {
      if (tries == 8) return {Code::unavailable, "could not generate a unique username"};
      auto u = generate_username();
      if (!u.ok()) return u.status();
      auto clash = t.account_by_username(*u);
      if (clash.ok()) continue;
      if (clash.status().code() != Code::not_found) return clash.status();
      username = std::move(*u);
    }
    auto id = t.new_account_id();
    if (!id.ok()) return id.status();
    Account a;
    a.id = *id;
    a.workspace_id = w->id;
    a.username = username;
    a.label = label;
    a.status = AccountStatus::active;
    a.created = now_;
    a.password_set = now_;
    a.plain_verifier = verifiers->plain;
    a.scram_verifier = verifiers->scram;
    MIGO_TRY(t.put(a));
    result = a;
    return audit(t, w->id, "account.create", "username=" + username + " label=" + label);
  });
  if (!s.ok()) return s;
  return NewCredentials{std::move(result), std::move(*password)};
}

Result<Account> Admin::set_status(const std::string& username, AccountStatus status) {
  Account result;
  Status s = commit([&](WriteTxn& t) -> Status {
    auto a = find_account(t, username);
    if (!a.ok()) return a.status();
    result = *a;
    if (a->status == status) return {};  // already so: nothing to record
    a->status = status;
    MIGO_TRY(t.put(*a));
    result = *a;
    return audit(t, a->workspace_id, status == AccountStatus::active ? "account.enable" : "account.disable",
                 "username=" + username);
  });
  if (!s.ok()) return s;
  return result;
}

Result<NewCredentials> Admin::reset_password(const std::string& username) {
  auto password = generate_password();
  if (!password.ok()) return password.status();
  auto verifiers = make_verifiers(password->reveal());
  if (!verifiers.ok()) return verifiers.status();
  Account result;
  Status s = commit([&](WriteTxn& t) -> Status {
    auto a = find_account(t, username);
    if (!a.ok()) return a.status();
    a->plain_verifier = verifiers->plain;
    a->scram_verifier = verifiers->scram;
    a->password_set = now_;
    MIGO_TRY(t.put(*a));
    result = *a;
    return audit(t, a->workspace_id, "account.reset-password", "username=" + username);
  });
  if (!s.ok()) return s;
  return NewCredentials{std::move(result), std::move(*password)};
}

Result<Account> Admin::rename_account(const std::string& username, const std::string& label) {
  MIGO_TRY(check_label(label));
  Account result;
  Status s = commit([&](WriteTxn& t) -> Status {
    auto a = find_account(t, username);
    if (!a.ok()) return a.status();
    MIGO_TRY(label_taken(t, a->workspace_id, label, a->id));
    std::string old = a->label;
    a->label = label;
    MIGO_TRY(t.put(*a));
    result = *a;
    return audit(t, a->workspace_id, "account.rename", "username=" + username + " label=" + old + " -> " + label);
  });
  if (!s.ok()) return s;
  return result;
}

Result<Account> Admin::delete_account(const std::string& username, const std::string& confirm, bool force) {
  Account result;
  Status s = commit([&](WriteTxn& t) -> Status {
    auto a = find_account(t, username);
    if (!a.ok()) return a.status();
    if (confirm != a->label)
      return {Code::refused, "confirmation does not match: to delete " + username + " pass --confirm '" +
                                 a->label + "' (its label)"};
    auto queued = t.queued_for(a->id);
    if (!queued.ok()) return queued.status();
    if (!queued->empty() && !force)
      return {Code::refused, username + " has " + plural(queued->size(), "message", "messages") +
                                 " still queued (first: " + queued->front() +
                                 "); wait for delivery, or pass --force"};
    MIGO_TRY(t.erase_account(*a));
    result = *a;
    return audit(t, a->workspace_id, "account.delete",
                 "username=" + username + " label=" + a->label +
                     (queued->empty() ? "" : " forced_with_queued=" + std::to_string(queued->size())));
  });
  if (!s.ok()) return s;
  return result;
}

}  // namespace migo
