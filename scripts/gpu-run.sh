#!/usr/bin/env bash
# On a GPU machine with CUDA, cmake and ninja but no package registry: unpacks the carried
# Debian packages (.deb/, from scripts/fetch-device-debs.sh) into a prefix, builds higgs-bench
# with the CUDA backend, and runs what is asked:
#   scripts/gpu-run.sh test          the GPU tests (ctest -L gpu)
#   scripts/gpu-run.sh bench [OUT]   the GPU benchmarks (bench/run_gpu_bench.sh)
#   scripts/gpu-run.sh build         only build
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
prefix=${HB_DEPS_PREFIX:-/tmp/hb-deps}
mkdir -p "$prefix"
# unpack once per set of packages (a stamp names them), so concurrent or repeated runs share it
stamp="$prefix/.unpacked-$(ls .deb/*.deb | md5sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  for f in .deb/*.deb; do dpkg -x "$f" "$prefix"; done
  touch "$stamp"
fi
lib="$prefix/usr/lib/x86_64-linux-gnu"
export PKG_CONFIG_PATH="$lib/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$prefix"
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
py=$(command -v python3)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DHB_CUDA=ON -DHB_PLPLOT=OFF \
  -DGSL_ROOT_DIR="$prefix/usr" -DCMAKE_PREFIX_PATH="$prefix/usr" -DHB_PYTHON="$py" >/dev/null
ninja -C build-gpu
case "${1:-test}" in
  build) ;;
  test) ctest --test-dir build-gpu --output-on-failure -L gpu ;;
  bench) bench/run_gpu_bench.sh build-gpu "${2:-/tmp/hb-gpu-bench}" ;;
  *) echo "gpu-run.sh: unknown action '$1' (test, bench or build)" >&2; exit 2 ;;
esac
