// policyd_test.cc — the real migo-policyd over real sockets: verdicts on a
// persistent connection, exactness with two daemons and many connections on
// one store, hostile and slow clients, SIGHUP, SIGTERM, and kill -9 under
// load losing no acknowledged commit.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <thread>

#include "admin.h"
#include "migo/accounting.h"
#include "policy_client.h"
#include "redis_server.h"
#include "ports.h"
#include "run.h"
#include "fresh_store.h"
#include "temp_dir.h"

using namespace migo;
using migo::test::PolicyClient;
using migo::test::TempDir;

namespace {

using migo::test::free_port;

struct World {
  TempDir tmp;
  std::string db = tmp / "store";
  std::unique_ptr<Store> store;
  std::vector<std::string> users;

  explicit World(Plan plan = {"test", 10, 100000, 100000, 100000}) {
    store = test::fresh_store(db, time(nullptr));
    Admin admin(*store, Actor{0, "test"}, time(nullptr));
    REQUIRE(store->write([&](WriteTxn& t) { return t.put(plan); }).ok());
    REQUIRE(admin.create_workspace("acme", plan.name).ok());
    REQUIRE(admin.create_workspace("other", "30k").ok());
    for (const char* label : {"one", "two", "off"}) {
      auto n = admin.create_account("acme", label);
      REQUIRE(n.ok());
      users.push_back(n->account.username);
    }
    REQUIRE(admin.set_status(users[2], AccountStatus::disabled).ok());
    auto z = admin.create_account("other", "z");
    REQUIRE(z.ok());
    users.push_back(z->account.username);
    // The daemon refuses to run as root: it runs as nobody, who must be
    // able to write the store (in production: group migo).
    if (geteuid() == 0) std::filesystem::permissions(tmp.path(), std::filesystem::perms::all);
    if (geteuid() == 0) {
      for (const auto& p : {tmp.path(), db, db + "/data.mdb", db + "/lock.mdb"})
        REQUIRE(chown(p.c_str(), 65534, 65534) == 0);
    }
  }
  Usage usage(const std::string& ws) {
    Usage u;
    REQUIRE(store->read([&](const ReadTxn& t) {
      auto w = t.workspace_by_name(ws);
      if (!w.ok()) return w.status();
      auto r = t.usage(w->id, time(nullptr));
      if (r.ok()) u = *r;
      return r.status();
    }).ok());
    return u;
  }
};

struct Daemon {
  pid_t pid = -1;
  std::string addr, log_path;
  // `listen`: an address (default: a free loopback port); `prefix`: a
  // command to run the daemon under (e.g. prlimit).
  Daemon(const World& w, const std::string& config = "", const std::string& listen = "",
         std::vector<std::string> prefix = {}) {
    addr = listen.empty() ? "inet:127.0.0.1:" + std::to_string(free_port()) : listen;
    log_path = w.tmp / ("policyd-" + std::to_string(free_port()) + ".log");
    std::vector<std::string> args = prefix;
    args.insert(args.end(), {MIGO_POLICYD, "--db", w.db, "--listen", addr, "--foreground"});
    if (!config.empty()) args.insert(args.end(), {"--config", config});
    if (geteuid() == 0) args.insert(args.end(), {"--user", "nobody"});
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    pid = test::spawn(args, {}, -1, -1, fd);
    close(fd);
    REQUIRE(pid > 0);
  }
  int stop(int sig = SIGTERM) {
    if (pid < 0) return -1;
    kill(pid, sig);
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  ~Daemon() { stop(SIGKILL); }
  // The exit status once it has exited by itself, waiting at most ~10 s.
  int exited() {
    for (int i = 0; i < 100 && pid > 0; i++) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      usleep(100000);
    }
    return -1;
  }
  // CPU ticks (user + system) the process has used so far.
  long cpu_ticks() const {
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), {});
    size_t close = stat.rfind(')');
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; i++) {
      if (i == 14) utime = std::stol(field);
      if (i == 15) stime = std::stol(field);
    }
    return utime + stime;
  }
  std::string log() const {
    std::ifstream f(log_path);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
};

