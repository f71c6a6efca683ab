// events_test.cc — migo-trackd's parts: which requests count and as what,
// counting in a real store (grouped, concurrent), and the real daemon over
// a real socket: 302 to the exact URL, the GIF, 404 for tampered tokens,
// HEAD counting nothing.
#include <arpa/inet.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <mutex>
#include <thread>

#include "events.h"
#include "fresh_store.h"
#include "ports.h"
#include "recorder.h"
#include "run.h"
#include "server.h"

using namespace migo;

namespace {

constexpr uint64_t kAcct = 0x1122334455667788ull;
constexpr int64_t kSent = 1795000000;

TrackingKeys test_keys() {
  auto k = TrackingKeys::parse("5 " + base64url_encode(std::string(32, 'k')));
  REQUIRE(k.ok());
  return std::move(*k);
}

TrackToken click(uint16_t link = 0) {
  return {TrackToken::Kind::click, kAcct, kSent, "4QUEUEID", link, "https://shop.example/p?a=1&b=2#x"};
}
TrackToken open_token() { return {TrackToken::Kind::open, kAcct, kSent, "4QUEUEID", 0, ""}; }

AccountStats stats_of(const Store& s) {
  return test::read_ok<AccountStats>(s, [](const ReadTxn& t) { return t.stats(kAcct); });
}

}  // namespace

TEST_CASE("people and machines: proxies, Apple's network, scanners, clicks within seconds") {
  const TrackRequest person{"Mozilla/5.0 (Windows NT 10.0) Firefox/120.0", "203.0.113.9", kSent + 3600};
  CHECK_FALSE(classify(open_token(), person).machine);
  CHECK_FALSE(classify(click(), person).machine);
  CHECK(classify(open_token(), {"Mozilla/5.0 (via ggpht.com GoogleImageProxy)", "66.249.1.1", kSent + 60}).machine);
  CHECK(classify(open_token(), {"Mozilla/5.0", "17.58.1.2", kSent + 60}).why == "Apple Mail Privacy Protection");
  CHECK(classify(open_token(), {"Mozilla/5.0", "2620:149:a:b::1", kSent + 60}).machine);
  CHECK_FALSE(classify(open_token(), {"Mozilla/5.0", "18.0.0.1", kSent + 60}).machine);
  CHECK(classify(click(), {person.user_agent, person.client_ip, kSent + 2}).why == "clicked within seconds of sending");
  CHECK(classify(click(), {"", "203.0.113.9", kSent + 3600}).machine);
  CHECK_FALSE(classify(click(), {person.user_agent, person.client_ip, kSent + 2}, 0).machine);  // window off
  CHECK(classify(click(), {person.user_agent, person.client_ip, kSent + 30}, 60).machine);
  CHECK(classify(click(), {"Mozilla/5.0 (compatible; BarracudaCentral)", "203.0.113.9", kSent + 3600}).machine);
  CHECK(classify(click(), {"python-requests/2.31", "203.0.113.9", kSent + 3600}).machine);
}

TEST_CASE("answers: a verified token only; HEAD counts nothing; kinds must match the path") {
  TrackingKeys keys = test_keys();
  std::string c = *make_track_token(keys, click());
  std::string o = *make_track_token(keys, open_token());
  TrackRequest r{"Mozilla/5.0", "203.0.113.9", kSent + 3600};
  TrackAnswer a = answer(keys, "GET", "/c/" + c, r);
  CHECK(a.status == 302);
  CHECK(a.location == "https://shop.example/p?a=1&b=2#x");
  CHECK(a.count);
  CHECK(answer(keys, "HEAD", "/c/" + c, r).status == 302);
  CHECK_FALSE(answer(keys, "HEAD", "/c/" + c, r).count);
  CHECK(answer(keys, "GET", "/o/" + o, r).gif);
  CHECK(answer(keys, "GET", "/o/" + c, r).status == 404);  // a click token as a pixel
  CHECK(answer(keys, "GET", "/c/" + o, r).status == 404);
  std::string tampered = c;
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  CHECK(answer(keys, "GET", "/c/" + tampered, r).status == 404);
  CHECK_FALSE(answer(keys, "GET", "/c/" + tampered, r).count);
  CHECK(answer(keys, "GET", "/c/", r).status == 404);
  CHECK(answer(keys, "GET", "/x/" + c, r).status == 404);
  CHECK(answer(keys, "POST", "/c/" + c, r).status == 405);
  CHECK(answer(keys, "GET", "/c/" + c + "?x=1", r).status == 404);
}

