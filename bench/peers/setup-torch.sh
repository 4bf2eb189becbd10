#!/usr/bin/env bash
# The PyTorch peer of `npm run bench:train`: Debian 12's python3-torch (1.13, CPU) and python3-numpy,
# plus libopenblas0, which libtorch1.13 recommends (apt installs it unless recommends are off): without
# it Debian's torch multiplies through the netlib reference BLAS, several times slower, and the
# comparison would flatter IDP Lab. Installed with apt-get when missing. Not a CI or project
# dependency (bench/train.ts skips the PyTorch rows when it is absent). Needs root for apt-get.
set -euo pipefail

PKGS="python3-torch python3-numpy libopenblas0"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -z "$missing" ] && /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
  echo "PyTorch peer ready: torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), BLAS $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "setup-torch.sh: apt-get needs root: sudo bash bench/peers/setup-torch.sh" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
/usr/bin/python3 -c 'import torch; print("installed torch", torch.__version__)'
