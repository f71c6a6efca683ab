// follower_test.cc — the log follower against real files and a real store:
// however the log is cut into polls, restarts and rotations, the counts
// must equal those of one uninterrupted pass.
#include "follower.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>

#include "fresh_store.h"
#include "logline.h"
#include "migo/accounting.h"
#include "temp_dir.h"

using namespace migo;

namespace {

const int64_t kNow = 1798675200;
constexpr int kAccounts = 3, kMessages = 60;

std::string qid(int m) {
  char b[16];
  snprintf(b, sizeof b, "4Q%08dz", m);
  return b;
}

// A day of Postfix's log for kMessages messages of kAccounts accounts, with
// noise, malformed lines and the outcomes of issue 6 (sent, bounced,
// deferred, expired, refused, removed).
std::vector<std::string> make_log() {
  std::vector<std::string> lines;
  std::mt19937 rng(7);
  auto pfx = [](const char* svc) { return std::string("Nov 23 22:10:01 relay postfix/") + svc + "[42]: "; };
  for (int m = 0; m < kMessages; m++) {
    std::string q = qid(m);
    lines.push_back(pfx("cleanup") + q + ": message-id=<" + std::to_string(m) + "@app.test>");
    lines.push_back(pfx("qmgr") + q + ": from=<app@example.com>, size=900, nrcpt=3 (queue active)");
    if (m % 11 == 5) {
      lines.push_back(pfx("cleanup") + q + ": reject: header Subject: x from h[1.2.3.4]; from=<a@b> to=<c@d>: 5.7.1 no");
      continue;
    }
    for (int r = 0; r < 3; r++) {
      std::string rcpt = "r" + std::to_string(r) + "@dest" + std::to_string(m % 4) + ".test";
      int roll = static_cast<int>(rng() % 10);
      const char* status = roll < 6 ? "sent" : roll < 8 ? "bounced" : "deferred";
      lines.push_back(pfx("smtp") + q + ": to=<" + rcpt + ">, relay=mx[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=" +
                      (roll < 6 ? "2.0.0" : roll < 8 ? "5.1.1" : "4.4.1") + ", status=" + status + " (reply)");
      if (rng() % 13 == 0) lines.push_back("Nov 23 22:10:01 relay postfix/smtp[42]: " + q + ": to=<broken");
    }
    if (m % 7 == 3) lines.push_back(pfx("qmgr") + q + ": from=<app@example.com>, status=expired, returned to sender");
    lines.push_back(pfx("qmgr") + q + ": removed");
    if (m % 9 == 0) lines.push_back("Nov 23 22:10:01 relay systemd[1]: noise " + std::to_string(m));
  }
  return lines;
}

struct Snapshot {
  std::map<uint64_t, AccountStats> stats;
  std::vector<std::string> queued;
  std::map<std::string, uint64_t> counters;
  bool operator==(const Snapshot&) const = default;
};

struct World {
  test::TempDir tmp;
  std::unique_ptr<Store> store;
  std::string log;
  std::vector<std::string> logs;
  explicit World(const std::string& name) {
    store = test::fresh_store(tmp / "db", kNow);
    log = tmp / name;
    REQUIRE(store->write([&](WriteTxn& t) {
      for (int a = 1; a <= kAccounts; a++) {
        Account acct;
        acct.id = static_cast<uint64_t>(a);
        acct.workspace_id = 1;
        acct.username = "smtpuser_a" + std::to_string(a);
        MIGO_TRY(t.put(acct));
      }
      for (int m = 0; m < kMessages; m++) {
        Account acct;
        acct.id = static_cast<uint64_t>(1 + m % kAccounts);
        acct.workspace_id = 1;
        MIGO_TRY(commit_recipients(t, acct, qid(m), 3, kNow));
      }
      return Status();
    }).ok());
  }
  FollowerOptions options(size_t batch = 1 << 20) {
    FollowerOptions o;
    o.path = log;
    o.clock = [] { return kNow; };
    o.log = [this](int, const std::string& l) { logs.push_back(l); };
    o.batch_bytes = batch;
    return o;
  }
  Snapshot snapshot() {
    Snapshot s;
    REQUIRE(store->read([&](const ReadTxn& t) {
      for (int a = 1; a <= kAccounts; a++) s.stats[static_cast<uint64_t>(a)] = t.stats(static_cast<uint64_t>(a)).value();
      for (int a = 1; a <= kAccounts; a++)
        for (auto& q : t.queued_for(static_cast<uint64_t>(a)).value()) s.queued.push_back(q);
      for (auto& [k, v] : t.counters().value()) s.counters[k] = v;
      return Status();
    }).ok());
    return s;
  }
};

void append(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::app | std::ios::binary);
  f << text;
}

std::string joined(const std::vector<std::string>& lines, size_t from, size_t to) {
  std::string s;
  for (size_t i = from; i < to && i < lines.size(); i++) s += lines[i] + "\n";
  return s;
}

Snapshot one_pass(const std::vector<std::string>& lines) {
  World w("mail.log");
  append(w.log, joined(lines, 0, lines.size()));
  Follower f(*w.store, w.options());
  FollowTotals t;
  REQUIRE(f.poll(&t).ok());
  CHECK(t.lines == lines.size());
  return w.snapshot();
}

}  // namespace

