// statd.cc — see statd.h: options, signals and the poll loop around Follower.
#include "statd.h"

#include <pwd.h>
#include <signal.h>
#include <syslog.h>
#include <unistd.h>

#include <charconv>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>

#include "daemon.h"
#include "options.h"
#include "follower.h"
#include "journal.h"

namespace migo {
namespace {

const ProgramDoc kDoc = {
    "migo-statd",
    "count Postfix's delivery results for migo-relay's SMTP accounts",
    "[--journal | --log FILE] [--db PATH] [--user USER] [--interval SECONDS] [--syslog-name NAME]... "
    "[--retention DAYS] [--postfix-user USER] [--postfix-daemon-directory DIR] [--foreground | --once]",
    "Follows Postfix's log — the systemd journal (the default: where a stock\n"
    "Debian 12, without rsyslog, has it) or a file (a syslog file, or\n"
    "Postfix's own maillog_file) — and attributes every delivery result to\n"
    "the account whose message it was, through the store's queue map:\n"
    "  status=sent      delivered + 1 for the recipient\n"
    "  status=bounced   bounced + 1 for the recipient\n"
    "  status=deferred  deferred + 1 (each attempt)\n"
    "  status=expired   the recipients still pending are bounced\n"
    "  removed          the queue map entry is forgotten\n"
    "A reject or milter-reject at END-OF-MESSAGE, or a header or body rule in\n"
    "cleanup, means the message was refused after the policy service counted\n"
    "it: its recipients are given back to the workspace's limits.\n"
    "\n"
    "Each batch of lines is counted in one transaction with the position\n"
    "after it, so a restart neither skips nor repeats a line. Rotation by\n"
    "rename (FILE.1) or copytruncate is followed, also across a restart.\n"
    "Malformed lines are counted (migoctl stats) and logged, never fatal.\n"
    "\n"
    "Only Postfix's lines count: those whose program tag (before the line's\n"
    "first \": \") is NAME[pid] or NAME/...[pid] for a --syslog-name. Text\n"
    "other programs log, ours included, can quote what SMTP clients sent.\n"
    "In the journal, an entry counts only if journald also saw it written by\n"
    "a program in --postfix-daemon-directory running as root or\n"
    "--postfix-user, fields no writer can choose: so a local user's\n"
    "postlog(1) or logger(1) line with a Postfix tag moves nothing (counted\n"
    "as journal.untrusted). The journal position (its cursor) is committed\n"
    "with each batch's counts. Reading the system journal needs the group\n"
    "adm or systemd-journal.\n",
    {{"SIGNALS",
      "  SIGTERM, SIGINT  finish the batch in hand and exit\n"
      "  SIGHUP           reopen the log from the stored position\n"},
     {"EXIT STATUS",
      "0 after a clean stop (or --once done); 1 on a start-up error; 2 on a\n"
      "usage error; 75 when --once could not reach the store (try again).\n"}},
    "migoctl(8), migo-policyd(8), migo-milter(8), postconf(5)",
};

volatile std::sig_atomic_t g_stop = 0, g_reopen = 0;
void on_stop(int) { g_stop = 1; }
void on_hup(int) { g_reopen = 1; }

std::string summary(const FollowTotals& t) {
  return "lines=" + std::to_string(t.lines) + " attributed=" + std::to_string(t.attributed) +
         " unattributed=" + std::to_string(t.unattributed) + " malformed=" + std::to_string(t.malformed) +
         " refunded=" + std::to_string(t.refunded);
}

}  // namespace

int statd_main(int argc, char** argv) {
  std::string db, user, log_path, journal_namespace, postfix_user = "postfix",
                           daemon_directory = "/usr/lib/postfix/sbin";
  bool use_journal = false;
  bool foreground = false, once = false;
  long interval = 1;
  std::vector<std::string> syslog_names;
  long retention_days = 30;
  const std::vector<ProgramOption> opts = {
      {"journal", "", "follow the systemd journal (the default without --log)",
       set_flag(&use_journal)},
      {"log", "FILE", "follow this file instead of the journal, e.g.\n/var/log/mail.log (rsyslog) or Postfix's maillog_file",
       store_value(&log_path)},
      {"journal-namespace", "NS", "a journald namespace's journal instead of the system's", store_value(&journal_namespace)},
      {"postfix-user", "USER", "Postfix's mail_owner, whose journal entries count\n(default postfix; root's count too)",
       store_value(&postfix_user)},
      {"postfix-daemon-directory", "DIR",
       "Postfix's daemon_directory, whose programs' journal\nentries count (default /usr/lib/postfix/sbin)",
       store_value(&daemon_directory)},
      {"db", "PATH", "the store (default: $MIGO_DB, else /var/lib/migo)", store_value(&db)},
      {"user", "USER", "when started as root: open the store, then run as\nUSER (required when started as root, except --once)",
       store_value(&user)},
      {"interval", "SECONDS", "how often to look for new lines (1 to 3600; default 1)",
       [&](const std::string& v) -> Status {
         if (!whole_number(v, 1, 3600, &interval)) return {Code::invalid, "--interval takes 1 to 3600 seconds"};
         return {};
       }},
      {"retention", "DAYS",
       "forget queue map entries and report keys after DAYS\n"
       "(default 30; 0 keeps them): queue entries Postfix\n"
       "never logged \"removed\" for, and what bounces and\n"
       "complaints are checked against (a report about an\n"
       "older message counts nothing). Pruned a little\n"
       "with each batch of lines.",
       [&](const std::string& v) -> Status {
         if (!whole_number(v, 0, 3650, &retention_days)) return {Code::invalid, "--retention takes 0 to 3650 days"};
         return {};
       }},
      {"syslog-name", "NAME",
       "a Postfix instance's syslog_name whose lines count\n"
       "(default postfix; repeat for each instance, e.g.\n"
       "--syslog-name postfix --syslog-name postfix-out)",
       [&](const std::string& v) -> Status {
         if (v.empty() || v.find_first_of("/[]: ") != std::string::npos)
           return {Code::invalid, "--syslog-name takes a name such as postfix (no '/', '[', ']', ':' or space)"};
         syslog_names.push_back(v);
         return {};
       }},
      {"once", "", "read what is there now from the stored position,\ncount it and exit (for cron, or a file by hand)",
       set_flag(&once)},
      {"foreground", "", "log to standard error as well as syslog", set_flag(&foreground)},
  };
  if (int rc = parse_command_line(argc, argv, kDoc, opts); rc >= 0) return rc;
  if (use_journal && !log_path.empty()) {
    std::cerr << "migo-statd: --journal and --log exclude each other\nTry 'migo-statd --help'.\n";
    return 2;
  }
  use_journal = log_path.empty();
  db = store_path(db);
  DaemonLog log("migo-statd", foreground || once);
  auto fatal = [&](const std::string& msg, int rc = 1) {
    log(LOG_ERR, msg);
    if (!foreground && !once) std::cerr << "migo-statd: " << msg << "\n";
    return rc;
  };
  if (geteuid() == 0 && user.empty() && !once)
    return fatal("refusing to run as root: give --user (e.g. --user migo-statd)");
  // Whose journal entries are Postfix's: root (master, local, pipe) and the
  // mail owner (every other daemon).
  std::vector<uint32_t> trusted_uids = {0};
  if (use_journal) {
    const passwd* pw = getpwnam(postfix_user.c_str());
    if (!pw) return fatal("--postfix-user " + postfix_user + ": no such user");
    trusted_uids.push_back(pw->pw_uid);
  }
  auto store = Store::open(db, {});
  if (!store.ok()) return fatal("cannot open store: " + store.status().message(), once ? 75 : 1);
  if (geteuid() == 0 && !user.empty())
    if (Status s = drop_privileges(user); !s.ok()) return fatal(s.message());

  FollowerOptions options;
  options.path = log_path;
  if (!syslog_names.empty()) options.syslog_names = syslog_names;
  options.retention_seconds = retention_days * 86400;
  options.log = [&log](int prio, const std::string& line) { log(prio, line); };
  // The source: a file, or the journal (opened again after a failure).
  std::optional<Follower> file;
  std::unique_ptr<JournalFollower> journal;
  JournalOptions jopt;
  if (use_journal) {
    log_path = "the journal" + (journal_namespace.empty() ? std::string() : " (namespace " + journal_namespace + ")");
    jopt.counting = options;
    jopt.journal_namespace = journal_namespace;
    jopt.daemon_directory = daemon_directory;
    jopt.trusted_uids = trusted_uids;
  } else {
    file.emplace(**store, options);
  }
  struct Source {
    std::function<Status(FollowTotals*)> poll;
    std::function<void()> reopen;
  } follower{[&](FollowTotals* t) -> Status {
               if (file) return file->poll(t);
               if (!journal) {
                 auto j = JournalFollower::open(**store, jopt);
                 if (!j.ok()) return j.status();
                 journal = std::move(*j);
               }
               Status s = journal->poll(t);
               if (!s.ok()) journal.reset();
               return s;
             },
             [&] {
               if (file) file->reopen();
               else journal.reset();
             }};

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
