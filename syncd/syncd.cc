// syncd.cc — see syncd.h: options, signals and the loop around sync_store.
#include "syncd.h"

#include <signal.h>
#include <syslog.h>
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <optional>

#include "daemon.h"
#include "migo/codec.h"
#include "options.h"
#include "dkim.h"
#include "migo/tag.h"
#include "sealed.h"
#include "ingest.h"

namespace migo {
namespace {

const ProgramDoc kDoc = {
    "migo-syncd",
    "keep a relay's store in step with the shared state of several migo-relay relays",
    "--redis URL [--redis URL]... | --redis-file FILE [--db PATH] [--relay NAME] [--user USER] [--replace] "
    "[--foreground | --once]",
    "Several relays behind one name share their workspaces, plans, domains\n"
    "and SMTP accounts through Redis (docs/several-relays.md). migoctl\n"
    "--redis publishes each change there as a numbered change set; this\n"
    "daemon applies every change set, in order, to this relay's store, where\n"
    "the SASL plugin, migo-policyd and migo-milter read them without any\n"
    "network on the way. It waits on Redis's stream, so a change made on any\n"
    "relay is here within milliseconds.\n"
    "\n"
    "A store that follows no shared state yet and holds no workspace (a new\n"
    "relay) is filled from a snapshot of every shared row; so is one that\n"
    "fell behind what the stream keeps. Applying is idempotent: a change set\n"
    "applied already is skipped, so a restart or a repeat changes nothing.\n"
    "Refused, and logged until fixed, because data would be lost: a store\n"
    "with workspaces of its own, one that follows another shared state, and\n"
    "one ahead of Redis (Redis lost change sets, as an asynchronous failover\n"
    "can). --replace rebuilds such a store from what Redis holds.\n"
    "\n"
    "Every second it also reports the statistics of this relay's accounts\n"
    "that changed (sent, delivered, bounced, deferred, complaints, opens and\n"
    "clicks), which migoctl --redis sums across relays.\n"
    "\n"
    "Redis unreachable: the store keeps what it has (mail flows on it), and\n"
    "the daemon retries every second; the trouble is logged when it starts\n"
    "and when it ends. Only verifiers travel: the store holds no password.\n",
    {{"SIGNALS", "  SIGTERM, SIGINT  finish the round in hand and exit\n"},
     {"EXIT STATUS",
      "0 after a clean stop (or --once done); 1 on a start-up error, or a\n"
      "refusal under --once; 2 on a usage error; 75 when --once could not\n"
      "reach Redis or the store (try again).\n"}},
    "migoctl(8), migo-policyd(8), migo-policyd.conf(5)",
};

volatile std::sig_atomic_t g_stop = 0;
void on_stop(int) { g_stop = 1; }


}  // namespace

Status StatsReporter::report(const Store& store, SharedState& state, uint64_t seq, int64_t now, size_t* sent) {
  std::vector<std::pair<uint64_t, AccountStats>> changed;
  std::map<uint64_t, AccountStats> all;
  Status s = store.read([&](const ReadTxn& t) -> Status {
    Status bad;
    MIGO_TRY(t.scan_table("stats", [&](std::string_view k, std::string_view v) {
      Decoder d(k, "stats key");
      uint64_t id = d.key_u64();
      AccountStats st;
      bad = d.finish();
      if (bad.ok()) bad = decode(v, &st);
      if (!bad.ok()) return false;
      all.emplace(id, st);
      return true;
    }));
    return bad;
  });
  if (!s.ok()) return s;
  for (const auto& [id, st] : all) {
    auto it = reported_.find(id);
    if (it == reported_.end() || !(it->second == st)) changed.emplace_back(id, st);
  }
  MIGO_TRY(state.publish_stats(relay_, seq, changed, now));
  for (const auto& [id, st] : changed) reported_[id] = st;
  if (sent) *sent = changed.size();
  return {};
}

Result<size_t> fetch_dkim_keys(const Store& store, SharedState& state, const std::string& dir, const Secret& seal_key,
                               size_t* missing) {
  std::vector<std::pair<std::string, std::string>> wanted;  // (domain, selector)
  Status s = store.read([&](const ReadTxn& t) -> Status {
    auto spaces = t.workspaces();
    if (!spaces.ok()) return spaces.status();
    for (const Workspace& w : *spaces) {
      auto domains = t.domains(w.id);
      if (!domains.ok()) return domains.status();
      for (const Domain& d : *domains)
        for (const DkimKey& k : d.dkim)
          if (k.state != DkimKeyState::retired) wanted.emplace_back(d.name, k.selector);
    }
    return {};
  });
  if (!s.ok()) return s;
  size_t written = 0, absent = 0;
  for (const auto& [domain, selector] : wanted) {
    auto path = dkim_key_path(dir, domain, selector);
    if (!path.ok()) return path.status();
    if (access(path->c_str(), F_OK) == 0) continue;
    const std::string name = domain + "/" + selector;
    auto sealed = state.sealed_key(name);
    if (!sealed.ok()) return sealed.status();
    if (sealed->empty()) {
      absent++;
      continue;
    }
    auto pem = open_sealed(seal_key, name, *sealed);
    if (!pem.ok()) {
      absent++;
      continue;
    }
    MIGO_TRY(write_dkim_key(dir, domain, selector, *pem));
    written++;
  }
  if (missing) *missing = absent;
  return written;
}

Result<size_t> ingest_forwarded_reports(Store& store, SharedState& state, const Secret& tag_key,
                                        const std::string& relay, int64_t now, size_t max) {
  constexpr std::string_view kPosition = "shared.reports";
  std::string after = "0";
  Status s = store.read([&](const ReadTxn& t) -> Status {
    auto p = t.meta(kPosition);
    if (p.ok()) after = *p;
    return p.ok() || p.status().code() == Code::not_found ? Status() : p.status();
  });
  if (!s.ok()) return s;
  auto reports = state.reports_after(after, max);
  if (!reports.ok()) return reports.status();
  for (const ForwardedReport& f : *reports) {
    if (f.relay != relay && (f.kind == "dsn" || f.kind == "arf")) {
      auto r = ingest_report(store, tag_key, f.message, f.kind == "dsn" ? Report::Kind::dsn : Report::Kind::arf, now,
                             f.return_path, true);
      if (!r.ok()) return r.status();
    }
    MIGO_TRY(store.write([&](WriteTxn& t) { return t.set_meta(kPosition, f.id); }));
  }
  return reports->size();
}

int syncd_main(int argc, char** argv) {
  std::string db, user, relay, redis_file, dkim_keys, seal_key_path, tag_key_path;
  std::vector<std::string> urls;
  bool foreground = false, once = false, replace = false;
  const std::vector<ProgramOption> opts = {
      {"redis", "URL",
       "the shared state's Redis: redis://[USER:PASSWORD@]HOST:PORT\nor unix:PATH (repeatable: a Cluster's seeds; its\npassword shows in ps: prefer --redis-file)",
       [&](const std::string& v) -> Status {
         auto e = parse_redis_url(v);
         if (!e.ok()) return e.status();
         urls.push_back(v);
         return {};
       }},
      {"redis-file", "FILE", "read the URLs from FILE, one a line (mode 0640)", store_value(&redis_file)},
      {"db", "PATH", "the store (default: $MIGO_DB, else /var/lib/migo)", store_value(&db)},
      {"relay", "NAME", "this relay's name in Redis (default: the host name)", store_value(&relay)},
      {"user", "USER", "when started as root: open the store, then run as\nUSER (required when started as root, except --once)",
       store_value(&user)},
      {"dkim-keys", "DIR",
       "write the DKIM private keys other relays made into DIR\n(the milter's --dkim-keys; off without it)",
       store_value(&dkim_keys)},
      {"seal-key", "FILE", "the 32-byte key they travel sealed with (same on\nevery relay; default /etc/migo/dkim-seal.key)",
       store_value(&seal_key_path)},
      {"tag-key", "FILE",
       "the tag key (the milter's, the same on every relay), to\ningest the DSN and complaints other relays forward\n"
       "(default /etc/migo/tag.key; none: do not)",
       store_value(&tag_key_path)},
      {"replace", "", "rebuild a store that holds records of its own,\nfollows another shared state or is ahead of Redis",
       set_flag(&replace)},
      {"once", "", "one round (catch up, report statistics) and exit", set_flag(&once)},
      {"foreground", "", "log to standard error as well as syslog", set_flag(&foreground)},
  };
  if (int rc = parse_command_line(argc, argv, kDoc, opts); rc >= 0) return rc;
  db = store_path(db);
  if (relay.empty()) relay = host_name();
  DaemonLog log("migo-syncd", foreground || once);
  auto fatal = [&](const std::string& msg, int rc = 1) {
    log(LOG_ERR, msg);
    if (!foreground && !once) std::cerr << "migo-syncd: " << msg << "\n";
    return rc;
  };
  std::vector<RedisEndpoint> seeds;
  if (!redis_file.empty()) {
    auto r = read_redis_urls(redis_file);
    if (!r.ok()) return fatal(r.status().message());
    seeds = std::move(*r);
  }
  for (const std::string& u : urls) seeds.push_back(*parse_redis_url(u));
  if (seeds.empty()) {
    std::cerr << "migo-syncd: --redis or --redis-file is required\nTry 'migo-syncd --help'.\n";
    return 2;
  }
  if (geteuid() == 0 && user.empty() && !once)
    return fatal("refusing to run as root: give --user (e.g. --user migo-syncd)");
  auto store = Store::open(db, {});
  if (!store.ok()) return fatal("cannot open store: " + store.status().message(), once ? 75 : 1);
  // The seal key is read before privileges go (root:migo-syncd 0640 in
  // production, but a test may keep it root's).
  std::optional<Secret> seal_key;
  if (!dkim_keys.empty()) {
    auto k = read_tag_key(seal_key_path.empty() ? "/etc/migo/dkim-seal.key" : seal_key_path);
    if (!k.ok()) return fatal("--dkim-keys needs the seal key: " + k.status().message());
    seal_key.emplace(std::move(*k));
  }
  // The tag key: given, it must be there; by default, a relay without one
  // (no milter) ingests no forwarded report and says so.
  std::optional<Secret> tag_key;
  if (tag_key_path != "none") {
    auto k = read_tag_key(tag_key_path.empty() ? "/etc/migo/tag.key" : tag_key_path);
    if (k.ok()) tag_key.emplace(std::move(*k));
    else if (!tag_key_path.empty())
      return fatal("--tag-key: " + k.status().message() + " (none: forwarded reports are not ingested)");
    else
      log(LOG_WARNING, k.status().message() + ": reports other relays forward are not ingested here");
  }
  if (geteuid() == 0 && !user.empty())
    if (Status s = drop_privileges(user); !s.ok()) return fatal(s.message());
  // A connection Redis closed must be an error, not the end of the process.
  signal(SIGPIPE, SIG_IGN);
  auto client = RedisClient::lazy(seeds, RedisOptions{2000, 1000});
  if (!client.ok()) return fatal(client.status().message());
  SharedState state(std::move(*client));
  StatsReporter reporter(relay);
  SyncOptions so;
  so.replace = replace;

  // DKIM keys other relays made: after every change, and once a minute for
  // keys whose sealed copy was not there before.
  std::string keys_trouble;
  auto fetch_keys = [&]() -> Status {
    if (!seal_key) return {};
    size_t missing = 0;
    auto n = fetch_dkim_keys(**store, state, dkim_keys, *seal_key, &missing);
    if (!n.ok()) return n.status();
    if (*n) log(LOG_INFO, std::to_string(*n) + " DKIM keys written from the shared state");
    std::string note = missing ? std::to_string(missing) +
                                     " DKIM keys have no sealed copy here that opens (made where migoctl had no "
                                     "--seal-key, or with another one): this relay's milter cannot sign with them"
                               : "";
    if (!note.empty() && note != keys_trouble) log(LOG_WARNING, note);
    keys_trouble = note;
    return {};
  };

  // Reports other relays forwarded, each round.
  auto forwarded = [&]() -> Status {
    if (!tag_key) return {};
    for (;;) {
      auto n = ingest_forwarded_reports(**store, state, *tag_key, relay, time(nullptr));
      if (!n.ok()) return n.status();
      if (*n < 100) return {};
    }
  };

  if (once) {
    auto r = sync_store(**store, state, so);
    if (!r.ok()) return fatal(r.status().message(), r.status().temporary() ? 75 : 1);
    if (Status s = fetch_keys(); !s.ok()) return fatal("DKIM keys: " + s.message(), s.temporary() ? 75 : 1);
    if (Status s = forwarded(); !s.ok()) return fatal("forwarded reports: " + s.message(), s.temporary() ? 75 : 1);
    size_t sent = 0;
    if (Status s = reporter.report(**store, state, r->at.seq, time(nullptr), &sent); !s.ok())
      return fatal("statistics: " + s.message(), s.temporary() ? 75 : 1);
    log(LOG_INFO, "at change " + std::to_string(r->at.seq) + " of " + r->at.origin + ": " +
                      (r->rebuilt ? "rebuilt from a snapshot (" + std::to_string(r->rows_changed) + " rows changed)"
                                  : std::to_string(r->applied) + " change sets applied") +
                      ", statistics of " + std::to_string(sent) + " accounts reported");
    return 0;
  }

  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  log(LOG_INFO, "following the shared state as relay " + relay + (replace ? " (--replace)" : ""));
  so.block_ms = 1000;  // and so the loop turns at least once a second
  std::string failing;  // the trouble last logged; "" while all is well
  uint64_t seq = 0, seq_seen = ~0ull;  // seq_seen: keys fetched at it (none yet)
  time_t reported_at = 0;
  while (!g_stop) {
    auto r = sync_store(**store, state, so);
    Status trouble = r.status();
    if (r.ok()) {
      seq = r->at.seq;
      if (r->rebuilt)
        log(LOG_INFO, "rebuilt from a snapshot at change " + std::to_string(seq) + " of " + r->at.origin + " (" +
                          std::to_string(r->rows_changed) + " rows changed)");
      else if (r->applied)
        log(LOG_INFO, std::to_string(r->applied) + " change sets applied, now at " + std::to_string(seq));
      if (r->rebuilt || r->applied || (!keys_trouble.empty() && time(nullptr) % 60 == 0) || seq_seen != seq) {
        seq_seen = seq;
        trouble = fetch_keys();
        if (!trouble.ok()) trouble = Status(trouble.code(), "DKIM keys: " + trouble.message());
      }
      if (trouble.ok()) {
        trouble = forwarded();
        if (!trouble.ok()) trouble = Status(trouble.code(), "forwarded reports: " + trouble.message());
      }
      if (trouble.ok() && time(nullptr) != reported_at) {
        reported_at = time(nullptr);
        // Everything again once a minute: a Redis that lost what it had
        // (restarted empty) has every relay's figures back within one.
        if (reported_at % 60 == 0) reporter.forget();
        trouble = reporter.report(**store, state, seq, reported_at);
        if (!trouble.ok()) trouble = Status(trouble.code(), "statistics: " + trouble.message());
      }
    }
    if (!trouble.ok()) {
      if (trouble.message() != failing)
        log(trouble.code() == Code::refused ? LOG_ERR : LOG_WARNING, trouble.message() + " (will retry)");
      failing = trouble.message();
      for (int i = 0; i < 10 && !g_stop; i++) usleep(100000);
    } else if (!failing.empty()) {
      log(LOG_INFO, "in step with the shared state again, at change " + std::to_string(seq));
      failing.clear();
    }
  }
  log(LOG_INFO, "stopped");
  return 0;
}

}  // namespace migo