TEST_CASE("one pass counts every outcome exactly once") {
  auto lines = make_log();
  Snapshot s = one_pass(lines);
  uint64_t delivered = 0, bounced = 0, total = 0;
  for (auto& [id, st] : s.stats) {
    delivered += st.delivered;
    bounced += st.bounced;
    total += st.total_sent;
  }
  CHECK(s.queued.empty());  // every message was removed
  int refused = 0;
  for (int m = 0; m < kMessages; m++) refused += m % 11 == 5;
  CHECK(total == static_cast<uint64_t>(kMessages - refused) * 3);  // refused by a header rule: refunded
  CHECK(delivered + bounced <= total);
  CHECK(delivered > 0);
  CHECK(bounced > 0);
  CHECK(s.counters["log.lines"] == lines.size());
  CHECK(s.counters["log.malformed"] > 0);
  CHECK(s.counters["log.refunded"] == static_cast<uint64_t>(refused));
}

TEST_CASE("restarts at arbitrary byte boundaries change nothing") {
  auto lines = make_log();
  Snapshot expected = one_pass(lines);
  std::string all = joined(lines, 0, lines.size());
  for (size_t batch : {size_t{64}, size_t{1000}, size_t{1} << 20}) {
    World w("mail.log");
    std::mt19937 rng(static_cast<unsigned>(batch));
    size_t at = 0;
    while (at < all.size()) {
      size_t piece = 1 + rng() % 900;  // cuts lines in the middle, too
      append(w.log, all.substr(at, piece));
      at += piece;
      Follower f(*w.store, w.options(batch));  // a new process every time
      REQUIRE(f.poll().ok());
    }
    INFO("batch " << batch);
    CHECK(w.snapshot() == expected);
  }
}

TEST_CASE("rotation while running, while stopped, and copytruncate change nothing") {
  auto lines = make_log();
  Snapshot expected = one_pass(lines);
  size_t third = lines.size() / 3;

  SECTION("renamed while the follower runs") {
    World w("mail.log");
    Follower f(*w.store, w.options(500));
    append(w.log, joined(lines, 0, third));
    REQUIRE(f.poll().ok());
    append(w.log, joined(lines, third, 2 * third));  // written before the rename, not yet read
    REQUIRE(rename(w.log.c_str(), (w.log + ".1").c_str()) == 0);
    append(w.log, joined(lines, 2 * third, lines.size()));
    REQUIRE(f.poll().ok());
    CHECK(w.snapshot() == expected);
  }
  SECTION("renamed while the follower was down") {
    World w("mail.log");
    {
      Follower f(*w.store, w.options(500));
      append(w.log, joined(lines, 0, third));
      REQUIRE(f.poll().ok());
    }
    append(w.log, joined(lines, third, 2 * third));
    REQUIRE(rename(w.log.c_str(), (w.log + ".1").c_str()) == 0);
    append(w.log, joined(lines, 2 * third, lines.size()));
    Follower f(*w.store, w.options(500));
    REQUIRE(f.poll().ok());
    CHECK(w.snapshot() == expected);
  }
  SECTION("copied and truncated") {
    World w("mail.log");
    Follower f(*w.store, w.options(500));
    append(w.log, joined(lines, 0, third));
    REQUIRE(f.poll().ok());
    REQUIRE(truncate(w.log.c_str(), 0) == 0);
    append(w.log, joined(lines, third, third + 1));  // shorter than before
    REQUIRE(f.poll().ok());
    append(w.log, joined(lines, third + 1, lines.size()));
    REQUIRE(f.poll().ok());
    CHECK(w.snapshot() == expected);
  }
}

TEST_CASE("a file that is neither the old one nor its rotation is read from the start, with a warning") {
  World w("mail.log");
  {
    Follower f(*w.store, w.options());
    append(w.log, "Nov 23 22:10:01 relay postfix/qmgr[1]: " + qid(0) + ": removed\n");
    REQUIRE(f.poll().ok());
  }
  REQUIRE(unlink(w.log.c_str()) == 0);
  append(w.log, "Nov 24 00:00:00 relay postfix/qmgr[1]: other first line\n");
  Follower f(*w.store, w.options());
  FollowTotals t;
  REQUIRE(f.poll(&t).ok());
  CHECK(t.lines == 1);
  bool warned = false;
  for (auto& l : w.logs) warned = warned || l.find("not counted") != std::string::npos;
  CHECK(warned);
}

TEST_CASE("a missing log is waited for; an over-long line is malformed and skipped") {
  World w("mail.log");
  Follower f(*w.store, w.options(256));
  REQUIRE(f.poll().ok());
  append(w.log, std::string(kMaxLogLine + 1000, 'x') + "\nNov 23 22:10:01 relay postfix/qmgr[1]: " + qid(1) + ": removed\n");
  FollowTotals t;
  REQUIRE(f.poll(&t).ok());
  CHECK(t.malformed >= 1);
  CHECK(w.snapshot().queued.size() == kMessages - 1);
}

TEST_CASE("with each batch, queue entries past the retention are forgotten, a bounded number at a time") {
  World w("mail.log");
  FollowerOptions o = w.options();
  o.clock = [] { return kNow + 31 * 86400; };  // a month later: every entry is past 30 days
  o.prune_per_batch = 5;
  Follower f(*w.store, o);
  append(w.log, "Nov 25 10:00:01 mx postfix/qmgr[1]: NOTOURS1234: removed\n");
  REQUIRE(f.poll().ok());
  Snapshot s = w.snapshot();
  CHECK(s.counters["retention.queue"] == 9);  // 5, and 4 for the one line
  CHECK(s.queued.size() == static_cast<size_t>(kMessages - 9));
  // The rest goes with later batches.
  for (int i = 0; i < kMessages; i++) {
    append(w.log, "Nov 25 10:00:02 mx postfix/qmgr[1]: NOTOURS1234: removed\n");
    REQUIRE(f.poll().ok());
  }
  s = w.snapshot();
  CHECK(s.queued.empty());
  CHECK(s.counters["retention.queue"] == static_cast<uint64_t>(kMessages));
}
