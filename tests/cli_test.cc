// cli_test.cc — the real migoctl binary against a temporary store: every
// command, every refusal path, the exit codes and --json output, and the
// guarantee that no plaintext password is ever written to disk.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "migo/store.h"
#include "run.h"
#include "temp_dir.h"

using namespace migo;
using migo::test::RunResult;
using migo::test::TempDir;

namespace {

struct Cli {
  TempDir tmp;
  std::string db = tmp / "db";

  std::string dkim = tmp / "dkim";
  RunResult operator()(std::vector<std::string> args) const {
    std::filesystem::create_directories(dkim);
    args.insert(args.begin(), {MIGOCTL, "--db", db, "--dkim-keys", dkim});
    return test::run(args);
  }
  RunResult json(std::vector<std::string> args) const {
    args.insert(args.begin(), "--json");
    RunResult r = (*this)(args);
    // Whatever the outcome, --json output must parse.
    RunResult check = test::run({"/usr/bin/python3", "-c", "import json,sys; json.load(sys.stdin)"}, {}, r.out);
    INFO("json output: " << r.out);
    CHECK(check.rc == 0);
    return r;
  }
  void ok(std::vector<std::string> args) const {
    RunResult r = (*this)(args);
    INFO("stderr: " << r.err);
    REQUIRE(r.rc == 0);
  }
};

// The string value of "key" in migoctl's JSON output (values we read are
// plain: usernames, passwords, labels without escapes).
std::string field(const std::string& json, const std::string& key) {
  std::string marker = "\"" + key + "\": \"";
  size_t at = json.find(marker);
  REQUIRE(at != std::string::npos);
  at += marker.size();
  return json.substr(at, json.find('"', at) - at);
}

struct Created {
  std::string username, password;
};

Created create(const Cli& cli, const std::string& ws, const std::string& label) {
  RunResult r = cli.json({"account", "create", ws, "--name", label});
  INFO("stderr: " << r.err);
  REQUIRE(r.rc == 0);
  return {field(r.out, "username"), field(r.out, "password")};
}

Cli& initialised(Cli& cli) {
  cli.ok({"init"});
  cli.ok({"workspace", "create", "acme", "--plan", "10k"});
  return cli;
}

std::string file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST_CASE("help, version and usage errors") {
  Cli cli;
  RunResult r = cli({"--help"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("EXIT STATUS"));
  CHECK_THAT(r.out, Catch::Contains("account reset-password"));
  r = cli({"account", "delete", "--help"});
  CHECK(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("--confirm LABEL"));
  CHECK_THAT(r.out, Catch::Contains("[--force]"));
  CHECK(cli({"--version"}).rc == 0);
  CHECK(cli({}).rc == 2);
  CHECK(cli({"frobnicate"}).rc == 2);
  CHECK(cli({"account", "show"}).rc == 2);                     // missing USERNAME
  CHECK(cli({"account", "show", "a", "b"}).rc == 2);           // extra argument
  CHECK(cli({"account", "list", "acme", "--bogus"}).rc == 2);  // unknown option
  CHECK(cli({"account", "list", "acme", "--dormant"}).rc == 2);
  CHECK(cli({"account", "list", "acme", "--dormant", "ten"}).rc == 2);
  CHECK(cli({"account", "list", "acme", "--dormant", "-1"}).rc == 2);
  CHECK(cli({"workspace", "create", "acme"}).rc == 2);  // --plan required
  CHECK(cli({"account", "create", "acme"}).rc == 2);    // --name required
  CHECK(cli({"account", "delete", "smtpuser_x"}).rc == 2);  // --confirm required
  CHECK(cli({"plan", "set", "x", "--hourly", "5", "--hourly", "6"}).rc == 2);
  r = cli({"account", "create", "acme", "--name"});
  CHECK(r.rc == 2);
  CHECK_THAT(r.err, Catch::Contains("--name needs a value"));
}

TEST_CASE("usage errors under --json: an error object on stdout, the message on stderr, exit 2") {
  Cli cli;
  // Each kind: found by the parser (a value missing), by the command table
  // (unknown command, unknown option, missing argument, required option),
  // and by a handler (a malformed number).
  for (const std::vector<std::string>& words :
       {std::vector<std::string>{"account", "create", "acme", "--name"}, {"frobnicate"}, {"--frob"}, {},
        {"account", "list", "--bogus"}, {"account", "show"}, {"workspace", "create", "acme"},
        {"plan", "set", "x", "--hourly", "ten"}}) {
    RunResult r = cli.json(words);
    INFO("words: " << words.size() << " stdout: " << r.out << " stderr: " << r.err);
    CHECK(r.rc == 2);
    CHECK_THAT(r.out, Catch::Contains("\"code\": \"usage\""));
    CHECK_THAT(r.err, Catch::Contains("--help"));
  }
  // Without --json stdout stays empty.
  CHECK(cli({"account", "show"}).out.empty());
}

TEST_CASE("a store that is not there is a temporary failure, with --json too") {
  Cli cli;
  RunResult r = cli.json({"workspace", "list"});
  CHECK(r.rc == 75);
  CHECK_THAT(r.out, Catch::Contains("\"code\": \"not_initialized\""));
  CHECK_THAT(r.err, Catch::Contains("migoctl init"));
}

TEST_CASE("init creates, is idempotent, and sets modes") {
  Cli cli;
  RunResult r = cli.json({"init"});
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("\"previous_version\": 0"));
  r = cli({"init"});
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("already up to date"));
  namespace fs = std::filesystem;
  CHECK((fs::status(cli.db).permissions() & fs::perms::all) == static_cast<fs::perms>(0750));
  CHECK((fs::status(cli.db + "/data.mdb").permissions() & fs::perms::all) == static_cast<fs::perms>(0660));
  CHECK((fs::status(cli.db + "/lock.mdb").permissions() & fs::perms::all) == static_cast<fs::perms>(0660));
  CHECK(cli({"init", "--group", "no-such-group-xyz"}).rc == 1);
  RunResult plans = cli.json({"plan", "list"});
  CHECK_THAT(plans.out, Catch::Contains("\"name\": \"30k\""));
}

