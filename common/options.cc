// options.cc — see options.h.
#include "options.h"

#include <getopt.h>

#include <charconv>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#ifndef MIGO_VERSION
#error "MIGO_VERSION must be defined by the build (the project's version)"
#endif

namespace migo {

const char* migo_version() { return MIGO_VERSION; }

bool whole_number(const std::string& v, long lo, long hi, long* out) {
  long n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < lo || n > hi) return false;
  *out = n;
  return true;
}

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool literal(const std::string& line) { return line.rfind("  ", 0) == 0; }

// Text to indent by `by` spaces, line by line (blank lines stay blank).
std::string indented(const std::string& text, size_t by) {
  std::string out;
  for (const std::string& line : lines_of(text)) out += (line.empty() ? "" : std::string(by, ' ') + line) + "\n";
  return out;
}

// roff: a backslash is \e; a line must not start with '.' or '\'' (a
// request); '-' in option names and commands is a minus sign (\-).
std::string roff(const std::string& s, bool minus = false) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') out += "\\e";
    else if (c == '-' && minus) out += "\\-";
    else if (c >= 0x80) {
      // UTF-8 to groff's \[uXXXX] (troff reads bytes, not UTF-8): the
      // text's em dashes and quotes survive in every output.
      size_t n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
      uint32_t cp = c & (0x3f >> n);
      for (size_t k = 1; k <= n && i + k < s.size(); k++) cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3f);
      i += n;
      char buf[16];
      std::snprintf(buf, sizeof buf, "\\[u%04X]", static_cast<unsigned>(cp));
      out += buf;
    } else out += static_cast<char>(c);
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out = "\\&" + out;
  return out;
}

// A ProgramDoc text as man paragraphs: filled text, .PP between
// paragraphs, literal lines in .nf/.fi.
std::string roff_text(const std::string& text) {
  std::string out;
  bool in_literal = false;
  for (const std::string& line : lines_of(text)) {
    if (line.empty()) {
      if (in_literal) out += ".fi\n.RE\n", in_literal = false;
      out += ".PP\n";
      continue;
    }
    if (literal(line) != in_literal) {
      out += in_literal ? ".fi\n.RE\n" : ".RS 4\n.nf\n";
      in_literal = !in_literal;
    }
    out += roff(in_literal ? line.substr(2) : line) + "\n";
  }
  if (in_literal) out += ".fi\n.RE\n";
  return out;
}

}  // namespace

std::string man_escape(const std::string& s, bool minus) { return roff(s, minus); }
std::string man_text(const std::string& text) { return roff_text(text); }

namespace {

std::string option_label(const ProgramOption& o) { return "--" + o.name + (o.arg.empty() ? "" : " " + o.arg); }

}  // namespace

std::string help_text(const ProgramDoc& doc, const std::vector<ProgramOption>& options) {
  std::string out = "NAME\n  " + doc.name + " - " + doc.summary + "\n\nSYNOPSIS\n  " + doc.name + " " +
                    doc.synopsis + "\n\nDESCRIPTION\n" + indented(doc.description, 2) + "\nOPTIONS\n";
  size_t width = 0;
  for (const ProgramOption& o : options) width = std::max(width, option_label(o).size());
  width = std::min<size_t>(width, 22);
  auto row = [&](const std::string& label, const std::string& help) {
    std::vector<std::string> help_lines = lines_of(help);
    if (help_lines.empty()) help_lines.push_back("");
    std::string pad = std::string(2 + width + 2, ' ');
    if (label.size() > width) out += "  " + label + "\n" + pad + help_lines[0] + "\n";
    else out += "  " + label + std::string(width - label.size() + 2, ' ') + help_lines[0] + "\n";
    for (size_t i = 1; i < help_lines.size(); i++) out += pad + help_lines[i] + "\n";
  };
  for (const ProgramOption& o : options) row(option_label(o), o.help);
  row("--version", "print the version and exit");
  row("--help", "this text (the man page " + doc.name + "(8) says the same)");
  if (doc.config)
    out += "\nCONFIGURATION FILE\n  " + doc.config->path + " (" + doc.config->name + "(5)): " + doc.config->summary +
           "\n" + config_keys_text(*doc.config);
  for (const ProgramDoc::Section& s : doc.sections) out += "\n" + s.title + "\n" + indented(s.text, 2);
  if (!doc.see_also.empty()) out += "\nSEE ALSO\n  " + doc.see_also + "\n";
  return out;
}

