// from_header.cc — see from_header.h. A tokenizer that drops CFWS (comments,
// white space, folding) and a recursive-descent parser over its tokens.
#include "from_header.h"

#include "migo/loggable.h"

namespace migo {
namespace {

enum class Tok { atom, quoted, literal, special, end };

struct Token {
  Tok kind = Tok::end;
  std::string text;  // atom text, quoted content, [literal], or the special char
  bool space_before = false;  // CFWS preceded it (matters only for display names)
};

bool is_atext(unsigned char c) {
  if (c >= 0x80) return true;  // UTF-8 (RFC 6532)
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) != std::string_view::npos;
}

// Error messages go to the log: client text in them is quoted, escaped and
// short (loggable.h).
constexpr size_t kQuotedBytes = 40;

Status bad(std::string what) { return {Code::invalid, "From header: " + what}; }

Status tokenize(std::string_view in, std::vector<Token>* out) {
  bool space = false;
  size_t i = 0;
  while (i < in.size()) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      // Folding is CRLF (or a bare LF, as milters often see) followed by
      // white space; a line break followed by anything else would end the
      // header, so inside a value it is malformed.
      if ((c == '\r' || c == '\n') ) {
        size_t j = i;
        if (in[j] == '\r') {
          if (j + 1 >= in.size() || in[j + 1] != '\n') return bad("bare CR");
          j++;
        }
        if (j + 1 < in.size() && in[j + 1] != ' ' && in[j + 1] != '\t') return bad("line break without folding");
        i = j + 1;
      } else {
        i++;
      }
      space = true;
      continue;
    }
    if (c == '(') {
      int depth = 0;
      do {
        if (i >= in.size()) return bad("unterminated comment");
        char d = in[i];
        if (d == '\\') {
          i += 2;
          continue;
        }
        if (d == '\0') return bad("NUL byte");
        if (d == '(' && ++depth > kMaxCommentDepth) return bad("comments nested too deeply");
        if (d == ')') depth--;
        i++;
      } while (depth > 0);
      space = true;
      continue;
    }
    Token t;
    t.space_before = space;
    space = false;
    if (c == '"') {
      t.kind = Tok::quoted;
      for (i++;; i++) {
        if (i >= in.size()) return bad("unterminated quoted string");
        char d = in[i];
        if (d == '"') break;
        if (d == '\0') return bad("NUL byte");
        if (d == '\\') {
          if (++i >= in.size()) return bad("unterminated quoted string");
          d = in[i];
        } else if (d == '\r' || d == '\n') {
          continue;  // folding inside a quoted string: the break is not content
        }
        t.text.push_back(d);
      }
      i++;
    } else if (c == '[') {
      t.kind = Tok::literal;
      size_t close = in.find(']', i);
      if (close == std::string_view::npos) return bad("unterminated domain literal");
      t.text = std::string(in.substr(i, close - i + 1));
      if (t.text.find_first_of("[\\\r\n", 1) != std::string::npos) return bad("malformed domain literal");
      i = close + 1;
    } else if (std::string_view("<>@,:;.").find(static_cast<char>(c)) != std::string_view::npos) {
      t.kind = Tok::special;
      t.text = std::string(1, static_cast<char>(c));
      i++;
    } else if (is_atext(c)) {
      t.kind = Tok::atom;
      while (i < in.size() && is_atext(static_cast<unsigned char>(in[i]))) t.text.push_back(in[i++]);
    } else {
      return bad(c == 0 ? std::string("NUL byte") : "unexpected character " + loggable_text(std::string_view(in).substr(i, 1)));
    }
    out->push_back(std::move(t));
  }
  out->push_back(Token{});
  return {};
}

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Status address_list(std::vector<Mailbox>* out) {
    for (;;) {
      MIGO_TRY(address(out));
      if (out->size() > kMaxMailboxes) return bad("more than " + std::to_string(kMaxMailboxes) + " addresses");
      if (is_special(",")) {
        pos_++;
        while (is_special(",")) pos_++;  // obs-addr-list allows empty elements
        if (peek().kind == Tok::end) break;
        continue;
      }
      if (peek().kind == Tok::end) break;
      return bad("unexpected " + loggable_text(peek().text, kQuotedBytes) + " after an address");
    }
    if (out->empty()) return bad("no address");
    return {};
  }

 private:
  const Token& peek(size_t ahead = 0) const { return t_[std::min(pos_ + ahead, t_.size() - 1)]; }
  bool is_special(const char* s) const { return peek().kind == Tok::special && peek().text == s; }
  bool is_word() const { return peek().kind == Tok::atom || peek().kind == Tok::quoted; }

  // phrase = 1*word (obs-phrase also allows '.'), joined as displayed.
  std::string phrase() {
    std::string s;
    while (is_word() || is_special(".")) {
      if (!s.empty() && peek().space_before) s.push_back(' ');
      s += peek().text;
      pos_++;
    }
    return s;
  }

  Status address(std::vector<Mailbox>* out) {
    size_t start = pos_;
    std::string display = phrase();
    if (is_special(":")) {  // group: display-name ":" [mailbox-list] ";"
      if (display.empty()) return bad("group without a name");
      pos_++;
      while (!is_special(";")) {
        if (peek().kind == Tok::end) return bad("group not closed with ';'");
        if (is_special(",")) {
          pos_++;
          continue;
        }
        MIGO_TRY(mailbox(out));
      }
      pos_++;
      return {};
    }
    pos_ = start;
    return mailbox(out);
  }

  Status mailbox(std::vector<Mailbox>* out) {
    size_t start = pos_;
    std::string display = phrase();
    if (is_special("<")) {
      pos_++;
      if (is_special("@")) {  // obs-route: "<@a,@b:user@domain>"
        while (!is_special(":")) {
          if (peek().kind == Tok::end || is_special(">")) return bad("malformed route");
          pos_++;
        }
        pos_++;
      }
      Mailbox m;
      m.display = display;
      MIGO_TRY(addr_spec(&m));
      if (!is_special(">")) return bad("'<' without matching '>'");
      pos_++;
      out->push_back(std::move(m));
      return {};
    }
    // No angle brackets: the words were the local part of an addr-spec.
    pos_ = start;
    Mailbox m;
    MIGO_TRY(addr_spec(&m));
    out->push_back(std::move(m));
    return {};
  }

  Status addr_spec(Mailbox* m) {
    // local-part = word *("." word)
    if (!is_word()) return bad(peek().kind == Tok::end ? "address missing" : "unexpected " + loggable_text(peek().text, kQuotedBytes));
    m->local = peek().text;
    pos_++;
    while (is_special(".")) {
      pos_++;
      if (!is_word()) return bad("empty label in local part");
      m->local += "." + peek().text;
      pos_++;
    }
    if (!is_special("@")) return bad("address without '@'");
    // RFC 5322 allows ""@domain; no sender writes it, so it is refused.
    if (m->local.empty()) return bad("empty local part");
    pos_++;
    if (peek().kind == Tok::literal) {
      m->domain = peek().text;
      pos_++;
      return {};
    }
    if (peek().kind != Tok::atom) return bad("address without a domain");
    m->domain = peek().text;
    pos_++;
    while (is_special(".")) {
      pos_++;
      if (peek().kind != Tok::atom) return bad("empty label in domain");
      m->domain += "." + peek().text;
      pos_++;
    }
    return {};
  }

  std::vector<Token> t_;
  size_t pos_ = 0;
};

}  // namespace

Result<std::vector<Mailbox>> parse_from(std::string_view value) {
  if (value.size() > kMaxFromBytes) return bad("longer than " + std::to_string(kMaxFromBytes) + " bytes");
  std::vector<Token> tokens;
  MIGO_TRY(tokenize(value, &tokens));
  std::vector<Mailbox> out;
  MIGO_TRY(Parser(std::move(tokens)).address_list(&out));
  return out;
}

}  // namespace migo
