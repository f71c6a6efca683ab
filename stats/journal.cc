// journal.cc — see journal.h.
#include "journal.h"

#include <syslog.h>
#include <systemd/sd-journal.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "logline.h"

namespace migo {
namespace {

Status journal_error(const std::string& what, int r) {
  return {Code::unavailable, "journal: " + what + ": " + std::strerror(-r)};
}

// One field's value ("NAME=value" in the journal), or empty.
std::string_view field(sd_journal* j, const char* name) {
  const void* data = nullptr;
  size_t len = 0;
  if (sd_journal_get_data(j, name, &data, &len) < 0) return {};
  std::string_view all(static_cast<const char*>(data), len);
  size_t eq = all.find('=');
  return eq == std::string_view::npos ? std::string_view() : all.substr(eq + 1);
}

}  // namespace

std::string journal_line(std::string_view identifier, std::string_view pid, std::string_view message) {
  if (message.size() > kMaxLogLine) message = message.substr(0, kMaxLogLine);
  std::string out;
  out.reserve(identifier.size() + pid.size() + message.size() + 4);
  out.append(identifier).append("[").append(pid).append("]: ");
  for (char c : message) out += (c == '\n' || c == '\r') ? ' ' : c;
  return out;
}

bool journal_entry_trusted(std::string_view exe, std::string_view uid, const JournalOptions& options) {
  const std::string dir = options.daemon_directory + "/";
  if (exe.size() <= dir.size() || exe.substr(0, dir.size()) != dir ||
      exe.find('/', dir.size()) != std::string_view::npos)
    return false;
  uint32_t n = 0;
  auto [p, ec] = std::from_chars(uid.data(), uid.data() + uid.size(), n);
  if (ec != std::errc() || p != uid.data() + uid.size() || uid.empty()) return false;
  for (uint32_t u : options.trusted_uids)
    if (u == n) return true;
  return false;
}

struct JournalFollower::Impl {
  Store* store = nullptr;
  JournalOptions opt;
  sd_journal* j = nullptr;
  std::string key;
  bool positioned = false;
  ~Impl() {
    if (j) sd_journal_close(j);
  }
  void note(int priority, const std::string& line) const {
    if (opt.counting.log) opt.counting.log(priority, line);
  }

