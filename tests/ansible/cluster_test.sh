#!/usr/bin/env bash
# cluster_test.sh — the ansible role deploying several relays: an inventory
# of two hosts (two private Postfix instances on this machine, played one
# host at a time), relay1 also running the relays' Redis with its ACL user.
# Checks: Redis refuses the default user and anything but migo's keys; the
# shared state is made once from relay1's store and relay2 joins it; both
# relays get relay1's tag and seal keys; migo-syncd runs on both; an account
# made on relay2 with migoctl (its URL file) authenticates on relay1 and
# mail through both is counted in the shared Redis; a second play changes
# nothing.
#   cluster_test.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$here/.." && pwd)
source "$here/postfix/assert.sh"
source "$here/postfix/harness.sh"
BUILD=$(cd "$1" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "cluster_test: needs root (skipped)"; exit 77; }

redis_port=$(pf_free_port)
password=$(openssl rand -hex 16)
url="redis://migo-relay:$password@127.0.0.1:$redis_port"
declare -A BASE SUB PREFIX ETC
for h in relay1 relay2; do
  migo_role_new "cluster-$h"
  migo_role_vars "migo_build_dir: $BUILD" "$base/prefix"
  BASE[$h]=$base SUB[$h]=$sub_port PREFIX[$h]=$prefix ETC[$h]=$PF_ETC
  cat >>"$base/vars.yml" <<VARS
migo_redis_state_url: "$url"
migo_redis_counters_urls: ["$url"]
migo_relay_name: $h
VARS
done
# relay1 runs the Redis (its data under its own directory, for the test).
redis_dir=${BASE[relay1]}/redis
mkdir -p "$redis_dir" && chown redis:redis "$redis_dir"
cat >>"${BASE[relay1]}/vars.yml" <<VARS
migo_redis_server: true
migo_redis_port: $redis_port
migo_redis_acl_password: "$password"
migo_redis_conf: ${BASE[relay1]}/redis-migo.conf
migo_redis_dir: $redis_dir
VARS
inventory=$(mktemp /tmp/migo-cluster-inventory-XXXXXX.yml)
python3 - "${BASE[relay1]}/vars.yml" "${BASE[relay2]}/vars.yml" >"$inventory" <<'PY'
import json, sys, yaml
hosts = {}
for name, path in zip(["relay1", "relay2"], sys.argv[1:]):
    v = yaml.safe_load(open(path))
    v["ansible_connection"] = "local"
    v["ansible_python_interpreter"] = "/usr/bin/python3"
    hosts[name] = v
print(json.dumps({"all": {"hosts": hosts}}))
PY
cleanup_cluster() {
  start-stop-daemon --stop --quiet --retry 5 --oknodo --pidfile "${BASE[relay1]}/run/redis-migo.pid" 2>/dev/null
  for h in relay1 relay2; do
    start-stop-daemon --stop --quiet --retry 5 --oknodo --pidfile "${BASE[$h]}/run/migo-syncd.pid" 2>/dev/null
  done
  rm -f "$inventory"
  pf_cleanup
}
trap cleanup_cluster EXIT
# One host at a time (-f 1): both "hosts" are this machine, which one apt
# and one useradd at a time can serve.
play() {
  (cd "$repo/ansible" && ANSIBLE_NOCOLOR=1 ansible-playbook -i "$inventory" -f 1 site.yml "$@" 2>&1)
}
first=$(play)
check_contains "the play over two relays succeeds" "$first" "relay2                     : ok="
check "  and fails nowhere" test -z "$(grep -o 'failed=[1-9]' <<<"$first")"
[ -z "$(grep -o 'failed=[1-9]' <<<"$first")" ] || echo "$first" | grep -B5 -A20 "fatal:" | head -60

r() { redis-cli -p "$redis_port" "$@" 2>&1; }
check_contains "Redis refuses the default user" "$(r PING)" "NOAUTH"
check_contains "the relays' user gets in" "$(r --user migo-relay --pass "$password" --no-auth-warning PING)" "PONG"
check_contains "  and is kept to migo's keys" "$(r --user migo-relay --pass "$password" --no-auth-warning SET other 1)" "NOPERM"
check_contains "  and from administrative commands" "$(r --user migo-relay --pass "$password" --no-auth-warning CONFIG GET dir)" "NOPERM"
check "the URL file is migo-syncd's alone (0400)" \
  test "$(stat -c '%a %U:%G' "${BASE[relay2]}/etc/redis-state.url")" = "400 migo-syncd:root"
