// journal.h — follows Postfix's lines in the systemd journal, where a stock
// Debian 12 (no rsyslog) has them, and counts them as the file follower
// does (count_log_lines): each batch in ONE store transaction together with
// the journal cursor after it (the `follow` table, key "journal:" and the
// namespace), so a restart neither skips nor repeats an entry.
//
// Whose line it is — stronger than a file can say. A syslog file shows only
// the program tag a writer chose; the journal adds fields the writer cannot
// choose (_EXE, _UID: journald reads them from the kernel). An entry counts
// only when its SYSLOG_IDENTIFIER is a Postfix tag (NAME or NAME/...) AND it
// was written by a program in Postfix's daemon directory running as root or
// as Postfix's mail owner. So a local user's postlog(1) or logger(1) line,
// or a Postfix daemon started by hand as someone else, moves nothing: such
// entries are counted as "journal.untrusted" and otherwise ignored.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "follower.h"

namespace migo {

struct JournalOptions {
  FollowerOptions counting;     // syslog names, clock, log, retention (path unused)
  std::string journal_namespace;  // "" for the system journal (journald namespaces: tests)
  std::string daemon_directory = "/usr/lib/postfix/sbin";  // Postfix's daemon_directory
  std::vector<uint32_t> trusted_uids;  // root and Postfix's mail_owner (statd_main fills them)
  size_t batch_entries = 2000;         // entries per transaction, at most
};

class JournalFollower {
 public:
  static Result<std::unique_ptr<JournalFollower>> open(Store& store, JournalOptions options);
  ~JournalFollower();
  JournalFollower(const JournalFollower&) = delete;
  JournalFollower& operator=(const JournalFollower&) = delete;

  // Counts every entry there is now after the stored cursor.
  Status poll(FollowTotals* totals = nullptr);

  // The follow table's key for this journal.
  static std::string position_key(const std::string& journal_namespace);

  struct Impl;

 private:
  explicit JournalFollower(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The line count_log_lines reads for one journal entry: "IDENT[PID]: MESSAGE"
// (the message cut at kMaxLogLine; a newline in it is a space).
std::string journal_line(std::string_view identifier, std::string_view pid, std::string_view message);

// Whether an entry with these trusted fields is Postfix's (see above).
bool journal_entry_trusted(std::string_view exe, std::string_view uid, const JournalOptions& options);

}  // namespace migo
