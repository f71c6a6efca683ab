#!/usr/bin/env bash
# test.sh — the README's test command (and CI's): install what the build and
# the tests need, then build and run every test in three configurations:
#   gcc    g++ 12, warnings as errors; also the end-to-end suites (private
#          Postfix instances, the ansible role), which test the programs,
#          not the compiler, so they run in this configuration only
#   clang  clang 14, warnings as errors; unit and program tests
#   asan   g++ with AddressSanitizer + UndefinedBehaviorSanitizer; likewise
# Usage: scripts/test.sh [CONFIG...]   (default: all three)
# Run as root on Debian 12: the end-to-end tests start private Postfix
# instances, which needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(gcc clang asan)

for config in "${configs[@]}"; do
  case "$config" in
    gcc)   args=(-DCMAKE_CXX_COMPILER=g++ -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
    clang) args=(-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMIGO_E2E=OFF) ;;
    asan)  args=(-DCMAKE_CXX_COMPILER=g++ -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=Debug -DMIGO_SANITIZE=ON) ;;
    *) echo "test.sh: unknown configuration '$config' (gcc, clang, asan)" >&2; exit 2 ;;
  esac
  echo "=== $config: build"
  cmake -S . -B "build/$config" -G Ninja -DMIGO_WERROR=ON "${args[@]}" >/dev/null
  cmake --build "build/$config"
  echo "=== $config: test"
  ctest --test-dir "build/$config" --output-on-failure --timeout 900
done
