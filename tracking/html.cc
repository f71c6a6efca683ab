// html.cc — see html.h.
#include "html.h"

#include <gumbo.h>

#include <algorithm>
#include <memory>

namespace migo {
namespace {

bool ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && ascii_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && ascii_space(s.back())) s.remove_suffix(1);
  return s;
}

struct OutputFree {
  void operator()(GumboOutput* o) const { gumbo_destroy_output(&kGumboDefaultOptions, o); }
};

struct Edit {
  size_t at = 0, len = 0;
  std::string with;
};

// gumbo's tree building is quadratic in the depth of open elements (20,000
// nested <div> take 18 s), so a message could make the milter burn CPU.
// This pass over the tags keeps its own stack of open elements, as the HTML
// parser would, and says whether it ever grows past kMaxTrackedHtmlDepth.
// It errs on the deep side: what it cannot follow (scripts, odd markup)
// counts as open, and only a matching end tag closes.
bool nesting_within_bound(std::string_view html) {
  static const std::vector<std::string_view> kNoDepth = {
      // void elements
      "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
      "param",
      // elements the parser closes on its own when the next one starts
      "p", "li", "td", "th", "tr", "dt", "dd", "option", "optgroup", "rt", "rp", "tbody", "thead", "tfoot",
      "colgroup", "caption"};
  std::vector<std::string> open;
  size_t at = 0;
  while ((at = html.find('<', at)) != std::string_view::npos) {
    at++;
    if (html.substr(at, 3) == "!--") {  // a comment: no tags inside
      size_t end = html.find("-->", at + 3);
      if (end == std::string_view::npos) break;
      at = end + 3;
      continue;
    }
    bool closing = at < html.size() && html[at] == '/';
    if (closing) at++;
    std::string name;
    while (at < html.size() && name.size() < 32 &&
           ((html[at] >= 'a' && html[at] <= 'z') || (html[at] >= 'A' && html[at] <= 'Z') ||
            (html[at] >= '0' && html[at] <= '9'))) {
      name += static_cast<char>(html[at] | 0x20);
      at++;
    }
    if (name.empty() || std::find(kNoDepth.begin(), kNoDepth.end(), name) != kNoDepth.end()) continue;
    if (closing) {
      auto it = std::find(open.rbegin(), open.rend(), name);
      if (it != open.rend()) open.erase(std::next(it).base(), open.end());
    } else {
      open.push_back(std::move(name));
      if (open.size() > kMaxTrackedHtmlDepth) return false;
    }
  }
  return true;
}

}  // namespace

bool http_scheme(std::string_view url) {
  auto starts = [&](std::string_view p) {
    if (url.size() < p.size()) return false;
    for (size_t i = 0; i < p.size(); i++) {
      char c = url[i] >= 'A' && url[i] <= 'Z' ? static_cast<char>(url[i] - 'A' + 'a') : url[i];
      if (c != p[i]) return false;
    }
    return true;
  };
  return starts("http://") || starts("https://");
}

std::string url_host(std::string_view url) {
  if (!http_scheme(url)) return "";
  std::string_view rest = url.substr(url.find("://") + 3);
  rest = rest.substr(0, rest.find_first_of("/?#\\"));
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  if (!rest.empty() && rest.front() == '[') {
    rest = rest.substr(0, rest.find(']') == std::string_view::npos ? rest.size() : rest.find(']') + 1);
  } else if (size_t colon = rest.find(':'); colon != std::string_view::npos) {
    rest = rest.substr(0, colon);
  }
  std::string host(rest);
  for (char& c : host)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  while (!host.empty() && host.back() == '.') host.pop_back();
  return host;
}

