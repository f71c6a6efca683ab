// store.cc — LMDB behind the Store contract in store.h.
//
// Every LMDB call is made here and nowhere else in migo. The quirks it hides:
//  - MDB_MAP_FULL: abort, double the map (under an exclusive lock, since LMDB
//    requires that no transaction of this process is open), run again.
//  - MDB_MAP_RESIZED: another process grew the map; adopt its size, retry.
//  - MDB_READERS_FULL: slots held by dead processes are cleared, retry once.
//  - fork(): an env must not cross it, so a Store notices and refuses.
#include "migo/store.h"

#include <errno.h>
#include <lmdb.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <shared_mutex>

#include "migo/codec.h"
#include "migo/shared.h"

namespace migo {

// Sub-database names; SCHEMA.md documents each one's keys and values.
enum Table : unsigned {
  kMeta, kPlans, kWorkspaces, kWorkspaceNames, kDomains, kAccounts, kUsernames,
  kWorkspaceAccounts, kUsage, kStats, kQueue, kAudit, kFollow, kCounters, kReports, kExpiry, kQueueByAccount,
  kSharedRefunds, kTableCount
};
constexpr std::array<const char*, kTableCount> kTableNames = {
    "meta", "plans", "workspaces", "workspace_names", "domains", "accounts", "usernames",
    "workspace_accounts", "usage", "stats", "queue", "audit", "follow", "counters", "reports", "expiry",
    "queue_by_account", "shared_refunds"};

class Dbis {
 public:
  MDB_dbi operator[](unsigned t) const { return dbi_[t]; }
  MDB_dbi& at(unsigned t) { return dbi_[t]; }

