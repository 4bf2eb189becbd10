#!/usr/bin/env bash
# `npm run bench:idp` on the GPU machine: the recovery methods' latency on the 4-bit ~100M model with the
# WebGPU EP, then on the machine's CPU cores, for the paper's claim that IDP is cheaper than LoRA at
# inference (its GPU figures: 0.37 s vs 0.62 s). Results: $OUT/idp-webgpu.json, $OUT/idp-cpu.json.
set -uo pipefail
. scripts/gpu/setup.sh
timeout 300 /tmp/node .gpu/bench-idp.js --ep webgpu --rounds "${ROUNDS:-5}" --out "$OUT/idp-webgpu.json" 2>&1 | grep -v Warning
timeout 120 /tmp/node .gpu/bench-idp.js --ep cpu --threads "$(nproc)" --rounds "${ROUNDS:-5}" --out "$OUT/idp-cpu.json" 2>&1
