#!/usr/bin/env bash
# make.sh — (re)writes ../mime/real-*.in from the templates here, composed
# by real mail libraries: nodemailer (npm install nodemailer@6 in a scratch
# directory, NODE_PATH pointing at its node_modules) and Python's email
# package. Not run by the tests: its outputs are committed, and the golden
# .out files are then made with MIGO_GOLDEN_UPDATE=1 (see mime_test.cc) and
# reviewed by hand.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p filled
for t in *.html *.txt; do /usr/bin/python3 fill.py "$t" >"filled/$t"; done
lf() { tr -d '\r' <"$1" >"$2"; rm "$1"; }  # the corpus is stored with LF line ends
for k in password-reset receipt-pdf action-base64; do
  node compose.js "tmp.eml" "$k" && lf tmp.eml "../mime/real-nodemailer-$k.in"
done
for k in latin1-qp welcome-utf8; do
  /usr/bin/python3 compose.py tmp.eml "$k" && lf tmp.eml "../mime/real-python-$k.in"
done
rm -rf filled
