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
#include "recorder.h"
#include "server.h"
#include "trackd_main.h"

namespace migo {

namespace {

const char kUsage[] =
    "NAME\n"
    "  migo-trackd - count opens and clicks of tracked mail, and redirect clicks\n\n"
    "SYNOPSIS\n"
    "  migo-trackd --listen inet:HOST:PORT|unix:PATH [--db PATH] [--key FILE]\n"
    "              [--scanner-window SECONDS] [--user USER] [--foreground]\n\n"
    "DESCRIPTION\n"
    "  A small HTTP service behind the web server that terminates TLS (nginx\n"
    "  on the same host). GET /o/TOKEN answers a 1x1 GIF (Cache-Control:\n"
    "  no-store) and counts an open; GET /c/TOKEN answers 302 to the exact URL\n"
    "  the token carries and counts a click. A token is checked against the\n"
    "  keys (HMAC-SHA256): one that does not verify is 404 and counts nothing,\n"
    "  so there is no open redirect. HEAD counts nothing. Opens by image\n"
    "  proxies (Gmail, Yahoo, Apple Mail Privacy Protection) and clicks by link\n"
    "  scanners (within 10 seconds of sending, known scanner agents, none) are\n"
    "  counted apart. The answer does not wait for the disk: events are\n"
    "  committed a few milliseconds later, all that arrived meanwhile in one\n"
    "  durable transaction, so a crash of the machine loses at most the last\n"
    "  few milliseconds of counts; a clean stop (SIGTERM) commits everything.\n"
    "  No IP address is stored. If the store cannot count, the answer is still\n"
    "  given (a recipient's link keeps working) and the failure is logged.\n"
    "  SIGHUP reads the key file again (key rotation).\n\n"
    "OPTIONS\n"
    "  --listen SPEC   where to listen: inet:127.0.0.1:8025 or unix:/run/migo/trackd.sock\n"
    "  --db PATH       the store (default: $MIGO_DB, else /var/lib/migo)\n"
    "  --key FILE      tracking keys, lines \"ID KEY\" (default /etc/migo/tracking.keys;\n"
    "                  migo-milter makes tokens with the same file)\n"
    "  --scanner-window SECONDS\n"
    "                  clicks this soon after the message was sent are a link\n"
    "                  scanner's, counted apart (default 10; 0: none)\n"
    "  --user USER     when started as root: run as USER after set-up (required)\n"
    "  --foreground    also log to standard error\n"
    "  --help          this text\n";

}  // namespace

int trackd_main(int argc, char** argv) {
  std::string listen, db, key_path = kDefaultTrackingKeyPath, user;
  bool foreground = false;
  int64_t scanner_seconds = kScannerSeconds;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "migo-trackd: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--listen") listen = value();
    else if (a == "--db") db = value();
    else if (a == "--key") key_path = value();
    else if (a == "--user") user = value();
    else if (a == "--foreground") foreground = true;
    else if (a == "--scanner-window") {
      std::string v = value();
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 0 || n > 3600) {
        std::cerr << "migo-trackd: --scanner-window takes 0 to 3600 seconds\n";
        return 2;
      }
      scanner_seconds = n;
    }
    else {
      std::cerr << "migo-trackd: unknown argument '" << a << "'\nTry 'migo-trackd --help'.\n";
      return 2;
    }
  }
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
