// policy_test.cc — the policy decisions: limit arithmetic across window
// edges with an injected clock, every verdict against a real store, and
// exactness when two processes commit at once.
#include "policy.h"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "migo/accounting.h"
#include "fresh_store.h"
#include "temp_dir.h"

using namespace migo;

namespace {

const int64_t T0 = 1798675200;  // 2026-12-31 00:00:00 UTC, a Thursday
const Plan kPlan{"p", 5, 100, 20, 10};

using Minutes = std::vector<std::pair<uint64_t, uint64_t>>;
uint64_t minute(int64_t t) { return static_cast<uint64_t>(t) / 60; }

struct World {
  test::TempDir tmp;
  std::unique_ptr<Store> store;
  PolicyConfig config;
  World() {
    store = test::fresh_store(tmp.path(), T0);
    REQUIRE(store->write([](WriteTxn& t) {
      MIGO_TRY(t.put(kPlan));
      MIGO_TRY(t.put(Workspace{1, "acme", "p", T0}));
      MIGO_TRY(t.put(Workspace{2, "other", "p", T0}));
      Account a;
      a.workspace_id = 1;
      for (auto [id, name, st] : {std::tuple{11ull, "smtpuser_a", AccountStatus::active},
                                  std::tuple{12ull, "smtpuser_b", AccountStatus::active},
                                  std::tuple{13ull, "smtpuser_off", AccountStatus::disabled}}) {
        a.id = id;
        a.username = name;
        a.status = st;
        MIGO_TRY(t.put(a));
      }
      a.id = 21;
      a.workspace_id = 2;
      a.username = "smtpuser_z";
      a.status = AccountStatus::active;
      return t.put(a);
    }).ok());
  }
  Verdict rcpt(const std::string& user, int64_t now, uint64_t accepted = 0) {
    PolicyQuery q;
    q.stage = PolicyQuery::Stage::rcpt;
    q.sasl_username = user;
    return decide(*store, q, now, config, accepted);
  }
  Verdict eom(const std::string& user, const std::string& qid, uint32_t n, int64_t now) {
    PolicyQuery q;
    q.stage = PolicyQuery::Stage::end_of_message;
    q.sasl_username = user;
    q.queue_id = qid;
    q.recipient_count = n;
    return decide(*store, q, now, config);
  }
  Usage usage(uint64_t ws, int64_t now) {
    Usage u;
    REQUIRE(store->read([&](const ReadTxn& t) {
      auto r = t.usage(ws, now);
      if (r.ok()) u = *r;
      return r.status();
    }).ok());
    return u;
  }
};

}  // namespace

TEST_CASE("limit arithmetic: the hourly window rolls by the minute") {
  Minutes m{{minute(T0), 6}, {minute(T0) + 30, 4}};  // 10 = the hourly limit
  LimitCheck c = check_limits(kPlan, m, 10, T0 + 30 * 60, 1);
  CHECK_FALSE(c.fits);
  CHECK(std::string(c.window) == "hourly");
  CHECK(c.used == 10);
  CHECK(c.room_at == T0 + 3600);  // the first bucket leaves the hour
  CHECK(check_limits(kPlan, m, 10, T0 + 3599, 1).room_at == T0 + 3600);
  CHECK(check_limits(kPlan, m, 10, T0 + 3600, 1).fits);  // 4 in the hour now
  CHECK(check_limits(kPlan, m, 10, T0 + 3600, 6).fits);
  LimitCheck seven = check_limits(kPlan, m, 10, T0 + 3600, 7);
  CHECK_FALSE(seven.fits);
  CHECK(seven.room_at == T0 + 30 * 60 + 3600);  // needs the second bucket gone too
}

TEST_CASE("limit arithmetic: daily and monthly, and the window whose room returns last") {
  // 18 sent over the day, spread out: the hour has room, the day has 2 left.
  Minutes m{{minute(T0 - 20 * 3600), 9}, {minute(T0 - 10 * 3600), 9}};
  CHECK(check_limits(kPlan, m, 18, T0, 2).fits);
  LimitCheck c = check_limits(kPlan, m, 18, T0, 3);
  CHECK_FALSE(c.fits);
  CHECK(std::string(c.window) == "daily");
  CHECK(c.room_at == T0 + 4 * 3600);  // when the first 9 leave the 24 hours
  // Monthly: full until the 1st of next month, 00:00 UTC.
  LimitCheck month = check_limits(kPlan, {}, 100, T0 + 3600, 1);
  CHECK(std::string(month.window) == "monthly");
  CHECK(month.room_at == T0 + 86400);  // 2027-01-01T00:00:00Z
  CHECK(rfc3339_utc(month.room_at) == "2027-01-01T00:00:00Z");
  // Hour and month both full: the month's room comes later, so that is said.
  LimitCheck both = check_limits(kPlan, {{minute(T0), 10}}, 100, T0 + 60, 1);
  CHECK(std::string(both.window) == "monthly");
}

