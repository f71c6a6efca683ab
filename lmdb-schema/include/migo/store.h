// store.h — the one migo store: an LMDB environment shared by migoctl, the
// SASL plugin inside every smtpd, the policy daemon and the milter.
//
// Contract (in the spirit of lmdb.h):
//  - Store::open opens the environment once per process; a Store must not be
//    used in a child after fork() (calls there return Code::unavailable).
//    Open it again in the child instead.
//  - read() and write() run a callback inside one transaction. A Store is
//    thread-safe; transactions are not shared between threads.
//  - write() commits when the callback returns ok and aborts otherwise. The
//    callback may run MORE THAN ONCE: when the map is full the store grows it
//    and retries, so the callback must not have side effects outside the txn.
//  - string_views and records returned inside a callback are copies unless
//    documented otherwise; nothing outlives the transaction by reference.
//  - LMDB's quirks (MDB_MAP_FULL, MDB_MAP_RESIZED, MDB_READERS_FULL, stale
//    readers) never reach callers; a store that cannot answer is a Status
//    whose temporary() is true.
// The on-disk layout is documented in SCHEMA.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "migo/records.h"
#include "migo/status.h"

typedef struct MDB_txn MDB_txn;

namespace migo {

struct SharedChange;  // migo/shared.h

// Version of the layout in SCHEMA.md this build reads and writes.
inline constexpr uint32_t kSchemaVersion = 3;

struct StoreOptions {
  bool read_only = false;  // MDB_RDONLY: the SASL plugin
  bool create = false;     // create the directory and sub-databases (migoctl init only)
  size_t map_size = size_t{64} << 20;      // initial map; doubled on MDB_MAP_FULL
  size_t max_map_size = size_t{64} << 30;  // never grown beyond this
  // Reader slots in the lock file: each smtpd, daemon thread and migoctl
  // holds one while it reads. Postfix runs hundreds of smtpd processes, and
  // LMDB's default of 126 is fixed when the lock file is first created.
  unsigned max_readers = 4096;
};

// Recipients counted for a workspace in each limit window at a given time.
struct Usage {
  uint64_t hour = 0;   // rolling 60 minutes
  uint64_t day = 0;    // rolling 24 hours
  uint64_t month = 0;  // calendar month, UTC
};

class Dbis;

class ReadTxn {
 public:
  ReadTxn(MDB_txn* txn, const Dbis& dbis) : txn_(txn), dbi_(dbis) {}
  ReadTxn(const ReadTxn&) = delete;
  ReadTxn& operator=(const ReadTxn&) = delete;

  Result<std::string> meta(std::string_view key) const;
  Result<Plan> plan(std::string_view name) const;
  Result<std::vector<Plan>> plans() const;
  Result<Workspace> workspace(uint64_t id) const;
  Result<Workspace> workspace_by_name(std::string_view name) const;
  Result<std::vector<Workspace>> workspaces() const;
  Result<Domain> domain(uint64_t workspace_id, std::string_view name) const;
  Result<std::vector<Domain>> domains(uint64_t workspace_id) const;
  Result<Account> account(uint64_t id) const;
  Result<Account> account_by_username(std::string_view username) const;
  Result<std::vector<Account>> accounts(uint64_t workspace_id) const;
  Result<uint32_t> account_count(uint64_t workspace_id) const;
  // Absent statistics are all zeros, not an error.
  Result<AccountStats> stats(uint64_t account_id) const;
  Result<QueueEntry> queue_entry(std::string_view queue_id) const;
  // Queue ids whose messages are attributed to the account.
  Result<std::vector<std::string>> queued_for(uint64_t account_id) const;
  Result<Usage> usage(uint64_t workspace_id, int64_t now) const;
  // Recipients counted in the UTC month containing `now`.
  Result<uint64_t> month_usage(uint64_t workspace_id, int64_t now) const;
  // The non-empty minute buckets of the last 24 hours at `now`, oldest
  // first, as (unix minute, recipients). Buckets up to a day after `now`
  // (the clock stepped back since they were written) count as `now`'s.
  Result<std::vector<std::pair<uint64_t, uint64_t>>> usage_minutes(uint64_t workspace_id, int64_t now) const;
  // Where the statistics follower stopped in the log file `path`.
  Result<FollowPosition> follow_position(std::string_view path) const;
  Result<std::vector<std::pair<std::string, FollowPosition>>> follow_positions() const;
  // Store-wide event counters (log lines seen, malformed, unattributed, …);
  // an absent counter is 0.
  Result<uint64_t> counter(std::string_view name) const;
  Result<std::vector<std::pair<std::string, uint64_t>>> counters() const;
  // Refunds waiting for the shared counters (Redis), oldest queue id first
  // by bytes, at most `max`: (queue id, workspace id).
  Result<std::vector<std::pair<std::string, uint64_t>>> shared_refunds(size_t max) const;
  // Whether a delivery outcome with this dedup key was already counted.
  Result<bool> report_seen(std::string_view key) const;
  // Audit entries, oldest first; workspace_id 0 means all.
  Result<std::vector<AuditEntry>> audit(uint64_t workspace_id) const;
  // Every row of a table by its SCHEMA.md name (migo/shared.h's snapshots);
  // fn returns false to stop. An unknown name is Code::invalid.
  Status scan_table(std::string_view table,
                    const std::function<bool(std::string_view key, std::string_view value)>& fn) const;

