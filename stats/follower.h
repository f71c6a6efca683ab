// follower.h — follows one Postfix log file and counts what it says.
//
// Every batch of complete lines is counted in ONE store transaction together
// with the position just after them (the `follow` table, keyed by the log's
// path). A crash or restart therefore resumes exactly where the last commit
// ended: no line is skipped, none is counted twice.
//
// Rotation. The position holds the file's inode and a fingerprint (SHA-256
// of its first line), so a restart recognises the file it was reading:
//  - same file: continue at the offset (a file now shorter than the offset
//    was truncated, as logrotate's copytruncate does: start again at 0);
//  - the file was renamed while we were down: it is found as PATH.1
//    (logrotate's first generation, uncompressed with delaycompress) and
//    read to its end first, then PATH from the start;
//  - neither: PATH from the start, with a warning that lines may be lost.
// While running, a new inode at PATH means rotation: the old file is read to
// its end, then the new one from the start.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "logline.h"
#include "migo/store.h"

namespace migo {

// Counter (a gauge): Unix time since when migo-statd cannot read its log, 0
// while it can. Set by migo-statd, read by `migoctl stats`.
inline constexpr const char* kStatdFailingSince = "statd.failing_since";

// The store's counters migo-statd adds to (`migoctl stats` shows them and
// `migoctl metrics` exports them under these names).
inline constexpr const char* kLogLines = "log.lines";
inline constexpr const char* kLogMalformed = "log.malformed";
inline constexpr const char* kLogAttributed = "log.attributed";
inline constexpr const char* kLogUnattributed = "log.unattributed";
inline constexpr const char* kLogRefunded = "log.refunded";
inline constexpr const char* kSaslFailures = "sasl.failures";
inline constexpr const char* kJournalUntrusted = "journal.untrusted";
inline constexpr const char* kRetentionQueue = "retention.queue";
inline constexpr const char* kRetentionReports = "retention.reports";

struct FollowerOptions {
  std::string path;                            // the log file, made absolute
  std::vector<std::string> syslog_names = default_syslog_names();  // whose lines count (logline.h)
  std::function<int64_t()> clock;              // Unix time (default: time())
  std::function<void(int, const std::string&)> log;  // syslog priority, line
  size_t batch_bytes = 1 << 20;                // lines per transaction, at most
  unsigned malformed_log_limit = 20;           // malformed lines logged per batch
  // Queue entries and report keys older than this are forgotten, at most
  // prune_per_batch + 4 per line index keys per batch (0: never). Default 30 days: far
  // past Postfix's maximal_queue_lifetime (5 days) and the late bounces and
  // complaints receivers still send.
  int64_t retention_seconds = 30 * 86400;
  size_t prune_per_batch = 512;
};

// What one poll() counted (also added to the store's `counters`).
struct FollowTotals {
  uint64_t lines = 0;
  uint64_t malformed = 0;
  uint64_t attributed = 0;    // outcomes counted against an account
  uint64_t unattributed = 0;  // outcomes for queue ids not in the queue map
  uint64_t refunded = 0;      // messages refused after the policy counted them
  uint64_t sasl_failures = 0; // failed AUTHs smtpd logged
  void add(const FollowTotals& o);
};

class Follower {
 public:
  Follower(Store& store, FollowerOptions options);
  ~Follower();
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

  // Reads and counts everything there is to read now, through a rotation if
  // there was one. An error leaves the position where the last commit put
  // it; the next poll() retries from there.
  Status poll(FollowTotals* totals = nullptr);
  // Forgets the open file (SIGHUP): the next poll() finds it again from the
  // stored position.
  void reopen();

 private:
  Status open_file();
  // PATH from offset 0 (after a rotation); no file yet is not an error.
  Status open_from_start();
  Status read_batches(FollowTotals* totals);
  // Counts `lines` (complete lines) and moves the position to end_offset;
  // `oversized` counts that many skipped, over-long lines as malformed.
  Status commit_batch(std::string_view lines, uint64_t end_offset, FollowTotals* totals, uint64_t oversized = 0);
  void note(int priority, const std::string& line) const;

  Store& store_;
  FollowerOptions opt_;
  int fd_ = -1;
  uint64_t inode_ = 0;
  uint64_t offset_ = 0;
  std::string fingerprint_;
  bool draining_rotated_ = false;  // reading PATH.1 before PATH
  bool waiting_logged_ = false;
};

// Counts one batch of Postfix's log lines in `t` — what each says, the
// counters and a little retention — for the file follower and the journal
// follower alike. `where(i)` names line i in a note about a malformed line.
Status count_log_lines(WriteTxn& t, const FollowerOptions& opt, const std::vector<std::string_view>& lines,
                       const std::function<std::string(size_t)>& where, int64_t now, FollowTotals* batch,
                       std::vector<std::string>* notes);

// SHA-256 of the first line of the open file (empty while it has none).
std::string log_fingerprint(int fd);

}  // namespace migo