TEST_CASE("plans: create, change, refusals") {
  Cli cli;
  initialised(cli);
  CHECK(cli({"plan", "set", "custom", "--max-accounts", "2"}).rc == 1);  // new plan needs all four
  CHECK(cli({"plan", "set", "custom", "--max-accounts", "2", "--monthly", "100", "--daily", "200",
             "--hourly", "10"}).rc == 1);  // daily > monthly
  CHECK(cli({"plan", "set", "custom", "--max-accounts", "0", "--monthly", "100", "--daily", "50",
             "--hourly", "10"}).rc == 1);
  CHECK(cli({"plan", "set", "Bad Name", "--max-accounts", "2", "--monthly", "100", "--daily", "50",
             "--hourly", "10"}).rc == 1);
  cli.ok({"plan", "set", "custom", "--max-accounts", "2", "--monthly", "100", "--daily", "50", "--hourly", "10"});
  cli.ok({"plan", "set", "custom", "--hourly", "20"});
  RunResult r = cli.json({"plan", "list"});
  CHECK_THAT(r.out, Catch::Contains("\"hourly\": 20"));
  // Shrinking a plan below a workspace on it is refused.
  cli.ok({"workspace", "create", "small", "--plan", "custom"});
  create(cli, "small", "one");
  create(cli, "small", "two");
  r = cli({"plan", "set", "custom", "--max-accounts", "1"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("workspace 'small'"));
}

TEST_CASE("workspaces: create, list, show, set-plan and refusals") {
  Cli cli;
  initialised(cli);
  CHECK(cli({"workspace", "create", "acme", "--plan", "10k"}).rc == 1);     // exists
  CHECK(cli({"workspace", "create", "other", "--plan", "99k"}).rc == 1);    // no such plan
  CHECK(cli({"workspace", "create", "Not Valid", "--plan", "10k"}).rc == 1);
  CHECK(cli({"workspace", "show", "nope"}).rc == 1);
  cli.ok({"workspace", "set-plan", "acme", "30k"});
  for (int i = 0; i < 7; i++) create(cli, "acme", "app " + std::to_string(i));
  RunResult r = cli({"workspace", "set-plan", "acme", "10k"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("has 7 SMTP accounts"));
  CHECK_THAT(r.err, Catch::Contains("delete 2 first"));
  cli.ok({"workspace", "set-plan", "acme", "20k"});
  r = cli.json({"workspace", "show", "acme"});
  REQUIRE(r.rc == 0);
  CHECK_THAT(r.out, Catch::Contains("\"count\": 7"));
  CHECK_THAT(r.out, Catch::Contains("\"max\": 10"));
  CHECK_THAT(r.out, Catch::Contains("\"hour\": {"));
  r = cli({"workspace", "show", "acme"});
  CHECK_THAT(r.out, Catch::Contains("SMTP accounts:  7 of 10"));
  r = cli.json({"workspace", "list"});
  CHECK_THAT(r.out, Catch::Contains("\"accounts\": 7"));
}

TEST_CASE("domains: normalised, verified, listed, removed, refusals") {
  Cli cli;
  initialised(cli);
  cli.ok({"domain", "add", "acme", "Example.COM."});
  CHECK(cli({"domain", "add", "acme", "example.com"}).rc == 1);  // exists after normalising
  CHECK(cli({"domain", "add", "acme", "not a domain"}).rc == 1);
  CHECK(cli({"domain", "add", "acme", "1.2.3.4"}).rc == 1);
  CHECK(cli({"domain", "add", "nope", "example.org"}).rc == 1);
  CHECK(cli({"domain", "verify", "acme", "example.org"}).rc == 1);  // not added
  cli.ok({"domain", "add", "acme", "bücher.example", "--include-subdomains"});
  RunResult r = cli.json({"domain", "list", "acme"});
  CHECK_THAT(r.out, Catch::Contains("xn--bcher-kva.example"));
  CHECK_THAT(r.out, Catch::Contains("\"verified\": false"));
  cli.ok({"domain", "verify", "--manual", "acme", "EXAMPLE.com"});
  cli.ok({"domain", "verify", "--manual", "acme", "example.com"});  // twice is harmless
  r = cli.json({"domain", "list", "acme"});
  CHECK_THAT(r.out, Catch::Contains("\"verified\": true"));
  CHECK_THAT(r.out, Catch::Contains("\"verified_by\": \"manual\""));
  r = cli({"audit", "acme"});
  CHECK_THAT(r.out, Catch::Contains("domain.verify"));
  CHECK_THAT(r.out, Catch::Contains("method=manual"));
  cli.ok({"domain", "remove", "acme", "example.com"});
  CHECK(cli({"domain", "remove", "acme", "example.com"}).rc == 1);
}

TEST_CASE("accounts: create, show, disable, enable, rename, reset, delete") {
  Cli cli;
  initialised(cli);
  Created a = create(cli, "acme", "Production App");
  CHECK(a.username.rfind("smtpuser_", 0) == 0);
  CHECK(a.username.size() == 25);
  CHECK(a.password.size() == 32);
  CHECK(cli({"account", "create", "acme", "--name", "Production App"}).rc == 1);  // label taken
  CHECK(cli({"account", "create", "acme", "--name", ""}).rc == 1);
  CHECK(cli({"account", "create", "nope", "--name", "x"}).rc == 1);

  RunResult r = cli.json({"account", "show", a.username});
  REQUIRE(r.rc == 0);
  for (const char* key : {"\"total_sent\": 0", "\"sent_this_month\": 0", "\"delivered\": 0", "\"bounced\": 0",
                          "\"complaints\": 0", "\"delivery_rate\": null", "\"last_used\": null",
                          "\"status\": \"active\"", "\"label\": \"Production App\""})
    CHECK_THAT(r.out, Catch::Contains(key));
  CHECK(r.out.find(a.password) == std::string::npos);
  CHECK(cli({"account", "show", "smtpuser_nobody"}).rc == 1);

  cli.ok({"account", "disable", a.username});
  CHECK_THAT(cli.json({"account", "show", a.username}).out, Catch::Contains("\"status\": \"disabled\""));
  cli.ok({"account", "enable", a.username});
  CHECK_THAT(cli.json({"account", "show", a.username}).out, Catch::Contains("\"status\": \"active\""));

  cli.ok({"account", "rename", a.username, "Main App"});
  CHECK_THAT(cli({"account", "show", a.username}).out, Catch::Contains("Main App"));

  r = cli.json({"account", "reset-password", a.username});
  REQUIRE(r.rc == 0);
  std::string fresh = field(r.out, "password");
  CHECK(fresh.size() == 32);
  CHECK(fresh != a.password);

  r = cli({"account", "delete", a.username, "--confirm", "Production App"});  // old label
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("--confirm 'Main App'"));
  // Queued mail blocks deletion unless forced.
  {
    auto store = Store::open(cli.db, {});
    REQUIRE(store.ok());
    REQUIRE((*store)->write([&](WriteTxn& t) -> Status {
      auto acct = t.account_by_username(a.username);
      if (!acct.ok()) return acct.status();
      return t.put_queue("4QueuedId1", QueueEntry{acct->id, 1700000000, 1});
    }).ok());
  }
  r = cli({"account", "delete", a.username, "--confirm", "Main App"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("4QueuedId1"));
  cli.ok({"account", "delete", a.username, "--confirm", "Main App", "--force"});
  CHECK(cli({"account", "show", a.username}).rc == 1);
}

// The text of a noun is rendered from its JSON: an independent reader (a
// Python oracle) takes both outputs of one command and checks that every
// "Name: value" line says what the JSON's field says.
int text_vs_json(const Cli& cli, const std::vector<std::string>& words, const std::string& mapping) {
  RunResult text = cli(words);
  RunResult json = cli.json(words);
  REQUIRE(text.rc == 0);
  REQUIRE(json.rc == 0);
  const std::string oracle = R"(
import json, sys
j = json.loads(sys.argv[1]); text = sys.argv[2]
lines = {l.split(':', 1)[0]: l.split(':', 1)[1].strip() for l in text.splitlines() if ':' in l and not l.startswith(' ')}
bad = []
for pair in sys.argv[3].split(';'):
    name, path = pair.split('=')
    v = j
    for k in path.split('/'):
        v = v[k]
    want = 'never' if v is None else str(v)
    if lines.get(name) != want:
        bad.append(f'{name}: text {lines.get(name)!r}, json {want!r}')
print('\n'.join(bad)); sys.exit(1 if bad else 0)
)";
  RunResult r = test::run({"/usr/bin/python3", "-c", oracle, json.out, text.out, mapping});
  UNSCOPED_INFO("text:\n" << text.out << "oracle: " << r.out << r.err);
  return r.rc;
}

TEST_CASE("account, workspace and tracking show: the text says what --json says") {
  Cli cli;
  initialised(cli);
  Created a = create(cli, "acme", "Production App");
  cli.ok({"domain", "add", "acme", "example.com"});
  CHECK(text_vs_json(cli, {"account", "show", a.username},
                        "Label=label;Username=username;Workspace=workspace;Status=status;Created=created;"
                        "Password set=password_set;Last used=last_used;Total sent=statistics/total_sent;"
                        "Sent this month=statistics/sent_this_month;Delivered=statistics/delivered;"
                        "Bounced=statistics/bounced;Deferred=statistics/deferred;Complaints=statistics/complaints;Id=id") == 0);
  CHECK(text_vs_json(cli, {"workspace", "show", "acme"},
                        "Workspace=name;Plan=plan/name;Created=created;Total sent=statistics/total_sent;"
                        "Delivered=statistics/delivered;Bounced=statistics/bounced;Last used=last_used") == 0);
  CHECK(text_vs_json(cli, {"tracking", "show", "acme"}, "Workspace=workspace;Clicks=tracking/clicks") == 0);
  // The oracle can fail: a line checked against the wrong field is caught.
  CHECK(text_vs_json(cli, {"account", "show", a.username}, "Label=username") != 0);
}

TEST_CASE("the plan's account limit is enforced with the numbers") {
  Cli cli;
  initialised(cli);
  for (int i = 0; i < 5; i++) create(cli, "acme", "app " + std::to_string(i));
  RunResult r = cli.json({"account", "create", "acme", "--name", "one too many"});
  CHECK(r.rc == 1);
  CHECK_THAT(r.err, Catch::Contains("5 of 5"));
  CHECK_THAT(r.out, Catch::Contains("\"code\": \"refused\""));
}

TEST_CASE("account list and --dormant") {
  Cli cli;
  initialised(cli);
  Created old = create(cli, "acme", "Old");
  Created recent = create(cli, "acme", "Recent");
  Created never = create(cli, "acme", "Never used");
  {
    auto store = Store::open(cli.db, {});
    REQUIRE(store.ok());
    int64_t now = time(nullptr);
    REQUIRE((*store)->write([&](WriteTxn& t) -> Status {
      for (auto [user, last] : {std::pair{old.username, now - 90 * 86400}, std::pair{recent.username, now - 86400}}) {
        auto acct = t.account_by_username(user);
        if (!acct.ok()) return acct.status();
        AccountStats s;
        s.total_sent = 12;
        s.last_used = last;
        MIGO_TRY(t.put_stats(acct->id, s));
      }
      return Status::Ok();
    }).ok());
  }
  RunResult all = cli({"account", "list", "acme"});
  CHECK_THAT(all.out, Catch::Contains("LABEL"));
  CHECK_THAT(all.out, Catch::Contains(old.username));
  CHECK_THAT(all.out, Catch::Contains(never.username));
  RunResult dormant = cli.json({"account", "list", "acme", "--dormant", "60"});
  REQUIRE(dormant.rc == 0);
  CHECK_THAT(dormant.out, Catch::Contains(old.username));
  CHECK(dormant.out.find(recent.username) == std::string::npos);
  CHECK(dormant.out.find(never.username) == std::string::npos);  // created today
  CHECK_THAT(dormant.out, Catch::Contains("\"total_sent\": 12"));
  // Every workspace, least recently used first: never used, then 90 days
  // ago, then yesterday; each row names its workspace.
  cli.ok({"workspace", "create", "beta", "--plan", "10k"});
  Created other = create(cli, "beta", "Beta App");
  RunResult everyone = cli({"account", "list"});
  REQUIRE(everyone.rc == 0);
  CHECK_THAT(everyone.out, Catch::StartsWith("WORKSPACE"));
  size_t n = everyone.out.find(never.username), b = everyone.out.find(other.username),
         o = everyone.out.find(old.username), r = everyone.out.find(recent.username);
  REQUIRE(n != std::string::npos);
  REQUIRE(b != std::string::npos);
  CHECK(n < o);  // never used ones first (between them: older first, both made this second here)
  CHECK(b < o);
  CHECK(o < r);
  RunResult j = cli.json({"account", "list"});
  CHECK(j.out.find(never.username) < j.out.find(recent.username));
  CHECK_THAT(j.out, Catch::Contains("\"workspace\": \"beta\""));
  RunResult by_name = cli({"account", "list", "--sort", "name"});
  CHECK(by_name.out.find(other.username) < by_name.out.find(never.username));  // "Beta App" < "Never used"
  CHECK(cli({"account", "list", "--sort", "sideways"}).rc == 1);
  RunResult dormant_all = cli({"account", "list", "--dormant", "60"});
  CHECK_THAT(dormant_all.out, Catch::Contains(old.username));
  CHECK(dormant_all.out.find(other.username) == std::string::npos);
}

TEST_CASE("the audit log records every change and never a secret") {
  Cli cli;
  initialised(cli);
  cli.ok({"workspace", "create", "other", "--plan", "20k"});
  Created a = create(cli, "acme", "App");
  RunResult reset = cli.json({"account", "reset-password", a.username});
  std::string fresh = field(reset.out, "password");
  cli.ok({"account", "disable", a.username});
  cli.ok({"domain", "add", "other", "example.org"});
  RunResult r = cli.json({"audit"});
  REQUIRE(r.rc == 0);
  for (const char* action : {"workspace.create", "account.create", "account.reset-password", "account.disable",
                             "domain.add"})
    CHECK_THAT(r.out, Catch::Contains(action));
  CHECK(r.out.find(a.password) == std::string::npos);
  CHECK(r.out.find(fresh) == std::string::npos);
  CHECK_THAT(r.out, Catch::Contains("\"user\": \""));
  RunResult acme_only = cli({"audit", "acme"});
  CHECK_THAT(acme_only.out, Catch::Contains("account.disable"));
  CHECK(acme_only.out.find("domain.add") == std::string::npos);
  CHECK(cli({"audit", "nope"}).rc == 1);
}

TEST_CASE("no plaintext password is ever written to the store's files") {
  Cli cli;
  initialised(cli);
  cli.ok({"workspace", "set-plan", "acme", "30k"});
  std::vector<std::string> printed;
  std::vector<std::string> users;
  for (int i = 0; i < 6; i++) {
    Created c = create(cli, "acme", "app " + std::to_string(i));
    printed.push_back(c.password);
    users.push_back(c.username);
  }
  for (int i = 0; i < 3; i++) {
    RunResult r = cli.json({"account", "reset-password", users[static_cast<size_t>(i)]});
    REQUIRE(r.rc == 0);
    printed.push_back(field(r.out, "password"));
    // And in text mode, too.
    RunResult t = cli({"account", "reset-password", users[static_cast<size_t>(i)]});
    REQUIRE(t.rc == 0);
    size_t at = t.out.find("Password: ");
    REQUIRE(at != std::string::npos);
    printed.push_back(t.out.substr(at + 10, 32));
  }
  cli.ok({"account", "delete", users[5], "--confirm", "app 5"});
  REQUIRE(printed.size() == 12);
  for (const auto& entry : std::filesystem::directory_iterator(cli.db)) {
    std::string bytes = file_bytes(entry.path().string());
    for (const auto& pw : printed) {
      INFO(entry.path() << " must not contain a printed password");
      CHECK(bytes.find(pw) == std::string::npos);
      // Nor any long stretch of one (no prefix or truncated copy).
      CHECK(bytes.find(pw.substr(0, 12)) == std::string::npos);
      CHECK(bytes.find(pw.substr(20)) == std::string::npos);
    }
  }
}

TEST_CASE("ingest-dsn, ingest-arf and stats: refusals, exit codes and --json") {
  Cli cli;
  cli.ok({"init"});
  std::string key = cli.tmp / "tag.key", report = cli.tmp / "not-a-report.eml";
  std::ofstream(key) << std::string(32, 'k');
  std::ofstream(report) << "Subject: hello\n\nnot a report\n";
  // No key: the report cannot be judged, so try again later (a pipe defers).
  RunResult nokey = cli({"ingest-dsn", "--key", cli.tmp / "absent.key", report});
  CHECK(nokey.rc == 75);
  CHECK_THAT(nokey.err, Catch::Contains("cannot read tag key"));
  std::ofstream(cli.tmp / "short.key") << "short";
  CHECK(cli({"ingest-arf", "--key", cli.tmp / "short.key", report}).rc == 1);
  // Not a report: refused, or accepted (and counted) for pipe transports.
  RunResult bad = cli.json({"ingest-dsn", "--key", key, report});
  CHECK(bad.rc == 1);
  CHECK_THAT(bad.out, Catch::Contains("\"malformed\": true"));
  CHECK_THAT(bad.err, Catch::Contains("not counted"));
  CHECK(cli({"ingest-arf", "--key", key, "--accept-malformed", report}).rc == 0);
  CHECK(cli({"ingest-arf", "--key", key, cli.tmp / "absent.eml"}).rc == 1);
  CHECK(cli({"ingest-arf", "a", "b"}).rc == 2);
  // Standard input works as a file.
  RunResult in = test::run({MIGOCTL, "--db", cli.db, "ingest-dsn", "--key", key, "-"}, {}, "garbage");
  CHECK(in.rc == 1);
  RunResult st = cli.json({"stats"});
  CHECK(st.rc == 0);
  CHECK_THAT(st.out, Catch::Contains("\"reports.dsn.malformed\": 2"));
  CHECK_THAT(st.out, Catch::Contains("\"reports.arf.malformed\": 1"));
  CHECK_THAT(cli({"stats"}).out, Catch::Contains("none yet"));
}

TEST_CASE("tracking: off by default, set per workspace and per account, shown, audited; bad values refused") {
  Cli cli;
  initialised(cli);
  Created a = create(cli, "acme", "App");
  RunResult shown = cli.json({"tracking", "show", "acme"});
  CHECK(shown.rc == 0);
  CHECK_THAT(shown.out, Catch::Contains("\"opens\": false"));
  CHECK_THAT(shown.out, Catch::Contains("\"clicks\": \"off\""));
  cli.ok({"tracking", "set", "acme", "--opens", "on", "--clicks", "all"});
  cli.ok({"tracking", "set", "--account", a.username, "--clicks", "off"});
  shown = cli.json({"tracking", "show", "acme"});
  CHECK_THAT(shown.out, Catch::Contains("\"clicks\": \"all\""));
  CHECK_THAT(shown.out, Catch::Contains("\"username\": \"" + a.username + "\""));
  CHECK_THAT(cli({"tracking", "show", "acme"}).out, Catch::Contains(a.username + ": opens as the workspace, clicks off"));
  // Back to the workspace's: the override list is empty again.
  cli.ok({"tracking", "set", "--account", a.username, "--clicks", "inherit"});
  CHECK_THAT(cli.json({"tracking", "show", "acme"}).out, Catch::Contains("\"account_overrides\": []"));
  for (std::vector<std::string> bad : {std::vector<std::string>{"tracking", "set", "acme", "--clicks", "maybe"},
                                      {"tracking", "set", "acme", "--opens", "inherit"},
                                      {"tracking", "set", "--account", a.username, "--domain", "t.example"},
                                      {"tracking", "set", "--account", a.username, "acme"},
                                      {"tracking", "set", "acme", "--domain", "not a domain"},
                                      {"tracking", "set", "nosuch", "--opens", "on"},
                                      {"tracking", "set", "--account", "smtpuser_nosuch", "--opens", "on"},
                                      {"tracking", "verify", "acme", "--tracking-host", "t.relay.test"}}) {  // no domain of its own
    RunResult r = cli(bad);
    INFO(r.err);
    CHECK(r.rc != 0);
  }
  // An own domain: shown as not verified (the relay's host is used until it is).
  cli.ok({"tracking", "set", "acme", "--domain", "Track.Example.COM"});
  CHECK_THAT(cli({"tracking", "show", "acme"}).out, Catch::Contains("track.example.com (NOT VERIFIED"));
  RunResult audit = cli({"audit", "acme"});
  CHECK_THAT(audit.out, Catch::Contains("tracking.set"));
  CHECK_THAT(audit.out, Catch::Contains("clicks=inherit"));
  // account show carries the tracking statistics.
  RunResult acct = cli.json({"account", "show", a.username});
  CHECK_THAT(acct.out, Catch::Contains("\"unique_clicks\": 0"));
  CHECK_THAT(acct.out, Catch::Contains("\"open_rate\": null"));
}

TEST_CASE("metrics: Prometheus' text format, read back by its own parser; sums, bounded labels, atomic file") {
  Cli cli;
  cli.ok({"init"});
  cli.ok({"workspace", "create", "acme", "--plan", "10k"});
  cli.ok({"domain", "add", "acme", "example.com"});
  cli.ok({"domain", "verify", "--manual", "acme", "example.com"});
  cli.ok({"domain", "add", "acme", "waiting.example"});
  Created a = create(cli, "acme", "Production App");
  Created b = create(cli, "acme", "Staging");
  cli.ok({"account", "disable", b.username});
  RunResult m = cli({"metrics"});
  REQUIRE(m.rc == 0);
  // prometheus_client's parser (Debian's python3-prometheus-client), which
  // shares nothing with ours: every family parses, and the values are these.
  RunResult py = test::run(
      {"/usr/bin/python3", "-c",
       "import sys\n"
       "from prometheus_client.parser import text_string_to_metric_families as parse\n"
       "out = {}\n"
       "for f in parse(sys.stdin.read()):\n"
       "    for s in f.samples:\n"
       "        for k, v in s.labels.items():\n"
       "            assert k in ('status', 'state', 'outcome', 'by', 'source', 'kind', 'result'), k\n"
       "        out[s.name + ','.join(sorted(v for v in s.labels.values()))] = s.value\n"
       "for k in sorted(out): print(k, int(out[k]))\n"},
      {}, m.out);
  INFO(py.err);
  REQUIRE(py.rc == 0);
  CHECK_THAT(py.out, Catch::Contains("migo_workspaces 1\n"));
  CHECK_THAT(py.out, Catch::Contains("migo_accountsactive 1\n"));
  CHECK_THAT(py.out, Catch::Contains("migo_accountsdisabled 1\n"));
  CHECK_THAT(py.out, Catch::Contains("migo_domainsverified 1\n"));
  CHECK_THAT(py.out, Catch::Contains("migo_domainsunverified 1\n"));
  CHECK_THAT(py.out, Catch::Contains("migo_store_reader_slots 4096\n"));
  CHECK_THAT(py.out, Catch::Contains("migo_recipient_outcomes_totaldelivered 0\n"));
  CHECK_THAT(py.out, Catch::Contains("migo_statd_failing 0\n"));
  // No account, workspace or domain anywhere in the text.
  CHECK_THAT(m.out, !Catch::Contains(a.username));
  CHECK_THAT(m.out, !Catch::Contains("acme"));
  CHECK_THAT(m.out, !Catch::Contains("example.com"));
  // --output replaces the file whole and leaves no temporary behind.
  const std::string file = cli.tmp / "migo.prom";
  cli.ok({"metrics", "--output", file});
  std::ifstream in(file, std::ios::binary);
  CHECK(std::string(std::istreambuf_iterator<char>(in), {}) == m.out);
  CHECK_FALSE(std::filesystem::exists(file + ".tmp"));
  CHECK(cli({"metrics", "--output", cli.tmp / "no-such-dir/migo.prom"}).rc != 0);
}
