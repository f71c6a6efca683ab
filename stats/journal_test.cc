// journal_test.cc — the journal follower against a real systemd-journald
// (a namespace of its own, so the host's journal is not touched), fed by
// real writers through its syslog socket: a Postfix-tagged line counts only
// when journald saw it come from the daemon directory as root or the mail
// owner; the same line from logger(1), or from the daemon directory as
// another user, moves nothing; the cursor resumes exactly; and migo-statd
// --journal-namespace counts the same.
#include "journal.h"

#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "fresh_store.h"
#include "migo/accounting.h"
#include "run.h"
#include "temp_dir.h"

using namespace migo;

namespace {

const int64_t kNow = 1798675200;

// systemd-journald for namespace `ns`, until destroyed.
struct Journald {
  std::string ns, socket;
  pid_t pid = -1;
  explicit Journald(std::string name) : ns(std::move(name)), socket("/run/systemd/journal." + ns + "/dev-log") {
    pid = test::spawn({"/lib/systemd/systemd-journald", ns});
    REQUIRE(pid > 0);
    for (int i = 0; i < 100 && !std::filesystem::exists(socket); i++) usleep(50000);
    REQUIRE(std::filesystem::exists(socket));
  }
  ~Journald() {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    // Its files, wherever the namespace's storage put them.
    for (const char* base : {"/run/log/journal", "/var/log/journal"}) {
      std::error_code ec;
      for (const auto& e : std::filesystem::directory_iterator(base, ec))
        if (e.path().extension() == "." + ns) std::filesystem::remove_all(e.path(), ec);
    }
    std::filesystem::remove_all("/run/systemd/journal." + ns);
  }
  // Lines written by `exe` (a logger(1)) as `user`, tagged `tag`, facility
  // mail. logger stays alive until journald has its lines (stdin held open
  // a moment): journald reads _EXE from /proc while the writer lives.
  void write(const std::string& exe, const std::string& user, const std::string& tag,
             const std::vector<std::string>& lines) const {
    std::string text;
    for (const auto& l : lines) text += l + "\n";
    std::string cmd = "(cat; sleep 0.5) | " + exe + " --socket " + socket + " -p mail.info -t '" + tag + "'";
    std::vector<std::string> argv = {"/usr/sbin/runuser", "-u", user, "--", "/bin/sh", "-c", cmd};
    REQUIRE(test::run(argv, {}, text).rc == 0);
  }
};

struct World {
  test::TempDir tmp;
  std::unique_ptr<Store> store;
  std::string daemon_dir = tmp / "postfix-sbin";
  std::vector<std::string> logs;
  World() {
    store = test::fresh_store(tmp / "db", kNow);
    Account acct;
    acct.id = 7;
    acct.workspace_id = 1;
    acct.username = "smtpuser_a";
    REQUIRE(store->write([&](WriteTxn& t) {
      MIGO_TRY(t.put(acct));
      MIGO_TRY(commit_recipients(t, acct, "4QGENUINE1", 2, kNow));
      return commit_recipients(t, acct, "4QVICTIM01", 1, kNow);
    }).ok());
    // Postfix's daemon directory, for this test: a writer in it.
    std::filesystem::create_directories(daemon_dir);
    std::filesystem::copy_file("/usr/bin/logger", daemon_dir + "/logger");
    chmod(daemon_dir.c_str(), 0755);
    chmod(tmp.path().c_str(), 0755);
  }
  JournalOptions options(const std::string& ns) {
    JournalOptions o;
    o.counting.clock = [] { return kNow; };
    o.counting.log = [this](int, const std::string& l) { logs.push_back(l); };
    o.journal_namespace = ns;
    o.daemon_directory = daemon_dir;
    o.trusted_uids = {0};
    return o;
  }
  AccountStats stats() { return test::read_ok<AccountStats>(*store, [](const ReadTxn& t) { return t.stats(7); }); }
};

}  // namespace