std::string config_keys_text(const ConfigFileDoc& doc) {
  std::string out;
  size_t width = 0;
  for (const ConfigKey& k : doc.keys) width = std::max(width, k.name.size());
  for (const ConfigKey& k : doc.keys) {
    std::vector<std::string> help_lines = lines_of(k.help);
    if (!k.fallback.empty()) help_lines.push_back("(default: " + k.fallback + ")");
    std::string pad(2 + width + 2, ' ');
    for (size_t i = 0; i < help_lines.size(); i++)
      out += (i == 0 ? "  " + k.name + std::string(width - k.name.size() + 2, ' ') : pad) + help_lines[i] + "\n";
  }
  return out;
}

std::string config_man_page(const ConfigFileDoc& doc) {
  std::string upper;
  for (char c : doc.name) upper += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  std::string out = ".\\\" Generated from the table the program reads its keys with; do not edit.\n";
  out += ".TH " + upper + " 5 \"\" \"migo-relay " + std::string(migo_version()) + "\" \"migo-relay\"\n";
  out += ".SH NAME\n" + roff(doc.name, true) + " \\- " + roff(doc.summary) + "\n";
  out += ".SH SYNOPSIS\n.B " + roff(doc.path, true) + "\n";
  out += ".SH DESCRIPTION\n" + roff_text(doc.description);
  out += ".SH KEYS\n";
  for (const ConfigKey& k : doc.keys) {
    out += ".TP\n\\fB" + roff(k.name) + "\\fR" + roff(doc.separator) + "\\fI" + roff(k.value, true) + "\\fR\n";
    out += roff_text(k.help);
    if (!k.fallback.empty()) out += ".IP\nDefault: \\fB" + roff(k.fallback) + "\\fR\n";
  }
  if (!doc.example.empty()) out += ".SH EXAMPLE\n.RS 4\n.nf\n" + [&] {
    std::string lines;
    for (const std::string& line : lines_of(doc.example)) lines += roff(line) + "\n";
    return lines;
  }() + ".fi\n.RE\n";
  if (!doc.see_also.empty()) out += ".SH \"SEE ALSO\"\n" + roff(doc.see_also) + "\n";
  return out;
}

