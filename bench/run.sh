#!/usr/bin/env bash
# run.sh — the benchmarks, each against its baseline in the same run.
#   bench/run.sh [auth] [--seconds S]
# auth: sasl_checkpass through libsasl2 with libmigo.so (LMDB store,
#       salted-MD5 verifier) against libsasl's own sasldb plugin (Berkeley
#       DB file, plaintext userPassword), same process setup, same machine.
# Builds what it needs in build/bench (release flags).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=5
which=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    auth) which+=("$1"); shift ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#which[@]} -gt 0 ] || which=(auth)

bash scripts/install-deps.sh >/dev/null
cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/bench >/dev/null
B=build/bench
work=$(mktemp -d /tmp/migo-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

bench_auth() {
  echo "== auth: sasl_checkpass through libsasl2 $(dpkg-query -W -f='${Version}' libsasl2-2), ${seconds}s each, $(nproc) cores"
  # migo: a store with 1,000 accounts (the measured one among them).
  "$B/migoctl/migoctl" --db "$work/store" init >/dev/null
  "$B/migoctl/migoctl" --db "$work/store" plan set huge --max-accounts 1000 --monthly 1000000 \
    --daily 100000 --hourly 10000 >/dev/null
  "$B/migoctl/migoctl" --db "$work/store" workspace create bench --plan huge >/dev/null
  seq 1 999 | xargs -P 4 -I{} "$B/migoctl/migoctl" --db "$work/store" account create bench --name "filler {}" >/dev/null
  read -r user pw < <("$B/migoctl/migoctl" --db "$work/store" --json account create bench --name measured |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["username"], d["password"])')
  # sasldb: the same 1,000 users in a sasldb2 file.
  for i in $(seq 1 999); do echo "pw$i" | saslpasswd2 -p -c -f "$work/sasldb2" -u mx.test "filler$i"; done
  echo "$pw" | saslpasswd2 -p -c -f "$work/sasldb2" -u mx.test "$user"
  "$B/bench/auth_bench" --label sasldb --seconds "$seconds" --plugin-dir "$B/sasl-plugin" \
    --option pwcheck_method=auxprop --option auxprop_plugin=sasldb --option "sasldb_path=$work/sasldb2" \
    --user "$user" --password "$pw"
  "$B/bench/auth_bench" --label migo --seconds "$seconds" --plugin-dir "$B/sasl-plugin" \
    --option pwcheck_method=auxprop --option auxprop_plugin=migo --option "migo_db=$work/store" \
    --user "$user" --password "$pw"
}

for b in "${which[@]}"; do "bench_$b"; done
