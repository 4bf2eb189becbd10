#!/usr/bin/env bash
# Sourced by the GPU-machine scripts: Vulkan loaders from .gl/, node and onnxruntime's library from .gpu/
# (scripts/gpu/prepare.sh made both). Leaves $OUT and /tmp/node ready.
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
nvidia-smi -L || true
if ! ls /usr/share/vulkan/icd.d/*nvidia* /etc/vulkan/icd.d/*nvidia* >/dev/null 2>&1 &&
   [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
echo "vulkan loader: $(ldconfig -p | grep -c libvulkan.so) entries; VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
unxz() { python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" "$1" "$2"; }
[ -x /tmp/node ] || { unxz .gpu/node.xz /tmp/node && chmod +x /tmp/node; }
ORTLIB=.gpu/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
[ -f "$ORTLIB" ] || unxz .gpu/libonnxruntime.so.1.xz "$ORTLIB"
export IDP_CACHE=/tmp/idp-cache
