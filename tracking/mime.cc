// mime.cc — see mime.h.
#include "mime.h"

#include <gmime/gmime.h>

#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace migo {
namespace {

struct Unref {
  void operator()(gpointer p) const {
    if (p) g_object_unref(p);
  }
};
template <class T>
using GPtr = std::unique_ptr<T, Unref>;

void gmime_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

std::string crlf_to_lf(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); i++)
    if (!(in[i] == '\r' && i + 1 < in.size() && in[i + 1] == '\n')) out += in[i];
  return out;
}
std::string lf_to_crlf(std::string_view in) {
  std::string out;
  out.reserve(in.size() + in.size() / 40);
  for (char c : in) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}
bool ends_in_crlf(std::string_view s) { return s.size() >= 2 && s.substr(s.size() - 2) == "\r\n"; }

// Bytes through one of GMime's transfer-encoding filters.
std::optional<std::string> transfer(std::string_view in, GMimeContentEncoding encoding, bool encode) {
  GPtr<GMimeStream> mem(g_mime_stream_mem_new());
  GPtr<GMimeStream> filtered(g_mime_stream_filter_new(mem.get()));
  GPtr<GMimeFilter> basic(g_mime_filter_basic_new(encoding, encode));
  if (!mem || !filtered || !basic) return std::nullopt;
  g_mime_stream_filter_add(GMIME_STREAM_FILTER(filtered.get()), basic.get());
  if ((!in.empty() && g_mime_stream_write(filtered.get(), in.data(), in.size()) < 0) ||
      g_mime_stream_flush(filtered.get()) < 0)
    return std::nullopt;
  GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem.get()));
  return std::string(reinterpret_cast<const char*>(bytes->data), bytes->len);
}

bool lines_within(std::string_view s, size_t max) {
  size_t line = 0;
  for (char c : s) {
    if (c == '\n') line = 0;
    else if (c != '\r' && ++line > max) return false;
  }
  return true;
}

struct Target {
  size_t start = 0, end = 0;  // of the content, in the body
  GMimeContentEncoding encoding = GMIME_CONTENT_ENCODING_DEFAULT;
  bool html = false;
};

bool ascii_compatible(const char* charset) {
  if (!charset) return true;
  std::string c(charset);
  for (char& ch : c) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return c.find("utf-16") == std::string::npos && c.find("utf-32") == std::string::npos &&
         c.find("ucs") == std::string::npos && c.find("utf-7") == std::string::npos;
}

void find_targets(GMimeObject* o, size_t body_at, size_t body_size, bool plain, std::vector<Target>* out,
                  std::string* notes) {
  if (GMIME_IS_MULTIPART(o)) {
    if (GMIME_IS_MULTIPART_SIGNED(o) || GMIME_IS_MULTIPART_ENCRYPTED(o)) {
      *notes += "signed or encrypted part left alone; ";
      return;
    }
    int n = g_mime_multipart_get_count(GMIME_MULTIPART(o));
    for (int i = 0; i < n; i++)
      find_targets(g_mime_multipart_get_part(GMIME_MULTIPART(o), i), body_at, body_size, plain, out, notes);
    return;
  }
  if (!GMIME_IS_PART(o) || GMIME_IS_APPLICATION_PKCS7_MIME(o)) return;  // message/rfc822, S/MIME: never
  GMimeContentType* ct = g_mime_object_get_content_type(o);
  bool html = g_mime_content_type_is_type(ct, "text", "html");
  if (!html && !(plain && g_mime_content_type_is_type(ct, "text", "plain"))) return;
  const char* disposition = g_mime_object_get_disposition(o);
  if (disposition && g_ascii_strcasecmp(disposition, "attachment") == 0) return;
  if (!ascii_compatible(g_mime_object_get_content_type_parameter(o, "charset"))) {
    *notes += "a part in a charset that is not ASCII-compatible left alone; ";
    return;
  }
  GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(o));
  GMimeStream* stream = content ? g_mime_data_wrapper_get_stream(content) : nullptr;
  if (!stream || stream->bound_start < static_cast<gint64>(body_at) || stream->bound_end < stream->bound_start ||
      stream->bound_end > static_cast<gint64>(body_at + body_size))
    return;
  GMimeContentEncoding enc = g_mime_part_get_content_encoding(GMIME_PART(o));
  if (enc == GMIME_CONTENT_ENCODING_UUENCODE) return;
  out->push_back({static_cast<size_t>(stream->bound_start) - body_at, static_cast<size_t>(stream->bound_end) - body_at,
                  enc, html});
}

}  // namespace

std::vector<std::string> list_unsubscribe_urls(std::string_view value) {
  std::vector<std::string> out;
  size_t at = 0;
  while ((at = value.find('<', at)) != std::string_view::npos) {
    size_t end = value.find('>', at);
    if (end == std::string_view::npos) break;
    std::string url;
    for (char c : value.substr(at + 1, end - at - 1))
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') url += c;  // folding white space
    if (http_scheme(url)) out.push_back(std::move(url));
    at = end + 1;
  }
  return out;
}

