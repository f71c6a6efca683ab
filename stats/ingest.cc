// ingest.cc — see ingest.h.
#include "ingest.h"

namespace migo {
namespace {

const char* kind_name(Report::Kind k) { return k == Report::Kind::dsn ? "dsn" : "arf"; }

bool is_complaint(const std::string& type) {
  return type == "abuse" || type == "fraud" || type == "virus" || type == "other";
}

}  // namespace

bool for_another_relay(const IngestResult& r) {
  if (r.malformed || r.tag != "verified") return false;
  for (const IngestItem& i : r.items)
    if (i.result == attribution_name(Attribution::unknown_recipient)) return true;
  return false;
}

Result<IngestResult> ingest_report(Store& store, const Secret& key, std::string_view message,
                                   Report::Kind expected, int64_t now, std::string_view return_path,
                                   bool forwarded) {
  IngestResult out;
  out.kind = expected;
  const std::string prefix = std::string("reports.") + kind_name(expected) + ".";
  auto parsed = parse_report(message);
  if (parsed.ok() && parsed->kind != expected)
    parsed = Status(Code::invalid, std::string("this is a ") + (parsed->kind == Report::Kind::dsn
                                                                    ? "delivery status notification"
                                                                    : "feedback report") +
                                       ", not a " + (expected == Report::Kind::dsn ? "DSN" : "feedback report"));
  if (!parsed.ok()) {
    out.malformed = true;
    out.error = parsed.status().message();
    MIGO_TRY(store.write([&](WriteTxn& t) { return t.add_counter(prefix + "malformed", 1); }));
    return out;
  }
  std::optional<TagFields> tag;
  for (const auto& v : parsed->tags)
    if ((tag = verify_tag(key, v))) break;
  if (tag) out.via = "header";
  if (!tag && !return_path.empty() && (tag = verify_return_path(key, return_path))) out.via = "return path";
  out.tag = tag ? "verified" : parsed->tags.empty() && return_path.empty() ? "missing" : "forged";
  if (tag) {
    out.account_id = tag->account_id;
    out.queue_id = tag->queue_id;
  }

  Status written = store.write([&](WriteTxn& t) -> Status {
    out.items.clear();  // the callback may run again
    out.username.clear();
    if (tag) {
      auto a = t.account(tag->account_id);
      if (a.ok()) out.username = a->username;
      else if (a.status().code() != Code::not_found) return a.status();
    }
    auto count = [&](IngestItem item, bool countable,
                     const std::function<Result<Attribution>()>& record) -> Status {
      if (!countable) {
        item.result = "not counted";
      } else if (!tag) {
        item.result = attribution_name(Attribution::unattributed);
        MIGO_TRY(t.add_counter(prefix + "unattributed", 1));
      } else {
        auto r = record();
        if (!r.ok()) return r.status();
        item.result = attribution_name(*r);
        if (!forwarded || *r == Attribution::counted || *r == Attribution::duplicate)
          MIGO_TRY(t.add_counter(prefix + item.result, 1));
      }
      out.items.push_back(std::move(item));
      return {};
    };
    if (parsed->kind == Report::Kind::dsn) {
      for (const auto& r : parsed->recipients) {
        IngestItem item{r.recipient, r.action, r.status, ""};
        bool failed = r.action == "failed" && !r.recipient.empty();
        MIGO_TRY(count(item, failed, [&] { return record_async_bounce(t, *tag, r.recipient, now); }));
      }
    } else {
      IngestItem item{parsed->original_rcpt_to, parsed->feedback_type, "", ""};
      MIGO_TRY(count(item, is_complaint(parsed->feedback_type),
                     [&] { return record_complaint(t, *tag, parsed->original_rcpt_to, now); }));
    }
    return Status();
  });
  if (!written.ok()) return written;
  return out;
}

}  // namespace migo
