// report.cc — see report.h.
#include "report.h"

#include <algorithm>
#include <cctype>

namespace migo {
namespace {

constexpr int kMaxDepth = 8;
constexpr int kMaxParts = 200;

std::string lower(std::string_view s) {
  std::string r(s);
  std::transform(r.begin(), r.end(), r.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return r;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

struct Header {
  std::string name;  // lowercase
  std::string value;  // unfolded, trimmed
};

// Header fields of a block (up to the first empty line), unfolded. Lines
// that are neither fields nor continuations are skipped: receivers are
// sloppy, and a damaged line must not hide the fields after it.
std::vector<Header> parse_fields(std::string_view block) {
  std::vector<Header> out;
  size_t at = 0;
  while (at < block.size()) {
    size_t nl = block.find('\n', at);
    if (nl == std::string_view::npos) nl = block.size();
    std::string_view line = block.substr(at, nl - at);
    at = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    if ((line[0] == ' ' || line[0] == '\t')) {
      if (!out.empty()) out.back().value += " " + std::string(trim(line));
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    out.push_back({lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1)))});
  }
  return out;
}

const Header* find(const std::vector<Header>& hs, std::string_view name) {
  for (const auto& h : hs)
    if (h.name == name) return &h;
  return nullptr;
}

// Splits at the first empty line: headers, body.
std::pair<std::string_view, std::string_view> split_entity(std::string_view e) {
  if (e.substr(0, 1) == "\n") return {{}, e.substr(1)};
  if (e.substr(0, 2) == "\r\n") return {{}, e.substr(2)};
  size_t lf = e.find("\n\n"), crlf = e.find("\n\r\n");
  size_t p = std::min(lf, crlf);
  if (p == std::string_view::npos) return {e, {}};
  return {e.substr(0, p + 1), e.substr(p + (p == lf ? 2 : 3))};
}

struct ContentType {
  std::string type = "text/plain";  // lowercase type/subtype
  std::string boundary;
  std::string report_type;  // lowercase
};

ContentType content_type(const std::vector<Header>& hs, const std::string& fallback) {
  ContentType ct;
  ct.type = fallback;
  const Header* h = find(hs, "content-type");
  if (!h) return ct;
  std::string_view v = h->value;
  size_t semi = v.find(';');
  ct.type = lower(trim(v.substr(0, semi)));
  while (semi != std::string_view::npos) {
    v.remove_prefix(semi + 1);
    size_t eq = v.find('=');
    if (eq == std::string_view::npos) break;
    std::string name = lower(trim(v.substr(0, eq)));
    v.remove_prefix(eq + 1);
    v = trim(v);
    std::string value;
    if (!v.empty() && v.front() == '"') {
      size_t i = 1;
      for (; i < v.size() && v[i] != '"'; i++) {
        if (v[i] == '\\' && i + 1 < v.size()) i++;
        value.push_back(v[i]);
      }
      v.remove_prefix(std::min(v.size(), i + 1));
      semi = v.find(';');
    } else {
      semi = v.find(';');
      value = std::string(trim(v.substr(0, semi)));
    }
    if (name == "boundary") ct.boundary = value;
    else if (name == "report-type") ct.report_type = lower(value);
  }
  return ct;
}

std::string decode_base64(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = val(c);
    if (v < 0) continue;  // line breaks, padding, junk
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string decode_qp(std::string_view in) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < in.size(); i++) {
    if (in[i] != '=') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 1 < in.size() && in[i + 1] == '\n') { i += 1; continue; }  // soft break
    if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') { i += 2; continue; }
    if (i + 2 < in.size() && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2])));
      i += 2;
      continue;
    }
    out.push_back('=');
  }
  return out;
}

std::string decoded_body(const std::vector<Header>& hs, std::string_view body) {
  const Header* cte = find(hs, "content-transfer-encoding");
  std::string enc = cte ? lower(cte->value) : "";
  if (enc == "base64") return decode_base64(body);
  if (enc == "quoted-printable") return decode_qp(body);
  return std::string(body);
}

// The parts of a multipart body, without their delimiters.
std::vector<std::string_view> split_multipart(std::string_view body, const std::string& boundary) {
  std::vector<std::string_view> parts;
  std::string delim = "--" + boundary;
  size_t at = 0;
  size_t part_start = std::string_view::npos;
  while (at <= body.size()) {
    size_t nl = body.find('\n', at);
    size_t end = nl == std::string_view::npos ? body.size() : nl;
    std::string_view line = body.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.substr(0, delim.size()) == delim) {
      std::string_view tail = trim(line.substr(delim.size()));
      if (tail.empty() || tail == "--") {
        if (part_start != std::string_view::npos) {
          size_t stop = at > part_start ? at - 1 : part_start;  // drop the newline before the delimiter
          if (stop > part_start && body[stop - 1] == '\r') stop--;
          parts.push_back(body.substr(part_start, stop - part_start));
        }
        if (tail == "--") return parts;
        part_start = nl == std::string_view::npos ? body.size() : nl + 1;
        if (static_cast<int>(parts.size()) >= kMaxParts) return parts;
      }
    }
    if (nl == std::string_view::npos) break;
    at = nl + 1;
  }
  // No closing delimiter (a truncated report): keep what there is.
  if (part_start != std::string_view::npos && part_start < body.size()) parts.push_back(body.substr(part_start));
  return parts;
}