HtmlRewrite rewrite_plain_text(std::string_view text, const HtmlTracking& t) {
  HtmlRewrite out;
  if (!t.click) {
    out.html.assign(text);
    return out;
  }
  auto lower_at = [&](size_t i, std::string_view p) {
    if (text.size() - i < p.size()) return false;
    for (size_t k = 0; k < p.size(); k++)
      if (std::tolower(static_cast<unsigned char>(text[i + k])) != p[k]) return false;
    return true;
  };
  size_t from = 0;
  for (size_t i = 0; i < text.size(); i++) {
    if ((text[i] != 'h' && text[i] != 'H') || !(lower_at(i, "http://") || lower_at(i, "https://"))) continue;
    if (i > 0 && (std::isalnum(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '/')) continue;
    size_t end = i;
    while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end])) &&
           std::string_view("<>\"'`").find(text[end]) == std::string_view::npos && static_cast<unsigned char>(text[end]) >= 0x21 &&
           static_cast<unsigned char>(text[end]) < 0x7f)
      end++;
    while (end > i && std::string_view(".,;:!?)]}").find(text[end - 1]) != std::string_view::npos) end--;
    std::string url(text.substr(i, end - i));
    bool skip = url_host(url).empty() || (!t.tracking_host.empty() && url_host(url) == t.tracking_host) ||
                std::find(t.skip_urls.begin(), t.skip_urls.end(), url) != t.skip_urls.end() ||
                out.links >= t.max_links;
    std::optional<std::string> tracked = skip ? std::nullopt : t.click(url, static_cast<uint16_t>(out.links));
    if (tracked) {
      out.html.append(text.substr(from, i - from));
      out.html += *tracked;
      from = end;
      out.links++;
    }
    i = end > i ? end - 1 : i;
  }
  out.html.append(text.substr(from));
  out.changed = out.links > 0;
  return out;
}

Result<MessageRewrite> rewrite_message(std::string_view headers, std::string_view body, const MessageTracking& t) {
  gmime_init_once();
  std::string whole;
  whole.reserve(headers.size() + 2 + body.size());
  whole.append(headers).append("\r\n").append(body);
  const size_t body_at = headers.size() + 2;
  GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(whole.data(), whole.size()));
  GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  // Persist: each part's content stays a window onto `whole`, whose bounds
  // are the offsets this splices at.
  g_mime_parser_set_persist_stream(parser.get(), TRUE);
  GPtr<GMimeMessage> message(g_mime_parser_construct_message(parser.get(), nullptr));
  if (!message || !g_mime_message_get_mime_part(message.get()))
    return Status(Code::invalid, "the message could not be parsed as MIME");

  MessageRewrite out;
  std::vector<Target> targets;
  find_targets(g_mime_message_get_mime_part(message.get()), body_at, body.size(), t.plain_clicks, &targets,
               &out.notes);

  std::string result;
  size_t from = 0;
  bool pixel_due = !t.html.pixel_url.empty();
  for (const Target& target : targets) {
    if (target.start < from) continue;
    std::string_view original = body.substr(target.start, target.end - target.start);
    // This part's share of the message's links: indexes go on, the cap is for
    // the whole message.
    HtmlTracking part = t.html;
    const unsigned base = out.links;
    if (part.click) {
      auto click = t.html.click;
      part.click = [click, base](const std::string& url, uint16_t i) {
        return click(url, static_cast<uint16_t>(base + i));
      };
    }
    part.max_links = t.html.max_links > base ? t.html.max_links - base : 0;
    if (!target.html || !pixel_due) part.pixel_url.clear();
    const bool encoded = target.encoding == GMIME_CONTENT_ENCODING_BASE64 ||
                         target.encoding == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE;
    std::string decoded;
    if (encoded) {
      auto d = transfer(crlf_to_lf(original), target.encoding, false);
      if (!d) {
        out.notes += "a part that did not decode left alone; ";
        continue;
      }
      decoded = std::move(*d);
    } else {
      decoded.assign(original);
    }
    HtmlRewrite r = target.html ? rewrite_html(decoded, part) : rewrite_plain_text(decoded, part);
    if (!r.skipped.empty()) out.notes += r.skipped + "; ";
    if (!r.changed) continue;
    std::string replacement;
    if (encoded) {
      auto e = transfer(r.html, target.encoding, true);
      if (!e) {
        out.notes += "a part that did not encode left alone; ";
        continue;
      }
      replacement = lf_to_crlf(*e);
      // The content ends as the original did: the line break before the
      // next boundary belongs to the boundary.
      if (ends_in_crlf(replacement) && !ends_in_crlf(original)) replacement.resize(replacement.size() - 2);
      else if (!ends_in_crlf(replacement) && ends_in_crlf(original)) replacement += "\r\n";
    } else {
      if (target.encoding != GMIME_CONTENT_ENCODING_BINARY && !lines_within(r.html, 998)) {
        out.notes += "a 7bit/8bit part whose lines would pass 998 octets left alone; ";
        continue;
      }
      replacement = std::move(r.html);
    }
    result.append(body.substr(from, target.start - from));
    result += replacement;
    from = target.end;
    out.changed = true;
    out.links += r.links;
    if (r.pixel) {
      out.pixel = true;
      pixel_due = false;
    }
  }
  if (out.notes.size() >= 2) out.notes.resize(out.notes.size() - 2);  // the last "; "
  if (!out.changed) return out;                                       // nothing rewritten
  result.append(body.substr(from));
  out.body = std::move(result);
  return out;
}

}  // namespace migo