 private:
  std::array<MDB_dbi, kTableCount> dbi_{};
};

namespace {

MDB_val val_of(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
std::string_view view_of(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

Status lmdb_status(int rc, std::string_view what) {
  std::string msg = std::string(what) + ": " + mdb_strerror(rc);
  switch (rc) {
    case MDB_NOTFOUND: return {Code::not_found, msg};
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE: return {Code::corrupt, msg};
    default: return {Code::unavailable, msg};
  }
}

struct EnvCloser {
  void operator()(MDB_env* e) const noexcept { mdb_env_close(e); }
};
using EnvPtr = std::unique_ptr<MDB_env, EnvCloser>;

// Aborts the transaction unless commit() was called.
class TxnGuard {
 public:
  explicit TxnGuard(MDB_txn* t) : t_(t) {}
  ~TxnGuard() {
    if (t_) mdb_txn_abort(t_);
  }
  TxnGuard(const TxnGuard&) = delete;
  TxnGuard& operator=(const TxnGuard&) = delete;
  int commit() {
    int rc = mdb_txn_commit(t_);
    t_ = nullptr;  // committed or not, LMDB has freed it
    return rc;
  }

 private:
  MDB_txn* t_;
};

class CursorGuard {
 public:
  CursorGuard() = default;
  ~CursorGuard() {
    if (c_) mdb_cursor_close(c_);
  }
  CursorGuard(const CursorGuard&) = delete;
  CursorGuard& operator=(const CursorGuard&) = delete;
  MDB_cursor** out() { return &c_; }
  MDB_cursor* get() const { return c_; }

 private:
  MDB_cursor* c_ = nullptr;
};

template <typename T>
Result<T> decoded(Result<std::string> raw) {
  if (!raw.ok()) return raw.status();
  T rec;
  MIGO_TRY(decode(*raw, &rec));
  return rec;
}

uint64_t u64_value(std::string_view v) {
  Decoder d(v, "counter");
  uint64_t n = d.u64();
  return d.finish().ok() ? n : 0;
}

std::string usage_key(uint64_t ws, char kind, uint64_t bucket) {
  return Encoder().key_u64(ws).u8(static_cast<uint8_t>(kind)).key_u64(bucket).bytes();
}

constexpr uint64_t kMinutesPerDay = 24 * 60;

}  // namespace

// ---------------------------------------------------------------- ReadTxn

Result<std::string> ReadTxn::get(unsigned dbi, std::string_view key) const {
  MDB_val k = val_of(key), v;
  int rc = mdb_get(txn_, dbi_[dbi], &k, &v);
  if (rc != 0) return lmdb_status(rc, std::string("read ") + kTableNames[dbi]);
  return std::string(view_of(v));
}

Status ReadTxn::scan(unsigned dbi, std::string_view prefix,
                     const std::function<bool(std::string_view, std::string_view)>& fn) const {
  CursorGuard c;
  int rc = mdb_cursor_open(txn_, dbi_[dbi], c.out());
  if (rc) return lmdb_status(rc, "open cursor");
  MDB_val k = val_of(prefix), v;
  rc = mdb_cursor_get(c.get(), &k, &v, prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
  while (rc == 0) {
    std::string_view key = view_of(k);
    if (key.substr(0, prefix.size()) != prefix) break;
    if (!fn(key, view_of(v))) return {};
    rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc, std::string("scan ") + kTableNames[dbi]);
  return {};
}

Result<std::string> ReadTxn::meta(std::string_view key) const { return get(kMeta, key); }

Result<Plan> ReadTxn::plan(std::string_view name) const {
  return decoded<Plan>(get(kPlans, name));
}

Result<std::vector<Plan>> ReadTxn::plans() const {
  std::vector<Plan> out;
  Status bad;
  MIGO_TRY(scan(kPlans, "", [&](std::string_view, std::string_view v) {
    Plan p;
    bad = decode(v, &p);
    out.push_back(std::move(p));
    return bad.ok();
  }));
  if (!bad.ok()) return bad;
  return out;
}

Result<Workspace> ReadTxn::workspace(uint64_t id) const {
  return decoded<Workspace>(get(kWorkspaces, key_of(id)));
}

Result<Workspace> ReadTxn::workspace_by_name(std::string_view name) const {
  auto id = get(kWorkspaceNames, name);
  if (!id.ok()) return id.status();
  uint64_t n;
  if (!u64_of_key(*id, &n)) return Status(Code::corrupt, "workspace name index entry is not an id");
  return workspace(n);
}

Result<std::vector<Workspace>> ReadTxn::workspaces() const {
  std::vector<Workspace> out;
  Status bad;
  MIGO_TRY(scan(kWorkspaceNames, "", [&](std::string_view, std::string_view v) {
    uint64_t id;
    if (!u64_of_key(v, &id)) {
      bad = {Code::corrupt, "workspace name index entry is not an id"};
      return false;
    }
    auto w = workspace(id);
    if (!w.ok()) {
      bad = w.status();
      return false;
    }
    out.push_back(std::move(*w));
    return true;
  }));
  if (!bad.ok()) return bad;
  return out;
}

Result<Domain> ReadTxn::domain(uint64_t ws, std::string_view name) const {
  return decoded<Domain>(get(kDomains, Encoder().key_u64(ws).raw(name).bytes()));
}

Result<std::vector<Domain>> ReadTxn::domains(uint64_t ws) const {
  std::vector<Domain> out;
  Status bad;
  MIGO_TRY(scan(kDomains, key_of(ws), [&](std::string_view, std::string_view v) {
    Domain d;
    bad = decode(v, &d);
    out.push_back(std::move(d));
    return bad.ok();
  }));
  if (!bad.ok()) return bad;
  return out;
}

Result<Account> ReadTxn::account(uint64_t id) const {
  return decoded<Account>(get(kAccounts, key_of(id)));
}

Result<Account> ReadTxn::account_by_username(std::string_view username) const {
  auto id = get(kUsernames, username);
  if (!id.ok()) return id.status();
  uint64_t n;
  if (!u64_of_key(*id, &n)) return Status(Code::corrupt, "username index entry is not an id");
  return account(n);
}

Result<std::vector<Account>> ReadTxn::accounts(uint64_t ws) const {
  std::vector<Account> out;
  Status bad;
  MIGO_TRY(scan(kWorkspaceAccounts, key_of(ws), [&](std::string_view k, std::string_view) {
    uint64_t id;
    if (!u64_of_key(k.substr(8), &id)) {
      bad = {Code::corrupt, "workspace account index key is malformed"};
      return false;
    }
    auto a = account(id);
    if (!a.ok()) {
      bad = a.status();
      return false;
    }
    out.push_back(std::move(*a));
    return true;
  }));
  if (!bad.ok()) return bad;
  return out;
}

Result<uint32_t> ReadTxn::account_count(uint64_t ws) const {
  uint32_t n = 0;
  MIGO_TRY(scan(kWorkspaceAccounts, key_of(ws), [&](std::string_view, std::string_view) {
    n++;
    return true;
  }));
  return n;
}

Result<AccountStats> ReadTxn::stats(uint64_t account_id) const {
  auto s = decoded<AccountStats>(get(kStats, key_of(account_id)));
  if (!s.ok() && s.status().code() == Code::not_found) return AccountStats{};
  return s;
}

Result<QueueEntry> ReadTxn::queue_entry(std::string_view queue_id) const {
  return decoded<QueueEntry>(get(kQueue, queue_id));
}

Result<std::vector<std::string>> ReadTxn::queued_for(uint64_t account_id) const {
  // The account's own keys in queue_by_account: never the whole queue map.
  std::vector<std::string> out;
  std::string prefix = key_of(account_id);
  MIGO_TRY(scan(kQueueByAccount, prefix, [&](std::string_view k, std::string_view) {
    out.emplace_back(k.substr(prefix.size()));
    return true;
  }));
  return out;
}

Result<std::vector<std::pair<uint64_t, uint64_t>>> ReadTxn::usage_minutes(uint64_t ws, int64_t now) const {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  uint64_t minute = static_cast<uint64_t>(now) / 60;
  uint64_t first = minute >= kMinutesPerDay - 1 ? minute - (kMinutesPerDay - 1) : 0;
  std::string prefix = Encoder().key_u64(ws).u8('m').bytes();
  CursorGuard c;
  int rc = mdb_cursor_open(txn_, dbi_[kUsage], c.out());
  if (rc) return lmdb_status(rc, "open cursor");
  std::string start = usage_key(ws, 'm', first);
  MDB_val k = val_of(start), v;
  for (rc = mdb_cursor_get(c.get(), &k, &v, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(c.get(), &k, &v, MDB_NEXT)) {
    std::string_view key = view_of(k);
    if (key.size() != 17 || key.substr(0, 9) != prefix) break;
    uint64_t bucket;
    u64_of_key(key.substr(9), &bucket);
    // A bucket "in the future" was written before the clock stepped back
    // (or by a host whose clock is ahead): those recipients were sent, and
    // recently. Counted as sent this minute, the windows stay correct across
    // a step back; dropping them would forget recent usage and let a
    // workspace past its limits. Beyond a day ahead, a clock was wrong, not
    // stepped: ignored, so one bad clock cannot block a workspace for long.
    if (bucket > minute + kMinutesPerDay) break;
    if (uint64_t n = u64_value(view_of(v))) out.emplace_back(std::min(bucket, minute), n);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return lmdb_status(rc, "scan usage");
  return out;
}

Result<Usage> ReadTxn::usage(uint64_t ws, int64_t now) const {
  auto minutes = usage_minutes(ws, now);
  if (!minutes.ok()) return minutes.status();
  Usage u;
  uint64_t minute = static_cast<uint64_t>(now) / 60;
  for (const auto& [bucket, n] : *minutes) {
    u.day += n;
    if (bucket + 60 > minute) u.hour += n;
  }
  auto month = month_usage(ws, now);
  if (!month.ok()) return month.status();
  u.month = *month;
  return u;
}

Result<uint64_t> ReadTxn::month_usage(uint64_t ws, int64_t now) const {
  auto m = get(kUsage, usage_key(ws, 'M', month_of(now)));
  if (m.ok()) return u64_value(*m);
  if (m.status().code() == Code::not_found) return uint64_t{0};
  return m.status();
}

Result<FollowPosition> ReadTxn::follow_position(std::string_view path) const {
  return decoded<FollowPosition>(get(kFollow, path));
}

Result<std::vector<std::pair<std::string, FollowPosition>>> ReadTxn::follow_positions() const {
  std::vector<std::pair<std::string, FollowPosition>> out;
  Status bad;
  MIGO_TRY(scan(kFollow, "", [&](std::string_view k, std::string_view v) {
    FollowPosition p;
    bad = decode(v, &p);
    if (bad.ok()) out.emplace_back(std::string(k), p);
    return bad.ok();
  }));
  if (!bad.ok()) return bad;
  return out;
}

Result<uint64_t> ReadTxn::counter(std::string_view name) const {
  auto v = get(kCounters, name);
  if (!v.ok()) return v.status().code() == Code::not_found ? Result<uint64_t>(uint64_t{0}) : v.status();
  if (v->size() != 8) return Status(Code::corrupt, "counter " + std::string(name) + " is damaged");
  return u64_value(*v);
}

Result<std::vector<std::pair<std::string, uint64_t>>> ReadTxn::counters() const {
  std::vector<std::pair<std::string, uint64_t>> out;
  bool bad = false;
  MIGO_TRY(scan(kCounters, "", [&](std::string_view k, std::string_view v) {
    if (v.size() != 8) return !(bad = true);
    out.emplace_back(std::string(k), u64_value(v));
    return true;
  }));
  if (bad) return Status(Code::corrupt, "a counter is damaged");
  return out;
}

Result<std::vector<std::pair<std::string, uint64_t>>> ReadTxn::shared_refunds(size_t max) const {
  std::vector<std::pair<std::string, uint64_t>> out;
  bool bad = false;
  MIGO_TRY(scan(kSharedRefunds, "", [&](std::string_view k, std::string_view v) {
    if (v.size() != 8) return !(bad = true);
    out.emplace_back(std::string(k), u64_value(v));
    return out.size() < max;
  }));
  if (bad) return Status(Code::corrupt, "a shared refund is damaged");
  return out;
}

Result<bool> ReadTxn::report_seen(std::string_view key) const {
  auto v = get(kReports, key);
  if (v.ok()) return true;
  if (v.status().code() == Code::not_found) return false;
  return v.status();
}

Result<std::vector<AuditEntry>> ReadTxn::audit(uint64_t ws) const {
  std::vector<AuditEntry> out;
  Status bad;
  MIGO_TRY(scan(kAudit, "", [&](std::string_view k, std::string_view v) {
    AuditEntry e;
    bad = decode(v, &e);
    if (bad.ok() && !u64_of_key(k, &e.seq)) bad = {Code::corrupt, "audit key is malformed"};
    if (bad.ok() && (ws == 0 || e.workspace_id == ws)) out.push_back(std::move(e));
    return bad.ok();
  }));
  if (!bad.ok()) return bad;
  return out;
}

// --------------------------------------------------------------- WriteTxn

namespace {
// Set when a put inside the current write() attempt hit MDB_MAP_FULL; the
// store then grows the map and runs the callback again. Thread-local because
// each thread runs its own write transaction.
thread_local bool t_map_full = false;
}  // namespace

Status WriteTxn::put_raw(unsigned dbi, std::string_view key, std::string_view value) {
  MDB_val k = val_of(key), v = val_of(value);
  int rc = mdb_put(txn_, dbi_[dbi], &k, &v, 0);
  if (rc == MDB_MAP_FULL) t_map_full = true;
  if (rc) return lmdb_status(rc, std::string("write ") + kTableNames[dbi]);
  if (capture_) captured(dbi, key, &value);
  return {};
}

Status WriteTxn::del_raw(unsigned dbi, std::string_view key) {
  MDB_val k = val_of(key);
  int rc = mdb_del(txn_, dbi_[dbi], &k, nullptr);
  if (rc == MDB_MAP_FULL) t_map_full = true;
  if (rc && rc != MDB_NOTFOUND) return lmdb_status(rc, std::string("delete ") + kTableNames[dbi]);
  if (capture_) captured(dbi, key, nullptr);
  return {};
}

namespace {
// The tables whose rows every relay shares (migo/shared.h).
bool shared_dbi(unsigned dbi) {
  switch (dbi) {
    case kPlans: case kWorkspaces: case kWorkspaceNames: case kDomains: case kAccounts: case kUsernames:
    case kWorkspaceAccounts: return true;
    default: return false;
  }
}
Result<unsigned> table_named(std::string_view name) {
  for (unsigned t = 0; t < kTableCount; t++)
    if (name == kTableNames[t]) return t;
  return Status(Code::invalid, "no table named '" + std::string(name) + "'");
}
}  // namespace

bool is_shared_table(std::string_view table) {
  auto t = table_named(table);
  return t.ok() && shared_dbi(*t);
}

// What an operation changed in the shared tables, for migoctl --redis: the
// rows themselves, an audit entry to append, and an account's statistics
// going with it (local rows, but an account deleted anywhere is deleted
// everywhere).
void WriteTxn::captured(unsigned dbi, std::string_view key, const std::string_view* value) {
  using Op = SharedChange::Op;
  if (shared_dbi(dbi))
    capture_->push_back({value ? Op::put : Op::erase, kTableNames[dbi], std::string(key), value ? std::string(*value) : ""});
  else if (dbi == kAudit && value)
    capture_->push_back({Op::append, kTableNames[dbi], "", std::string(*value)});
  else if (dbi == kStats && !value)
    capture_->push_back({Op::erase, kTableNames[dbi], std::string(key), ""});
}

Status WriteTxn::put_row(std::string_view table, std::string_view key, std::string_view value) {
  auto t = table_named(table);
  if (!t.ok() || !shared_dbi(*t)) return {Code::corrupt, "a shared change writes table '" + std::string(table) + "'"};
  return put_raw(*t, key, value);
}

Status WriteTxn::erase_row(std::string_view table, std::string_view key) {
  auto t = table_named(table);
  if (!t.ok() || !(shared_dbi(*t) || *t == kStats))
    return {Code::corrupt, "a shared change removes from table '" + std::string(table) + "'"};
  return del_raw(*t, key);
}

Status ReadTxn::scan_table(std::string_view table,
                           const std::function<bool(std::string_view, std::string_view)>& fn) const {
  auto t = table_named(table);
  if (!t.ok()) return t.status();
  return scan(*t, "", fn);
}

Status WriteTxn::set_meta(std::string_view key, std::string_view value) {
  return put_raw(kMeta, key, value);
}

Status WriteTxn::put(const Plan& p) { return put_raw(kPlans, p.name, encode(p)); }

Status WriteTxn::put(const Workspace& w) {
  auto old = workspace(w.id);
  if (old.ok() && old->name != w.name) MIGO_TRY(del_raw(kWorkspaceNames, old->name));
  MIGO_TRY(put_raw(kWorkspaces, key_of(w.id), encode(w)));
  return put_raw(kWorkspaceNames, w.name, key_of(w.id));
}

Status WriteTxn::put(const Domain& d) {
  return put_raw(kDomains, Encoder().key_u64(d.workspace_id).raw(d.name).bytes(), encode(d));
}

Status WriteTxn::erase_domain(uint64_t ws, std::string_view name) {
  return del_raw(kDomains, Encoder().key_u64(ws).raw(name).bytes());
}

Status WriteTxn::put(const Account& a) {
  auto old = account(a.id);
  if (old.ok() && (old->username != a.username || old->workspace_id != a.workspace_id))
    return {Code::invalid, "an account's username and workspace cannot change"};
  if (!old.ok() && old.status().code() != Code::not_found) return old.status();
  MIGO_TRY(put_raw(kAccounts, key_of(a.id), encode(a)));
  MIGO_TRY(put_raw(kUsernames, a.username, key_of(a.id)));
  return put_raw(kWorkspaceAccounts, Encoder().key_u64(a.workspace_id).key_u64(a.id).bytes(), "");
}

Status WriteTxn::erase_account(const Account& a) {
  MIGO_TRY(del_raw(kAccounts, key_of(a.id)));
  MIGO_TRY(del_raw(kUsernames, a.username));
  MIGO_TRY(del_raw(kWorkspaceAccounts, Encoder().key_u64(a.workspace_id).key_u64(a.id).bytes()));
  return del_raw(kStats, key_of(a.id));
}

Status WriteTxn::put_stats(uint64_t account_id, const AccountStats& s) {
  return put_raw(kStats, key_of(account_id), encode(s));
}

namespace {
// expiry keys: u64be time | kind | the key it ages out (SCHEMA.md). Keys
// before expiry_time(t) are those of times before t.
constexpr char kExpiresQueue = 'q';
constexpr char kExpiresReport = 'r';
std::string expiry_time(int64_t at) { return Encoder().key_u64(static_cast<uint64_t>(std::max<int64_t>(at, 0))).bytes(); }
std::string expiry_key(int64_t at, char kind, std::string_view key) {
  return expiry_time(at) + kind + std::string(key);
}
}  // namespace

// The index keys of a queue entry and of a report key: written when the
// entry or key is new (and by the upgrade to schema 2 for old ones).
Status WriteTxn::index_queue_entry(std::string_view queue_id, const QueueEntry& e) {
  MIGO_TRY(put_raw(kQueueByAccount, key_of(e.account_id) + std::string(queue_id), ""));
  return put_raw(kExpiry, expiry_key(e.queued_at, kExpiresQueue, queue_id), "");
}

Status WriteTxn::index_report(std::string_view key, int64_t at) {
  return put_raw(kExpiry, expiry_key(at, kExpiresReport, key), "");
}

Status WriteTxn::put_queue(std::string_view queue_id, const QueueEntry& e) {
  auto existing = get(kQueue, queue_id);
  if (!existing.ok() && existing.status().code() != Code::not_found) return existing.status();
  if (!existing.ok()) MIGO_TRY(index_queue_entry(queue_id, e));  // by account, and aged out by retention
  return put_raw(kQueue, queue_id, encode(e));
}

Status WriteTxn::erase_queue(std::string_view queue_id) {
  auto e = queue_entry(queue_id);
  if (!e.ok()) return e.status().code() == Code::not_found ? Status() : e.status();
  MIGO_TRY(del_raw(kQueueByAccount, key_of(e->account_id) + std::string(queue_id)));
  // Its expiry key goes too: only entries Postfix never removed wait for it.
  MIGO_TRY(del_raw(kExpiry, expiry_key(e->queued_at, kExpiresQueue, queue_id)));
  return del_raw(kQueue, queue_id);
}

Status WriteTxn::upgrade_to_2() {
  std::vector<std::pair<std::string, QueueEntry>> queued;
  std::vector<std::pair<std::string, int64_t>> reports;
  Status bad;
  MIGO_TRY(scan(kQueue, "", [&](std::string_view k, std::string_view v) {
    QueueEntry e;
    bad = decode(v, &e);
    if (bad.ok()) queued.emplace_back(k, e);
    return bad.ok();
  }));
  MIGO_TRY(bad);
  MIGO_TRY(scan(kReports, "", [&](std::string_view k, std::string_view v) {
    Decoder d(v, "report");
    int64_t at = d.i64();
    bad = d.finish();
    if (bad.ok()) reports.emplace_back(k, at);
    return bad.ok();
  }));
  MIGO_TRY(bad);
  for (const auto& [qid, e] : queued) MIGO_TRY(index_queue_entry(qid, e));
  for (const auto& [key, at] : reports) MIGO_TRY(index_report(key, at));
  return {};
}

Result<PruneCounts> WriteTxn::prune_expired(int64_t before, size_t max) {
  PruneCounts n;
  std::vector<std::string> done;
  std::string limit = expiry_time(before);
  MIGO_TRY(scan(kExpiry, "", [&](std::string_view k, std::string_view) {
    if (done.size() >= max || k.size() < 9 || k.substr(0, 8) >= limit) return false;
    done.emplace_back(k);
    return true;
  }));
  for (const std::string& k : done) {
    std::string_view key = std::string_view(k).substr(9);
    if (k[8] == kExpiresQueue) {
      auto e = queue_entry(key);
      if (e.ok()) n.queue++;
      if (!e.ok() && e.status().code() != Code::not_found) return e.status();
      MIGO_TRY(erase_queue(key));
    } else {
      auto seen = report_seen(key);
      if (!seen.ok()) return seen.status();
      if (*seen) n.reports++;
      MIGO_TRY(del_raw(kReports, key));
    }
    MIGO_TRY(del_raw(kExpiry, k));
  }
  n.index = done.size();
  return n;
}

Status WriteTxn::add_usage(uint64_t ws, int64_t now, uint64_t n) {
  uint64_t minute = static_cast<uint64_t>(now) / 60;
  for (const std::string& key : {usage_key(ws, 'm', minute), usage_key(ws, 'M', month_of(now))}) {
    auto cur = get(kUsage, key);
    if (!cur.ok() && cur.status().code() != Code::not_found) return cur.status();
    uint64_t count = (cur.ok() ? u64_value(*cur) : 0) + n;
    MIGO_TRY(put_raw(kUsage, key, Encoder().u64(count).bytes()));
  }
  // Forget minute buckets older than the 24-hour window: usually none or one.
  if (minute < kMinutesPerDay) return {};
  std::vector<std::string> stale;
  MIGO_TRY(scan(kUsage, Encoder().key_u64(ws).u8('m').bytes(), [&](std::string_view k, std::string_view) {
    uint64_t bucket = 0;
    u64_of_key(k.substr(9), &bucket);
    if (bucket + kMinutesPerDay > minute) return false;
    stale.emplace_back(k);
    return true;
  }));
  for (const auto& k : stale) MIGO_TRY(del_raw(kUsage, k));
  return {};
}

Status WriteTxn::remove_usage(uint64_t ws, int64_t at, uint64_t n) {
  for (const std::string& key : {usage_key(ws, 'm', static_cast<uint64_t>(at) / 60), usage_key(ws, 'M', month_of(at))}) {
    auto cur = get(kUsage, key);
    if (!cur.ok() && cur.status().code() == Code::not_found) continue;  // pruned, or never counted
    if (!cur.ok()) return cur.status();
    uint64_t count = u64_value(*cur);
    count = count > n ? count - n : 0;
    MIGO_TRY(count ? put_raw(kUsage, key, Encoder().u64(count).bytes()) : del_raw(kUsage, key));
  }
  return {};
}

Status WriteTxn::put_follow_position(std::string_view path, const FollowPosition& p) {
  return put_raw(kFollow, path, encode(p));
}

Status WriteTxn::put_shared_refund(std::string_view queue_id, uint64_t workspace_id) {
  return put_raw(kSharedRefunds, queue_id, Encoder().u64(workspace_id).bytes());
}

Status WriteTxn::erase_shared_refund(std::string_view queue_id) { return del_raw(kSharedRefunds, queue_id); }

Status WriteTxn::add_counter(std::string_view name, uint64_t n) {
  if (n == 0) return {};
  auto cur = counter(name);
  if (!cur.ok()) return cur.status();
  return put_raw(kCounters, name, Encoder().u64(*cur + n).bytes());
}

Status WriteTxn::set_counter(std::string_view name, uint64_t value) {
  return put_raw(kCounters, name, Encoder().u64(value).bytes());
}

Result<bool> WriteTxn::mark_report(std::string_view key, int64_t now) {
  auto seen = report_seen(key);
  if (!seen.ok()) return seen.status();
  if (*seen) return false;  // the time first marked stays, and so does its one expiry key
  MIGO_TRY(index_report(key, now));
  MIGO_TRY(put_raw(kReports, key, Encoder().i64(now).bytes()));
  return true;
}

Status WriteTxn::append_audit(const AuditEntry& entry) {
  CursorGuard c;
  int rc = mdb_cursor_open(txn_, dbi_[kAudit], c.out());
  if (rc) return lmdb_status(rc, "open cursor");
  MDB_val k, v;
  uint64_t seq = 1;
  rc = mdb_cursor_get(c.get(), &k, &v, MDB_LAST);
  if (rc == 0) {
    uint64_t last;
    if (!u64_of_key(view_of(k), &last)) return {Code::corrupt, "audit key is malformed"};
    seq = last + 1;
  } else if (rc != MDB_NOTFOUND) {
    return lmdb_status(rc, "read audit");
  }
  return put_raw(kAudit, key_of(seq), encode(entry));
}

namespace {
Result<uint64_t> random_id() {
  uint64_t id = 0;
  while (id == 0) {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&id), sizeof id) != 1)
      return Status(Code::unavailable, "RAND_bytes failed: no randomness");
  }
  return id;
}
}  // namespace

Result<uint64_t> WriteTxn::new_account_id() {
  for (;;) {
    auto id = random_id();
    if (!id.ok()) return id;
    auto existing = get(kAccounts, key_of(*id));
    if (!existing.ok() && existing.status().code() == Code::not_found) return id;
    if (!existing.ok()) return existing.status();
  }
}

Result<uint64_t> WriteTxn::new_workspace_id() {
  for (;;) {
    auto id = random_id();
    if (!id.ok()) return id;
    auto existing = get(kWorkspaces, key_of(*id));
    if (!existing.ok() && existing.status().code() == Code::not_found) return id;
    if (!existing.ok()) return existing.status();
  }
}

// ------------------------------------------------------------------ Store

// Bumped in every child a fork() makes: a store opened before the fork is
// refused in the child (LMDB forbids using an environment across fork)
// without a getpid() system call in every transaction: the policy daemon
// opens one per RCPT. glibc drops the handler if a library holding this
// code (the SASL plugin) is unloaded.
namespace {
std::atomic<uint64_t> g_fork_generation{0};
void note_fork() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }
std::once_flag g_atfork_once;
}  // namespace

struct Store::Impl {
  EnvPtr env;
  Dbis dbis;
  StoreOptions options;
  uint64_t fork_generation = 0;  // g_fork_generation when opened
  // Readers and writers of this process hold it shared; changing the map
  // size holds it exclusively, as mdb_env_set_mapsize demands.
  mutable std::shared_mutex resize_mu;