 protected:
  Result<std::string> get(unsigned dbi, std::string_view key) const;
  // Calls fn(key, value) for every entry whose key starts with prefix;
  // fn returns false to stop.
  Status scan(unsigned dbi, std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& fn) const;

  MDB_txn* txn_;
  const Dbis& dbi_;
};

// What one prune_expired() call forgot.
struct PruneCounts {
  size_t index = 0;    // expiry keys consumed
  size_t queue = 0;    // queue entries still there (never "removed")
  size_t reports = 0;  // report keys
};

class WriteTxn : public ReadTxn {
 public:
  using ReadTxn::ReadTxn;

  Status set_meta(std::string_view key, std::string_view value);
  Status put(const Plan& p);
  Status put(const Workspace& w);
  Status put(const Domain& d);
  Status erase_domain(uint64_t workspace_id, std::string_view name);
  // Inserts or replaces an account and its indexes. Usernames are immutable:
  // replacing an account with a different username is Code::invalid.
  Status put(const Account& a);
  // Removes the account, its indexes and its statistics.
  Status erase_account(const Account& a);
  Status put_stats(uint64_t account_id, const AccountStats& s);
  Status put_queue(std::string_view queue_id, const QueueEntry& e);
  Status erase_queue(std::string_view queue_id);  // absent is ok
  // Retention: forgets, oldest first and at most `max` index keys per call
  // (so a writer's transaction stays short), queue entries queued and
  // report keys marked before `before`. See SCHEMA.md, table expiry.
  Result<PruneCounts> prune_expired(int64_t before, size_t max);
  // Store::init_schema's step from schema 1: indexes what the store holds.
  Status upgrade_to_2();
  // Counts n recipients for the workspace at `now` in every window, and
  // forgets minute buckets that have left the 24-hour window.
  Status add_usage(uint64_t workspace_id, int64_t now, uint64_t n);
  // Takes back n recipients counted at `at` (never below zero; a minute
  // bucket that has already left the day is not touched).
  Status remove_usage(uint64_t workspace_id, int64_t at, uint64_t n);
  Status put_follow_position(std::string_view path, const FollowPosition& p);
  // A refund of a message counted on the shared counters, for migo-policyd
  // (the one process that talks to them) to carry out; then erased.
  Status put_shared_refund(std::string_view queue_id, uint64_t workspace_id);
  Status erase_shared_refund(std::string_view queue_id);  // absent is ok
  Status add_counter(std::string_view name, uint64_t n);
  // A counter used as a gauge (e.g. statd.failing_since): set, not added.
  Status set_counter(std::string_view name, uint64_t value);
  // Marks a report key at `now`: true the first time, false if it was
  // marked before (its first time stays).
  Result<bool> mark_report(std::string_view key, int64_t now);
  // Appends with the next sequence number; entry.seq is ignored.
  Status append_audit(const AuditEntry& entry);
  // From now on, every write to a shared table (migo/shared.h) is also
  // appended to *sink; nullptr stops. What migoctl --redis publishes.
  void capture(std::vector<SharedChange>* sink) { capture_ = sink; }
  // A shared row written or removed by name, as a change says (not
  // captured): migo/shared.h's apply and replace.
  Status put_row(std::string_view table, std::string_view key, std::string_view value);
  Status erase_row(std::string_view table, std::string_view key);
  // A random non-zero id not yet used as a key of the accounts (or
  // workspaces) table.
  Result<uint64_t> new_account_id();
  Result<uint64_t> new_workspace_id();

 private:
  Status index_queue_entry(std::string_view queue_id, const QueueEntry& e);
  Status index_report(std::string_view key, int64_t at);
  Status put_raw(unsigned dbi, std::string_view key, std::string_view value);
  Status del_raw(unsigned dbi, std::string_view key);  // absent is ok
  void captured(unsigned dbi, std::string_view key, const std::string_view* value);
  std::vector<SharedChange>* capture_ = nullptr;
};

class Store {
 public:
  // Opens the environment in directory `dir` (data.mdb + lock.mdb). Without
  // options.create a missing store, or one whose schema is not
  // kSchemaVersion, is Code::not_initialized.
  static Result<std::unique_ptr<Store>> open(const std::string& dir, const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Status read(const std::function<Status(const ReadTxn&)>& fn) const;
  Status write(const std::function<Status(WriteTxn&)>& fn);

  // Runs fn in a write transaction and always aborts it: what an operation
  // would change, learnt without changing it (with WriteTxn::capture).
  Status rehearse(const std::function<Status(WriteTxn&)>& fn);

  // Creates or upgrades the schema (meta, built-in plans) to kSchemaVersion.
  // Refuses a store written by a newer build. Only for stores opened with
  // options.create. Returns the version found before (0 = new store).
  Result<uint32_t> init_schema(int64_t now);

  const std::string& path() const { return dir_; }
  size_t map_size() const;

  // How full the store is, for health checks and metrics: the pages in use
  // (as of the last commit), the map as mapped now, the most it may grow to
  // (StoreOptions::max_map_size), and the lock file's reader slots.
  struct Usage {
    uint64_t used_bytes = 0, map_bytes = 0, max_map_bytes = 0;
    unsigned readers_used = 0, max_readers = 0;
  };
  Result<Usage> usage() const;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl, std::string dir);
  std::unique_ptr<Impl> impl_;
  std::string dir_;
};

// The built-in plans `migoctl init` creates.
std::vector<Plan> builtin_plans();

}  // namespace migo
