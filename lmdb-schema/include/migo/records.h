// records.h — the typed records of the migo store and their encodings.
//
// Each value starts with a one-byte record version so a later schema can add
// fields without a flag day; decoders reject versions they do not know as
// Code::corrupt. Times are Unix seconds (UTC). The byte layout of every
// record is documented in SCHEMA.md; keep the two in step.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "migo/status.h"

namespace migo {

struct Plan {
  std::string name;
  uint32_t max_accounts = 0;
  uint64_t monthly = 0;  // recipients per calendar month (UTC)
  uint64_t daily = 0;    // recipients per rolling 24 hours
  uint64_t hourly = 0;   // recipients per rolling 60 minutes
  bool operator==(const Plan&) const = default;
};

// Open and click tracking (tracking/): off unless a workspace turns it on.
enum class ClickTracking : uint8_t {
  off = 0,
  html = 1,  // links in HTML parts
  all = 2,   // and in plain-text parts
};
const char* click_tracking_name(ClickTracking c) noexcept;  // "off", "html", "all"
struct TrackingSettings {
  bool opens = false;
  ClickTracking clicks = ClickTracking::off;
  // The workspace's own tracking host (a CNAME to the relay's); "" = the
  // relay's. Used only once verified in DNS, like a sending domain.
  std::string domain{};
  std::string domain_token{};
  bool domain_verified = false;
  bool operator==(const TrackingSettings&) const = default;
};

struct Workspace {
  uint64_t id = 0;
  std::string name;
  std::string plan;
  int64_t created = 0;
  TrackingSettings tracking{};  // record v2; v1 (and a v2 of defaults) has none
  bool operator==(const Workspace&) const = default;
};

// A DKIM key of a domain. The private half is never in the store: it is a
// file in the milter's key directory (identity/dkim_keys.h).
enum class DkimKeyState : uint8_t {
  pending = 0,  // made; its DNS record not yet seen
  active = 1,   // seen in DNS: the milter signs with it
  retired = 2,  // replaced by a newer key; kept until its record may go
};
const char* dkim_state_name(DkimKeyState s) noexcept;
// RSA signs every domain's mail; Ed25519 (RFC 8463) is a second signature
// for the domains that ask for it: verifiers that know it prefer it, the
// others ignore it and check the RSA one.
enum class DkimAlgorithm : uint8_t {
  rsa_sha256 = 0,
  ed25519_sha256 = 1,
};
const char* dkim_algorithm_name(DkimAlgorithm a) noexcept;  // "rsa-sha256", as in a=
const char* dkim_key_type(DkimAlgorithm a) noexcept;        // "rsa", as in the record's k=
struct DkimKey {
  std::string selector;
  // The record's p=: base64 of the SubjectPublicKeyInfo for RSA, of the raw
  // 32-byte key for Ed25519 (RFC 8463 section 4).
  std::string public_b64;
  DkimKeyState state = DkimKeyState::pending;
  int64_t created = 0;
  int64_t state_since = 0;
  DkimAlgorithm algorithm = DkimAlgorithm::rsa_sha256;
  bool operator==(const DkimKey&) const = default;
};
constexpr size_t kMaxDkimKeysPerDomain = 8;


struct Domain {
  uint64_t workspace_id = 0;
  std::string name;  // normalised A-label form, see domain.h
  bool include_subdomains = false;
  bool verified = false;  // mail may carry it in From: proven, and not lapsed
  int64_t added = 0;
  int64_t verified_at = 0;  // 0 until verified
  // Ownership proof (identity/verification.h). Empty for domains added
  // before DNS proof existed.
  std::string token{};
  bool manual = false;        // verified on an admin's word (--manual), not by DNS
  bool lapsed = false;        // was verified; its token left DNS for longer than the grace
  int64_t checked_at = 0;     // last DNS check with an answer, 0 = never
  int64_t missing_since = 0;  // first check that found the token gone, 0 = present
  std::vector<DkimKey> dkim{};  // oldest first
  bool operator==(const Domain&) const = default;
};

// The key of `algorithm` that signs a domain's mail: the active key of it
// that became active last (the later-added on a tie); null if none is.
const DkimKey* signing_key(const Domain& d, DkimAlgorithm algorithm = DkimAlgorithm::rsa_sha256) noexcept;
// Every key that signs: at most one per algorithm, RSA first.
std::vector<const DkimKey*> signing_keys(const Domain& d);

enum class AccountStatus : uint8_t { active = 1, disabled = 2 };
const char* status_name(AccountStatus s) noexcept;

struct Account {
  uint64_t id = 0;  // random, opaque: safe to show in headers and logs
  uint64_t workspace_id = 0;
  std::string username;
  std::string label;
  AccountStatus status = AccountStatus::active;
  int64_t created = 0;
  int64_t password_set = 0;
  std::string plain_verifier;  // cmusaslsecretPLAIN: salt(16) NUL MD5 (33 bytes)
  std::string scram_verifier;  // SCRAM-SHA-256 authPassword value
  // Tracking overrides of the workspace's settings; empty = as the
  // workspace. Record v2; an account without them is written as v1, which
  // SASL plugins of earlier releases (still loaded in running smtpd
  // processes during an upgrade) read.
  std::optional<bool> track_opens{};
  std::optional<ClickTracking> track_clicks{};
  bool operator==(const Account&) const = default;
};

// What tracking an account's mail gets: the workspace's settings with the
// account's overrides; `host` is the workspace's verified tracking domain,
// or "" for the relay's default host.
struct TrackingPlan {
  bool opens = false;
  ClickTracking clicks = ClickTracking::off;
  std::string host;
  bool any() const { return opens || clicks != ClickTracking::off; }
};
TrackingPlan tracking_for(const Workspace& w, const Account& a);

// Kept apart from Account so that the hot counters are rewritten without
// touching the credential record (smaller writes, fewer conflicts).
struct AccountStats {
  uint64_t total_sent = 0;
  uint32_t month = 0;  // yyyymm the sent_this_month figure belongs to
  uint64_t sent_this_month = 0;
  uint64_t delivered = 0;
  uint64_t bounced = 0;
  uint64_t deferred = 0;
  uint64_t complaints = 0;
  int64_t last_used = 0;  // 0 = never
  // Tracking (migo-trackd), record v2: events people made, the first of
  // each per message (opens) or per link (clicks), and those machines made
  // (image proxies, link scanners) apart.
  uint64_t opens = 0, unique_opens = 0, machine_opens = 0;
  uint64_t clicks = 0, unique_clicks = 0, machine_clicks = 0;
  bool operator==(const AccountStats&) const = default;
  // sent_this_month as of `month_now` (a figure from an older month is zero).
  uint64_t sent_in(uint32_t month_now) const { return month == month_now ? sent_this_month : 0; }
  // Adds another account's figures to these (a workspace's, or all
  // accounts' sums): every count, sent this month as of `month` (which these
  // must carry), and the latest last_used.
  void add(const AccountStats& o) {
    total_sent += o.total_sent;
    sent_this_month += o.sent_in(month);
    delivered += o.delivered;
    bounced += o.bounced;
    deferred += o.deferred;
    complaints += o.complaints;
    last_used = std::max(last_used, o.last_used);
    opens += o.opens;
    unique_opens += o.unique_opens;
    machine_opens += o.machine_opens;
    clicks += o.clicks;
    unique_clicks += o.unique_clicks;
    machine_clicks += o.machine_clicks;
  }
};

struct QueueEntry {
  uint64_t account_id = 0;
  int64_t queued_at = 0;
  uint32_t recipients = 0;
  // Final outcomes the statistics follower has counted so far: when Postfix
  // gives up on a message ("status=expired") the rest are bounced.
  uint32_t delivered = 0;
  uint32_t bounced = 0;
  // Counted on the relays' shared counters (Redis; cluster/) as well as
  // here: a refund must reach them too (record v2; v1 is false).
  bool shared = false;
  bool operator==(const QueueEntry&) const = default;
};

// Where the statistics follower stopped in one log file. Written in the same
// transaction as the counts of the lines before `offset`, so a restart
// neither skips nor repeats a line.
struct FollowPosition {
  uint64_t inode = 0;
  uint64_t offset = 0;       // just after the last line counted
  std::string fingerprint;   // SHA-256 of the file's first line (empty: none yet)
  int64_t updated = 0;
  bool operator==(const FollowPosition&) const = default;
};

struct AuditEntry {
  uint64_t seq = 0;  // the key; not part of the value
  int64_t time = 0;
  uint32_t uid = 0;
  std::string user;       // OS user name (and the sudo caller, if any)
  uint64_t workspace_id = 0;  // 0 for store-wide changes
  std::string action;     // e.g. "account.disable"
  std::string detail;     // human text, never a secret
  bool operator==(const AuditEntry&) const = default;
};

std::string encode(const Plan& r);
std::string encode(const Workspace& r);
std::string encode(const Domain& r);
std::string encode(const Account& r);
std::string encode(const AccountStats& r);
std::string encode(const QueueEntry& r);
std::string encode(const AuditEntry& r);
std::string encode(const FollowPosition& r);

Status decode(std::string_view in, Plan* r);
Status decode(std::string_view in, Workspace* r);
Status decode(std::string_view in, Domain* r);
Status decode(std::string_view in, Account* r);
Status decode(std::string_view in, AccountStats* r);
Status decode(std::string_view in, QueueEntry* r);
Status decode(std::string_view in, AuditEntry* r);
Status decode(std::string_view in, FollowPosition* r);

// yyyymm of a Unix time, in UTC.
uint32_t month_of(int64_t unix_time);

// A Unix time as RFC 3339 in UTC: 2026-11-23T02:14:00Z.
std::string rfc3339_utc(int64_t unix_time);

}  // namespace migo