TEST_CASE("counting: people's events and the unique ones, machines apart, deleted accounts not at all") {
  test::OneAccountStore w(kAcct);
  auto apply = [&](const TrackEvent& e) {
    REQUIRE(w.store->write([&](WriteTxn& t) { return apply_event(t, e, kSent + 100); }).ok());
  };
  apply({open_token(), false, ""});
  apply({open_token(), false, ""});
  apply({open_token(), true, "Apple Mail Privacy Protection"});
  apply({click(0), false, ""});
  apply({click(0), false, ""});
  apply({click(1), false, ""});
  apply({click(1), true, "link scanner"});
  AccountStats s = stats_of(*w.store);
  CHECK(s.opens == 2);
  CHECK(s.unique_opens == 1);
  CHECK(s.machine_opens == 1);
  CHECK(s.clicks == 3);
  CHECK(s.unique_clicks == 2);  // two links of one message
  CHECK(s.machine_clicks == 1);
  TrackToken stranger = click();
  stranger.account_id = 42;
  apply({stranger, false, ""});
  CHECK(test::read_ok<AccountStats>(*w.store, [](const ReadTxn& t) { return t.stats(42); }) == AccountStats{});
}

TEST_CASE("the recorder commits concurrent events together, each counted once") {
  test::OneAccountStore w(kAcct);
  Recorder rec(*w.store);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; i++)
    threads.emplace_back([&, i] {
      for (int j = 0; j < 25; j++) REQUIRE(rec.submit({click(static_cast<uint16_t>(i * 25 + j)), false, ""}));
    });
  for (auto& t : threads) t.join();
  rec.flush();
  CHECK(rec.committed() == 200);
  AccountStats s = stats_of(*w.store);
  CHECK(s.clicks == 200);
  CHECK(s.unique_clicks == 200);
  CHECK(rec.commits() <= 200);
  INFO("commits: " << rec.commits());
}

TEST_CASE("the recorder answers at once, drops past its bound, and commits what it holds before it stops") {
  test::OneAccountStore w(kAcct);
  // The writer asks the time once per batch: holding it there holds the
  // first batch in its commit while the queue fills behind it.
  std::mutex gate;
  std::unique_lock<std::mutex> held(gate);
  std::atomic<int> batches{0};
  {
    Recorder rec(
        *w.store,
        [&] {
          batches++;
          std::lock_guard<std::mutex> wait_for_gate(gate);
          return kSent + 100;
        },
        {}, 2);
    REQUIRE(rec.submit({click(0), false, ""}));
    while (batches.load() == 0) std::this_thread::yield();  // the writer holds it
    CHECK(rec.submit({click(1), false, ""}));
    CHECK(rec.submit({click(2), false, ""}));
    CHECK_FALSE(rec.submit({click(3), false, ""}));  // two queued: the bound
    CHECK(rec.dropped() == 1);
    held.unlock();
  }  // destroyed: everything queued is committed first
  AccountStats s = stats_of(*w.store);
  CHECK(s.clicks == 3);
  CHECK(s.unique_clicks == 3);
}

TEST_CASE("a commit that fails is told to the hook with its event count, and counts nothing") {
  test::OneAccountStore w(kAcct);
  const std::string dir = w.tmp.path();
  w.store.reset();
  auto ro = Store::open(dir, {.read_only = true});
  REQUIRE(ro.ok());
  size_t told = 0;
  std::string why;
  Recorder rec(**ro, {}, [&](const Status& st, size_t n) {
    told += n;
    why = st.message();
  });
  REQUIRE(rec.submit({click(0), false, ""}));
  rec.flush();
  CHECK(told == 1);
  CHECK(rec.failed() == 1);
  CHECK(rec.committed() == 0);
  CHECK_THAT(why, Catch::Contains("read-only"));
  CHECK(stats_of(**ro) == AccountStats{});
}

