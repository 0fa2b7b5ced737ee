#!/usr/bin/env bash
# The README's first command: install what is needed, build, and run the main job.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh build -DCMAKE_BUILD_TYPE=Release
echo
echo "== higgs-bench stats compare: the bundled example (baseline vs candidate build, 50 runs each)"
set +e
build/src/higgs-bench stats compare examples/latency_baseline.csv examples/latency_candidate.csv \
  --column latency_ms --paired
rc=$?
set -e
# exit 1 would mean "regression found", which is a result, not a failure of the quick start
[ $rc -le 1 ] || exit $rc