check "policyd.conf holds the counters" grep -q '^counters = redis://' "${BASE[relay2]}/etc/policyd.conf"
check "both relays have relay1's tag key" cmp -s "${BASE[relay1]}/etc/tag.key" "${BASE[relay2]}/etc/tag.key"
check "both relays have relay1's seal key" cmp -s "${BASE[relay1]}/etc/dkim-seal.key" "${BASE[relay2]}/etc/dkim-seal.key"
check "the seal key is migo-syncd's alone (0400)" \
  test "$(stat -c '%a %U:%G' "${BASE[relay2]}/etc/dkim-seal.key")" = "400 migo-syncd:root"
check "the DKIM key directory is migo-syncd:migo-milter 2750" \
  test "$(stat -c '%a %U:%G' "${BASE[relay2]}/etc/dkim")" = "2750 migo-syncd:migo-milter"
for h in relay1 relay2; do
  check "migo-syncd runs on $h, unprivileged" \
    test "$(ps -o user= -p "$(cat "${BASE[$h]}/run/migo-syncd.pid" 2>/dev/null)" 2>/dev/null)" = migo-syncd
done

# Restarted, Redis keeps the shared state (its append-only file replays).
start-stop-daemon --stop --quiet --retry 10 --oknodo --pidfile "${BASE[relay1]}/run/redis-migo.pid"
start-stop-daemon --start --quiet --background --make-pidfile --chuid redis --pidfile "${BASE[relay1]}/run/redis-migo.pid" \
  --exec /usr/bin/redis-server -- "${BASE[relay1]}/redis-migo.conf"
redis_up() { r PING | grep -q NOAUTH; }
check "Redis restarts" pf_eventually redis_up

m() {  # m HOST ARGS...: migoctl on that relay, through the shared state (its URL file)
  local h=$1; shift
  "${PREFIX[$h]}/sbin/migoctl" --db "${BASE[$h]}/store" --dkim-keys "${BASE[$h]}/etc/dkim" \
    --redis-file "${BASE[$h]}/etc/redis-state.url" --seal-key "${BASE[$h]}/etc/dkim-seal.key" --relay "$h" "$@"
}
status=$(m relay2 --json shared status)
check_contains "relay2 is in step with the shared state relay1 made" "$status" '"state": "in step"'
m relay2 workspace create acme --plan 10k >/dev/null
m relay2 domain add acme example.com >/dev/null && m relay2 domain verify --manual acme example.com >/dev/null
out=$(m relay2 --json account create acme --name "Cluster App")
user=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["username"])' <<<"$out")
pass=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])' <<<"$out")
selector=$(m relay2 --json domain show acme example.com | python3 -c 'import json,sys; print(json.load(sys.stdin)["dkim"][0]["selector"])')
has_key() { [ -f "${BASE[relay1]}/etc/dkim/example.com/$selector.pem" ]; }
check "the DKIM key made on relay2 reaches relay1's milter" pf_eventually has_key
send() {
  swaks --server 127.0.0.1 --port "${SUB[$1]}" --ehlo client.test --timeout 20 --tls --auth PLAIN \
    --auth-user "$user" --auth-password "$pass" --from app@example.com --header "From: app@example.com" \
    --to "rcpt-$1@dest.test" 2>&1
}
# (The output is read whole: grep -q would close the pipe early, and under
# pipefail a sent message would look like a failure, and be sent again.)
sent1() { local out; out=$(send relay1); grep -q "Ok: queued" <<<"$out"; }
check "an account made on relay2 sends through relay1" pf_eventually sent1
check_contains "and through relay2" "$(send relay2)" "Ok: queued"
key=$(r --user migo-relay --pass "$password" --no-auth-warning --scan --pattern 'migo:{w*}:win' | head -1)
counted() { r --user migo-relay --pass "$password" --no-auth-warning HGET "$key" "M$(date -u +%Y%m)"; }
# (A message refused after it was counted is given back within a second.)
check "the shared Redis counted both relays' messages" pf_eventually test "$(counted)" = 2
echo "counted: $(counted); relay1's log: $(grep -h 'defer\|reject\|refund' "${BASE[relay1]}"/log/*.log 2>/dev/null | tail -5)"

second=$(play)
check "a second play changes nothing" test -z "$(grep -o 'changed=[1-9]' <<<"$second")"
grep -q "changed=[1-9]" <<<"$second" && grep -B2 -A8 "^changed:" <<<"$second" | head -40
report