namespace {
// One HTTP/1.1 request over a fresh connection; the whole response.
std::string http(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  bool connected = false;
  for (int i = 0; i < 100 && !connected; i++) {
    connected = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    if (!connected) {
      close(fd);
      fd = socket(AF_INET, SOCK_STREAM, 0);
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      usleep(50000);
    }
  }
  REQUIRE(connected);
  REQUIRE(write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}
// Two GETs of `path` on one connection, the second sent only once the first
// answer (ending in the GIF's last byte, ';') is in: both answers, or what
// came before the server closed.
std::pair<std::string, std::string> two_on_one_connection(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: t.example\r\nUser-Agent: Firefox/120\r\n\r\n";
  auto one = [&] {
    std::string out;
    if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) return out;
    char buf[4096];
    while (out.find("\r\n\r\n") == std::string::npos || out.back() != ';') {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  };
  std::string first = one();
  std::string second = one();
  close(fd);
  return {first, second};
}

std::string get(int port, const std::string& method, const std::string& path, const std::string& extra = "") {
  return http(port, method + " " + path + " HTTP/1.1\r\nHost: t.example\r\nUser-Agent: Mozilla/5.0 (X11) Firefox/120\r\n" +
                        extra + "Connection: close\r\n\r\n");
}
}  // namespace

TEST_CASE("migo-trackd on a unix socket (nginx's proxy_pass http://unix:PATH)") {
  test::OneAccountStore w(kAcct);
  const std::string dir = w.tmp.path();
  const std::string keyfile = dir + "/tracking.keys", sock = dir + "/trackd.sock";
  std::ofstream(keyfile) << "5 " << base64url_encode(std::string(32, 'k')) << "\n";
  w.store.reset();
  std::vector<std::string> argv = {MIGO_TRACKD, "--db", dir, "--key", keyfile, "--listen", "unix:" + sock};
  if (geteuid() == 0) {
    argv.insert(argv.end(), {"--user", "nobody"});
    REQUIRE(test::run({"/bin/chown", "-R", "nobody", dir}).rc == 0);
  }
  pid_t pid = test::spawn(argv);
  REQUIRE(pid > 0);
  TrackToken old_click = click();
  old_click.time = 1000;
  test::RunResult r;
  for (int i = 0; i < 100; i++) {
    r = test::run({"/usr/bin/curl", "-s", "--unix-socket", sock, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                   "http://t.example/c/" + *make_track_token(test_keys(), old_click)});
    if (r.out.rfind("302", 0) == 0) break;
    usleep(50000);
  }
  CHECK(r.out == "302 https://shop.example/p?a=1&b=2#x");
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
  CHECK_FALSE(std::filesystem::exists(sock));  // removed at exit
}

TEST_CASE("migo-trackd over a real socket") {
  test::OneAccountStore w(kAcct);
  const std::string dir = w.tmp.path();
  const std::string keyfile = dir + "/tracking.keys";
  std::ofstream(keyfile) << "5 " << base64url_encode(std::string(32, 'k')) << "\n";
  w.store.reset();  // the daemon's now
  int port = test::free_port();
  std::vector<std::string> argv = {MIGO_TRACKD, "--db", dir, "--key", keyfile, "--listen",
                                   "inet:127.0.0.1:" + std::to_string(port), "--foreground"};
  if (geteuid() == 0) {  // as in production: unprivileged, owning its store
    argv.insert(argv.end(), {"--user", "nobody"});
    REQUIRE(test::run({"/bin/chown", "-R", "nobody", dir}).rc == 0);
  }
  pid_t pid = test::spawn(argv);
  REQUIRE(pid > 0);
  TrackingKeys keys = test_keys();
  TrackToken old_click = click();
  old_click.time = 1000;  // long ago: a person's click
  const std::string c = *make_track_token(keys, old_click);
  std::string r = get(port, "GET", "/c/" + c);
  CHECK_THAT(r, Catch::StartsWith("HTTP/1.1 302"));
  CHECK_THAT(r, Catch::Contains("Location: https://shop.example/p?a=1&b=2#x\r\n"));
  CHECK_THAT(r, Catch::Contains("Referrer-Policy: no-referrer"));
  r = get(port, "HEAD", "/c/" + c);
  CHECK_THAT(r, Catch::StartsWith("HTTP/1.1 302"));
  std::string tampered = c;
  tampered[12] = tampered[12] == 'A' ? 'B' : 'A';
  CHECK_THAT(get(port, "GET", "/c/" + tampered), Catch::StartsWith("HTTP/1.1 404"));
  TrackToken o = open_token();
  o.time = 1000;
  r = get(port, "GET", "/o/" + *make_track_token(keys, o));
  CHECK_THAT(r, Catch::StartsWith("HTTP/1.1 200"));
  CHECK_THAT(r, Catch::Contains("Content-Type: image/gif"));
  CHECK_THAT(r, Catch::Contains("Cache-Control: no-store"));
  CHECK(r.substr(r.find("\r\n\r\n") + 4).substr(0, 6) == "GIF89a");
  // Keep-alive: nginx reuses its upstream connections, and an answer queued
  // too early made libmicrohttpd close every one.
  auto [first, second] = two_on_one_connection(port, "/o/" + *make_track_token(keys, o));
  CHECK_THAT(first, Catch::StartsWith("HTTP/1.1 200"));
  CHECK_THAT(second, Catch::StartsWith("HTTP/1.1 200"));
  // Through nginx, X-Real-IP is the reader's: from Apple's network, a machine.
  get(port, "GET", "/o/" + *make_track_token(keys, o), "X-Real-IP: 17.1.2.3\r\n");
  // A request that is not HTTP gets no answer (the connection is closed),
  // and the daemon goes on answering.
  std::string garbage = http(port, "garbage\r\n\r\n");
  CHECK((garbage.empty() || garbage.rfind("HTTP/1.1 400", 0) == 0));
  CHECK_THAT(get(port, "GET", "/c/" + tampered), Catch::StartsWith("HTTP/1.1 404"));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  auto store = Store::open(dir, {});
  REQUIRE(store.ok());
  AccountStats s = stats_of(**store);
  CHECK(s.clicks == 1);  // the HEAD and the tampered one counted nothing
  CHECK(s.unique_clicks == 1);
  CHECK(s.opens == 3);  // one, then two on one connection
  CHECK(s.machine_opens == 1);
}