std::string address_of(std::string_view v) {
  // "rfc822; user@example.com" or "<user@example.com>"
  size_t semi = v.find(';');
  if (semi != std::string_view::npos) v = v.substr(semi + 1);
  v = trim(v);
  if (!v.empty() && v.front() == '<' && v.back() == '>') v = v.substr(1, v.size() - 2);
  return std::string(trim(v)).substr(0, 512);
}

struct Walker {
  Report report;
  bool saw_status = false, saw_feedback = false;
  std::string root_report_type;
  int parts = 0;

  void collect_tags(std::string_view headers) {
    for (const auto& h : parse_fields(headers))
      if (h.name == "x-migo-tag" && report.tags.size() < 16) report.tags.push_back(h.value);
  }

  void delivery_status(std::string_view body) {
    saw_status = true;
    // Blocks of fields separated by empty lines: per-message, then per-recipient.
    std::string text(body);
    text.erase(std::remove(text.begin(), text.end(), '\r'), text.end());
    size_t at = 0;
    bool first = true;
    while (at < text.size()) {
      size_t end = text.find("\n\n", at);
      if (end == std::string::npos) end = text.size();
      std::string_view block = std::string_view(text).substr(at, end - at);
      at = end + 2;
      if (trim(block).empty()) continue;
      auto fields = parse_fields(std::string(trim(block)) + "\n");
      if (first && !find(fields, "action")) {  // the per-message block
        first = false;
        continue;
      }
      first = false;
      DsnRecipient r;
      if (const Header* f = find(fields, "final-recipient")) r.recipient = address_of(f->value);
      else if (const Header* o = find(fields, "original-recipient")) r.recipient = address_of(o->value);
      if (const Header* a = find(fields, "action")) r.action = lower(trim(a->value.substr(0, a->value.find(' '))));
      if (const Header* s = find(fields, "status")) r.status = std::string(trim(s->value.substr(0, s->value.find(' '))));
      if ((!r.recipient.empty() || !r.action.empty()) && report.recipients.size() < 1000)
        report.recipients.push_back(std::move(r));
    }
  }

  void feedback_report(std::string_view body) {
    saw_feedback = true;
    auto fields = parse_fields(body);
    if (const Header* f = find(fields, "feedback-type")) report.feedback_type = lower(f->value);
    if (const Header* o = find(fields, "original-rcpt-to")) report.original_rcpt_to = address_of(o->value);
  }

  Status walk(std::string_view entity, int depth, const std::string& default_type) {
    if (depth > kMaxDepth) return {Code::invalid, "MIME nesting deeper than " + std::to_string(kMaxDepth)};
    if (++parts > kMaxParts) return {Code::invalid, "more than " + std::to_string(kMaxParts) + " MIME parts"};
    auto [head, body] = split_entity(entity);
    auto hs = parse_fields(head);
    ContentType ct = content_type(hs, default_type);
    if (depth == 0) root_report_type = ct.report_type;
    if (ct.type.rfind("multipart/", 0) == 0) {
      if (ct.boundary.empty() || ct.boundary.size() > 200) return {Code::invalid, ct.type + " without a usable boundary"};
      std::string dflt = ct.type == "multipart/digest" ? "message/rfc822" : "text/plain";
      for (std::string_view part : split_multipart(body, ct.boundary)) MIGO_TRY(walk(part, depth + 1, dflt));
      return {};
    }
    if (ct.type == "message/delivery-status" || ct.type == "message/global-delivery-status") {
      delivery_status(decoded_body(hs, body));
    } else if (ct.type == "message/feedback-report") {
      feedback_report(decoded_body(hs, body));
    } else if (ct.type == "message/rfc822" || ct.type == "message/global") {
      std::string inner = decoded_body(hs, body);
      collect_tags(split_entity(inner).first);
    } else if (ct.type == "text/rfc822-headers" || ct.type == "message/rfc822-headers" ||
               ct.type == "message/global-headers") {
      collect_tags(decoded_body(hs, body));
    }
    return {};
  }
};

}  // namespace

Result<Report> parse_report(std::string_view message) {
  if (message.size() > kMaxReportBytes)
    return Status(Code::invalid, "report larger than " + std::to_string(kMaxReportBytes) + " bytes");
  Walker w;
  MIGO_TRY(w.walk(message, 0, "text/plain"));
  if (w.root_report_type == "delivery-status" || (w.root_report_type.empty() && w.saw_status && !w.saw_feedback)) {
    if (!w.saw_status) return Status(Code::invalid, "delivery-status report without a message/delivery-status part");
    w.report.kind = Report::Kind::dsn;
    if (w.report.recipients.empty()) return Status(Code::invalid, "delivery-status report names no recipient");
    return std::move(w.report);
  }
  if (w.root_report_type == "feedback-report" || w.saw_feedback) {
    if (!w.saw_feedback) return Status(Code::invalid, "feedback report without a message/feedback-report part");
    w.report.kind = Report::Kind::arf;
    if (w.report.feedback_type.empty()) return Status(Code::invalid, "feedback report without Feedback-Type");
    return std::move(w.report);
  }
  return Status(Code::invalid, "not a delivery status notification or feedback report (no multipart/report)");
}

std::string describe(const Report& r) {
  std::string out = r.kind == Report::Kind::dsn ? "dsn\n" : "arf feedback-type=" + r.feedback_type +
                                                             " original-rcpt-to=<" + r.original_rcpt_to + ">\n";
  for (const auto& x : r.recipients)
    out += "  recipient=<" + x.recipient + "> action=" + x.action + " status=" + x.status + "\n";
  for (const auto& t : r.tags) out += "  tag=[" + t + "]\n";
  return out;
}

}  // namespace migo
