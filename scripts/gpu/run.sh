#!/usr/bin/env bash
# Everything a GPU-machine session checks, in one run (docs/gpu.md says how to prepare and call it):
#   1. transformers reference fixtures for tiny random OPT / GPT-2 / Llama / Qwen2 models
#      (scripts/gpu/hf_reference.py) -> $OUT/hf-fixtures.tar.gz, unpacked into test/fixtures/hf here
#   2. IDP Lab's WebGPU execution provider on the real GPU next to the CPU (scripts/gpu/webgpu-check.ts):
#      stories260K exactness, the fixtures' logits, and decode speed of the ~100M random Llama
# The machine has no Node and no network: .gpu/ carries node (xz), onnxruntime-node's files and the
# esbuild bundle of the check; .gl/ carries the Vulkan loader .debs (the device README's recipe).
set -uo pipefail
. scripts/gpu/setup.sh

echo "== 1. transformers fixtures"
PYTHONUNBUFFERED=1 python3 scripts/gpu/hf_reference.py /tmp/hf 2>&1 | tee "$OUT/hf.log"
tar -C /tmp -czf "$OUT/hf-fixtures.tar.gz" hf

echo "== 2. WebGPU on the GPU"
timeout 420 /tmp/node .gpu/webgpu-check.js --stories .gpu/stories --hf /tmp/hf \
  --out "$OUT/webgpu-check.json" "$@" 2>&1 | tee "$OUT/webgpu.log"
echo "== done"
