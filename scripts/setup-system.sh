#!/usr/bin/env bash
# Installs the system packages the native backend builds against (Debian/Ubuntu): OpenBLAS, oneDNN (the bf16
# products of --precision bf16; without it they are emulated), Open MPI (sums across processes started by mpirun;
# without it the addon is built without MPI), pkg-config and a C++ toolchain. Does nothing when
# they are present. As root it installs them; otherwise it prints the exact command and exits 1, so that README's
# first command never trains on the slow fallback without saying so.
set -euo pipefail
need=()
for pkg in libopenblas-dev libdnnl-dev libopenmpi-dev openmpi-bin pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
for cmd in g++ make python3; do
  command -v "$cmd" >/dev/null 2>&1 || need+=("$cmd")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "rnnlm: the native backend needs: ${need[*]}. Install them with: sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "rnnlm: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${need[@]}"
