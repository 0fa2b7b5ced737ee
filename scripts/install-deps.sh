#!/usr/bin/env bash
# Installs the Debian 12 packages higgs-bench needs, with apt-get.
#   scripts/install-deps.sh          what building and running needs
#   scripts/install-deps.sh --test   also what the tests need (Python with NumPy, SciPy and
#                                    PyTorch for the reference checks, clang with libFuzzer,
#                                    Chromium for the HTML report test)
# Packages already installed are not fetched again, so a second run costs a dpkg query.
set -euo pipefail

build_pkgs=(build-essential cmake ninja-build pkg-config libgsl-dev libjansson-dev libplplot-dev
            plplot-driver-cairo)
test_pkgs=(python3 python3-numpy python3-scipy python3-torch clang libclang-rt-14-dev chromium)

pkgs=("${build_pkgs[@]}")
if [ "${1:-}" = "--test" ]; then
  pkgs+=("${test_pkgs[@]}")
elif [ -n "${1:-}" ]; then
  echo "install-deps.sh: unknown argument '$1' (use --test or nothing)" >&2
  exit 2
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
