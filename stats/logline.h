// logline.h — the Postfix log lines the statistics follower acts on.
//
// Postfix writes one line per event, through syslog or its own postlogd
// (maillog_file); both start with a time stamp and a host name, then
//   <syslog_name>/<service>[<pid>]: <queue id>: <text>
//
// Whose line it is. A mail log holds other programs' lines too (ours among
// them), and some of those quote what an SMTP client sent. Only the program
// tag in the line's header says who wrote it: the tag is what stands before
// the line's FIRST ": " (a time stamp and a host name contain none), and it
// must be `NAME[pid]` or `NAME/…[pid]` for one of the configured syslog
// names. A Postfix-shaped tag anywhere later in the line is client text and
// moves nothing. (Any local user can still write Postfix-tagged lines
// through syslog or postlog(1): the log is evidence only against remote
// clients; see docs/security.md.)
// Only these texts matter here (everything else is ignored, not an error):
//   to=<rcpt>, [orig_to=<..>,] relay=.., …, dsn=X.Y.Z, status=sent|bounced|deferred (…)
//   from=<sender>, status=expired, returned to sender        (qmgr)
//   removed                                                  (qmgr)
//   reject: / milter-reject: at END-OF-MESSAGE or DATA, or a header/body
//   rule in cleanup: the whole message was refused after the policy
//   daemon counted it, so the count is refunded by queue id.
//   warning: HOST[ADDR]: SASL MECH authentication failed…      (smtpd)
//   a failed AUTH, counted (metrics) and nothing else: the mechanism is
//   kept (a short upper-case word), never the client's name.
// A line that has the shape of one of these but is damaged (an unterminated
// address, a missing or unknown status, a NUL byte, an absurd length) is
// malformed: Code::invalid with the reason.
//
// The parse is structured left to right, so text a remote server put in
// the parenthesised reply, or a quoted recipient that contains ", status=",
// cannot change what is counted.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "migo/outcomes.h"
#include "migo/status.h"

namespace migo {

inline constexpr size_t kMaxLogLine = 64 * 1024;

struct LogEvent {
  enum class Kind { ignored, delivery, expired, removed, refused, sasl_failure };
  Kind kind = Kind::ignored;
  std::string queue_id;
  std::string recipient;  // delivery: as Postfix logged it, without <>
  Delivery status = Delivery::sent;
  std::string dsn;        // delivery: the enhanced status code, informative
  std::string mechanism;  // sasl_failure: PLAIN, LOGIN, SCRAM-SHA-256, ...
};

// Postfix's syslog_name: "postfix" unless an instance was given another
// (multi-instance set-ups use e.g. "postfix-out").
const std::vector<std::string>& default_syslog_names();

// `syslog_names`: the tags that are Postfix's; each NAME accepts NAME and
// NAME/anything (postfix/smtpd, postfix/submission/smtpd).
Result<LogEvent> parse_log_line(std::string_view line,
                                const std::vector<std::string>& syslog_names = default_syslog_names());

// True when `tag` (as before "[pid]") is NAME or NAME/… for one of `names`.
bool is_postfix_tag(std::string_view tag, const std::vector<std::string>& names);

// One line of text for golden files and logs: "delivery qid=… rcpt=<…> status=… dsn=…".
std::string describe(const LogEvent& e);

}  // namespace migo
