// ingest.h — counting a receiver's DSN or ARF report against the account
// whose message it is about (`migoctl ingest-dsn` / `ingest-arf`).
//
// The account comes only from a tag whose signature verifies with the
// relay's key — the X-Migo-Tag in the quoted headers, or the token of the
// return path the report was sent to: a report without one, or whose tags
// were forged or altered, is counted as unattributed (store counter), never
// against an account.
// DSN: every recipient with Action: failed is an asynchronous bounce
// (outcomes.h); other actions are reported and not counted. ARF: a
// Feedback-Type of abuse, fraud, virus or other is one complaint; not-spam
// and auth-failure are not complaints.
// Everything one report changes — statistics, dedup keys, counters — is one
// transaction: feeding the same report twice counts it once.
#pragma once

#include <string>
#include <vector>

#include "migo/credentials.h"
#include "migo/outcomes.h"
#include "migo/store.h"
#include "report.h"

namespace migo {

struct IngestItem {
  std::string recipient;
  std::string action;  // DSN action, or the ARF feedback type
  std::string status;  // DSN status code
  std::string result;  // counted, duplicate, unattributed, not counted (…)
};

struct IngestResult {
  Report::Kind kind = Report::Kind::dsn;
  bool malformed = false;
  std::string error;      // why it is malformed
  std::string tag;        // verified, missing, forged
  std::string via;        // with tag verified: "header" (X-Migo-Tag) or "return path"
  uint64_t account_id = 0;
  std::string username;   // of the tagged account, when it still exists
  std::string queue_id;
  std::vector<IngestItem> items;
};

// A malformed report or one of the wrong kind is ok() with malformed set
// (and counted); only store trouble is an error. `return_path`: the address
// the report was sent to (the relay's return path, tag.h), which attributes
// it when the report quotes no tag that verifies.
// `forwarded`: the report reached another relay of several first, which
// counted in its store what it could not attribute; here only what counts
// (counted, duplicate) moves a counter.
Result<IngestResult> ingest_report(Store& store, const Secret& key, std::string_view message,
                                   Report::Kind expected, int64_t now, std::string_view return_path = {},
                                   bool forwarded = false);

// Several relays: a report whose tag verifies but names a recipient this
// relay never delivered to is about a message another relay delivered
// (each relay's delivered-markers are its own): it goes to the others
// (SharedState::forward_report), whose migo-syncd ingest it.
bool for_another_relay(const IngestResult& r);

}  // namespace migo
