// events.h — what migo-trackd counts: a verified token (tracking/token.h)
// and the request that presented it become an event, told apart as a
// person's or a machine's, and an event becomes counts in the store.
//
// Machines, counted apart so that rates reflect people:
// - opens through a mail provider's image proxy (Gmail's GoogleImageProxy,
//   Yahoo's) or Apple Mail Privacy Protection, which fetches every image of
//   every message from Apple's network (17.0.0.0/8) whether or not anyone
//   reads it;
// - clicks by link scanners: within kScannerSeconds of sending (no person
//   reads that fast, gateways do), a User-Agent of a known scanner, or none.
// A HEAD request counts nothing at all (trackd never calls this for one).
#pragma once

#include <cstdint>
#include <string>

#include "migo/store.h"
#include "token.h"

namespace migo {

inline constexpr int64_t kScannerSeconds = 10;

struct TrackRequest {
  std::string user_agent;
  std::string client_ip;  // as nginx saw it; used to classify, never stored
  int64_t now = 0;
};

struct TrackEvent {
  TrackToken token;
  bool machine = false;
  std::string why;  // for a machine: which rule (for the log)
};

// `scanner_seconds`: clicks this soon after sending are a machine's (0: none is).
TrackEvent classify(const TrackToken& token, const TrackRequest& request, int64_t scanner_seconds = kScannerSeconds);

// Counts one event for its account in `t`: a person's open or click, and
// (first time for that message, or that link of it) a unique one; or a
// machine's. The uniqueness keys are report keys (kinds 'o' and 'k', see
// SCHEMA.md), forgotten after migo-statd's --retention. An event for an
// account that no longer exists counts nothing.
Status apply_event(WriteTxn& t, const TrackEvent& e, int64_t now);

}  // namespace migo
