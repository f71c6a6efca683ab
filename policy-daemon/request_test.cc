// request_test.cc — the policy request parser against golden files in
// testdata/: each NAME.in is parsed and rendered, and must equal NAME.out.
// Every input is also fed in 1-, 7- and 64-byte pieces: the result must not
// depend on how the bytes arrive.
#include "request.h"

#include <catch2/catch.hpp>

#include "golden.h"

using namespace migo;

namespace {

// Renders everything a parse of `input` yields, fed `chunk` bytes at a time.
std::string render(const std::string& input, size_t chunk) {
  std::string out;
  RequestParser parser;
  for (size_t at = 0; at < input.size(); at += chunk) {
    std::string_view piece = std::string_view(input).substr(at, chunk);
    for (;;) {
      RequestParser::State s = parser.feed(piece);
      if (s == RequestParser::State::error) return out + "error: " + parser.error() + "\n";
      if (s == RequestParser::State::need_more) break;
      PolicyRequest r = parser.take();
      out += "request\n";
      for (const auto& [k, v] : r.attributes) out += "  " + k + " = [" + v + "]\n";
      std::string why;
      auto q = interpret(r, &why);
      if (!q) out += "  not usable: " + why + "\n";
      else
        out += "  stage=" + std::to_string(static_cast<int>(q->stage)) + " user=" + q->sasl_username +
               " queue_id=" + q->queue_id + " count=" + std::to_string(q->recipient_count) + "\n";
    }
  }
  if (parser.mid_request()) out += "eof: in the middle of a request\n";
  return out;
}

}  // namespace

TEST_CASE("golden policy requests") {
  int cases = test::check_golden(TESTDATA, [](const std::string& in) { return render(in, in.size() + 1); },
                                 [](const std::string& in, const std::string& got) {
                                   for (size_t chunk : {1u, 7u, 64u}) CHECK(render(in, chunk) == got);
                                 });
  CHECK(cases >= 12);
}

TEST_CASE("oversized lines and requests are refused without buffering them") {
  RequestParser p;
  std::string huge(kMaxLineBytes + 1, 'a');
  std::string_view in = huge;
  CHECK(p.feed(in) == RequestParser::State::error);
  CHECK_THAT(p.error(), Catch::Contains("line longer"));

  RequestParser q;
  std::string many;
  for (int i = 0; many.size() <= kMaxRequestBytes; i++) many += "attr" + std::to_string(i) + "=" + std::string(100, 'x') + "\n";
  std::string_view m = many;
  CHECK(q.feed(m) == RequestParser::State::error);

  RequestParser r;
  std::string attrs;
  for (size_t i = 0; i <= kMaxAttributes; i++) attrs += "a" + std::to_string(i) + "=1\n";
  std::string_view a = attrs;
  CHECK(r.feed(a) == RequestParser::State::error);
  CHECK_THAT(r.error(), Catch::Contains("too many"));
}

TEST_CASE("a parser that failed stays failed") {
  RequestParser p;
  std::string_view bad = "nonsense\n\n";
  CHECK(p.feed(bad) == RequestParser::State::error);
  std::string_view good = "request=smtpd_access_policy\n\n";
  CHECK(p.feed(good) == RequestParser::State::error);
}
