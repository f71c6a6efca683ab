#!/usr/bin/env bash
# install-deps.sh — install every Debian 12 package migo-relay needs to build,
# test and run. Idempotent and non-interactive: packages already present are
# not fetched again, and apt's lists are refreshed only when something is
# missing. Run as root (CI and the README commands do).
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config g++ clang libclang-rt-14-dev
  # the Debian package (dpkg-buildpackage with debhelper) and its gate
  debhelper lintian
  # libraries (headers + runtime)
  liblmdb-dev libssl-dev libsasl2-dev libmilter-dev libidn2-dev catch2 libunbound-dev
  # libunbound.pc names these in Requires.private; pkg-config needs their .pc
  libevent-dev nettle-dev libopendkim-dev
  # tracking: MIME (GMime), HTML5 tokenizer with source offsets (gumbo), HTTP
  libgmime-3.0-dev libgumbo-dev libmicrohttpd-dev
  # migo-statd reads Postfix's lines from the systemd journal (sd-journal)
  libsystemd-dev
  # migoctl's JSON (nlohmann::json)
  nlohmann-json3-dev
  # several relays: the limit windows on Redis (hiredis), and a real
  # redis-server for its tests
  libhiredis-dev redis-server
  # runtime parts the tests drive for real
  lmdb-utils libsasl2-modules sasl2-bin postfix swaks libnet-ssleay-perl
  libauthen-scram-perl libio-socket-ssl-perl
  miltertest openssl python3 dnsmasq-base python3-dkim python3-dnspython nginx-light curl
  # an independent parser of the metrics' Prometheus text format
  python3-prometheus-client
  # the ansible role and its checks
  ansible-core ansible-lint ssl-cert python3-apt logrotate
  # systemd-analyze, which checks the units (systemd need not be running);
  # systemd-journald, run by the journal tests in a namespace of their own
  systemd
  # systemd-nspawn, which boots a systemd in a container for the units'
  # test under a real PID 1 (tests/systemd/boot_test.sh)
  systemd-container
  # groff and man, which check the man pages
  groff-base man-db bsdextrautils
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' \
    || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root" >&2
  exit 1
fi

# Postfix asks a debconf question on install; answering "No configuration"
# installs the binaries without writing /etc/postfix/main.cf or starting a
# system instance — our tests run private instances of their own.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
