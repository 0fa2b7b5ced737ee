#!/usr/bin/env bash
# Downloads, here, the Debian packages the build needs on a GPU machine that has CUDA but no
# package registry (GSL and jansson; PLplot is left out there: -DHB_PLPLOT=OFF). They go to
# .deb/ (git-ignored) and travel with the working tree; scripts/gpu-run.sh unpacks them into a
# prefix there, never into /.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .deb
cd .deb
apt-get download libgsl-dev libgsl27 libgslcblas0 libjansson-dev libjansson4
ls -la
