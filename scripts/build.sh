#!/usr/bin/env bash
# Configures and builds one build tree.  usage: scripts/build.sh DIR [cmake -D options...]
set -euo pipefail
dir=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$root" -B "$dir" -G Ninja "$@" >/dev/null
ninja -C "$dir"