  int begin(unsigned flags, MDB_txn** out) const {
    int rc = mdb_txn_begin(env.get(), nullptr, flags, out);
    if (rc == MDB_READERS_FULL) {
      int dead = 0;
      mdb_reader_check(env.get(), &dead);
      if (dead > 0) rc = mdb_txn_begin(env.get(), nullptr, flags, out);
    }
    return rc;
  }
  void adopt_map_size() const {
    std::unique_lock lock(resize_mu);
    mdb_env_set_mapsize(env.get(), 0);
  }
  size_t map_size() const {
    MDB_envinfo info;
    mdb_env_info(env.get(), &info);
    return info.me_mapsize;
  }
  Status grow(size_t seen) {
    std::unique_lock lock(resize_mu);
    size_t cur = map_size();
    if (cur > seen) return {};  // another thread grew it meanwhile
    if (cur >= options.max_map_size)
      return {Code::unavailable, "store is full: map size " + std::to_string(cur) +
                                     " bytes reached its maximum"};
    size_t next = std::min(cur * 2, options.max_map_size);
    int rc = mdb_env_set_mapsize(env.get(), next);
    if (rc) return lmdb_status(rc, "grow map");
    return {};
  }
};

Store::Store(std::unique_ptr<Impl> impl, std::string dir) : impl_(std::move(impl)), dir_(std::move(dir)) {}
Store::~Store() = default;

size_t Store::map_size() const { return impl_->map_size(); }

Result<Store::Usage> Store::usage() const {
  std::shared_lock lock(impl_->resize_mu);
  MDB_envinfo info;
  MDB_stat st;
  if (int rc = mdb_env_info(impl_->env.get(), &info)) return Status(Code::unavailable, mdb_strerror(rc));
  if (int rc = mdb_env_stat(impl_->env.get(), &st)) return Status(Code::unavailable, mdb_strerror(rc));
  Usage u;
  u.used_bytes = (static_cast<uint64_t>(info.me_last_pgno) + 1) * st.ms_psize;
  u.map_bytes = info.me_mapsize;
  u.max_map_bytes = std::max<uint64_t>(impl_->options.max_map_size, info.me_mapsize);
  u.max_readers = info.me_maxreaders;
  // Slots held now (me_numreaders is the most ever used): one line per
  // reader after mdb_reader_list's header, or "(no active readers)".
  unsigned lines = 0;
  mdb_reader_list(
      impl_->env.get(),
      [](const char* msg, void* ctx) -> int {
        if (std::strncmp(msg, "(no active", 10) != 0) ++*static_cast<unsigned*>(ctx);
        return 0;
      },
      &lines);
  u.readers_used = lines > 0 ? lines - 1 : 0;
  return u;
}

Result<std::unique_ptr<Store>> Store::open(const std::string& dir, const StoreOptions& options) {
  if (options.create && options.read_only)
    return Status(Code::invalid, "a store cannot be created read-only");
  struct stat st;
  if (options.create) {
    if (mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST)
      return Status(Code::unavailable, "cannot create " + dir + ": " + strerror(errno));
  } else if (stat((dir + "/data.mdb").c_str(), &st) != 0) {
    if (errno == ENOENT)
      return Status(Code::not_initialized, "no migo store at " + dir + " (run: migoctl init)");
    return Status(Code::unavailable, "cannot access " + dir + "/data.mdb: " + strerror(errno));
  }

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  std::call_once(g_atfork_once, [] { pthread_atfork(nullptr, nullptr, note_fork); });
  impl->fork_generation = g_fork_generation.load(std::memory_order_relaxed);
  MDB_env* raw = nullptr;
  int rc = mdb_env_create(&raw);
  if (rc) return lmdb_status(rc, "create environment");
  impl->env.reset(raw);
  mdb_env_set_maxreaders(raw, options.max_readers);
  mdb_env_set_maxdbs(raw, kTableCount + 4);
  mdb_env_set_mapsize(raw, options.map_size);
  // MDB_NOTLS: reader slots belong to transactions, not threads, so the
  // milter's and policy daemon's thread pools can't exhaust the table.
  unsigned flags = MDB_NOTLS | (options.read_only ? MDB_RDONLY : 0u);
  rc = mdb_env_open(raw, dir.c_str(), flags, 0660);
  if (rc) return lmdb_status(rc, "open store " + dir);
  int dead = 0;
  mdb_reader_check(raw, &dead);  // slots left by crashed processes

  MDB_txn* txn = nullptr;
  rc = mdb_txn_begin(raw, nullptr, options.create ? 0 : MDB_RDONLY, &txn);
  if (rc) return lmdb_status(rc, "begin transaction on " + dir);
  TxnGuard guard(txn);
  for (unsigned t = 0; t < kTableCount; t++) {
    rc = mdb_dbi_open(txn, kTableNames[t], options.create ? MDB_CREATE : 0, &impl->dbis.at(t));
    if (rc == MDB_NOTFOUND)
      return Status(Code::not_initialized,
                    "store " + dir + " has no '" + kTableNames[t] + "' table (run: migoctl init)");
    if (rc) return lmdb_status(rc, std::string("open table ") + kTableNames[t]);
  }
  uint32_t version = 0;
  {
    MDB_val k = val_of("schema_version"), v;
    rc = mdb_get(txn, impl->dbis[kMeta], &k, &v);
    if (rc == 0) {
      Decoder d(view_of(v), "schema_version");
      version = d.u32();
      MIGO_TRY(d.finish());
    } else if (rc != MDB_NOTFOUND) {
      return lmdb_status(rc, "read schema version");
    }
  }
  rc = guard.commit();  // keeps the DBI handles open for the life of the env
  if (rc) return lmdb_status(rc, "open tables");
  if (!options.create && version != kSchemaVersion) {
    if (version > kSchemaVersion)
      return Status(Code::not_initialized, "store " + dir + " has schema " + std::to_string(version) +
                                               ", newer than this build's " +
                                               std::to_string(kSchemaVersion));
    return Status(Code::not_initialized, "store " + dir + " has schema " + std::to_string(version) +
                                             ", this build needs " + std::to_string(kSchemaVersion) +
                                             " (run: migoctl init)");
  }
  return std::unique_ptr<Store>(new Store(std::move(impl), dir));
}

Status Store::read(const std::function<Status(const ReadTxn&)>& fn) const {
  if (g_fork_generation.load(std::memory_order_relaxed) != impl_->fork_generation)
    return {Code::unavailable, "store used in a child process after fork; open it again"};
  for (int attempt = 0; attempt < 4; attempt++) {
    std::shared_lock lock(impl_->resize_mu);
    MDB_txn* txn = nullptr;
    int rc = impl_->begin(MDB_RDONLY, &txn);
    if (rc == MDB_MAP_RESIZED) {
      lock.unlock();
      impl_->adopt_map_size();
      continue;
    }
    if (rc) return lmdb_status(rc, "begin read transaction");
    TxnGuard guard(txn);  // a read transaction ends by abort
    ReadTxn rt(txn, impl_->dbis);
    try {
      return fn(rt);
    } catch (const std::exception& e) {
      return {Code::unavailable, std::string("read failed: ") + e.what()};
    }
  }
  return {Code::unavailable, "store map keeps changing size; try again"};
}

Status Store::write(const std::function<Status(WriteTxn&)>& fn) {
  if (impl_->options.read_only) return {Code::invalid, "store was opened read-only"};
  if (g_fork_generation.load(std::memory_order_relaxed) != impl_->fork_generation)
    return {Code::unavailable, "store used in a child process after fork; open it again"};
  for (int attempt = 0; attempt < 40; attempt++) {
    size_t seen = 0;
    bool resized = false;
    {
      std::shared_lock lock(impl_->resize_mu);
      seen = impl_->map_size();
      MDB_txn* txn = nullptr;
      int rc = impl_->begin(0, &txn);
      if (rc == MDB_MAP_RESIZED) {
        resized = true;
      } else if (rc) {
        return lmdb_status(rc, "begin write transaction");
      } else {
        TxnGuard guard(txn);
        WriteTxn wt(txn, impl_->dbis);
        t_map_full = false;
        Status s;
        try {
          s = fn(wt);
        } catch (const std::exception& e) {
          s = {Code::unavailable, std::string("write failed: ") + e.what()};
        }
        if (s.ok() && !t_map_full) {
          rc = guard.commit();
          if (rc == MDB_MAP_FULL) t_map_full = true;
          else if (rc) return lmdb_status(rc, "commit");
        }
        if (!t_map_full) return s;
      }
    }  // the transaction is aborted and the lock released: the map may change now
    if (resized) {
      impl_->adopt_map_size();
      continue;
    }
    MIGO_TRY(impl_->grow(seen));
  }
  return {Code::unavailable, "store could not grow enough for this write"};
}

Status Store::rehearse(const std::function<Status(WriteTxn&)>& fn) {
  Status outcome;
  Status s = write([&](WriteTxn& t) -> Status {
    outcome = fn(t);
    // Never committed: a status write() cannot mistake for the callback's.
    return Status(Code::refused, "rehearsal");
  });
  if (s.code() != Code::refused || s.message() != "rehearsal") return s;
  return outcome;
}

Result<uint32_t> Store::init_schema(int64_t now) {
  if (!impl_->options.create) return Status(Code::invalid, "init_schema needs a store opened with create");
  uint32_t before = 0;
  Status s = write([&](WriteTxn& t) -> Status {
    auto v = t.meta("schema_version");
    before = 0;
    if (v.ok()) {
      Decoder d(*v, "schema_version");
      before = d.u32();
      MIGO_TRY(d.finish());
    } else if (v.status().code() != Code::not_found) {
      return v.status();
    }
    if (before > kSchemaVersion)
      return {Code::refused, "store has schema " + std::to_string(before) +
                                 ", newer than this build's " + std::to_string(kSchemaVersion) +
                                 "; refusing to touch it"};
    if (before == kSchemaVersion) return {};
    if (before == 1) {
      // 1 -> 2: the queue_by_account and expiry indexes (tables created at
      // open) for what the store already holds.
      MIGO_TRY(t.upgrade_to_2());
    }
    if (before == 1 || before == 2) {
      // 2 -> 3: the shared_refunds table, created empty at open; queue
      // entries of schema 2 are all counted here only (record v1).
      return t.set_meta("schema_version", Encoder().u32(kSchemaVersion).bytes());
    }
    // Version 0 -> current: a new store. Later upgrades go above, one step each.
    for (const Plan& p : builtin_plans()) {
      auto existing = t.plan(p.name);
      if (existing.ok()) continue;
      if (existing.status().code() != Code::not_found) return existing.status();
      MIGO_TRY(t.put(p));
    }
    MIGO_TRY(t.set_meta("created", Encoder().i64(now).bytes()));
    return t.set_meta("schema_version", Encoder().u32(kSchemaVersion).bytes());
  });
  if (!s.ok()) return s;
  return before;
}

std::vector<Plan> builtin_plans() {
  // Daily = a fifth of the month and hourly = a quarter of the day: enough
  // for a burst (a newsletter, a password-reset storm) while a leaked
  // credential can burn at most a fifth of the month's quota in a day.
  return {
      {"10k", 5, 10000, 2000, 500},
      {"20k", 10, 20000, 4000, 1000},
      {"30k", 15, 30000, 6000, 1500},
  };
}

}  // namespace migo