TEST_CASE("the journal: Postfix's entries count once, anyone else's Postfix-tagged lines move nothing") {
  if (geteuid() != 0) {
    WARN("skipped: running systemd-journald needs root");
    return;
  }
  World w;
  Journald jd("migotest" + std::to_string(getpid()));
  const std::string genuine = w.daemon_dir + "/logger";
  // A forger: the same lines from the system's logger, and from the daemon
  // directory's program run as nobody. Both claim to be postfix/smtp.
  const std::vector<std::string> forged = {"4QVICTIM01: to=<v@dest.test>, relay=x, delay=1, dsn=5.1.1, status=bounced (forged)",
                                           "4QGENUINE1: to=<g1@dest.test>, relay=x, delay=1, dsn=5.1.1, status=bounced (forged)"};
  jd.write("/usr/bin/logger", "nobody", "postfix/smtp", forged);
  jd.write(genuine, "nobody", "postfix/smtp", forged);
  jd.write("/usr/bin/logger", "root", "postfix/smtp", forged);  // root, but not a Postfix program
  // Postfix's own: one recipient delivered, one bounced.
  jd.write(genuine, "root", "postfix/smtp",
           {"4QGENUINE1: to=<g1@dest.test>, relay=mx[192.0.2.1]:25, delay=1, dsn=2.0.0, status=sent (250 ok)",
            "4QGENUINE1: to=<g2@dest.test>, relay=mx[192.0.2.1]:25, delay=1, dsn=5.1.1, status=bounced (550 no)"});
  // And a line of another program (not a Postfix tag) from the same place.
  jd.write(genuine, "root", "cron", {"4QGENUINE1: to=<g1@dest.test>, status=bounced (not postfix)"});

  auto f = JournalFollower::open(*w.store, w.options(jd.ns));
  REQUIRE(f.ok());
  FollowTotals t;
  // journald writes asynchronously: poll until the genuine lines are in.
  for (int i = 0; i < 100 && t.attributed < 2; i++) {
    FollowTotals one;
    REQUIRE((*f)->poll(&one).ok());
    t.add(one);
    if (t.attributed < 2) usleep(50000);
  }
  CHECK(t.attributed == 2);
  AccountStats s = w.stats();
  CHECK(s.delivered == 1);
  CHECK(s.bounced == 1);  // g2 only: every forged bounce was ignored
  uint64_t untrusted = test::read_ok<uint64_t>(*w.store, [](const ReadTxn& txn) -> Result<uint64_t> {
    auto c = txn.counters();
    if (!c.ok()) return c.status();
    for (auto& [k, v] : *c)
      if (k == "journal.untrusted") return v;
    return uint64_t{0};
  });
  CHECK(untrusted == 6);
  bool warned = false;
  for (const auto& l : w.logs) warned = warned || l.find("not written by Postfix ignored") != std::string::npos;
  CHECK(warned);

  // A new follower (a restart) resumes after the cursor: nothing twice.
  jd.write(genuine, "root", "postfix/qmgr", {"4QGENUINE1: removed"});
  auto again = JournalFollower::open(*w.store, w.options(jd.ns));
  REQUIRE(again.ok());
  FollowTotals t2;
  std::vector<std::string> queued;
  for (int i = 0; i < 100; i++) {
    REQUIRE((*again)->poll(&t2).ok());
    queued = test::read_ok<std::vector<std::string>>(*w.store, [](const ReadTxn& txn) { return txn.queued_for(7); });
    if (queued.size() == 1) break;
    usleep(50000);
  }
  CHECK(queued == std::vector<std::string>{"4QVICTIM01"});  // 4QGENUINE1 removed
  CHECK(t2.attributed == 0);
  CHECK(w.stats() == s);

  // migo-statd itself, from the stored cursor, as its own user would.
  test::RunResult r = test::run({MIGO_STATD, "--once", "--journal-namespace", jd.ns, "--postfix-daemon-directory",
                                 w.daemon_dir, "--db", w.tmp / "db"});
  INFO(r.err);
  CHECK(r.rc == 0);
  CHECK(w.stats() == s);
}
