// follower.cc — see follower.h.
#include "follower.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "logline.h"
#include "migo/accounting.h"
#include "migo/credentials.h"
#include "migo/outcomes.h"

namespace migo {
namespace {

Status errno_status(const std::string& what) { return {Code::unavailable, what + ": " + strerror(errno)}; }

}  // namespace

void FollowTotals::add(const FollowTotals& o) {
  lines += o.lines;
  malformed += o.malformed;
  attributed += o.attributed;
  unattributed += o.unattributed;
  refunded += o.refunded;
  sasl_failures += o.sasl_failures;
}

std::string log_fingerprint(int fd) {
  char buf[4096];
  ssize_t n = pread(fd, buf, sizeof buf, 0);
  if (n <= 0) return "";
  std::string_view head(buf, static_cast<size_t>(n));
  size_t nl = head.find('\n');
  // A first line longer than the buffer: its first 4 KiB identify it well enough.
  if (nl == std::string_view::npos && n < static_cast<ssize_t>(sizeof buf)) return "";
  return sha256(head.substr(0, nl == std::string_view::npos ? head.size() : nl + 1));
}

Follower::Follower(Store& store, FollowerOptions options) : store_(store), opt_(std::move(options)) {
  opt_.path = std::filesystem::absolute(opt_.path).lexically_normal().string();
  if (!opt_.clock) opt_.clock = [] { return static_cast<int64_t>(time(nullptr)); };
}

Follower::~Follower() {
  if (fd_ >= 0) close(fd_);
}

void Follower::note(int priority, const std::string& line) const {
  if (opt_.log) opt_.log(priority, line);
}

void Follower::reopen() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  draining_rotated_ = false;
}

Status Follower::open_file() {
  FollowPosition pos;
  bool have_pos = false;
  MIGO_TRY(store_.read([&](const ReadTxn& t) {
    auto p = t.follow_position(opt_.path);
    if (p.ok()) {
      pos = *p;
      have_pos = true;
      return Status();
    }
    return p.status().code() == Code::not_found ? Status() : p.status();
  }));
  int fd = open(opt_.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      if (!waiting_logged_) note(LOG_INFO, "waiting for " + opt_.path + " to appear");
      waiting_logged_ = true;
      return {};
    }
    return errno_status("open " + opt_.path);
  }
  waiting_logged_ = false;
  struct stat st;
  fstat(fd, &st);
  auto same_file = [&](int f, const struct stat& s) {
    return have_pos && s.st_ino == pos.inode && (pos.fingerprint.empty() || log_fingerprint(f) == pos.fingerprint);
  };
  if (have_pos && !same_file(fd, st)) {
    // Rotated while we were not looking: finish the old file first.
    std::string rotated = opt_.path + ".1";
    int old = open(rotated.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat ost;
    if (old >= 0 && fstat(old, &ost) == 0 && same_file(old, ost)) {
      note(LOG_INFO, "finishing rotated " + rotated + " from offset " + std::to_string(pos.offset));
      close(fd);
      fd_ = old;
      inode_ = ost.st_ino;
      offset_ = std::min<uint64_t>(pos.offset, static_cast<uint64_t>(ost.st_size));
      fingerprint_ = pos.fingerprint;
      draining_rotated_ = true;
      return {};
    }
    if (old >= 0) close(old);
    if (pos.offset > 0)
      note(LOG_WARNING, opt_.path + " is not the file last read (inode " + std::to_string(pos.inode) +
                            ") and " + rotated + " is not it either: lines after offset " +
                            std::to_string(pos.offset) + " of that file are not counted");
    have_pos = false;
  }
  fd_ = fd;
  inode_ = st.st_ino;
  offset_ = have_pos ? pos.offset : 0;
  if (offset_ > static_cast<uint64_t>(st.st_size)) {
    note(LOG_INFO, opt_.path + " was truncated: reading it from the start");
    offset_ = 0;
  }
  fingerprint_ = log_fingerprint(fd_);
  return {};
}

Status Follower::open_from_start() {
  if (fd_ >= 0) close(fd_);
  fd_ = open(opt_.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) return errno == ENOENT ? Status() : errno_status("open " + opt_.path);  // mid-rotation
  struct stat st;
  fstat(fd_, &st);
  inode_ = st.st_ino;
  offset_ = 0;
  fingerprint_ = log_fingerprint(fd_);
  return {};
}

Status Follower::poll(FollowTotals* totals) {
  FollowTotals local;
  if (!totals) totals = &local;
  for (int rounds = 0; rounds < 4; rounds++) {  // at most a rotation or two per call
    if (fd_ < 0) {
      MIGO_TRY(open_file());
      if (fd_ < 0) return {};  // no file yet
    }
    MIGO_TRY(read_batches(totals));
    if (draining_rotated_) {  // the old generation is done: now the new file
      note(LOG_INFO, "finished rotated " + opt_.path + ".1; now reading " + opt_.path);
      draining_rotated_ = false;
      MIGO_TRY(open_from_start());
      continue;
    }
    struct stat st;
    if (stat(opt_.path.c_str(), &st) != 0) return {};  // mid-rotation: next time
    if (st.st_ino != inode_) {
      // Rotated under us. Anything the writer added to the old file before
      // it reopened has been read above; now the new file from its start.
      MIGO_TRY(read_batches(totals));
      note(LOG_INFO, opt_.path + " was rotated; reading the new file from the start");
      MIGO_TRY(open_from_start());
      continue;
    }
    if (static_cast<uint64_t>(st.st_size) < offset_) {
      note(LOG_INFO, opt_.path + " was truncated: reading it from the start");
      offset_ = 0;
      fingerprint_ = log_fingerprint(fd_);
      continue;
    }
    return {};
  }
  return {};
}

