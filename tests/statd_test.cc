// statd_test.cc — the real migo-statd program: its log lines' format, and
// what it does with a log it cannot read.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <functional>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>

#include "fresh_store.h"
#include "run.h"
#include "temp_dir.h"

using namespace migo;
using migo::test::TempDir;

namespace {

struct World {
  TempDir tmp;
  std::string db = tmp / "store";
  std::string log = tmp / "maillog";
  World() { test::fresh_store(db, time(nullptr)); }
  void write_log(const std::string& text) {
    std::ofstream f(log, std::ios::app);
    f << text;
  }
  test::RunResult once(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{MIGO_STATD, "--db", db, "--log", log, "--once"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return test::run(argv);
  }
};

}  // namespace

TEST_CASE("migo-statd writes the severity word once, as Postfix does") {
  World w;
  w.write_log("Nov 25 10:00:01 mx postfix/smtp[1]: ABCDE12345: to=<a@b.test>, relay=x, dsn=9.9.9, status=exploded (x)\n");
  auto r = w.once();
  INFO(r.err);
  CHECK(r.rc == 0);
  // "migo-statd[PID]: warning: PATH offset 0: malformed line: …"
  CHECK(std::regex_search(r.err, std::regex("(^|\n)migo-statd\\[[0-9]+\\]: warning: " + w.log +
                                            " offset 0: malformed line: unknown status")));
  CHECK(r.err.find("warning: warning:") == std::string::npos);
  CHECK(r.err.find("error: error:") == std::string::npos);
}

namespace {
std::string slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}
// Polls `ready` every 100 ms for at most ~10 s (a guard, not a timing test).
bool eventually(const std::function<bool()>& ready) {
  for (int i = 0; i < 100; i++) {
    if (ready()) return true;
    usleep(100000);
  }
  return ready();
}
}  // namespace

TEST_CASE("a log migo-statd cannot read is reported: its log, migoctl stats, and stats --check") {
  if (geteuid() != 0) return;  // needs --user to become someone the log is closed to
  World w;
  // The daemon runs as nobody; the store must be its to write.
  std::filesystem::permissions(w.tmp.path(), std::filesystem::perms::all);
  for (const auto& p : {w.db, w.db + "/data.mdb", w.db + "/lock.mdb"}) REQUIRE(chown(p.c_str(), 65534, 65534) == 0);
  // As `postfix logrotate` leaves it: root:root 0600.
  w.write_log("Nov 25 10:00:01 mx postfix/qmgr[1]: ABCDE12345: removed\n");
  REQUIRE(chmod(w.log.c_str(), 0600) == 0);
  std::string err_path = w.tmp / "statd.err";
  int fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = test::spawn({MIGO_STATD, "--db", w.db, "--log", w.log, "--user", "nobody", "--interval", "1",
                           "--foreground"}, {}, -1, -1, fd);
  close(fd);
  REQUIRE(pid > 0);
  auto check = [&] { return test::run({MIGOCTL, "--db", w.db, "stats", "--check"}); };
  CHECK(eventually([&] { return slurp(err_path).find("Permission denied (will retry)") != std::string::npos; }));
  CHECK(eventually([&] { return check().rc == 2; }));
  test::RunResult critical = check();
  CHECK_THAT(critical.out, Catch::StartsWith("MIGO-STATD CRITICAL - migo-statd cannot read its log since "));
  test::RunResult shown = test::run({MIGOCTL, "--db", w.db, "stats"});
  CHECK_THAT(shown.out, Catch::Contains("Health: critical: migo-statd cannot read its log"));
  test::RunResult json = test::run({MIGOCTL, "--db", w.db, "--json", "stats"});
  CHECK_THAT(json.out, Catch::Contains("\"status\": \"critical\""));
  // Readable again: counting resumes and the check is OK.
  REQUIRE(chmod(w.log.c_str(), 0644) == 0);
  CHECK(eventually([&] { return slurp(err_path).find("counting again") != std::string::npos; }));
  CHECK(eventually([&] { return check().rc == 0; }));
  CHECK_THAT(check().out, Catch::StartsWith("MIGO-STATD OK - "));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
}

TEST_CASE("stats --check: lines not counted for longer than --max-lag are CRITICAL") {
  World w;
  w.write_log("Nov 25 10:00:01 mx postfix/qmgr[1]: ABCDE12345: removed\n");
  REQUIRE(w.once().rc == 0);
  CHECK(test::run({MIGOCTL, "--db", w.db, "stats", "--check"}).rc == 0);
  w.write_log("Nov 25 10:00:02 mx postfix/qmgr[1]: ABCDE12346: removed\n");
  // Behind, but not for long: fine; with no lag allowed: CRITICAL.
  CHECK(test::run({MIGOCTL, "--db", w.db, "stats", "--check"}).rc == 0);
  sleep(1);
  test::RunResult lagging = test::run({MIGOCTL, "--db", w.db, "stats", "--check", "--max-lag", "0"});
  CHECK(lagging.rc == 2);
  CHECK_THAT(lagging.out, Catch::Contains(w.log + ": 56 bytes not counted"));
}
