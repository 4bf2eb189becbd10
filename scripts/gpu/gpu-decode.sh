#!/usr/bin/env bash
# WebGPU decode without the per-run cache copies, on the GPU machine (issue 19 part 3; docs/gpu.md):
# bench/gpu-decode.ts's variants — the CPU provider on every core, --ep webgpu as the product runs it, and
# webgpu with the KV cache kept in GPU memory (CausalLM deviceKv) — on stories260K, then on the ~100M
# random Llama (written on the machine, ~1 min), 64 tokens after an 8-token and a 512-token prompt.
# Results: $OUT/gpu-decode-{stories,100m,100m-p512}.json; each variant's greedy tokens must equal the CPU's.
# Prepare with `bash scripts/gpu/prepare.sh` here; run with `bash scripts/gpu/gpu-decode.sh`, carry [".gpu", ".gl"].
set -uo pipefail
. scripts/gpu/setup.sh
export IDP_DATA="$PWD/.gpu/data"
mkdir -p "$IDP_DATA/models/stories260K"
cp .gpu/stories/* "$IDP_DATA/models/stories260K/" 2>/dev/null
G="timeout 200 /tmp/node .gpu/gpu-decode.js --threads $(nproc) --runs 3 --tokens 64"
echo "== stories260K"; $G --model stories --out "$OUT/gpu-decode-stories.json" 2>&1 | grep -v Warning
echo "== ~100M, 8-token prompt"; $G --model 100m --out "$OUT/gpu-decode-100m.json" 2>&1 | grep -v Warning
echo "== ~100M, 512-token prompt"; $G --model 100m --prompt 512 --out "$OUT/gpu-decode-100m-p512.json" 2>&1 | grep -v Warning
echo "== done"
