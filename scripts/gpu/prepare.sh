#!/usr/bin/env bash
# Prepares what scripts/gpu/run.sh needs on a GPU machine that has no Node, no npm and no network:
#   .gpu/node.xz                   this machine's node binary (x86-64), xz-compressed
#   .gpu/libonnxruntime.so.1.xz    onnxruntime-node's native library, xz-compressed (run.sh unpacks it)
#   .gpu/node_modules/             onnxruntime-node + onnxruntime-common without that library
#   .gpu/webgpu-check.js           esbuild bundle of scripts/gpu/webgpu-check.ts
#   .gpu/bench-idp.js              esbuild bundle of bench/idp.ts (scripts/gpu/bench-idp.sh)
#   .gpu/gpu-decode.js             esbuild bundle of bench/gpu-decode.ts (scripts/gpu/gpu-decode.sh)
#   .gpu/stories/                  stories260K and llama2.c's reference sample (from $IDP_DATA)
#   .gl/*.deb                      the Vulkan/GL loaders (the device tool's README recipe)
# Both folders are ignored through .git/info/exclude and travel as `carry: [".gpu", ".gl"]` (~40 MB).
# Then: run `bash scripts/gpu/run.sh` on the device (docs/gpu.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA="${IDP_DATA:-$(cd .. && pwd)/shared/data}"
for d in /.gpu/ /.gl/; do grep -qx "$d" .git/info/exclude || echo "$d" >> .git/info/exclude; done

K=.gpu/node_modules
ORT=node_modules/onnxruntime-node
LIB=bin/napi-v6/linux/x64
rm -rf .gpu && mkdir -p "$K/onnxruntime-node/$LIB" "$K/onnxruntime-common" .gpu/stories
cp -r "$ORT/dist" "$ORT/package.json" "$K/onnxruntime-node/"
cp "$ORT/$LIB/onnxruntime_binding.node" "$K/onnxruntime-node/$LIB/"
cp -r node_modules/onnxruntime-common/dist node_modules/onnxruntime-common/package.json "$K/onnxruntime-common/"
xz -T0 -6 -c "$ORT/$LIB/libonnxruntime.so.1" > .gpu/libonnxruntime.so.1.xz
xz -T0 -6 -c "$(command -v node)" > .gpu/node.xz
npx esbuild scripts/gpu/webgpu-check.ts --bundle --platform=node --target=node20 --format=cjs \
  --external:onnxruntime-node --outfile=.gpu/webgpu-check.js --log-level=warning
npx esbuild bench/idp.ts --bundle --platform=node --target=node20 --format=cjs \
  --external:onnxruntime-node --outfile=.gpu/bench-idp.js --log-level=warning
npx esbuild bench/gpu-decode.ts --bundle --platform=node --target=node20 --format=cjs \
  --external:onnxruntime-node --outfile=.gpu/gpu-decode.js --log-level=warning
cp "$DATA"/models/stories260K/{stories260K.bin,stories260K.gguf,tok512.bin,reference_greedy.json} .gpu/stories/

mkdir -p .gl /tmp/amd64/partial
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
# shellcheck disable=SC2086
apt-get $o update -qq
# shellcheck disable=SC2086
(cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
du -sh .gpu .gl
