// records.cc — encodings of the records in records.h (layout: SCHEMA.md).
#include "migo/records.h"

#include <ctime>

#include "migo/codec.h"

namespace migo {
namespace {
constexpr uint8_t kV1 = 1;

Status check_version(Decoder& d, const char* what) {
  uint8_t v = d.u8();
  if (d.failed()) return {Code::corrupt, std::string(what) + " record is empty"};
  if (v != kV1)
    return {Code::corrupt, std::string(what) + " record has unknown version " + std::to_string(v)};
  return {};
}
}  // namespace

const char* dkim_state_name(DkimKeyState s) noexcept {
  return s == DkimKeyState::active ? "active" : s == DkimKeyState::retired ? "retired" : "pending";
}

const char* dkim_algorithm_name(DkimAlgorithm a) noexcept {
  return a == DkimAlgorithm::ed25519_sha256 ? "ed25519-sha256" : "rsa-sha256";
}
const char* dkim_key_type(DkimAlgorithm a) noexcept { return a == DkimAlgorithm::ed25519_sha256 ? "ed25519" : "rsa"; }

const DkimKey* signing_key(const Domain& d, DkimAlgorithm algorithm) noexcept {
  const DkimKey* newest = nullptr;
  for (const DkimKey& k : d.dkim)
    if (k.algorithm == algorithm && k.state == DkimKeyState::active &&
        (!newest || k.state_since >= newest->state_since))
      newest = &k;
  return newest;
}
std::vector<const DkimKey*> signing_keys(const Domain& d) {
  std::vector<const DkimKey*> out;
  for (DkimAlgorithm a : {DkimAlgorithm::rsa_sha256, DkimAlgorithm::ed25519_sha256})
    if (const DkimKey* k = signing_key(d, a)) out.push_back(k);
  return out;
}

const char* status_name(AccountStatus s) noexcept {
  return s == AccountStatus::active ? "active" : "disabled";
}

std::string encode(const Plan& r) {
  return Encoder().u8(kV1).str(r.name).u32(r.max_accounts).u64(r.monthly).u64(r.daily)
      .u64(r.hourly).bytes();
}
Status decode(std::string_view in, Plan* r) {
  Decoder d(in, "plan");
  MIGO_TRY(check_version(d, "plan"));
  r->name = d.str();
  r->max_accounts = d.u32();
  r->monthly = d.u64();
  r->daily = d.u64();
  r->hourly = d.u64();
  return d.finish();
}

const char* click_tracking_name(ClickTracking c) noexcept {
  return c == ClickTracking::all ? "all" : c == ClickTracking::html ? "html" : "off";
}

TrackingPlan tracking_for(const Workspace& w, const Account& a) {
  TrackingPlan p;
  p.opens = a.track_opens.value_or(w.tracking.opens);
  p.clicks = a.track_clicks.value_or(w.tracking.clicks);
  if (w.tracking.domain_verified) p.host = w.tracking.domain;
  return p;
}

// Version 2 adds tracking settings. Records without any are still written
// as version 1, so readers of earlier releases keep reading them.
constexpr uint8_t kV2 = 2;
std::string encode(const Workspace& r) {
  Encoder e;
  const bool v2 = r.tracking != TrackingSettings{};
  e.u8(v2 ? kV2 : kV1).u64(r.id).str(r.name).str(r.plan).i64(r.created);
  if (v2)
    e.u8(static_cast<uint8_t>((r.tracking.opens ? 1 : 0) | (r.tracking.domain_verified ? 2 : 0)))
        .u8(static_cast<uint8_t>(r.tracking.clicks)).str(r.tracking.domain).str(r.tracking.domain_token);
  return e.bytes();
}
Status decode(std::string_view in, Workspace* r) {
  Decoder d(in, "workspace");
  uint8_t v = d.u8();
  if (d.failed()) return {Code::corrupt, "workspace record is empty"};
  if (v != kV1 && v != kV2) return {Code::corrupt, "workspace record has unknown version " + std::to_string(v)};
  r->id = d.u64();
  r->name = d.str();
  r->plan = d.str();
  r->created = d.i64();
  r->tracking = TrackingSettings{};
  if (v == kV2) {
    uint8_t flags = d.u8();
    uint8_t clicks = d.u8();
    r->tracking.domain = d.str();
    r->tracking.domain_token = d.str();
    if (!d.failed() && (flags & ~3u)) return {Code::corrupt, "workspace record has unknown tracking flags"};
    if (!d.failed() && clicks > 2) return {Code::corrupt, "workspace record has unknown click tracking"};
    r->tracking.opens = flags & 1;
    r->tracking.domain_verified = flags & 2;
    r->tracking.clicks = static_cast<ClickTracking>(clicks);
  }
  return d.finish();
}

// Version 2 adds the ownership proof and DKIM keys, version 3 each key's
// algorithm; older records still decode (version 1 as unproven domains
// without a token, version 2's keys as RSA).
constexpr uint8_t kDomainV2 = 2;
constexpr uint8_t kDomainV3 = 3;
std::string encode(const Domain& r) {
  uint8_t flags = static_cast<uint8_t>((r.include_subdomains ? 1 : 0) | (r.verified ? 2 : 0) | (r.manual ? 4 : 0) |
                                       (r.lapsed ? 8 : 0));
  Encoder e;
  e.u8(kDomainV3).u64(r.workspace_id).str(r.name).u8(flags).i64(r.added)
      .i64(r.verified_at).str(r.token).i64(r.checked_at).i64(r.missing_since);
  e.u32(static_cast<uint32_t>(r.dkim.size()));
  for (const DkimKey& k : r.dkim)
    e.str(k.selector).str(k.public_b64).u8(static_cast<uint8_t>(k.state)).i64(k.created).i64(k.state_since)
        .u8(static_cast<uint8_t>(k.algorithm));
  return e.bytes();
}
Status decode(std::string_view in, Domain* r) {
  Decoder d(in, "domain");
  uint8_t v = d.u8();
  if (d.failed()) return {Code::corrupt, "domain record is empty"};
  if (v != kV1 && v != kDomainV2 && v != kDomainV3)
    return {Code::corrupt, "domain record has unknown version " + std::to_string(v)};
  r->workspace_id = d.u64();
  r->name = d.str();
  uint8_t flags = d.u8();
  r->include_subdomains = flags & 1;
  r->verified = flags & 2;
  r->manual = flags & 4;
  r->lapsed = flags & 8;
  r->added = d.i64();
  r->verified_at = d.i64();
  r->token.clear();
  r->checked_at = r->missing_since = 0;
  r->dkim.clear();
  if (v >= kDomainV2) {
    r->token = d.str();
    r->checked_at = d.i64();
    r->missing_since = d.i64();
    uint32_t n = d.u32();
    if (n > kMaxDkimKeysPerDomain) return {Code::corrupt, "domain record has " + std::to_string(n) + " DKIM keys"};
    r->dkim.clear();
    for (uint32_t i = 0; i < n && !d.failed(); i++) {
      DkimKey k;
      k.selector = d.str();
      k.public_b64 = d.str();
      uint8_t st = d.u8();
      if (st > 2) return {Code::corrupt, "domain record has a DKIM key in unknown state " + std::to_string(st)};
      k.state = static_cast<DkimKeyState>(st);
      k.created = d.i64();
      k.state_since = d.i64();
      if (v >= kDomainV3) {
        uint8_t alg = d.u8();
        if (alg > 1) return {Code::corrupt, "domain record has a DKIM key of unknown algorithm " + std::to_string(alg)};
        k.algorithm = static_cast<DkimAlgorithm>(alg);
      }
      r->dkim.push_back(std::move(k));
    }
  }
  if (flags & ~(v == kV1 ? 3u : 15u)) return {Code::corrupt, "domain record has unknown flags"};
  if (r->verified && r->lapsed) return {Code::corrupt, "domain record is both verified and lapsed"};
  return d.finish();
}

std::string encode(const Account& r) {
  Encoder e;
  const bool v2 = r.track_opens || r.track_clicks;
  e.u8(v2 ? kV2 : kV1).u64(r.id).u64(r.workspace_id).str(r.username).str(r.label)
      .u8(static_cast<uint8_t>(r.status)).i64(r.created).i64(r.password_set)
      .str(r.plain_verifier).str(r.scram_verifier);
  // 0 = as the workspace, else the value + 1.
  if (v2)
    e.u8(static_cast<uint8_t>(r.track_opens ? 1 + (*r.track_opens ? 1 : 0) : 0))
        .u8(static_cast<uint8_t>(r.track_clicks ? 1 + static_cast<int>(*r.track_clicks) : 0));
  return e.bytes();
}
Status decode(std::string_view in, Account* r) {
  Decoder d(in, "account");
  uint8_t v = d.u8();
  if (d.failed()) return {Code::corrupt, "account record is empty"};
  if (v != kV1 && v != kV2) return {Code::corrupt, "account record has unknown version " + std::to_string(v)};
  r->track_opens.reset();
  r->track_clicks.reset();
  r->id = d.u64();
  r->workspace_id = d.u64();
  r->username = d.str();
  r->label = d.str();
  uint8_t st = d.u8();
  r->created = d.i64();
  r->password_set = d.i64();
  r->plain_verifier = d.str();
  r->scram_verifier = d.str();
  if (v == kV2) {
    uint8_t opens = d.u8(), clicks = d.u8();
    if (!d.failed() && (opens > 2 || clicks > 3)) return {Code::corrupt, "account record has unknown tracking"};
    if (opens) r->track_opens = opens == 2;
    if (clicks) r->track_clicks = static_cast<ClickTracking>(clicks - 1);
  }
  MIGO_TRY(d.finish());
  if (st != 1 && st != 2) return {Code::corrupt, "account record has unknown status"};
  r->status = static_cast<AccountStatus>(st);
  return {};
}

std::string encode(const AccountStats& r) {
  // Version 2 only once something was tracked: readers of earlier releases
  // keep reading the rest.
  const bool v2 = r.opens || r.unique_opens || r.machine_opens || r.clicks || r.unique_clicks || r.machine_clicks;
  Encoder e;
  e.u8(v2 ? kV2 : kV1).u64(r.total_sent).u32(r.month).u64(r.sent_this_month)
      .u64(r.delivered).u64(r.bounced).u64(r.deferred).u64(r.complaints).i64(r.last_used);
  if (v2)
    e.u64(r.opens).u64(r.unique_opens).u64(r.machine_opens).u64(r.clicks).u64(r.unique_clicks)
        .u64(r.machine_clicks);
  return e.bytes();
}
Status decode(std::string_view in, AccountStats* r) {
  Decoder d(in, "stats");
  uint8_t v = d.u8();
  if (d.failed()) return {Code::corrupt, "stats record is empty"};
  if (v != kV1 && v != kV2) return {Code::corrupt, "stats record has unknown version " + std::to_string(v)};
  r->opens = r->unique_opens = r->machine_opens = r->clicks = r->unique_clicks = r->machine_clicks = 0;
  r->total_sent = d.u64();
  r->month = d.u32();
  r->sent_this_month = d.u64();
  r->delivered = d.u64();
  r->bounced = d.u64();
  r->deferred = d.u64();
  r->complaints = d.u64();
  r->last_used = d.i64();
  if (v == kV2) {
    r->opens = d.u64();
    r->unique_opens = d.u64();
    r->machine_opens = d.u64();
    r->clicks = d.u64();
    r->unique_clicks = d.u64();
    r->machine_clicks = d.u64();
  }
  return d.finish();
}

// v2 only for an entry counted on the shared counters; a flag byte, bit 0.
constexpr uint8_t kQueueShared = 1;
std::string encode(const QueueEntry& r) {
  Encoder e;
  e.u8(r.shared ? kV2 : kV1).u64(r.account_id).i64(r.queued_at).u32(r.recipients).u32(r.delivered).u32(r.bounced);
  if (r.shared) e.u8(kQueueShared);
  return e.bytes();
}
Status decode(std::string_view in, QueueEntry* r) {
  Decoder d(in, "queue");
  uint8_t v = d.u8();
  if (d.failed()) return {Code::corrupt, "queue record is empty"};
  if (v != kV1 && v != kV2) return {Code::corrupt, "queue record has unknown version " + std::to_string(v)};
  r->account_id = d.u64();
  r->queued_at = d.i64();
  r->recipients = d.u32();
  r->delivered = d.u32();
  r->bounced = d.u32();
  r->shared = false;
  if (v == kV2) {
    uint8_t flags = d.u8();
    if (flags & ~kQueueShared) return {Code::corrupt, "queue record has unknown flags"};
    r->shared = flags & kQueueShared;
  }
  return d.finish();
}

std::string encode(const FollowPosition& r) {
  return Encoder().u8(kV1).u64(r.inode).u64(r.offset).str(r.fingerprint).i64(r.updated).bytes();
}
Status decode(std::string_view in, FollowPosition* r) {
  Decoder d(in, "follow");
  MIGO_TRY(check_version(d, "follow"));
  r->inode = d.u64();
  r->offset = d.u64();
  r->fingerprint = d.str();
  r->updated = d.i64();
  return d.finish();
}

std::string encode(const AuditEntry& r) {
  return Encoder().u8(kV1).i64(r.time).u32(r.uid).str(r.user).u64(r.workspace_id)
      .str(r.action).str(r.detail).bytes();
}
Status decode(std::string_view in, AuditEntry* r) {
  Decoder d(in, "audit");
  MIGO_TRY(check_version(d, "audit"));
  r->time = d.i64();
  r->uid = d.u32();
  r->user = d.str();
  r->workspace_id = d.u64();
  r->action = d.str();
  r->detail = d.str();
  return d.finish();
}

uint32_t month_of(int64_t unix_time) {
  time_t t = static_cast<time_t>(unix_time);
  struct tm tm;
  gmtime_r(&t, &tm);
  return static_cast<uint32_t>((tm.tm_year + 1900) * 100 + tm.tm_mon + 1);
}

std::string rfc3339_utc(int64_t unix_time) {
  time_t t = static_cast<time_t>(unix_time);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace migo
