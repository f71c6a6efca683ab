// report.h — reading what receivers send back about our mail:
//   RFC 3464 delivery status notifications (multipart/report;
//     report-type=delivery-status): per-recipient Action and Status;
//   RFC 5965 abuse reports, ARF (multipart/report; report-type=feedback-report):
//     Feedback-Type and Original-Rcpt-To.
// Either quotes our message (message/rfc822, text/rfc822-headers, or
// message/rfc822-headers); its X-Migo-Tag headers are collected here as
// they are — checking the signature is ingest's job (ingest.h).
//
// A small, strict MIME reader: CRLF or LF, folded headers, quoted
// parameters, nested multiparts (at most 8 deep, 200 parts), base64 and
// quoted-printable parts. Anything that is not a report of the expected
// shape is Code::invalid with the reason; nothing reads past the input.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "migo/status.h"

namespace migo {

inline constexpr size_t kMaxReportBytes = 10 << 20;

struct DsnRecipient {
  std::string recipient;  // Final-Recipient (else Original-Recipient), address only
  std::string action;     // lowercase: failed, delayed, delivered, relayed, expanded
  std::string status;     // e.g. 5.1.1
};

struct Report {
  enum class Kind { dsn, arf };
  Kind kind = Kind::dsn;
  std::vector<DsnRecipient> recipients;  // dsn
  std::string feedback_type;             // arf, lowercase (abuse, fraud, not-spam, …)
  std::string original_rcpt_to;          // arf, address only; empty when absent
  std::vector<std::string> tags;         // X-Migo-Tag values in the quoted message
};

Result<Report> parse_report(std::string_view message);

// Several lines of text for golden files.
std::string describe(const Report& r);

}  // namespace migo
