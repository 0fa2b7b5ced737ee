#!/usr/bin/env bash
# Runs the statistics benchmark and its SciPy peer one after the other on this machine, pinned
# to one core, and prints both, with the machine and the date, for docs/PERFORMANCE.md.
# usage: bench/run_stats_bench.sh [BUILD_DIR]   (default: build)
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
[ -x "$py" ] || py=python3
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
echo "date:    $(date -u +%Y-%m-%dT%H:%MZ)"
echo "scipy:   $($py -c 'import scipy, numpy; print(scipy.__version__, "/ numpy", numpy.__version__)')"
echo "--- higgs-bench (C, one core)"
taskset -c 0 "$build/bench/bench_stats"
echo "--- SciPy peer (one core)"
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 taskset -c 0 "$py" "$here/stats_scipy_peer.py"