  // At the stored cursor (the next entry is the first not counted), or at
  // the head of the journal the first time.
  Status position() {
    FollowPosition pos;
    bool have = false;
    MIGO_TRY(store->read([&](const ReadTxn& t) -> Status {
      auto p = t.follow_position(key);
      if (!p.ok()) return p.status().code() == Code::not_found ? Status() : p.status();
      pos = *p;
      have = true;
      return {};
    }));
    if (!have || pos.fingerprint.empty()) {
      if (int r = sd_journal_seek_head(j); r < 0) return journal_error("seek to the head", r);
      positioned = true;
      return {};
    }
    if (int r = sd_journal_seek_cursor(j, pos.fingerprint.c_str()); r < 0) return journal_error("seek to the cursor", r);
    int r = sd_journal_next(j);
    if (r < 0) return journal_error("read", r);
    if (r > 0 && sd_journal_test_cursor(j, pos.fingerprint.c_str()) <= 0) {
      // The entry we stopped after is gone (vacuumed): we are at the next
      // one there is, which is not counted yet; step back before it.
      note(LOG_WARNING, "journal: the stored position is no longer in the journal (vacuumed?): continuing at "
                        "the oldest entry after it; entries between may be lost");
      sd_journal_previous(j);
    }
    positioned = true;
    return {};
  }
};

JournalFollower::JournalFollower(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JournalFollower::~JournalFollower() = default;

std::string JournalFollower::position_key(const std::string& journal_namespace) {
  return "journal:" + journal_namespace;
}

Result<std::unique_ptr<JournalFollower>> JournalFollower::open(Store& store, JournalOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->store = &store;
  impl->opt = std::move(options);
  impl->key = position_key(impl->opt.journal_namespace);
  if (!impl->opt.counting.clock) impl->opt.counting.clock = [] { return static_cast<int64_t>(time(nullptr)); };
  impl->opt.counting.path = "journal" + (impl->opt.journal_namespace.empty() ? "" : " " + impl->opt.journal_namespace);
  // The system journal only: a user's own journal files hold what that
  // user's processes wrote, never Postfix's daemons.
  int r = impl->opt.journal_namespace.empty()
              ? sd_journal_open(&impl->j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM)
              : sd_journal_open_namespace(&impl->j, impl->opt.journal_namespace.c_str(), SD_JOURNAL_LOCAL_ONLY);
  if (r < 0) return journal_error("open", r);
  // Postfix logs with facility mail (syslog_facility); nothing else can
  // be Postfix's delivery line.
  if ((r = sd_journal_add_match(impl->j, "SYSLOG_FACILITY=2", 0)) < 0) return journal_error("match", r);
  return std::unique_ptr<JournalFollower>(new JournalFollower(std::move(impl)));
}

Status JournalFollower::poll(FollowTotals* totals) {
  FollowTotals local;
  if (!totals) totals = &local;
  Impl& m = *impl_;
  if (!m.positioned) MIGO_TRY(m.position());
  for (;;) {
    std::vector<std::string> lines;
    uint64_t untrusted = 0;
    std::string untrusted_example, cursor;
    bool at_end = false;
    for (size_t n = 0; n < m.opt.batch_entries; n++) {
      // At the end, the journal stays at its last entry: the next call
      // after new entries arrive reads the first of them.
      int r = sd_journal_next(m.j);
      if (r < 0) return journal_error("read", r);
      if (r == 0) {
        at_end = true;
        break;
      }
      char* c = nullptr;
      if ((r = sd_journal_get_cursor(m.j, &c)) < 0) return journal_error("cursor", r);
      cursor = c;
      free(c);
      std::string_view ident = field(m.j, "SYSLOG_IDENTIFIER");
      if (!is_postfix_tag(ident, m.opt.counting.syslog_names)) continue;
      std::string_view exe = field(m.j, "_EXE"), uid = field(m.j, "_UID");
      if (!journal_entry_trusted(exe, uid, m.opt)) {
        if (untrusted++ == 0)
          untrusted_example = std::string(ident) + " from " + (exe.empty() ? "?" : std::string(exe)) + " uid " +
                              (uid.empty() ? "?" : std::string(uid));
        continue;
      }
      std::string_view pid = field(m.j, "SYSLOG_PID");
      if (pid.empty()) pid = field(m.j, "_PID");
      lines.push_back(journal_line(ident, pid, field(m.j, "MESSAGE")));
    }
    if (cursor.empty()) return {};  // nothing new
    const int64_t now = m.opt.counting.clock();
    std::vector<std::string_view> views(lines.begin(), lines.end());
    FollowTotals batch;
    std::vector<std::string> notes;
    Status s = m.store->write([&](WriteTxn& t) -> Status {
      batch = {};
      notes.clear();
      MIGO_TRY(count_log_lines(
          t, m.opt.counting, views, [&](size_t i) { return "journal entry " + std::to_string(i) + " of a batch"; }, now,
          &batch, &notes));
      if (untrusted) MIGO_TRY(t.add_counter(kJournalUntrusted, untrusted));
      return t.put_follow_position(m.key, FollowPosition{0, 0, cursor, now});
    });
    if (!s.ok()) {
      // Back to the stored cursor: the next poll reads this batch again.
      m.positioned = false;
      return s;
    }
    totals->add(batch);
    for (const auto& n : notes) m.note(LOG_WARNING, n);
    if (untrusted)
      m.note(LOG_WARNING, "journal: " + std::to_string(untrusted) + " entries with a Postfix tag not written by "
                          "Postfix ignored (e.g. " + untrusted_example + ")");
    if (at_end) return {};
  }
}

}  // namespace migo