TEST_CASE("limit arithmetic: more recipients than a limit can never fit") {
  LimitCheck c = check_limits(kPlan, {}, 0, T0, 11);
  CHECK_FALSE(c.fits);
  CHECK(c.never);
  CHECK(std::string(c.window) == "hourly");
}

TEST_CASE("verdicts: unauthenticated, unknown, disabled, malformed") {
  World w;
  CHECK(w.rcpt("", T0).action == "DUNNO");
  w.config.unauthenticated_action = "REJECT authentication required";
  CHECK(w.rcpt("", T0).action == "REJECT authentication required");
  Verdict unknown = w.rcpt("smtpuser_nobody", T0);
  CHECK(unknown.kind == Verdict::Kind::reject);
  CHECK(unknown.action == "REJECT SMTP account smtpuser_nobody does not exist");
  Verdict off = w.rcpt("smtpuser_off", T0);
  CHECK(off.action == "REJECT SMTP account smtpuser_off is disabled");
  CHECK(w.eom("smtpuser_off", "Q1", 1, T0).action == "REJECT SMTP account smtpuser_off is disabled");
  CHECK(w.rcpt("evil\x1b[0m", T0).kind == Verdict::Kind::reject);
  CHECK(w.rcpt("evil\x1b[0m", T0).action.find('\x1b') == std::string::npos);
  CHECK(w.rcpt("smtpuser_a", T0).action == "DUNNO");
  // With a realm configured, sasl_username carries it.
  w.config.sasl_realm = "relay.example";
  CHECK(w.rcpt("smtpuser_a@relay.example", T0).action == "DUNNO");
  CHECK(w.rcpt("smtpuser_a@other.example", T0).kind == Verdict::Kind::reject);
}

TEST_CASE("limits are shared by a workspace's accounts and nobody else's") {
  World w;
  CHECK(w.eom("smtpuser_a", "Q1", 6, T0).action == "DUNNO");
  CHECK(w.eom("smtpuser_b", "Q2", 4, T0 + 60).action == "DUNNO");  // 10: the hourly limit
  Verdict a = w.rcpt("smtpuser_a", T0 + 120);
  CHECK(a.kind == Verdict::Kind::defer);
  CHECK(a.action == "451 4.7.1 Workspace hourly limit of 10 recipients reached; room again at 2026-12-31T01:00:00Z");
  CHECK(w.rcpt("smtpuser_b", T0 + 120).kind == Verdict::Kind::defer);
  CHECK(w.eom("smtpuser_b", "Q3", 1, T0 + 120).kind == Verdict::Kind::defer);
  CHECK(w.rcpt("smtpuser_z", T0 + 120).action == "DUNNO");  // another workspace
  CHECK(w.eom("smtpuser_z", "Q4", 10, T0 + 120).action == "DUNNO");
  CHECK(w.usage(1, T0 + 120).hour == 10);
  CHECK(w.usage(2, T0 + 120).hour == 10);
  // The hour rolls on: room for the 6 once the first bucket leaves.
  CHECK(w.rcpt("smtpuser_a", T0 + 3600).action == "DUNNO");
  Verdict seven = w.eom("smtpuser_a", "Q5", 7, T0 + 3600);
  CHECK(seven.kind == Verdict::Kind::defer);
  CHECK(w.eom("smtpuser_a", "Q5", 6, T0 + 3600).action == "DUNNO");
  Verdict never = w.eom("smtpuser_a", "Q6", 11, T0 + 7200);
  CHECK(never.kind == Verdict::Kind::reject);
  CHECK_THAT(never.action, Catch::StartsWith("REJECT 5.7.1 Message has 11 recipients"));
}

TEST_CASE("at RCPT, the recipients already accepted for the message count too") {
  World w;
  CHECK(w.eom("smtpuser_a", "Q1", 7, T0).action == "DUNNO");  // 3 of 10 left this hour
  for (uint64_t accepted = 0; accepted < 3; accepted++)
    CHECK(w.rcpt("smtpuser_a", T0 + 60, accepted).action == "DUNNO");
  Verdict fourth = w.rcpt("smtpuser_a", T0 + 60, 3);
  CHECK(fourth.kind == Verdict::Kind::defer);
  CHECK(fourth.action ==
        "451 4.7.1 Workspace hourly limit: 3 of 10 recipients left this hour, and this message has 3 already; "
        "room again at 2026-12-31T01:00:00Z");
  // The message's 3 then commit exactly at END-OF-MESSAGE.
  CHECK(w.eom("smtpuser_a", "Q2", 3, T0 + 60).action == "DUNNO");
  CHECK(w.usage(1, T0 + 60).hour == 10);
  // Nothing left at all: the plain "reached" answer, whatever the message has.
  CHECK_THAT(w.rcpt("smtpuser_a", T0 + 120, 2).action,
             Catch::StartsWith("451 4.7.1 Workspace hourly limit of 10 recipients reached"));
  // A message that already has as many recipients as the limit allows: the
  // next one is deferred (it fits a later message), never refused for good.
  Verdict full = w.rcpt("smtpuser_a", T0 + 120, 10);
  CHECK(full.kind == Verdict::Kind::defer);
  CHECK_THAT(full.action, Catch::StartsWith("451 4.7.1 Workspace hourly limit of 10 recipients reached"));
}

