#!/usr/bin/env bash
# build-deb.sh OUT_DIR — build migo-relay's Debian package from this source
# tree with dpkg-buildpackage (debian/), as a Debian build does: from a copy
# of what git tracks (in a working copy, with the new files not yet
# committed; never a build tree), Debian's build flags, no tests. Leaves in
# OUT_DIR the .deb, the -dbgsym .deb, the .changes and build.log, and prints
# the .deb's path. Used by up.sh and tests/deb/deb_test.sh.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)

tree=$out/src/migo-relay-$version
rm -rf "$out/src" && mkdir -p "$tree"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$src" && { git ls-files; git ls-files --others --exclude-standard; } | sort -u |
     while IFS= read -r f; do [ -e "$f" ] && printf '%s\0' "$f"; done | xargs -0 cp --parents -t "$tree")
else
  tar -C "$src" --exclude=./build --exclude=./.git -cf - . | tar -C "$tree" -xf -
fi

if ! (cd "$tree" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1; then
  tail -40 "$out/build.log" >&2
  echo "build-deb.sh: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
  exit 1
fi
# The packages, and the .changes and .buildinfo that name them (lintian
# reads them together).
mv "$out/src"/migo-relay*_"${version}_$arch".* "$out/"
rm -rf "$out/src"
echo "$out/migo-relay_${version}_$arch.deb"
