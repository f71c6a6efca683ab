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
trap 'kill $pid ${first:-} ${third:-} 2>/dev/null; rm -rf "$base"' EXIT
mkdir -m 0700 "$base/dkim"
m() { "$MIGOCTL" --db "$base/store" --dkim-keys "$base/dkim" "$@"; }
m init >/dev/null
m workspace create acme --plan 10k >/dev/null
m domain add acme example.com >/dev/null && m domain verify --manual acme example.com >/dev/null
ok=$(m --json account create acme --name ok | python3 -c 'import json,sys; print(json.load(sys.stdin)["username"])')
off=$(m --json account create acme --name off | python3 -c 'import json,sys; print(json.load(sys.stdin)["username"])')
m account disable "$off" >/dev/null
head -c 32 /dev/urandom >"$base/key"
user_args=()
if [ "$(id -u)" -eq 0 ]; then chown -R nobody "$base/store" "$base/key" "$base/dkim"; user_args=(--user nobody); fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$MILTER" --db "$base/store" --key "$base/key" --dkim-keys "$base/dkim" --socket "inet:$port@127.0.0.1" "${user_args[@]}" \
  --foreground 2>"$base/milter.log" &
pid=$!
MILTER="inet:$port@127.0.0.1" USER_OK=$ok USER_OFF=$off miltertest -s "$here/milter_checks.lua"
rc=$?
[ $rc -eq 0 ] || { echo "milter log:"; cat "$base/milter.log"; }

# A second milter on a live unix socket refuses (issue 13, item 9); the
# first keeps serving; a stale socket left by kill -9 is taken over.
sock=$base/milter.sock
start_unix() { exec "$MILTER" --db "$base/store" --key "$base/key" --socket "unix:$sock" "${user_args[@]}" --foreground "$@"; }
start_unix 2>"$base/first.log" &
first=$!
for i in $(seq 1 50); do [ -S "$sock" ] && break; sleep 0.1; done
(start_unix) 2>"$base/second.log" </dev/null & second=$!
for i in $(seq 1 100); do kill -0 $second 2>/dev/null || break; sleep 0.1; done
kill -9 $second 2>/dev/null; wait $second
second_rc=$?
if [ $second_rc -eq 1 ] && grep -q "another process is listening on $sock" "$base/second.log" &&
   kill -0 $first 2>/dev/null && [ -S "$sock" ]; then
  echo "ok      a second milter on a live socket refuses, the first keeps its socket"
else
  echo "FAILED  a second milter on a live socket: rc=$second_rc"; cat "$base/second.log"; rc=1
fi
kill -9 $first; wait $first 2>/dev/null
start_unix 2>"$base/third.log" &
third=$!
for i in $(seq 1 50); do grep -q "ready" "$base/third.log" && break; sleep 0.1; done
if grep -q "ready: listening on unix:$sock" "$base/third.log"; then
  echo "ok      a stale milter socket is taken over"
else
  echo "FAILED  a stale milter socket"; cat "$base/third.log"; rc=1
fi
kill $third 2>/dev/null
exit $rc