TEST_CASE("refunds go in the batch's transaction, first, so the batch sees the room they free") {
  World w;
  CHECK(w.eom("smtpuser_a", "Q1", 10, T0).action == "DUNNO");  // the hour is full
  PolicyQuery q;
  q.stage = PolicyQuery::Stage::end_of_message;
  q.sasl_username = "smtpuser_b";
  q.queue_id = "Q2";
  q.recipient_count = 4;
  Status written;
  auto v = commit_end_of_message(*w.store, {q}, T0 + 60, w.config, {"Q1", "NEVER-COUNTED"}, &written);
  CHECK(written.ok());
  CHECK(v.at(0).action == "DUNNO");
  CHECK(w.usage(1, T0 + 60).hour == 4);
  // Only refunds (no request in the batch) commit as well.
  v = commit_end_of_message(*w.store, {}, T0 + 60, w.config, {"Q2"}, &written);
  CHECK(written.ok());
  CHECK(v.empty());
  CHECK(w.usage(1, T0 + 60).hour == 0);
}

TEST_CASE("a batch is decided in order inside one transaction") {
  World w;
  std::vector<PolicyQuery> batch;
  for (int i = 0; i < 4; i++) {
    PolicyQuery q;
    q.stage = PolicyQuery::Stage::end_of_message;
    q.sasl_username = i % 2 ? "smtpuser_a" : "smtpuser_b";
    q.queue_id = "B" + std::to_string(i);
    q.recipient_count = 3;
    batch.push_back(q);
  }
  auto v = commit_end_of_message(*w.store, batch, T0, w.config);
  REQUIRE(v.size() == 4);
  CHECK(v[0].action == "DUNNO");
  CHECK(v[1].action == "DUNNO");
  CHECK(v[2].action == "DUNNO");
  CHECK(v[3].kind == Verdict::Kind::defer);  // 9 + 3 > 10
  CHECK(w.usage(1, T0).hour == 9);
}

TEST_CASE("store trouble is a temporary failure, never DUNNO") {
  World w;
  // Point the account at a workspace that is missing: the store is inconsistent.
  REQUIRE(w.store->write([](WriteTxn& t) {
    Account a;
    a.id = 99;
    a.workspace_id = 77;
    a.username = "smtpuser_orphan";
    return t.put(a);
  }).ok());
  Verdict v = w.rcpt("smtpuser_orphan", T0);
  CHECK(v.kind == Verdict::Kind::tempfail);
  CHECK_THAT(v.action, Catch::StartsWith("451 4.3.0"));
  CHECK(w.eom("smtpuser_orphan", "Q", 1, T0).kind == Verdict::Kind::tempfail);
}

TEST_CASE("two processes committing at once never pass the limit, and count exactly") {
  World w;
  // Raise the limits so the day matters, not the hour: 60 recipients a day.
  REQUIRE(w.store->write([](WriteTxn& t) { return t.put(Plan{"p", 5, 1000, 60, 60}); }).ok());
  int fds[2][2];
  pid_t kids[2];
  for (int k = 0; k < 2; k++) {
    REQUIRE(pipe(fds[k]) == 0);
    kids[k] = fork();
    REQUIRE(kids[k] >= 0);
    if (kids[k] == 0) {
      auto s = Store::open(w.tmp.path(), {});
      if (!s.ok()) _exit(2);
      int accepted = 0;
      for (int i = 0; i < 40; i++) {
        PolicyQuery q;
        q.stage = PolicyQuery::Stage::end_of_message;
        q.sasl_username = k ? "smtpuser_a" : "smtpuser_b";
        q.queue_id = "K" + std::to_string(k) + "-" + std::to_string(i);
        q.recipient_count = 1 + static_cast<uint32_t>(i % 3);
        Verdict v = decide(**s, q, T0 + i, w.config);
        if (v.kind == Verdict::Kind::dunno) accepted += static_cast<int>(q.recipient_count);
        else if (v.kind != Verdict::Kind::defer) _exit(3);
      }
      if (write(fds[k][1], &accepted, sizeof accepted) != sizeof accepted) _exit(4);
      _exit(0);
    }
  }
  int total = 0;
  for (int k = 0; k < 2; k++) {
    int status = 0;
    REQUIRE(waitpid(kids[k], &status, 0) == kids[k]);
    CHECK(WEXITSTATUS(status) == 0);
    int accepted = 0;
    REQUIRE(read(fds[k][0], &accepted, sizeof accepted) == sizeof accepted);
    total += accepted;
  }
  Usage u = w.usage(1, T0 + 60);
  CHECK(u.day == static_cast<uint64_t>(total));  // counters equal accepted recipients
  CHECK(u.day <= 60);                             // and never pass the limit
  CHECK(u.day >= 58);                             // the limit was actually reached
}
