// mime.h — tracking for a whole message: finds its HTML (and, when asked,
// plain text) parts with GMime, rewrites their links (html.h), re-encodes
// each with its own transfer encoding and charset, and splices the result
// into the original body — every byte outside a rewritten part's content,
// including every header, boundary and attachment, stays as it was.
//
// Never touched: multipart/signed and multipart/encrypted (and all inside),
// message/rfc822, attachments, parts in UTF-16 or UTF-32 (the tokens are
// ASCII), and 7bit/8bit parts whose rewritten lines would pass 998 octets.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "html.h"
#include "migo/status.h"

namespace migo {

struct MessageTracking {
  HtmlTracking html;
  bool plain_clicks = false;  // rewrite the links of text/plain parts too (clicks "all")
};

struct MessageRewrite {
  std::string body;  // the new body, when changed
  bool changed = false;
  unsigned links = 0;
  bool pixel = false;
  std::string notes;  // what was left alone and why ("" if nothing)
};

// `headers`: the message's header block as it arrived, each line ending in
// CRLF (no blank line); `body`: the body, CRLF line ends. The pixel goes
// into the first HTML part only. Code::invalid if the message cannot be
// parsed at all (it is then sent untracked).
Result<MessageRewrite> rewrite_message(std::string_view headers, std::string_view body, const MessageTracking& t);

// The http(s) URLs of a List-Unsubscribe header value ("<URL>, <URL>"):
// links to them are never rewritten.
std::vector<std::string> list_unsubscribe_urls(std::string_view value);

// The links of plain text: http(s) URLs up to white space or <>"', less
// trailing punctuation. Used for text/plain parts with clicks "all".
HtmlRewrite rewrite_plain_text(std::string_view text, const HtmlTracking& t);

}  // namespace migo
