#!/usr/bin/env bash
# up.sh — the README's main command: on Debian 12, as root, install what is
# needed, build migo-relay, install it into the system paths and bring the
# store up. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

echo "=== build"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null
cmake --build build/release
echo "=== install"
cmake --install build/release --prefix /usr >/dev/null

# The daemons run as their own users; group migo may read and write the store.
getent group migo >/dev/null || groupadd --system migo
db=${MIGO_DB:-/var/lib/migo}
echo "=== store"
migoctl --db "$db" init --group migo
# The tag key the milter signs with and migoctl ingest-dsn/-arf verify with:
# made once, never replaced (old tags would stop verifying).
install -d -m 0750 -g migo /etc/migo
if [ ! -s /etc/migo/tag.key ]; then
  (umask 027; head -c 32 /dev/urandom >/etc/migo/tag.key)
  chgrp migo /etc/migo/tag.key
fi

cat <<MSG

migo-relay is installed. Next:
  migoctl workspace create acme --plan 10k
  migoctl domain add acme example.com && migoctl domain verify acme example.com
  migoctl account create acme --name "Production App"
See README.md for wiring Postfix.
MSG
