#!/usr/bin/env bash
# The README's first command: install what is needed, build, and run the main job.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh build -DCMAKE_BUILD_TYPE=Release
echo
echo "== higgs-bench run: the quick suite on the built-in default engines (small preset, unified"
echo "   vs separate; built once into ~/.cache/higgs-bench), reports in ./benchmark_results"
set +e
build/src/higgs-bench run
rc=$?
set -e
# exit 1 means "a claim was not validated or a regression was found": a result, not a failure
[ $rc -le 1 ] || exit $rc