std::map<std::string, std::string> rcpt(const std::string& user) {
  return {{"protocol_state", "RCPT"}, {"sasl_username", user}};
}
std::map<std::string, std::string> eom(const std::string& user, const std::string& qid, int n) {
  return {{"protocol_state", "END-OF-MESSAGE"}, {"sasl_username", user}, {"queue_id", qid},
          {"recipient_count", std::to_string(n)}, {"recipient", ""}};
}

}  // namespace

TEST_CASE("verdicts over one persistent connection") {
  World w({"test", 10, 1000, 1000, 5});
  Daemon d(w);
  PolicyClient c(d.addr);
  REQUIRE(c.connected());
  CHECK(c.ask(rcpt("")) == "DUNNO");
  CHECK(c.ask(rcpt("smtpuser_nobody0000")) == "REJECT SMTP account smtpuser_nobody0000 does not exist");
  CHECK(c.ask(rcpt(w.users[2])) == "REJECT SMTP account " + w.users[2] + " is disabled");
  CHECK(c.ask(rcpt(w.users[0])) == "DUNNO");
  CHECK(c.ask(eom(w.users[0], "4AAAAAAAAAA1", 3)) == "DUNNO");
  CHECK(c.ask(eom(w.users[1], "4AAAAAAAAAA2", 2)) == "DUNNO");  // 5: the hourly limit
  std::string deferred = c.ask(rcpt(w.users[1]));
  CHECK_THAT(deferred, Catch::StartsWith("451 4.7.1 Workspace hourly limit of 5 recipients reached; room again at "));
  CHECK(c.ask(rcpt(w.users[3])) == "DUNNO");  // another workspace
  CHECK(w.usage("acme").hour == 5);
  CHECK(c.ask({{"protocol_state", "DATA"}, {"sasl_username", w.users[0]}}) == "DUNNO");
  CHECK(d.stop() == 0);
  std::string log = d.log();
  CHECK_THAT(log, Catch::Contains("4AAAAAAAAAA1: accept: END-OF-MESSAGE"));
  CHECK_THAT(log, Catch::Contains("reject: RCPT"));
  CHECK_THAT(log, Catch::Contains("stopped"));
}

TEST_CASE("two daemons, many connections: counts are exact and never pass the limit") {
  World w({"test", 10, 100000, 400, 400});
  Daemon d1(w), d2(w);
  std::atomic<int> accepted{0}, deferred{0}, other{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; i++) {
    clients.emplace_back([&, i] {
      PolicyClient c(i % 2 ? d1.addr : d2.addr);
      if (!c.connected()) {
        other++;
        return;
      }
      for (int m = 0; m < 40; m++) {
        const std::string& user = w.users[static_cast<size_t>(i % 2)];
        int n = 1 + (m % 3);
        std::string a = c.ask(rcpt(user));
        if (a != "DUNNO") {
          a.rfind("451 4.7.1", 0) == 0 ? deferred++ : other++;
          continue;
        }
        std::string v = c.ask(eom(user, "Q" + std::to_string(i) + "x" + std::to_string(m), n));
        if (v == "DUNNO") accepted += n;
        else if (v.rfind("451 4.7.1", 0) == 0) deferred++;
        else other++;
      }
    });
  }
  for (auto& t : clients) t.join();
  CHECK(other == 0);
  CHECK(deferred > 0);  // the limit was reached
  Usage u = w.usage("acme");
  CHECK(u.hour == static_cast<uint64_t>(accepted.load()));
  CHECK(u.hour <= 400);
  CHECK(u.hour >= 398);
  CHECK(d1.stop() == 0);
  CHECK(d2.stop() == 0);
}

