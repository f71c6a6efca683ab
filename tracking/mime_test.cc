// mime_test.cc — whole messages against the golden corpus in
// testdata/mime: each NAME.in (LF line ends here; CRLF as the milter gets
// it) is tracked with fixed tokens and must give NAME.out.
#include <gmime/gmime.h>

#include <catch2/catch.hpp>

#include "golden.h"
#include "mime.h"

using namespace migo;

namespace {

std::string to_crlf(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}
std::string to_lf(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++)
    if (!(s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n')) out += s[i];
  return out;
}

struct Split {
  std::string headers, body;
};
Split split(const std::string& crlf) {
  size_t blank = crlf.find("\r\n\r\n");
  REQUIRE(blank != std::string::npos);
  return {crlf.substr(0, blank + 2), crlf.substr(blank + 4)};
}

// The value of header `name` in a CRLF header block ("" if absent).
std::string header(const std::string& headers, const std::string& name) {
  size_t at = headers.find("\r\n" + name + ":");
  if (at == std::string::npos) return "";
  at += name.size() + 3;
  return headers.substr(at, headers.find("\r\n", at) - at);
}

MessageTracking tracking(const std::string& headers) {
  MessageTracking t;
  t.html.click = [](const std::string&, uint16_t i) -> std::optional<std::string> {
    return "https://t.example/c/T" + std::to_string(i);
  };
  t.html.pixel_url = "https://t.example/o/P";
  t.html.tracking_host = "t.example";
  t.html.skip_urls = list_unsubscribe_urls(header("\r\n" + headers, "List-Unsubscribe"));
  t.plain_clicks = header("\r\n" + headers, "X-Migo-Test-Clicks") == " all";
  return t;
}

std::string render(const std::string& in) {
  Split m = split(to_crlf(in));
  auto r = rewrite_message(m.headers, m.body, tracking(m.headers));
  REQUIRE(r.ok());
  std::string out = m.headers + "\r\n" + (r->changed ? r->body : m.body);
  return to_lf(out) + "-- links=" + std::to_string(r->links) + " pixel=" + (r->pixel ? "yes" : "no") +
         (r->notes.empty() ? "" : " notes: " + r->notes) + "\n";
}

// Each text part's decoded content, for checking what the golden files show.
std::vector<std::string> decoded_text_parts(const std::string& crlf_message) {
  std::vector<std::string> out;
  GMimeStream* s = g_mime_stream_mem_new_with_buffer(crlf_message.data(), crlf_message.size());
  GMimeParser* p = g_mime_parser_new_with_stream(s);
  GMimeMessage* m = g_mime_parser_construct_message(p, nullptr);
  REQUIRE(m);
  GMimePartIter* it = g_mime_part_iter_new(GMIME_OBJECT(m));
  do {
    GMimeObject* o = g_mime_part_iter_get_current(it);
    if (o && GMIME_IS_TEXT_PART(o)) {
      char* text = g_mime_text_part_get_text(GMIME_TEXT_PART(o));
      out.emplace_back(text ? text : "");
      g_free(text);
    }
  } while (g_mime_part_iter_next(it));
  g_mime_part_iter_free(it);
  g_object_unref(m);
  g_object_unref(p);
  g_object_unref(s);
  return out;
}

}  // namespace

TEST_CASE("golden messages: links and pixel rewritten, all else as sent") {
  int n = test::check_golden(TESTDATA, render, [](const std::string& in, const std::string& got) {
    // Nothing tracked: the body comes back as it was, whatever the message.
    Split m = split(to_crlf(in));
    auto plain = rewrite_message(m.headers, m.body, MessageTracking{});
    REQUIRE(plain.ok());
    if (in.find("migo:no-track") == std::string::npos) CHECK_FALSE(plain->changed);  // a marker goes anyway
    // What was rewritten still decodes: the output parses as MIME and its
    // text parts decode (charset conversion included) without loss.
    std::string out = to_crlf(got.substr(0, got.rfind("-- links=")));
    for (const std::string& text : decoded_text_parts(out)) CHECK(text.find("\xef\xbf\xbd") == std::string::npos);
  });
  CHECK(n >= 6);
}

TEST_CASE("List-Unsubscribe URLs: http(s) ones, folding removed") {
  CHECK(list_unsubscribe_urls("<mailto:u@x.example>, <https://x.example/u?a=1>,\r\n <http://y.example/u\r\n >") ==
        std::vector<std::string>{"https://x.example/u?a=1", "http://y.example/u"});
  CHECK(list_unsubscribe_urls("garbage <no end").empty());
}

TEST_CASE("a message that is not MIME at all is still text/plain; no tracking asked changes nothing") {
  auto r = rewrite_message("Subject: x\r\n", "just text https://a.example/\r\n", MessageTracking{});
  REQUIRE(r.ok());
  CHECK_FALSE(r->changed);
}
