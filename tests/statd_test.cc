// statd_test.cc — the real migo-statd program: its log lines' format, and
// what it does with a log it cannot read.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
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