HtmlRewrite rewrite_html(std::string_view html, const HtmlTracking& t) {
  HtmlRewrite out;
  auto untouched = [&](std::string why) {
    out.html.assign(html);
    out.skipped = std::move(why);
    return out;
  };
  if (html.size() > kMaxTrackedHtmlBytes) return untouched("HTML larger than 2 MB");
  if (static_cast<size_t>(std::count(html.begin(), html.end(), '<')) > kMaxTrackedHtmlTags)
    return untouched("HTML with more than 20000 tags");
  if (!nesting_within_bound(html)) return untouched("HTML nested more than 256 deep");
  std::unique_ptr<GumboOutput, OutputFree> doc(
      gumbo_parse_with_options(&kGumboDefaultOptions, html.data(), html.size()));
  if (!doc) return untouched("HTML the parser could not read");

  // A piece gumbo reports as part of the source: its offset, if it really
  // lies inside `html` (synthesised pieces do not).
  auto offset_of = [&](const GumboStringPiece& p) -> std::optional<size_t> {
    if (!p.data || p.length == 0 || p.data < html.data() || p.data + p.length > html.data() + html.size())
      return std::nullopt;
    return static_cast<size_t>(p.data - html.data());
  };

  std::vector<Edit> edits;
  const GumboNode* body = nullptr;
  const GumboNode* html_el = nullptr;
  std::optional<size_t> placeholder;
  std::vector<const GumboNode*> stack{doc->document};
  while (!stack.empty()) {
    const GumboNode* n = stack.back();
    stack.pop_back();
    const GumboVector* children = nullptr;
    if (n->type == GUMBO_NODE_DOCUMENT) {
      children = &n->v.document.children;
    } else if (n->type == GUMBO_NODE_ELEMENT || n->type == GUMBO_NODE_TEMPLATE) {
      const GumboElement& e = n->v.element;
      children = &e.children;
      if (e.tag == GUMBO_TAG_BODY && !body) body = n;
      if (e.tag == GUMBO_TAG_HTML && !html_el) html_el = n;
      if (e.tag != GUMBO_TAG_A && e.tag != GUMBO_TAG_AREA) {
        // not a link
      } else if (const GumboAttribute* no = gumbo_get_attribute(&e.attributes, std::string(kNoTrackAttribute).c_str())) {
        // Not tracked, and the marker goes: from the white space before it
        // to the end of its value (or name).
        auto name_at = offset_of(no->original_name);
        if (name_at) {
          size_t end = *name_at + no->original_name.length;
          if (auto v = offset_of(no->original_value)) end = *v + no->original_value.length;
          size_t start = *name_at;
          while (start > 0 && ascii_space(html[start - 1])) start--;
          edits.push_back({start, end - start, ""});
        }
      } else if (const GumboAttribute* href = gumbo_get_attribute(&e.attributes, "href"); href && t.click) {
        std::string url(trim(href->value));
        auto at = offset_of(href->original_value);
        bool skip = !at || !http_scheme(url) || (!t.tracking_host.empty() && url_host(url) == t.tracking_host) ||
                    std::find(t.skip_urls.begin(), t.skip_urls.end(), url) != t.skip_urls.end() ||
                    out.links >= t.max_links;
        if (!skip) {
          if (auto tracked = t.click(url, static_cast<uint16_t>(out.links))) {
            edits.push_back({*at, href->original_value.length, "\"" + *tracked + "\""});
            out.links++;
          }
        }
      }
    } else if (n->type == GUMBO_NODE_COMMENT && !placeholder) {
      auto at = offset_of(n->v.text.original_text);
      if (at && html.substr(*at, n->v.text.original_text.length) == kPixelPlaceholder) placeholder = at;
    }
    if (children)  // in reverse, so the document is walked in source order
      for (unsigned i = children->length; i-- > 0;) stack.push_back(static_cast<const GumboNode*>(children->data[i]));
  }

  if (!t.pixel_url.empty()) {
    std::string img = "<img src=\"" + t.pixel_url +
                      "\" width=\"1\" height=\"1\" alt=\"\" style=\"display:block;border:0;width:1px;height:1px\">";
    std::optional<size_t> end_tag;
    if (body) end_tag = offset_of(body->v.element.original_end_tag);
    if (!end_tag && html_el) end_tag = offset_of(html_el->v.element.original_end_tag);
    if (placeholder) edits.push_back({*placeholder, kPixelPlaceholder.size(), img});
    else edits.push_back({end_tag ? *end_tag : html.size(), 0, img});
    out.pixel = true;
  }

  // Splice, in source order. Pieces gumbo reports twice (attributes it
  // copies from a second <body>) or that overlap are applied once.
  std::stable_sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) { return a.at < b.at; });
  out.html.reserve(html.size() + 64 * edits.size());
  size_t from = 0;
  for (const Edit& e : edits) {
    if (e.at < from) continue;
    out.html.append(html.substr(from, e.at - from));
    out.html += e.with;
    from = e.at + e.len;
  }
  out.html.append(html.substr(from));
  out.changed = !edits.empty();
  return out;
}

}  // namespace migo
