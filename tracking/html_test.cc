// html_test.cc — link rewriting: exactly the link values change, everything
// else is byte for byte the input; what must not be tracked is not; hostile
// HTML neither crashes nor hangs the rewriter (a seeded fuzz).
#include <catch2/catch.hpp>
#include <random>

#include "html.h"

using namespace migo;

namespace {

// Tracks every link as T<index>, recording the URLs it was given.
struct Recorder {
  std::vector<std::string> urls;
  HtmlTracking tracking(std::string pixel = "") {
    HtmlTracking t;
    t.click = [this](const std::string& url, uint16_t i) -> std::optional<std::string> {
      urls.push_back(url);
      return "https://t.example/c/T" + std::to_string(i);
    };
    t.pixel_url = std::move(pixel);
    t.tracking_host = "t.example";
    return t;
  }
};

}  // namespace

TEST_CASE("links: only the value changes; the URL given is the decoded one") {
  Recorder r;
  std::string in =
      "<html><body>\n<p>Hi&nbsp;there</p>\n"
      "<a class=x href=\"https://shop.example/p?a=1&amp;b=2#top\" target=_blank>Buy</a>\n"
      "<A HREF='HTTPS://Shop.Example/Q'>Q</A> <a href=http://plain.example/x>x</a>\n"
      "<a href = \"  https://spaces.example/  \" >s</a>\n"
      "</body></html>\n";
  HtmlRewrite out = rewrite_html(in, r.tracking());
  CHECK(out.links == 4);
  CHECK(out.changed);
  CHECK(r.urls == std::vector<std::string>{"https://shop.example/p?a=1&b=2#top", "HTTPS://Shop.Example/Q",
                                           "http://plain.example/x", "https://spaces.example/"});
  CHECK(out.html ==
        "<html><body>\n<p>Hi&nbsp;there</p>\n"
        "<a class=x href=\"https://t.example/c/T0\" target=_blank>Buy</a>\n"
        "<A HREF=\"https://t.example/c/T1\">Q</A> <a href=\"https://t.example/c/T2\">x</a>\n"
        "<a href = \"https://t.example/c/T3\" >s</a>\n"
        "</body></html>\n");
}

TEST_CASE("links that are not tracked stay exactly as written") {
  Recorder r;
  HtmlTracking t = r.tracking();
  t.skip_urls = {"https://list.example/unsub?u=1"};
  std::string in =
      "<a href=\"mailto:a@example.com\">m</a><a href=\"tel:+123\">t</a><a href=\"javascript:alert(1)\">j</a>"
      "<a href=\"data:text/html,x\">d</a><a href=\"cid:img1\">c</a><a href=\"#top\">a</a><a href=\"/rel\">r</a>"
      "<a href=\"https://t.example/c/already\">self</a><a href=\"https://T.EXAMPLE:443/x\">self2</a>"
      "<a href=\"https://list.example/unsub?u=1\">unsubscribe</a><a>no href</a><a href=\"\">empty</a>"
      "<!-- <a href=\"https://in.comment.example/\"> --><script>var s='<a href=\"https://in.script.example/\">';</script>"
      "<textarea><a href=\"https://in.textarea.example/\"></textarea>";
  HtmlRewrite out = rewrite_html(in, t);
  CHECK(out.links == 0);
  CHECK_FALSE(out.changed);
  CHECK(out.html == in);
  CHECK(r.urls.empty());
}

TEST_CASE("migo:no-track: not tracked, and the marker is removed") {
  Recorder r;
  std::string in = "<p><a migo:no-track href=\"https://keep.example/\">k</a> <a href='https://t1.example/' "
                   "MIGO:NO-TRACK=\"yes\">k2</a> <a href=\"https://x.example/\">x</a></p>";
  HtmlRewrite out = rewrite_html(in, r.tracking());
  CHECK(out.html == "<p><a href=\"https://keep.example/\">k</a> <a href='https://t1.example/'>k2</a> "
                    "<a href=\"https://t.example/c/T0\">x</a></p>");
  CHECK(r.urls == std::vector<std::string>{"https://x.example/"});
}

TEST_CASE("a cap on links; area links count too") {
  Recorder r;
  HtmlTracking t = r.tracking();
  t.max_links = 2;
  std::string in = "<map><area href=\"https://a.example/\"></map><a href=\"https://b.example/\">b</a>"
                   "<a href=\"https://c.example/\">c</a>";
  HtmlRewrite out = rewrite_html(in, t);
  CHECK(out.links == 2);
  CHECK(out.html == "<map><area href=\"https://t.example/c/T0\"></map><a href=\"https://t.example/c/T1\">b</a>"
                    "<a href=\"https://c.example/\">c</a>");
}

