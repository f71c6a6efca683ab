#!/usr/bin/env bash
# man_test.sh VERSION PROGRAM PAGE [PROGRAM PAGE]... — each daemon's
# documentation, as a mail admin meets it: --version says "NAME VERSION";
# --help and the man page list the same options (both are rendered from
# one ProgramDoc, common/options.h); the page the build wrote is the one
# the program renders now (not a stale file); groff formats it without a
# warning and man(1) shows it; a usage error is exit 2 with a hint, on
# standard error only. A PAGE in section 5 (NAME.5) is a configuration
# file's, which PROGRAM renders with --man=5: it must be current and clean,
# and list the same keys as the program's --help.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/postfix/assert.sh"
version=$1
shift
options_of() { grep -o -- '--[a-z][a-z0-9-]*' | sort -u; }
while [ $# -ge 2 ]; do
  prog=$1 page=$2
  shift 2
  name=$(basename "$prog")
  if [ "${page##*.}" = 5 ]; then
    pname=$(basename "$page" .5)
    check "$pname(5): the installed page is what $name renders now" cmp -s "$page" <("$prog" --man=5)
    warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
    check "  groff formats it without a warning${warnings:+: $warnings}" test -z "$warnings"
    man_text=$(MANWIDTH=200 man -l "$page" 2>/dev/null | col -b)
    check_contains "  man -l shows its KEYS" "$man_text" "KEYS"
    page_keys=$(sed -n '/^KEYS$/,/^[A-Z]/p' <<<"$man_text" | sed -n 's/^ \{7\}\([a-z_]*\)[:=]\{0,1\} .*/\1/p' | sort)
    check "  it describes keys ($(wc -w <<<"$page_keys"))" test -n "$page_keys"
    if help=$("$prog" --help 2>/dev/null) && grep -q '^CONFIGURATION FILE$' <<<"$help"; then
      help_keys=$(sed -n '/^CONFIGURATION FILE$/,/^[A-Z]/p' <<<"$help" | sed -n 's/^  \([a-z_][a-z_]*\)  .*/\1/p' | sort)
      check "  the same keys as $name --help lists" test "$help_keys" = "$page_keys"
    fi
    continue
  fi
  check "$name --version says its name and version" grep -q "^$name $version\( \|\$\)" <<<"$("$prog" --version)"
  help=$("$prog" --help)
  check "$name --help exits 0" sh -c "\"\$0\" --help >/dev/null" "$prog"
  check_contains "$name --help starts with its NAME section" "$(head -2 <<<"$help")" "$name - "
  man_text=$(MANWIDTH=200 man -l "$page" 2>/dev/null | col -b)
  check_contains "man -l shows $name(8)" "$man_text" "OPTIONS"
  # The OPTIONS sections list the same options.
  help_opts=$(sed -n '/^OPTIONS$/,/^[A-Z]/p' <<<"$help" | grep -E '^  --' | options_of)
  man_opts=$(sed -n '/^OPTIONS$/,/^[A-Z]/p' <<<"$man_text" | grep -E '^ +--' | options_of)
  check "  --help and the page list the same options ($(wc -w <<<"$help_opts"))" test "$help_opts" = "$man_opts"
  check "  the installed page is what $name renders now" cmp -s "$page" <("$prog" --man)
  warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
  check "  groff formats it without a warning${warnings:+: $warnings}" test -z "$warnings"
  out=$("$prog" --no-such-option 2>/dev/null); rc=$?
  err=$("$prog" --no-such-option 2>&1 >/dev/null)
  check "  an unknown option is a usage error (exit 2)" test "$rc" = 2
  check "  with nothing on standard output" test -z "$out"
  check_contains "  and a hint on standard error" "$err" "Try '$name --help'."
  check "  a stray argument is a usage error too" test "$("$prog" stray >/dev/null 2>&1; echo $?)" = 2
done
report
