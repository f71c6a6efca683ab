#!/usr/bin/env bash
# run_miltertest.sh — start migo-milter on a fresh store and run
# milter_checks.lua against it with miltertest(8).
#   run_miltertest.sh MIGOCTL MIGO_MILTER
set -uo pipefail
MIGOCTL=$1
MILTER=$2
here=$(cd "$(dirname "$0")" && pwd)
base=$(mktemp -d /tmp/migo-miltertest-XXXXXX)
chmod 755 "$base"
trap 'kill $pid 2>/dev/null; rm -rf "$base"' EXIT
m() { "$MIGOCTL" --db "$base/store" "$@"; }
m init >/dev/null
m workspace create acme --plan 10k >/dev/null
m domain add acme example.com >/dev/null && m domain verify acme example.com >/dev/null
ok=$(m --json account create acme --name ok | python3 -c 'import json,sys; print(json.load(sys.stdin)["username"])')
off=$(m --json account create acme --name off | python3 -c 'import json,sys; print(json.load(sys.stdin)["username"])')
m account disable "$off" >/dev/null
head -c 32 /dev/urandom >"$base/key"
user_args=()
if [ "$(id -u)" -eq 0 ]; then chown -R nobody "$base/store" "$base/key"; user_args=(--user nobody); fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$MILTER" --db "$base/store" --key "$base/key" --socket "inet:$port@127.0.0.1" "${user_args[@]}" \
  --foreground 2>"$base/milter.log" &
pid=$!
MILTER="inet:$port@127.0.0.1" USER_OK=$ok USER_OFF=$off miltertest -s "$here/milter_checks.lua"
rc=$?
[ $rc -eq 0 ] || { echo "milter log:"; cat "$base/milter.log"; }
exit $rc
