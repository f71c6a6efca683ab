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
// to return at once: 0 after --help, --version or --man (printed to
// standard output), 2 after a usage error (printed to standard error).
int parse_command_line(int argc, char** argv, const ProgramDoc& doc, const std::vector<ProgramOption>& options);

std::string help_text(const ProgramDoc& doc, const std::vector<ProgramOption>& options);
std::string man_page(const ProgramDoc& doc, const std::vector<ProgramOption>& options);

// The roff pieces man_page() is made of, for pages of another shape
// (migoctl's commands): text escaped for roff (minus: '-' as a minus sign,
// for options and commands), and a ProgramDoc text as filled paragraphs
// with literal lines kept.
std::string man_escape(const std::string& s, bool minus = false);
std::string man_text(const std::string& text);

// Value checks the daemons share: a whole number from lo to hi, all of v.
bool whole_number(const std::string& v, long lo, long hi, long* out);

}  // namespace migo