Status Follower::read_batches(FollowTotals* totals) {
  std::string buf;
  size_t want = opt_.batch_bytes;
  for (;;) {
    buf.resize(want);
    ssize_t n = pread(fd_, buf.data(), buf.size(), static_cast<off_t>(offset_));
    if (n < 0) return errno_status("read " + opt_.path);
    buf.resize(static_cast<size_t>(n));
    size_t last_nl = buf.rfind('\n');
    if (last_nl == std::string::npos) {
      if (buf.size() < want) return {};  // only a partial line: wait for the rest
      if (want <= kMaxLogLine) {  // one line longer than a batch: look further
        want = kMaxLogLine + 1;
        continue;
      }
      // Longer than any log line may be: skip this much of it, malformed.
      MIGO_TRY(commit_batch({}, offset_ + buf.size(), totals, 1));
      want = opt_.batch_bytes;
      continue;
    }
    if (fingerprint_.empty()) fingerprint_ = log_fingerprint(fd_);
    MIGO_TRY(commit_batch(std::string_view(buf).substr(0, last_nl + 1), offset_ + last_nl + 1, totals));
    if (buf.size() < want) return {};
    want = opt_.batch_bytes;
  }
}

Status count_log_lines(WriteTxn& t, const FollowerOptions& opt, const std::vector<std::string_view>& lines,
                       const std::function<std::string(size_t)>& where, int64_t now, FollowTotals* batch,
                       std::vector<std::string>* notes) {
  for (size_t i = 0; i < lines.size(); i++) {
    batch->lines++;
    auto e = parse_log_line(lines[i], opt.syslog_names);
    if (!e.ok()) {
      batch->malformed++;
      if (batch->malformed <= opt.malformed_log_limit)
        notes->push_back(where(i) + ": malformed line: " + e.status().message());
      continue;
    }
    Result<Attribution> a = Attribution::unattributed;
    switch (e->kind) {
      case LogEvent::Kind::ignored: continue;
      case LogEvent::Kind::sasl_failure: batch->sasl_failures++; continue;
      case LogEvent::Kind::delivery: a = record_delivery(t, e->queue_id, e->recipient, e->status, now); break;
      case LogEvent::Kind::expired: a = record_expired(t, e->queue_id, now); break;
      case LogEvent::Kind::removed: MIGO_TRY(record_removed(t, e->queue_id)); continue;
      case LogEvent::Kind::refused: {
        uint32_t refunded = 0;
        MIGO_TRY(refund_recipients(t, e->queue_id, &refunded));
        if (refunded) batch->refunded++;
        continue;
      }
    }
    if (!a.ok()) return a.status();
    if (*a == Attribution::unattributed) batch->unattributed++;
    else batch->attributed++;
  }
  if (batch->malformed > opt.malformed_log_limit)
    notes->push_back(opt.path + ": " + std::to_string(batch->malformed - opt.malformed_log_limit) +
                     " more malformed lines in this batch not shown");
  MIGO_TRY(t.add_counter(kLogLines, batch->lines));
  MIGO_TRY(t.add_counter(kLogMalformed, batch->malformed));
  MIGO_TRY(t.add_counter(kLogAttributed, batch->attributed));
  MIGO_TRY(t.add_counter(kLogUnattributed, batch->unattributed));
  MIGO_TRY(t.add_counter(kLogRefunded, batch->refunded));
  MIGO_TRY(t.add_counter(kSaslFailures, batch->sasl_failures));
  // Retention, a little at a time with each batch: queue entries Postfix
  // never said "removed" for, and report keys past any late report.
  if (opt.retention_seconds > 0) {
    // Each line adds at most a few keys to age out (a queue entry, a
    // delivered marker): pruning a few per line keeps pace with any rate.
    auto pruned = t.prune_expired(now - opt.retention_seconds, opt.prune_per_batch + 4 * batch->lines);
    if (!pruned.ok()) return pruned.status();
    MIGO_TRY(t.add_counter(kRetentionQueue, pruned->queue));
    MIGO_TRY(t.add_counter(kRetentionReports, pruned->reports));
  }
  return {};
}

Status Follower::commit_batch(std::string_view lines, uint64_t end_offset, FollowTotals* totals,
                              uint64_t oversized) {
  const int64_t now = opt_.clock();
  std::vector<std::string_view> each;
  std::vector<uint64_t> offsets;
  for (size_t at = 0, off = offset_; at < lines.size();) {
    size_t nl = lines.find('\n', at);
    each.push_back(lines.substr(at, nl - at));
    offsets.push_back(off);
    off += nl - at + 1;
    at = nl + 1;
  }
  FollowTotals batch;
  std::vector<std::string> notes;
  Status s = store_.write([&](WriteTxn& t) -> Status {
    batch = {};  // the callback may run again when the map grows
    notes.clear();
    if (oversized) {
      batch.lines = batch.malformed = oversized;
      notes.push_back(opt_.path + " offset " + std::to_string(offset_) +
                      ": malformed line: longer than " + std::to_string(kMaxLogLine) + " bytes, skipped");
    }
    MIGO_TRY(count_log_lines(
        t, opt_, each, [&](size_t i) { return opt_.path + " offset " + std::to_string(offsets[i]); }, now, &batch,
        &notes));
    return t.put_follow_position(opt_.path, FollowPosition{inode_, end_offset, fingerprint_, now});
  });
  if (!s.ok()) return s;
  offset_ = end_offset;
  totals->add(batch);
  for (const auto& n : notes) note(LOG_WARNING, n);
  return {};
}

}  // namespace migo
