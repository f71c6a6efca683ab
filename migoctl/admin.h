// admin.h — the administrative operations behind migoctl.
//
// Each operation validates its input, checks the rules (plan limits,
// confirmations, queued mail) and makes its change together with its audit
// entry in ONE write transaction, so a change is never recorded without
// happening or happen without being recorded. Passwords are generated here
// and handed back exactly once, inside a Secret; only verifiers are stored.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "migo/credentials.h"
#include "migo/store.h"

namespace migo {

// How long an older DKIM key stays active once a newer one is (7 days).
constexpr int64_t kDefaultDkimRetireAfter = 7 * 86400;

// Who makes a change, for the audit log.
struct Actor {
  uint32_t uid = 0;
  std::string name;
};
// The calling OS user; "root (sudo: alice)" under sudo.
Actor current_actor();

struct PlanChange {
  std::optional<uint32_t> max_accounts;
  std::optional<uint64_t> monthly, daily, hourly;
};

struct NewCredentials {
  Account account;
  Secret password;  // shown once, never stored
};

// Lookups whose "not found" says, for a person, what was not found.
Result<Workspace> find_workspace(const ReadTxn& t, const std::string& name);
Result<Account> find_account(const ReadTxn& t, const std::string& username);
// Workspace `ws` and its domain `name` (normalised).
Status find_domain(const ReadTxn& t, const std::string& ws, const std::string& name, Workspace* w, Domain* d);

// Workspace and plan names: 1-64 of [a-z0-9._-], starting alphanumeric.
bool is_valid_name(std::string_view s);
// Labels: 1-100 bytes of UTF-8 text without control characters.
Status check_label(std::string_view s);

// How an operation's one write transaction is made: the store's own write
// (one relay), or through the shared state of several relays (migoctl
// --redis: cluster/sync.h's shared_write, which may run the operation more
// than once and publishes only its last run).
using Writer = std::function<Status(Store&, const std::function<Status(WriteTxn&)>&)>;

class Admin {
 public:
  Admin(Store& store, Actor actor, int64_t now, Writer writer = {})
      : store_(store), actor_(std::move(actor)), now_(now), writer_(std::move(writer)) {}

  Result<Plan> set_plan(const std::string& name, const PlanChange& change);
  Result<Workspace> create_workspace(const std::string& name, const std::string& plan);
  Result<Workspace> set_workspace_plan(const std::string& name, const std::string& plan);
  // Tracking settings of a workspace: what is given changes. A new
  // `domain` ("" = back to the relay's host) gets `domain_token` and is
  // unverified until record_tracking_domain_check finds it in DNS.
  struct TrackingChange {
    std::optional<bool> opens;
    std::optional<ClickTracking> clicks;
    std::optional<std::string> domain;
    std::string domain_token;
  };
  Result<Workspace> set_workspace_tracking(const std::string& ws, const TrackingChange& change);
  Result<Workspace> record_tracking_domain_check(const std::string& ws, const std::string& domain, bool proven);
  // An account's overrides: an engaged outer optional changes that setting,
  // to a value or (inner nullopt) back to the workspace's.
  Result<Account> set_account_tracking(const std::string& username, std::optional<std::optional<bool>> opens,
                                       std::optional<std::optional<ClickTracking>> clicks);
  // Adds an unverified domain with a fresh verification token and, if
  // given, its first DKIM key (pending; its private half already written).
  Result<Domain> add_domain(const std::string& ws, const std::string& domain, bool include_subdomains,
                            const std::vector<DkimKey>& dkim = {});
  // Marks a domain verified on the admin's word (--manual, closed networks):
  // audited and shown as manual; the DNS re-check leaves it alone.
  Result<Domain> verify_domain_manually(const std::string& ws, const std::string& domain);
  // Records what DNS said about `token` for the domain (found or not) and
  // which DKIM selectors it publishes with the right key. Keys seen become
  // active. Found, with an active key (or a domain without keys): verified
  // by DNS (again). Not found: a DNS-verified domain starts its grace
  // period, and lapses once it has been missing `grace` seconds. A domain
  // whose token changed since the lookup is left alone (refused).
  // Once a newer key has been active for `retire_after` seconds, older
  // active keys retire (mail signed with them has long been delivered).
  Result<Domain> record_dns_check(const std::string& ws, const std::string& domain, const std::string& token,
                                  bool found, int64_t grace, const std::vector<std::string>& dkim_seen = {},
                                  int64_t retire_after = kDefaultDkimRetireAfter);
  // Rotation: adds a new DKIM key, pending until its record is seen in DNS
  // (record_dns_check); the newest active key of each algorithm signs, so
  // the first Ed25519 key of a domain adds a second signature. One new key
  // per algorithm at a time. A domain holding
  // kMaxDkimKeysPerDomain keys forgets its oldest retired one first.
  Result<Domain> add_dkim_key(const std::string& ws, const std::string& domain, const DkimKey& key);
  Result<Domain> remove_domain(const std::string& ws, const std::string& domain);
  Result<NewCredentials> create_account(const std::string& ws, const std::string& label);
  Result<Account> set_status(const std::string& username, AccountStatus status);
  Result<NewCredentials> reset_password(const std::string& username);
  Result<Account> rename_account(const std::string& username, const std::string& label);
  // Refused unless `confirm_label` equals the label, and while mail
  // attributed to the account is queued (unless `force`).
  Result<Account> delete_account(const std::string& username, const std::string& confirm_label,
                                 bool force);

 private:
  Status audit(WriteTxn& t, uint64_t workspace_id, const std::string& action,
               const std::string& detail);
  // The operation's transaction, through writer_ if there is one. Without
  // one, a store that follows a shared state refuses: a change made here
  // alone would differ from every other relay's.
  Status commit(const std::function<Status(WriteTxn&)>& fn);
  // Finds the workspace's domain (normalised) and runs `change` on it in one
  // write transaction; returns the domain as `change` left it.
  Result<Domain> update_domain(const std::string& ws, const std::string& domain,
                               const std::function<Status(WriteTxn&, const Workspace&, Domain&)>& change);
  Store& store_;
  Actor actor_;
  int64_t now_;
  Writer writer_;
};

}  // namespace migo
