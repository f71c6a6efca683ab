// options.h — the one command-line parser of migo's daemons (migo-policyd,
// migo-milter, migo-statd, migo-trackd), on getopt_long, and the one source
// of their documentation: --help renders a program's ProgramDoc and its
// options as text, --man renders the same as a man page (the build writes
// section 8 pages with it), so the two never disagree. --version answers
// "NAME VERSION". Each option's handler checks its value and says what is
// wrong; a bad value, an unknown option or a stray argument is a usage
// error (exit 2), as for Postfix's programs.
//
// Text in a ProgramDoc: paragraphs separated by a blank line; a line that
// starts with two spaces is kept as it is (an example, a table) and
// becomes literal text in the man page.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "migo/status.h"

namespace migo {

// The version of migo-relay every program reports (CMake's project version).
const char* migo_version();

// A configuration file of "key = value" lines ('#' starts a comment),
// its keys described once: --help lists them, its section 5 page
// documents them and read_config_file() applies them, so the three cannot
// disagree. (Postfix's smtpd.conf, read by libsasl, has "key: value"
// lines: `separator` says which.)
struct ConfigKey {
  std::string name;
  std::string value;     // what the value is: "ACTION", "SECONDS"
  std::string fallback;  // the default, as text; empty: none
  std::string help;      // a ProgramDoc text
  // Given the value; an error says what is wrong with it.
  std::function<Status(const std::string&)> set;
};

struct ConfigFileDoc {
  std::string name;     // the page: "migo-policyd.conf"
  std::string path;     // "/etc/migo/policyd.conf"
  std::string summary;  // after "NAME - "
  std::string description;
  std::vector<ConfigKey> keys;
  std::string see_also;
  std::string separator = " = ";  // between key and value in the file
  std::string example;            // a whole file, literal
};

struct ProgramDoc {
  struct Section {
    std::string title;  // "SIGNALS", "EXIT STATUS", "FILES", ...
    std::string text;
  };
  std::string name;     // "migo-policyd"
  std::string summary;  // after "NAME - " in the page's NAME section
  std::string synopsis;  // the arguments after the name ("--listen ADDR [--db PATH] ...")
  std::string description;
  std::vector<Section> sections;  // after OPTIONS
  std::string see_also;           // "postconf(5), migoctl(8)"
  // The program's configuration file, if it has one: --help lists its
  // keys, `--man=5` renders its page.
  const ConfigFileDoc* config = nullptr;
};

struct ProgramOption {
  std::string name;  // without "--"
  std::string arg;   // the value's name ("PATH"); empty for a flag
  std::string help;  // lines, each on its own in --help
  // Given the value ("" for a flag); an error is a usage error, its
  // message printed after the program's name.
  std::function<Status(const std::string&)> set;
};

// The usual handlers: store the value in `to`; set `to` (a flag).
std::function<Status(const std::string&)> store_value(std::string* to);
std::function<Status(const std::string&)> set_flag(bool* to);

// Parses argv. Returns -1 when the program should run, or the exit code
// to return at once: 0 after --help, --version or --man[=8|5] (printed to
// standard output), 2 after a usage error (printed to standard error).
int parse_command_line(int argc, char** argv, const ProgramDoc& doc, const std::vector<ProgramOption>& options);

std::string help_text(const ProgramDoc& doc, const std::vector<ProgramOption>& options);
std::string man_page(const ProgramDoc& doc, const std::vector<ProgramOption>& options);
// The keys as --help lists them, and a configuration file's section 5 page.
std::string config_keys_text(const ConfigFileDoc& doc);
std::string config_man_page(const ConfigFileDoc& doc);

// Applies a "key = value" file to `keys`: '#' starts a comment, blank
// lines are skipped; an unknown key, a line without '=' or a value its key
// refuses is an error naming the file and line. Keys not in the file keep
// what they had.
Status read_config_file(const std::string& path, const std::vector<ConfigKey>& keys);

// The roff pieces man_page() is made of, for pages of another shape
// (migoctl's commands): text escaped for roff (minus: '-' as a minus sign,
// for options and commands), and a ProgramDoc text as filled paragraphs
// with literal lines kept.
std::string man_escape(const std::string& s, bool minus = false);
std::string man_text(const std::string& text);

// Value checks the daemons share: a whole number from lo to hi, all of v.
bool whole_number(const std::string& v, long lo, long hi, long* out);

}  // namespace migo
