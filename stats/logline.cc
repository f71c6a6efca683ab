// logline.cc — see logline.h.
#include "logline.h"

namespace migo {
namespace {

bool is_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// The message part after the line's program tag, or npos when the tag is
// not Postfix's. See logline.h: the tag ends at the FIRST ": " — never a
// later one, which would be text some program quoted.
size_t message_start(std::string_view line, const std::vector<std::string>& names) {
  size_t p = line.find(": ");
  if (p == std::string_view::npos || p == 0 || line[p - 1] != ']') return std::string_view::npos;
  size_t tok = line.rfind(' ', p);
  tok = tok == std::string_view::npos ? 0 : tok + 1;
  std::string_view t = line.substr(tok, p - 1 - tok);  // name/service[pid
  size_t open = t.find('[');
  if (open == std::string_view::npos || open + 1 == t.size()) return std::string_view::npos;
  for (char c : t.substr(open + 1))
    if (c < '0' || c > '9') return std::string_view::npos;
  if (!is_postfix_tag(t.substr(0, open), names)) return std::string_view::npos;
  return p + 2;
}

// A `name=value` list as Postfix writes it: ", " between items; values in
// <> may hold quoted strings with anything inside. Reads one item.
struct Fields {
  std::string_view rest;
  std::string error;

  // Reads "name=" and returns the name, or empty at the end / on error.
  std::string_view name() {
    size_t eq = rest.find('=');
    if (eq == std::string_view::npos || eq == 0) return {};
    std::string_view n = rest.substr(0, eq);
    for (char c : n)
      if (!(is_alnum(c) || c == '_')) return {};
    rest.remove_prefix(eq + 1);
    return n;
  }
  // A <…> value; false (with error) when unterminated.
  bool angle(std::string* out) {
    if (rest.empty() || rest.front() != '<') return fail("address does not start with <");
    bool quoted = false;
    for (size_t i = 1; i < rest.size(); i++) {
      char c = rest[i];
      if (quoted && c == '\\' && i + 1 < rest.size()) {
        i++;
        continue;
      }
      if (c == '"') quoted = !quoted;
      else if (c == '>' && !quoted) {
        *out = std::string(rest.substr(1, i - 1));
        rest.remove_prefix(i + 1);
        return true;
      }
    }
    return fail("unterminated <address>");
  }
  // A plain value: up to ", " or " (" or the end.
  std::string_view plain() {
    size_t end = std::min(rest.find(", "), rest.find(" ("));
    std::string_view v = rest.substr(0, end);
    rest.remove_prefix(v.size());
    return v;
  }
  // Consumes the ", " separator; false at the end (or " (" text).
  bool next() {
    if (!starts_with(rest, ", ")) return false;
    rest.remove_prefix(2);
    return true;
  }
  bool fail(std::string why) {
    error = std::move(why);
    return false;
  }
};

Status malformed(std::string why) { return {Code::invalid, std::move(why)}; }

// "to=<…>, …, status=…": one recipient's delivery.
Result<LogEvent> delivery_line(std::string_view qid, std::string_view text) {
  LogEvent e;
  e.kind = LogEvent::Kind::delivery;
  e.queue_id = qid;
  Fields f{text, {}};
  bool have_to = false;
  for (;;) {
    std::string_view n = f.name();
    if (n.empty()) return malformed("delivery line without status=");
    if (n == "to" || n == "orig_to") {
      std::string addr;
      if (!f.angle(&addr)) return malformed(f.error);
      if (n == "to") {
        e.recipient = std::move(addr);
        have_to = true;
      }
    } else if (n == "status") {
      std::string_view s = f.plain();
      if (!have_to) return malformed("status= before to=");
      if (s == "sent") e.status = Delivery::sent;
      else if (s == "bounced") e.status = Delivery::bounced;
      else if (s == "deferred") e.status = Delivery::deferred;
      else if (s == "deliverable" || s == "undeliverable" || s == "SOFTBOUNCE") return LogEvent{};  // probes
      else return malformed("unknown status '" + std::string(s.substr(0, 40)) + "'");
      // Whatever follows is the reply text: not ours to interpret.
      return e;
    } else if (n == "dsn") {
      e.dsn = f.plain();
    } else {
      f.plain();
    }
    if (!f.next()) return malformed("delivery line without status=");
  }
}

// "from=<…>, status=expired, returned to sender" (qmgr); other from= lines
// (size, nrcpt) are ignored.
Result<LogEvent> from_line(std::string_view qid, std::string_view text) {
  Fields f{text, {}};
  for (;;) {
    std::string_view n = f.name();
    if (n.empty()) return LogEvent{};
    if (n == "from") {
      std::string addr;
      if (!f.angle(&addr)) return malformed(f.error);
    } else if (n == "status") {
      if (f.plain() != "expired") return LogEvent{};
      LogEvent e;
      e.kind = LogEvent::Kind::expired;
      e.queue_id = qid;
      return e;
    } else {
      f.plain();
    }
    if (!f.next()) return LogEvent{};
  }
}

// "reject: <STAGE> from …" from smtpd, "reject: header …" from cleanup.
bool refuses_whole_message(std::string_view what) {
  for (std::string_view stage : {"END-OF-MESSAGE ", "DATA ", "header ", "body ", "mime-header ",
                                 "nested-header ", "content "})
    if (starts_with(what, stage)) return true;
  return false;
}

}  // namespace

const std::vector<std::string>& default_syslog_names() {
  static const std::vector<std::string> names{"postfix"};
  return names;
}

bool is_postfix_tag(std::string_view tag, const std::vector<std::string>& names) {
  for (const std::string& n : names) {
    if (n.empty() || !starts_with(tag, n)) continue;
    // "postfix/smtpd", not "postfix/" alone nor "postfixevil/smtpd".
    if (tag.size() == n.size() || (tag[n.size()] == '/' && tag.size() > n.size() + 1)) return true;
  }
  return false;
}

// smtpd's "HOST[ADDR]: SASL MECH authentication failed…", read strictly:
// anything else after "warning: " is ignored. HOST is the client's name as
// DNS gave it (hostile), so it is only skipped over, never kept.
LogEvent sasl_failure_line(std::string_view w) {
  size_t open = w.find('[');
  if (open == std::string_view::npos || open == 0) return LogEvent{};
  for (char c : w.substr(0, open))
    if (!(is_alnum(c) || c == '.' || c == '-' || c == '_')) return LogEvent{};
  size_t close = w.find("]: ", open);
  if (close == std::string_view::npos) return LogEvent{};
  for (char c : w.substr(open + 1, close - open - 1))
    if (!(is_alnum(c) || c == '.' || c == ':')) return LogEvent{};
  std::string_view rest = w.substr(close + 3);
  if (!starts_with(rest, "SASL ")) return LogEvent{};
  rest.remove_prefix(5);
  size_t sp = rest.find(' ');
  if (sp == std::string_view::npos || sp == 0 || sp > 32) return LogEvent{};
  std::string_view mech = rest.substr(0, sp);
  for (char c : mech)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return LogEvent{};
  if (!starts_with(rest.substr(sp), " authentication failed")) return LogEvent{};
  LogEvent e;
  e.kind = LogEvent::Kind::sasl_failure;
  e.mechanism = mech;
  return e;
}

Result<LogEvent> parse_log_line(std::string_view line, const std::vector<std::string>& syslog_names) {
  if (line.size() > kMaxLogLine) return malformed("line longer than " + std::to_string(kMaxLogLine) + " bytes");
  if (line.find('\0') != std::string_view::npos) return malformed("NUL byte in line");
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t at = message_start(line, syslog_names);
  if (at == std::string_view::npos) return LogEvent{};
  std::string_view msg = line.substr(at);
  if (starts_with(msg, "warning: ")) return sasl_failure_line(msg.substr(9));
  size_t q = 0;
  while (q < msg.size() && is_alnum(msg[q])) q++;
  if (q < 5 || q > 32 || msg.substr(q, 2) != ": ") return LogEvent{};  // NOQUEUE: too, via "removed" etc. below
  std::string_view qid = msg.substr(0, q), text = msg.substr(q + 2);
  if (qid == "NOQUEUE") return LogEvent{};
  LogEvent e;
  e.queue_id = qid;
  if (text == "removed") {
    e.kind = LogEvent::Kind::removed;
    return e;
  }
  if (starts_with(text, "to=")) return delivery_line(qid, text);
  if (starts_with(text, "from=")) return from_line(qid, text);
  for (std::string_view verb : {"reject: ", "milter-reject: "}) {
    if (starts_with(text, verb)) {
      if (!refuses_whole_message(text.substr(verb.size()))) return LogEvent{};
      e.kind = LogEvent::Kind::refused;
      return e;
    }
  }
  return LogEvent{};
}

std::string describe(const LogEvent& e) {
  switch (e.kind) {
    case LogEvent::Kind::ignored: return "ignored";
    case LogEvent::Kind::delivery: {
      const char* s = e.status == Delivery::sent ? "sent" : e.status == Delivery::bounced ? "bounced" : "deferred";
      return "delivery qid=" + e.queue_id + " rcpt=<" + e.recipient + "> status=" + s + " dsn=" + e.dsn;
    }
    case LogEvent::Kind::expired: return "expired qid=" + e.queue_id;
    case LogEvent::Kind::removed: return "removed qid=" + e.queue_id;
    case LogEvent::Kind::refused: return "refused qid=" + e.queue_id;
    case LogEvent::Kind::sasl_failure: return "sasl-failure mech=" + e.mechanism;
  }
  return "?";
}

}  // namespace migo
