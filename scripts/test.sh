#!/usr/bin/env bash
# The README's second command (and CI's): install what is needed, build, and run every test:
#   1. a -Werror build and all ctest tests (unit, SciPy cross-check, command line)
#   2. the same tests again under -fsanitize=address,undefined
#   3. a clang build of the fuzz targets, each run briefly
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh --test
jobs=$(nproc)

echo "== 1/3 build (-Wall -Wextra -Werror) and test"
scripts/build.sh build-ci -DCMAKE_BUILD_TYPE=Release -DHB_WERROR=ON
ctest --test-dir build-ci --output-on-failure -j "$jobs"

echo "== 2/3 address and undefined-behaviour sanitizers"
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHB_WERROR=ON -DHB_SANITIZE=ON
ctest --test-dir build-asan --output-on-failure -j "$jobs"

echo "== 3/3 fuzzing (libFuzzer)"
CC=clang scripts/build.sh build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHB_FUZZ=ON \
  -DHB_FUZZ_SECONDS="${HB_FUZZ_SECONDS:-30}"
ctest --test-dir build-fuzz --output-on-failure -L fuzz
