// from_header.h — the addresses in a From header, parsed as RFC 5322 says.
//
// The milter's first question about a message is "whose domains are in
// From?", asked of text the client wrote. This parser answers it without
// I/O so it can be tested from a golden corpus and fuzzed. It reads
// display names, quoted strings containing '@' or '<', nested comments,
// encoded words (as opaque atoms: they can only ever be display text),
// group syntax, folded lines, domain literals, the obsolete route and
// local-part forms, and UTF-8 (RFC 6532). Anything it cannot read is an
// error, never a guess: a From that might hide a second address is refused.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "migo/status.h"

namespace migo {

struct Mailbox {
  std::string display;  // display name as written (quotes removed), may be empty
  std::string local;    // local part (quotes removed)
  std::string domain;   // as written: not normalised, may be a [literal]
};

inline constexpr size_t kMaxFromBytes = 16384;
inline constexpr size_t kMaxMailboxes = 100;
inline constexpr int kMaxCommentDepth = 16;

// All mailboxes of an address-list (the value of a From header, after the
// colon). A group contributes its members; an empty list is an error.
Result<std::vector<Mailbox>> parse_from(std::string_view value);

}  // namespace migo
