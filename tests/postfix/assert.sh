# assert.sh — minimal assertions for end-to-end shell tests. Source it; call
# `check "what" command...` or `check_contains "what" "$text" needle`; finish
# with `report`, which prints "N passed, N failed" and sets the exit status.
PASSED=0
FAILED=0

check() {
  local what=$1; shift
  if "$@"; then
    PASSED=$((PASSED + 1)); echo "ok      $what"
  else
    FAILED=$((FAILED + 1)); echo "FAILED  $what"
  fi
}

check_contains() {
  local what=$1 text=$2 needle=$3
  if grep -qF -- "$needle" <<<"$text"; then
    PASSED=$((PASSED + 1)); echo "ok      $what"
  else
    FAILED=$((FAILED + 1)); echo "FAILED  $what: expected '$needle' in:"; sed 's/^/        | /' <<<"$text" | tail -25
  fi
}

check_lacks() {
  local what=$1 text=$2 needle=$3
  if ! grep -qF -- "$needle" <<<"$text"; then
    PASSED=$((PASSED + 1)); echo "ok      $what"
  else
    FAILED=$((FAILED + 1)); echo "FAILED  $what: did not expect '$needle' in:"; sed 's/^/        | /' <<<"$text" | tail -25
  fi
}

report() {
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}