namespace {

std::string trimmed(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

}  // namespace

Status read_config_file(const std::string& path, const std::vector<ConfigKey>& keys) {
  std::ifstream f(path);
  if (!f) return {Code::unavailable, "cannot read " + path + ": " + std::strerror(errno)};
  std::string line;
  for (int n = 1; std::getline(f, line); n++) {
    const std::string where = path + ":" + std::to_string(n) + ": ";
    if (size_t hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    line = trimmed(line);
    if (line.empty()) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos) return {Code::invalid, where + "expected key = value"};
    const std::string key = trimmed(line.substr(0, eq)), value = trimmed(line.substr(eq + 1));
    const ConfigKey* k = nullptr;
    for (const ConfigKey& c : keys)
      if (c.name == key) k = &c;
    if (!k) return {Code::invalid, where + "unknown key: " + key};
    if (Status s = k->set(value); !s.ok()) return {Code::invalid, where + key + ": " + s.message()};
  }
  if (f.bad()) return {Code::unavailable, "cannot read " + path + ": " + std::strerror(errno)};
  return {};
}

std::string man_page(const ProgramDoc& doc, const std::vector<ProgramOption>& options) {
  std::string upper;
  for (char c : doc.name) upper += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  std::string out = ".\\\" Generated by " + doc.name + " --man from the text of its --help; do not edit.\n";
  out += ".TH " + upper + " 8 \"\" \"migo-relay " + std::string(migo_version()) + "\" \"migo-relay\"\n";
  out += ".SH NAME\n" + roff(doc.name, true) + " \\- " + roff(doc.summary) + "\n";
  out += ".SH SYNOPSIS\n.B " + roff(doc.name, true) + "\n" + roff(doc.synopsis, true) + "\n";
  out += ".SH DESCRIPTION\n" + roff_text(doc.description);
  out += ".SH OPTIONS\n";
  auto item = [&](const std::string& name, const std::string& arg, const std::string& help) {
    out += ".TP\n\\fB\\-\\-" + roff(name, true) + "\\fR" + (arg.empty() ? "" : " \\fI" + roff(arg, true) + "\\fR") + "\n";
    out += roff_text(help);
  };
  for (const ProgramOption& o : options) item(o.name, o.arg, o.help);
  item("version", "", "Print the version and exit.");
  item("help", "", "Print this page's text and exit.");
  if (doc.config) {
    out += ".SH \"CONFIGURATION FILE\"\n" + roff(doc.config->path, true) + ": " + roff(doc.config->summary) +
           ". Its keys, which \\fB" + roff(doc.config->name, true) + "\\fR(5) describes:\n.RS 4\n.nf\n";
    for (const ConfigKey& k : doc.config->keys) out += roff(k.name) + "\n";
    out += ".fi\n.RE\n";
  }
  for (const ProgramDoc::Section& s : doc.sections) out += ".SH \"" + roff(s.title) + "\"\n" + roff_text(s.text);
  if (!doc.see_also.empty()) out += ".SH \"SEE ALSO\"\n" + roff(doc.see_also) + "\n";
  return out;
}

std::function<Status(const std::string&)> store_value(std::string* to) {
  return [to](const std::string& v) -> Status {
    *to = v;
    return {};
  };
}

std::function<Status(const std::string&)> set_flag(bool* to) {
  return [to](const std::string&) -> Status {
    *to = true;
    return {};
  };
}

int parse_command_line(int argc, char** argv, const ProgramDoc& doc, const std::vector<ProgramOption>& options) {
  enum { kHelp = 256, kVersion, kMan, kFirst };
  std::vector<option> table;
  for (size_t i = 0; i < options.size(); i++)
    table.push_back({options[i].name.c_str(), options[i].arg.empty() ? no_argument : required_argument, nullptr,
                     kFirst + static_cast<int>(i)});
  table.push_back({"help", no_argument, nullptr, kHelp});
  table.push_back({"version", no_argument, nullptr, kVersion});
  table.push_back({"man", optional_argument, nullptr, kMan});
  table.push_back({nullptr, 0, nullptr, 0});
  auto usage = [&](const std::string& why) {
    std::cerr << doc.name << ": " << why << "\nTry '" << doc.name << " --help'.\n";
    return 2;
  };
  opterr = 0;  // our messages, not getopt's
  optind = 0;  // glibc: start afresh (tests parse more than once)
  for (;;) {
    int seen = optind ? optind : 1;
    int c = getopt_long(argc, argv, "+:h", table.data(), nullptr);
    if (c == -1) break;
    const std::string arg = seen < argc ? argv[seen] : "";
    if (c == 'h' || c == kHelp) {
      std::cout << help_text(doc, options);
      return 0;
    }
    if (c == kVersion) {
      std::cout << doc.name << " " << migo_version() << "\n";
      return 0;
    }
    if (c == kMan) {
      const std::string section = optarg ? optarg : "8";
      if (section == "8") std::cout << man_page(doc, options);
      else if (section == "5" && doc.config) std::cout << config_man_page(*doc.config);
      else return usage("no section " + section + " page (--man=8" + (doc.config ? " or --man=5)" : ")"));
      return 0;
    }
    if (c == ':') return usage(arg.substr(0, arg.find('=')) + " needs a value");
    if (c == '?') return usage("unknown option '" + arg + "'");
    const ProgramOption& o = options[static_cast<size_t>(c - kFirst)];
    if (Status s = o.set(optarg ? optarg : ""); !s.ok()) return usage(s.message());
  }
  if (optind < argc) return usage("unexpected argument '" + std::string(argv[optind]) + "'");
  return -1;
}

}  // namespace migo
