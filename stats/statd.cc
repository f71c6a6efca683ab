// statd.cc — see statd.h: options, signals and the poll loop around Follower.
#include "statd.h"

#include <signal.h>
#include <syslog.h>
#include <unistd.h>

#include <charconv>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>

#include "daemon.h"
#include "follower.h"

namespace migo {
namespace {

const char* kUsage =
    "NAME\n"
    "  migo-statd - count Postfix's delivery results for migo-relay's SMTP accounts\n\n"
    "SYNOPSIS\n"
    "  migo-statd [--log FILE] [--db PATH] [--user USER] [--interval SECONDS]\n"
    "             [--syslog-name NAME]... [--retention DAYS] [--foreground | --once]\n\n"
    "DESCRIPTION\n"
    "  Follows Postfix's log (a syslog file or Postfix's own maillog_file) and\n"
    "  attributes every delivery result to the account whose message it was,\n"
    "  through the store's queue map:\n"
    "    status=sent      delivered + 1 for the recipient\n"
    "    status=bounced   bounced + 1 for the recipient\n"
    "    status=deferred  deferred + 1 (each attempt)\n"
    "    status=expired   the recipients still pending are bounced\n"
    "    removed          the queue map entry is forgotten\n"
    "    reject/milter-reject at END-OF-MESSAGE, or a header/body rule in\n"
    "    cleanup: the message was refused after the policy service counted\n"
    "    it, so its recipients are given back to the workspace's limits.\n"
    "  Each batch of lines is counted in one transaction with the position\n"
    "  after it, so a restart neither skips nor repeats a line. Rotation by\n"
    "  rename (FILE.1) or copytruncate is followed, also across a restart.\n"
    "  Malformed lines are counted (migoctl stats) and logged, never fatal.\n"
    "  Only Postfix's lines count: those whose program tag (before the line's\n"
    "  first \": \") is NAME[pid] or NAME/...[pid] for a --syslog-name. Text\n"
    "  other programs log, ours included, can quote what SMTP clients sent.\n\n"
    "OPTIONS\n"
    "  --log FILE          the log to follow (default /var/log/mail.log)\n"
    "  --db PATH           the store (default: $MIGO_DB, else /var/lib/migo)\n"
    "  --user USER         when started as root: open the store, then run as\n"
    "                      USER (required when started as root, except --once)\n"
    "  --interval SECONDS  how often to look for new lines (default 1)\n"
    "  --retention DAYS    forget queue map entries and report keys after DAYS\n"
    "                      (default 30; 0 keeps them): queue entries Postfix\n"
    "                      never logged \"removed\" for, and what bounces and\n"
    "                      complaints are checked against (a report about an\n"
    "                      older message counts nothing). Pruned a little\n"
    "                      with each batch of lines.\n"
    "  --syslog-name NAME  a Postfix instance's syslog_name whose lines count\n"
    "                      (default postfix; repeat for each instance, e.g.\n"
    "                      --syslog-name postfix --syslog-name postfix-out)\n"
    "  --once              read what is there now from the stored position,\n"
    "                      count it and exit (for cron, or a file by hand)\n"
    "  --foreground        log to standard error as well as syslog\n"
    "  --help              this text\n\n"
    "SIGNALS\n"
    "  SIGTERM, SIGINT  finish the batch in hand and exit\n"
    "  SIGHUP           reopen the log from the stored position\n\n"
    "EXIT STATUS\n"
    "  0 after a clean stop (or --once done); 1 on a start-up error; 2 on a\n"
    "  usage error; 75 when --once could not reach the store (try again).\n";

volatile std::sig_atomic_t g_stop = 0, g_reopen = 0;
void on_stop(int) { g_stop = 1; }
void on_hup(int) { g_reopen = 1; }

// A whole number from lo to hi, all of `v`.
bool whole_number(const std::string& v, long lo, long hi, long* out) {
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
  return ec == std::errc() && p == v.data() + v.size() && *out >= lo && *out <= hi;
}

std::string summary(const FollowTotals& t) {
  return "lines=" + std::to_string(t.lines) + " attributed=" + std::to_string(t.attributed) +
         " unattributed=" + std::to_string(t.unattributed) + " malformed=" + std::to_string(t.malformed) +
         " refunded=" + std::to_string(t.refunded);
}

}  // namespace

int statd_main(int argc, char** argv) {
  std::string db, user, log_path = "/var/log/mail.log";
  bool foreground = false, once = false;
  long interval = 1;
  std::vector<std::string> syslog_names;
  long retention_days = 30;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "migo-statd: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--log") log_path = value();
    else if (a == "--db") db = value();
    else if (a == "--user") user = value();
    else if (a == "--foreground") foreground = true;
    else if (a == "--once") once = true;
    else if (a == "--retention") {
      if (!whole_number(value(), 0, 3650, &retention_days)) {
        std::cerr << "migo-statd: --retention takes 0 to 3650 days\n";
        return 2;
      }
    } else if (a == "--syslog-name") {
      std::string v = value();
      if (v.empty() || v.find_first_of("/[]: ") != std::string::npos) {
        std::cerr << "migo-statd: --syslog-name takes a name such as postfix (no '/', '[', ']', ':' or space)\n";
        return 2;
      }
      syslog_names.push_back(v);
    } else if (a == "--interval") {
      if (!whole_number(value(), 1, 3600, &interval)) {
        std::cerr << "migo-statd: --interval takes 1 to 3600 seconds\n";
        return 2;
      }
    } else {
      std::cerr << "migo-statd: unknown argument '" << a << "'\nTry 'migo-statd --help'.\n";
      return 2;
    }
  }
  db = store_path(db);
  DaemonLog log("migo-statd", foreground || once);
  auto fatal = [&](const std::string& msg, int rc = 1) {
    log(LOG_ERR, msg);
    if (!foreground && !once) std::cerr << "migo-statd: " << msg << "\n";
    return rc;
  };
  if (geteuid() == 0 && user.empty() && !once)
    return fatal("refusing to run as root: give --user (e.g. --user migo-statd)");
  auto store = Store::open(db, {});
  if (!store.ok()) return fatal("cannot open store: " + store.status().message(), once ? 75 : 1);
  if (geteuid() == 0 && !user.empty())
    if (Status s = drop_privileges(user); !s.ok()) return fatal(s.message());

  FollowerOptions options;
  options.path = log_path;
  if (!syslog_names.empty()) options.syslog_names = syslog_names;
  options.retention_seconds = retention_days * 86400;
  options.log = [&log](int prio, const std::string& line) { log(prio, line); };
  Follower follower(**store, options);

  if (once) {
    FollowTotals t;
    Status s = follower.poll(&t);
    if (!s.ok()) return fatal(log_path + ": " + s.message(), s.temporary() ? 75 : 1);
    log(LOG_INFO, log_path + ": " + summary(t));
    return 0;
  }

  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sa.sa_handler = on_hup;
  sigaction(SIGHUP, &sa, nullptr);
  log(LOG_INFO, "following " + log_path + " every " + std::to_string(interval) + "s");
  std::optional<bool> failing;  // unknown until the first poll
  FollowTotals since_report;
  time_t last_report = time(nullptr);
  while (!g_stop) {
    if (g_reopen) {
      g_reopen = 0;
      follower.reopen();
      log(LOG_INFO, "reopening " + log_path);
    }
    FollowTotals t;
    Status s = follower.poll(&t);
    since_report.add(t);
    if (!s.ok() && failing != true) log(LOG_WARNING, log_path + ": " + s.message() + " (will retry)");
    if (s.ok() && failing == true) log(LOG_INFO, log_path + ": counting again");
    if (failing != !s.ok()) {  // (also after start: an old state may be stored)
      // Said in the store too, so `migoctl stats` (and --check) show that
      // the counts stand still, and since when, instead of a quiet stale
      // position. (Store trouble may be why: then this write fails as well,
      // and the log line above is all there is.)
      uint64_t since = s.ok() ? 0 : static_cast<uint64_t>(time(nullptr));
      if (Status w = (*store)->write([&](WriteTxn& txn) { return txn.set_counter(kStatdFailingSince, since); }); !w.ok())
        log(LOG_WARNING, "cannot record the follower's state: " + w.message());
    }
    failing = !s.ok();
    // A line a minute at most, and only when something happened.
    if (since_report.lines && time(nullptr) - last_report >= 60) {
      log(LOG_INFO, log_path + ": " + summary(since_report));
      since_report = {};
      last_report = time(nullptr);
    }
    for (long slept = 0; slept < interval * 10 && !g_stop && !g_reopen; slept++) usleep(100000);
  }
  if (since_report.lines) log(LOG_INFO, log_path + ": " + summary(since_report));
  log(LOG_INFO, "stopped");
  return 0;
}

}  // namespace migo
