// trackd_main.cc — migo-trackd: options, set-up, signals. The work is in
// server.cc (HTTP), events.cc (what counts) and recorder.cc (group commit).
#include <signal.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <iostream>
#include <string>

#include "../common/daemon.h"
#include "../common/listener.h"
#include "../common/options.h"
#include "recorder.h"
#include "server.h"
#include "trackd_main.h"

namespace migo {

namespace {

const ProgramDoc kDoc = {
    "migo-trackd",
    "count opens and clicks of tracked mail, and redirect clicks",
    "--listen inet:HOST:PORT|unix:PATH [--db PATH] [--key FILE] [--scanner-window SECONDS] [--user USER] "
    "[--foreground]",
    "A small HTTP service behind the web server that terminates TLS (nginx\n"
    "on the same host). GET /o/TOKEN answers a 1x1 GIF (Cache-Control:\n"
    "no-store) and counts an open; GET /c/TOKEN answers 302 to the exact URL\n"
    "the token carries and counts a click. A token is checked against the\n"
    "keys (HMAC-SHA256): one that does not verify is 404 and counts nothing,\n"
    "so there is no open redirect. HEAD counts nothing. Opens by image\n"
    "proxies (Gmail, Yahoo, Apple Mail Privacy Protection) and clicks by link\n"
    "scanners (within 10 seconds of sending, known scanner agents, none) are\n"
    "counted apart.\n"
    "\n"
    "The answer does not wait for the disk: events are committed a few\n"
    "milliseconds later, all that arrived meanwhile in one durable\n"
    "transaction, so a crash of the machine loses at most the last few\n"
    "milliseconds of counts; a clean stop (SIGTERM) commits everything. No IP\n"
    "address is stored. If the store cannot count, the answer is still given\n"
    "(a recipient's link keeps working) and the failure is logged.\n",
    {{"SIGNALS",
      "  SIGTERM, SIGINT  stop answering, commit what was counted, exit\n"
      "  SIGHUP           read the key file again (key rotation)\n"},
     {"EXIT STATUS", "0 after a clean stop; 1 on a start-up error; 2 on a usage error.\n"}},
    "migo-milter(8), migoctl(8), nginx(8)",
};

}  // namespace

int trackd_main(int argc, char** argv) {
  std::string listen, db, key_path = kDefaultTrackingKeyPath, user;
  bool foreground = false;
  int64_t scanner_seconds = kScannerSeconds;
  const std::vector<ProgramOption> opts = {
      {"listen", "SPEC", "where to listen: inet:127.0.0.1:8025 or unix:/run/migo/trackd.sock", store_value(&listen)},
      {"db", "PATH", "the store (default: $MIGO_DB, else /var/lib/migo)", store_value(&db)},
      {"key", "FILE",
       "tracking keys, lines \"ID KEY\" (default /etc/migo/tracking.keys;\nmigo-milter makes tokens with the same file)",
       store_value(&key_path)},
      {"scanner-window", "SECONDS",
       "clicks this soon after the message was sent are a link\nscanner's, counted apart (0 to 3600; default 10; 0: none)",
       [&](const std::string& v) -> Status {
         long n = 0;
         if (!whole_number(v, 0, 3600, &n)) return {Code::invalid, "--scanner-window takes 0 to 3600 seconds"};
         scanner_seconds = n;
         return {};
       }},
      {"user", "USER", "when started as root: run as USER after set-up (required)", store_value(&user)},
      {"foreground", "", "also log to standard error",
       set_flag(&foreground)},
  };
  if (int rc = parse_command_line(argc, argv, kDoc, opts); rc >= 0) return rc;
  DaemonLog log("migo-trackd", foreground);
  auto fatal = [&](const std::string& msg) {
    log(LOG_ERR, msg);
    if (!foreground) std::cerr << "migo-trackd: " << msg << "\n";
    return 1;
  };
  if (listen.empty()) return fatal("--listen is required (see --help)");
  if (geteuid() == 0 && user.empty()) return fatal("refusing to run as root: give --user (e.g. --user migo-trackd)");
  auto keys = TrackingKeys::read(key_path);
  if (!keys.ok()) return fatal(keys.status().message());
  auto store = Store::open(store_path(db), {});
  if (!store.ok()) return fatal("cannot open store: " + store.status().message());
  auto listener = bind_listener(listen, "");
  if (!listener.ok()) return fatal(listener.status().message());
  // Signals are taken by sigwait below, in this thread only.
  sigset_t signals;
  sigemptyset(&signals);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, s);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  if (geteuid() == 0)
    if (Status s = drop_privileges(user); !s.ok()) return fatal(s.message());
  // A store that cannot commit fails every batch: one line a minute, with
  // how many events went uncounted.
  int64_t last_failure_log = 0;
  uint64_t unlogged = 0;
  Recorder recorder(**store, {}, [&](const Status& s, size_t events) {
    unlogged += events;
    const int64_t now = static_cast<int64_t>(time(nullptr));
    if (now - last_failure_log < 60) return;
    last_failure_log = now;
    log(LOG_WARNING, std::to_string(unlogged) + " events not counted: " + s.message());
    unlogged = 0;
  });
  // libmicrohttpd closes the socket it is given when it stops: a copy.
  TrackServerOptions options;
  options.listen_fd = dup(listener->fd.get());
  options.scanner_seconds = scanner_seconds;
  auto server = TrackServer::start(options, std::move(*keys), recorder, log);
  if (!server.ok()) return fatal(server.status().message());
  log(LOG_INFO, "ready: listening on " + listen);
  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    auto fresh = TrackingKeys::read(key_path);
    if (!fresh.ok()) {
      log(LOG_WARNING, "keys not reloaded, the old ones stay: " + fresh.status().message());
      continue;
    }
    (*server)->replace_keys(std::move(*fresh));
    log(LOG_INFO, "keys reloaded from " + key_path);
  }
  server->reset();  // no request is answered any more: commit what they queued
  recorder.flush();
  if (!listener->unix_path.empty()) unlink(listener->unix_path.c_str());
  log(LOG_INFO, "stopped: " + std::to_string(recorder.committed()) + " events counted in " +
                    std::to_string(recorder.commits()) + " commits, " + std::to_string(recorder.failed()) +
                    " not counted, " + std::to_string(recorder.dropped()) + " dropped");
  return 0;
}

}  // namespace migo