TEST_CASE("the open pixel: at the placeholder, else before </body>, else before </html>, else at the end") {
  const std::string px = "https://t.example/o/P";
  const std::string img =
      "<img src=\"https://t.example/o/P\" width=\"1\" height=\"1\" alt=\"\" "
      "style=\"display:block;border:0;width:1px;height:1px\">";
  HtmlTracking t;
  t.pixel_url = px;
  CHECK(rewrite_html("<html><body><p>x</p></BODY></html>", t).html == "<html><body><p>x</p>" + img + "</BODY></html>");
  CHECK(rewrite_html("<p>x</p></html>", t).html == "<p>x</p>" + img + "</html>");
  CHECK(rewrite_html("<p>x</p>", t).html == "<p>x</p>" + img);
  CHECK(rewrite_html("<body><!--migo:open--><p>x</p></body>", t).html == "<body>" + img + "<p>x</p></body>");
  HtmlRewrite none = rewrite_html("<p>x</p>", HtmlTracking{});
  CHECK_FALSE(none.changed);
  CHECK_FALSE(none.pixel);
}

TEST_CASE("bytes that are not UTF-8 (ISO-8859-1) pass through unchanged") {
  Recorder r;
  std::string in = "<p>Gr\xfc\xdf" "e, caf\xe9</p><a href=\"https://x.example/\xe9t\xe9\">\xe9</a>";
  HtmlRewrite out = rewrite_html(in, r.tracking());
  CHECK(out.links == 1);
  CHECK(out.html == "<p>Gr\xfc\xdf" "e, caf\xe9</p><a href=\"https://t.example/c/T0\">\xe9</a>");
}

TEST_CASE("hostile HTML: too many tags is left alone; deep nesting and garbage neither crash nor hang") {
  Recorder r;
  std::string many;
  for (size_t i = 0; i <= kMaxTrackedHtmlTags; i++) many += "<b>";
  HtmlRewrite out = rewrite_html(many, r.tracking("https://t.example/o/P"));
  CHECK_FALSE(out.changed);
  CHECK(out.html == many);
  CHECK_FALSE(out.skipped.empty());

  // Deep nesting is left alone (gumbo would take seconds), however it is
  // disguised: end tags of elements never opened do not close anything.
  for (std::string unit : {"<div>", "<b>", "<div></zzz>", "<span><!-- x --></p>"}) {
    std::string deep;
    for (size_t i = 0; i <= kMaxTrackedHtmlDepth; i++) deep += unit;
    deep += "<a href=\"https://deep.example/\">x</a>";
    out = rewrite_html(deep, r.tracking());
    INFO(unit);
    CHECK(out.links == 0);
    CHECK_THAT(out.skipped, Catch::Contains("nested"));
  }
  // Nesting that closes again, and elements the parser closes itself, are fine.
  std::string wide;
  for (int i = 0; i < 2000; i++) wide += "<div><b>x</b></div><p>para<li>item<td>cell";
  wide += "<a href=\"https://wide.example/\">x</a>";
  out = rewrite_html(wide, r.tracking());
  CHECK(out.links == 1);

  // A seeded fuzz: mutations of a template. Without tracking the output is
  // the input exactly; with it, the rewriter still answers.
  const std::string seed =
      "<html><head><style>a{}</style></head><body><table><tr><td><a href=\"https://a.example/?x=1&amp;y=2\">a</a>"
      "<a href='http://b.example'>b</a><!--migo:open--><a migo:no-track href=https://c.example/>c</a>"
      "<area href=\"https://d.example/\"><img src=\"https://e.example/i.png\"></td></tr></table></body></html>";
  const std::string alphabet = "<>\"'=&;#/! -abhrefAHREF:\x00\xff\xe9\n";
  std::mt19937 rng(20261125);
  for (int round = 0; round < 3000; round++) {
    std::string s = seed;
    int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits && !s.empty(); e++) {
      size_t at = rng() % s.size();
      char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0: s[at] = c; break;
        case 1: s.insert(at, 1, c); break;
        default: s.erase(at, 1 + rng() % 5); break;
      }
    }
    INFO("round " << round);
    HtmlRewrite plain = rewrite_html(s, HtmlTracking{});
    // Only a no-track marker may be removed when nothing is tracked.
    std::string lower = s;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower.find("no-track") == std::string::npos) {
      REQUIRE(plain.html == s);
    }
    HtmlRewrite tracked = rewrite_html(s, r.tracking("https://t.example/o/P"));
    REQUIRE(tracked.pixel);
    REQUIRE(tracked.html.size() >= s.size() - 64);
  }
}

TEST_CASE("url_host") {
  CHECK(url_host("https://Shop.Example./p") == "shop.example");
  CHECK(url_host("http://user:pw@h.example:8080/x") == "h.example");
  CHECK(url_host("https://[2001:db8::1]:443/") == "[2001:db8::1]");
  CHECK(url_host("https://h.example?q") == "h.example");
  CHECK(url_host("mailto:a@b") == "");
}