TEST_CASE("hostile and broken clients are closed; others carry on") {
  World w;
  Daemon d(w);
  PolicyClient good(d.addr);
  REQUIRE(good.connected());
  CHECK(good.ask(rcpt(w.users[0])) == "DUNNO");

  for (const std::string& junk :
       {std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), std::string("request=smtpd_access_policy\nsender=\x01\x02\n\n"),
        std::string("request=smtpd_access_policy\nx=") + std::string(20000, 'a') + "\n\n",
        std::string("request=smtpd_access_policy\0\n\n", 31), std::string("request=other\n\n")}) {
    PolicyClient bad(d.addr);
    REQUIRE(bad.connected());
    bad.send_raw(junk);
    CHECK(bad.closed_by_server());
    CHECK(good.ask(rcpt(w.users[0])) == "DUNNO");
  }
  // A flood that never ends a line is cut off at the size limit.
  PolicyClient flood(d.addr);
  std::string chunk(65536, 'x');
  for (int i = 0; i < 4 && flood.send_raw(chunk); i++) {
  }
  CHECK(flood.closed_by_server());
  CHECK(good.ask(rcpt(w.users[0])) == "DUNNO");
  CHECK(d.stop() == 0);
  std::string log = d.log();
  CHECK_THAT(log, Catch::Contains("warning: 127.0.0.1:"));
  CHECK_THAT(log, Catch::Contains("malformed request: line is not name=value"));
  CHECK_THAT(log, Catch::Contains("unusable request: not an smtpd_access_policy request"));
}

