#!/usr/bin/env bash
# completion_test.sh MIGOCTL COMPLETION_FILE — the bash completion the build
# wrote from migoctl's command table, driven as bash drives it (COMP_WORDS,
# COMP_CWORD, then COMPREPLY): commands word by word, a command's options,
# option values not taken for commands; and every command of the table is
# reachable (so a new command cannot be forgotten).
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/postfix/assert.sh"
MIGOCTL=$1
source "$2"
complete_line() {  # complete_line WORD... (the last is the one being typed)
  COMP_WORDS=(migoctl "$@")
  COMP_CWORD=$#
  COMPREPLY=()
  _migoctl
  echo "${COMPREPLY[*]}"
}
check "the file is what migoctl writes now" cmp -s "$2" <("$MIGOCTL" --completion)
check_contains "first word: a command" "$(complete_line acc)" "account"
check_contains "  or a global option" "$(complete_line --j)" "--json"
got=$(complete_line account "")
for w in create list show disable enable reset-password rename delete; do
  check_contains "account <TAB> offers $w" "$got" "$w"
done
check_lacks "  and no other noun's verbs" "$got" "rotate-dkim"
check_contains "a command's options after its arguments" "$(complete_line account create acme --n)" "--name"
check_contains "  and the global ones" "$(complete_line account create acme --js)" "--json"
check_contains "an option's value is not a command word" "$(complete_line --db /var/lib/migo dom)" "domain"
check_contains "  nor with a command's option" "$(complete_line account list --sort last-used --dor)" "--dormant"
check_contains "a path option completes files" "$(cd / && complete_line --db us)" "usr"
# Every command path in the table, word by word.
missing=""
while read -r path; do
  words=($path)
  prefix=()
  for w in "${words[@]}"; do
    grep -qw -- "$w" <<<"$(complete_line "${prefix[@]}" "")" || missing+=" [$path]"
    prefix+=("$w")
  done
done < <("$MIGOCTL" --help | sed -n '/^COMMANDS$/,/^$/p' | grep -E '^  [a-z]' | sed -E 's/^  ([a-z-]+( [a-z-]+)?).*/\1/' |
         awk '{ if ($2 ~ /^[a-z-]+$/ && $2 !~ /^(WS|USERNAME)$/) print $1" "$2; else print $1 }')
check "every command of the table completes${missing:+ (missing:$missing)}" test -z "$missing"
report