TEST_CASE("slow clients time out; SIGHUP reloads the configuration") {
  World w;
  std::string conf = w.tmp / "policyd.conf";
  std::ofstream(conf) << "# test\nrequest_timeout = 1\nidle_timeout = 2\n";
  Daemon d(w, conf);
  PolicyClient slow(d.addr);
  REQUIRE(slow.connected());
  slow.send_raw("request=smtpd_access_policy\nprotocol_state=RCPT\n");  // never finished
  CHECK(slow.closed_by_server(5000));
  PolicyClient idle(d.addr);
  CHECK(idle.ask(rcpt("")) == "DUNNO");
  CHECK(idle.closed_by_server(6000));

  std::ofstream(conf) << "unauthenticated_action = REJECT 5.7.0 Authentication required\n";
  kill(d.pid, SIGHUP);
  std::string action;
  for (int i = 0; i < 50 && action != "REJECT 5.7.0 Authentication required"; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    PolicyClient c(d.addr);
    action = c.ask(rcpt(""));
  }
  CHECK(action == "REJECT 5.7.0 Authentication required");
  std::ofstream(conf) << "tempfail_action = DUNNO\n";  // failing open is refused
  kill(d.pid, SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  PolicyClient c(d.addr);
  CHECK(c.ask(rcpt("")) == "REJECT 5.7.0 Authentication required");  // old config kept
  CHECK(d.stop() == 0);
  CHECK_THAT(d.log(), Catch::Contains("reload failed, keeping the old configuration"));
  CHECK_THAT(d.log(), Catch::Contains("request not complete after 1s"));
}

TEST_CASE("kill -9 under load: the store stays consistent and no acknowledged commit is lost") {
  World w;
  Daemon d(w);
  std::mutex mu;
  std::vector<std::pair<std::string, int>> acknowledged;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; i++) {
    clients.emplace_back([&, i] {
      PolicyClient c(d.addr);
      for (int m = 0; !stop; m++) {
        std::string qid = "K" + std::to_string(i) + "x" + std::to_string(m);
        std::string v = c.ask(eom(w.users[0], qid, 2));
        if (v.empty()) return;  // the daemon is gone
        if (v == "DUNNO") {
          std::lock_guard lock(mu);
          acknowledged.emplace_back(qid, 2);
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  d.stop(SIGKILL);
  stop = true;
  for (auto& t : clients) t.join();
  REQUIRE(acknowledged.size() > 20);
  // Every acknowledged message is counted; usage equals the queue entries.
  uint64_t queued = 0;
  REQUIRE(w.store->read([&](const ReadTxn& t) -> Status {
    for (const auto& [qid, n] : acknowledged) {
      auto e = t.queue_entry(qid);
      CHECK(e.ok());
    }
    auto acct = t.account_by_username(w.users[0]);
    if (!acct.ok()) return acct.status();
    auto q = t.queued_for(acct->id);
    if (!q.ok()) return q.status();
    queued = q->size();
    auto st = t.stats(acct->id);
    CHECK(st->total_sent == 2 * queued);
    return Status::Ok();
  }).ok());
  CHECK(queued >= acknowledged.size());  // at most the in-flight ones more
  CHECK(w.usage("acme").hour == 2 * queued);
  // And a new daemon serves from the same store at once.
  Daemon again(w);
  PolicyClient c(again.addr);
  CHECK(c.ask(rcpt(w.users[0])) == "DUNNO");
}

TEST_CASE("hundreds of connections at once, one per smtpd process") {
  World w;
  Daemon d(w);
  std::vector<std::unique_ptr<PolicyClient>> clients;
  for (int i = 0; i < 300; i++) {
    clients.push_back(std::make_unique<PolicyClient>(d.addr));
    REQUIRE(clients.back()->connected());
  }
  // Every connection stays open and is answered, in any order.
  int answered = 0;
  for (int round = 0; round < 2; round++)
    for (auto& c : clients) answered += c->ask(rcpt(w.users[static_cast<size_t>(answered % 2)])) == "DUNNO";
  CHECK(answered == 600);
  clients.clear();
  CHECK(d.stop() == 0);
}

TEST_CASE("a second daemon on a live socket path refuses; a stale socket is taken over") {
  World w;
  std::string path = w.tmp / "policy.sock";
  Daemon first(w, "", "unix:" + path);
  PolicyClient c1("unix:" + path);
  REQUIRE(c1.connected());
  REQUIRE(c1.ask(rcpt(w.users[0])) == "DUNNO");
  Daemon second(w, "", "unix:" + path);
  CHECK(second.exited() == 1);
  CHECK_THAT(second.log(), Catch::Contains("another process is listening on " + path));
  // The first still serves, on a new connection too.
  PolicyClient c2("unix:" + path);
  REQUIRE(c2.connected());
  CHECK(c2.ask(rcpt(w.users[0])) == "DUNNO");
  // kill -9 leaves the socket file behind: the next daemon removes it.
  first.stop(SIGKILL);
  Daemon third(w, "", "unix:" + path);
  PolicyClient c3("unix:" + path);
  REQUIRE(c3.connected());
  CHECK(c3.ask(rcpt(w.users[0])) == "DUNNO");
}

TEST_CASE("max_connections is clamped to the descriptor limit") {
  World w;
  Daemon d(w, "", "", {"/usr/bin/prlimit", "--nofile=64:64", "--"});
  PolicyClient c(d.addr);
  REQUIRE(c.connected());
  CHECK(c.ask(rcpt(w.users[0])) == "DUNNO");
  CHECK_THAT(d.log(), Catch::Contains("max_connections 4096 lowered to 32: the descriptor limit is 64"));
}

TEST_CASE("out of descriptors: no busy loop, a bounded number of log lines, and recovery") {
  World w;
  Daemon d(w);
  {
    PolicyClient first(d.addr);
    REQUIRE(first.connected());
    REQUIRE(first.ask(rcpt(w.users[0])) == "DUNNO");
  }
  // Lower its limit while it runs (as other descriptors being used up
  // would): more idle clients than descriptors.
  // (As the daemon's own user: this machine's root lacks CAP_SYS_RESOURCE.)
  std::vector<std::string> lower = {"/usr/bin/prlimit", "--pid", std::to_string(d.pid), "--nofile=24:24"};
  if (geteuid() == 0)
    lower.insert(lower.begin(), {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
  auto lowered = test::run(lower);
  INFO(lowered.err);
  REQUIRE(lowered.rc == 0);
  std::vector<std::unique_ptr<PolicyClient>> idle;
  for (int i = 0; i < 60; i++) idle.push_back(std::make_unique<PolicyClient>(d.addr));
  long ticks_before = d.cpu_ticks();
  auto wall_before = std::chrono::steady_clock::now();
  sleep(3);
  long ticks = d.cpu_ticks() - ticks_before;
  double wall_ticks = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count() *
                      static_cast<double>(sysconf(_SC_CLK_TCK));
  INFO("CPU ticks " << ticks << " in " << wall_ticks << " wall ticks");
  // A spinning accept loop uses the whole window; a paused one almost none.
  CHECK(static_cast<double>(ticks) < wall_ticks / 4);
  std::string log = d.log();
  size_t lines = 0;
  for (size_t at = log.find("Too many open files"); at != std::string::npos;
       at = log.find("Too many open files", at + 1))
    lines++;
  CHECK(lines >= 1);
  CHECK(lines <= 2);  // once a minute at most
  CHECK_THAT(log, Catch::Contains("not accepting for 1s"));
  // The clients leave; the daemon serves again.
  idle.clear();
  PolicyClient after(d.addr);
  REQUIRE(after.connected());
  CHECK(after.ask(rcpt(w.users[0])) == "DUNNO");
}

TEST_CASE("a message's RCPTs beyond the room are refused at RCPT, by instance") {
  World w({"test", 10, 100000, 100000, 12});
  Daemon d(w);
  PolicyClient c(d.addr);
  REQUIRE(c.connected());
  REQUIRE(c.ask(eom(w.users[0], "4AAAAAAAAAB1", 9)) == "DUNNO");  // 3 of 12 left
  auto rcpt_of = [&](const std::string& instance) {
    auto r = rcpt(w.users[0]);
    r["instance"] = instance;
    return r;
  };
  for (int i = 0; i < 3; i++) CHECK(c.ask(rcpt_of("1a2b.5f3e1c.0")) == "DUNNO");
  for (int i = 0; i < 7; i++)
    CHECK_THAT(c.ask(rcpt_of("1a2b.5f3e1c.0")),
               Catch::StartsWith("451 4.7.1 Workspace hourly limit: 3 of 12 recipients left this hour, and this "
                                 "message has 3 already; room again at "));
  // The next message (another instance) starts from none accepted.
  CHECK(c.ask(rcpt_of("1a2b.5f3e1c.1")) == "DUNNO");
  CHECK(w.usage("acme").hour == 9);  // RCPT checks count nothing
}

TEST_CASE("clients that vanish before hearing DUNNO are refunded, all of them") {
  World w({"test", 10, 100000, 100000, 100000});
  Daemon d(w);
  {
    PolicyClient warm(d.addr);
    REQUIRE(warm.connected());
  }
  const int kClients = 300;
  std::vector<std::unique_ptr<PolicyClient>> clients;
  for (int i = 0; i < kClients; i++) {
    clients.push_back(std::make_unique<PolicyClient>(d.addr));
    REQUIRE(clients.back()->connected());
    char qid[32];
    std::snprintf(qid, sizeof qid, "4VANISH%05d", i);
    REQUIRE(clients.back()->send_raw(PolicyClient::request_text(eom(w.users[0], qid, 1))));
  }
  clients.clear();  // every one closes without reading its reply
  // The daemon cannot know of a reply it wrote before the close whether it
  // was read: that message stays counted. Every one whose close it saw first
  // is refunded. So: counted + refunded == clients, exactly, once all is done.
  auto refunded = [&] {
    std::string log = d.log();
    size_t n = 0;
    for (size_t at = log.find("count refunded"); at != std::string::npos; at = log.find("count refunded", at + 1)) n++;
    return n;
  };
  bool settled = false;
  for (int i = 0; i < 100 && !settled; i++) {
    settled = w.usage("acme").hour + refunded() == static_cast<uint64_t>(kClients);
    if (!settled) usleep(100000);
  }
  INFO("counted " << w.usage("acme").hour << ", refunded " << refunded());
  CHECK(settled);
  CHECK(d.log().find("FAILED") == std::string::npos);
}

// The loop keeps reading a connection while its END-OF-MESSAGE is with the
// committer (server.cc, rewatch): what arrives meanwhile must wait its turn,
// and a flood must neither be read without bound nor cost the reply.
TEST_CASE("requests that arrive while a commit is pending are answered in order") {
  World w({"test", 10, 100000, 100000, 100000});
  Daemon d(w);
  PolicyClient c(d.addr);
  REQUIRE(c.connected());
  REQUIRE(c.send_raw(PolicyClient::request_text(eom(w.users[0], "4PIPE00001", 2)) +
                     PolicyClient::request_text(rcpt(w.users[0])) +
                     PolicyClient::request_text(eom(w.users[1], "4PIPE00002", 3))));
  CHECK(c.read_action() == "DUNNO");
  CHECK(c.read_action() == "DUNNO");
  CHECK(c.read_action() == "DUNNO");
  CHECK(w.usage("acme").hour == 5);

  PolicyClient flood(d.addr);
  REQUIRE(flood.connected());
  std::string bytes = PolicyClient::request_text(eom(w.users[0], "4PIPE00003", 1));
  bytes += std::string(300000, 'x');  // no line end: cut off once the reply is out
  flood.send_raw(bytes);
  CHECK(flood.read_action() == "DUNNO");
  CHECK(flood.closed_by_server());
  CHECK(w.usage("acme").hour == 6);
  CHECK(c.ask(rcpt(w.users[0])) == "DUNNO");
  CHECK(d.stop() == 0);
}

TEST_CASE("two relays, two stores, one Redis: the limit holds across both, Redis gone is 451, refunds travel") {
  World w({"test", 10, 100000, 100000, 300});
  // The second relay's store: the same accounts (what the shared state
  // gives every relay), its own usage, statistics and queue.
  const std::string db_b = w.tmp / "store-b";
  std::filesystem::copy(w.db, db_b);
  if (geteuid() == 0)
    for (const auto& p : {db_b, db_b + "/data.mdb", db_b + "/lock.mdb"}) REQUIRE(chown(p.c_str(), 65534, 65534) == 0);
  TempDir redis_dir;
  auto redis = std::make_unique<test::RedisServer>(redis_dir.path(), std::vector<std::string>{}, free_port());
  auto config = [&](const std::string& name) {
    std::string path = w.tmp / (name + ".conf");
    std::ofstream(path) << "counters = " << redis->url() << "\nrelay_name = " << name << "\ncounters_timeout = 500\n";
    return path;
  };
  Daemon a(w, config("relay-a"));
  std::string b_addr = "inet:127.0.0.1:" + std::to_string(free_port());
  std::string b_log = w.tmp / "policyd-b.log";
  int fd = open(b_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> args{MIGO_POLICYD, "--db", db_b, "--listen", b_addr, "--foreground", "--config",
                                config("relay-b")};
  if (geteuid() == 0) args.insert(args.end(), {"--user", "nobody"});
  pid_t b = test::spawn(args, {}, -1, -1, fd);
  close(fd);
  REQUIRE(b > 0);
  // 16 clients over both relays, 1-3 recipients a message, the same queue
  // ids on both (each relay's Postfix numbers its own queue). They start
  // together once all are connected (the daemons start one after the
  // other), and relay A's accepted queue ids are kept for the refund below.
  std::atomic<int> accepted{0}, deferred{0}, other{0}, connected{0};
  std::mutex a_mu;
  std::vector<std::string> accepted_on_a;
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; i++) {
    clients.emplace_back([&, i] {
      PolicyClient c(i % 2 ? a.addr : b_addr);
      connected++;
      while (connected < 16) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (!c.connected()) {
        other++;
        return;
      }
      for (int m = 0; m < 40; m++) {
        const std::string& user = w.users[static_cast<size_t>(i % 2)];
        int n = 1 + (m % 3);
        const std::string qid = "Q" + std::to_string(i / 2) + "x" + std::to_string(m);
        std::string v = c.ask(eom(user, qid, n));
        if (v == "DUNNO" && i % 2) {
          std::lock_guard lock(a_mu);
          accepted_on_a.push_back(qid);
        }
        if (v == "DUNNO") accepted += n;
        else if (v.rfind("451 4.7.1", 0) == 0) deferred++;
        else other++;
      }
    });
  }
  for (auto& t : clients) t.join();
  CHECK(other == 0);
  CHECK(deferred > 0);
  CHECK(accepted >= 298);  // filled to within a message of the limit...
  CHECK(accepted <= 300);  // ...and never past it, across both relays
  uint64_t ws_id = 0;
  REQUIRE(w.store->read([&](const ReadTxn& t) {
    auto ws = t.workspace_by_name("acme");
    if (ws.ok()) ws_id = ws->id;
    return ws.status();
  }).ok());
  test::RunResult month = test::run(
      redis->cli({"HGET", "migo:{w" + std::to_string(ws_id) + "}:win", "M" + std::to_string(month_of(time(nullptr)))}));
  CHECK(month.out == std::to_string(accepted.load()) + "\n");
  // Each relay's own share is in its own store; together they are the total.
  uint64_t share_a = w.usage("acme").hour, share_b = 0;
  {
    auto sb = Store::open(db_b, {});
    REQUIRE(sb.ok());
    REQUIRE((*sb)->read([&](const ReadTxn& t) {
      auto ws = t.workspace_by_name("acme");
      if (!ws.ok()) return ws.status();
      share_b = t.usage(ws->id, time(nullptr))->hour;
      return Status();
    }).ok());
  }
  CHECK(share_a + share_b == static_cast<uint64_t>(accepted.load()));
  // The milter refuses a counted message on relay A (a refund in the store):
  // migo-policyd carries it to Redis within about a second.
  PolicyClient ca(a.addr);
  REQUIRE_FALSE(accepted_on_a.empty());
  REQUIRE(w.store->write([&](WriteTxn& t) { return refund_recipients(t, accepted_on_a.front(), nullptr); }).ok());
  std::string after;
  for (int i = 0; i < 50; i++) {
    after = ca.ask(eom(w.users[0], "R1", 1));
    if (after == "DUNNO") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(after == "DUNNO");
  CHECK_THAT(a.log(), Catch::Contains("refunds carried to the shared counters"));
  // Redis gone: every relay answers 451 4.3.0 and counts nothing.
  redis->stop();
  PolicyClient cb(b_addr);
  CHECK(ca.ask(eom(w.users[0], "R2", 1)) == "451 4.3.0 Sending policy temporarily unavailable; try again later");
  CHECK(cb.ask(rcpt(w.users[1])) == "451 4.3.0 Sending policy temporarily unavailable; try again later");
  CHECK(cb.ask(rcpt(w.users[2])) == "REJECT SMTP account " + w.users[2] + " is disabled");  // the store still answers
  // Back: service resumes (an unpersisted Redis starts empty).
  redis->start();
  std::string back;
  for (int i = 0; i < 50; i++) {
    back = cb.ask(eom(w.users[1], "R3", 1));
    if (back == "DUNNO") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(back == "DUNNO");
  CHECK(a.stop() == 0);
  kill(b, SIGTERM);
  int status = 0;
  waitpid(b, &status, 0);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  CHECK_THAT(a.log(), Catch::Contains("counters: shared, on Redis as relay relay-a"));
}
