#!/usr/bin/env bash
# IDP by content at full size (docs/idp.md "Selection that reads the content"; issue 12's must-show):
# stories260K, GPTQ 3-bit dense; 900 training / 120 held-out stories sampled from the model, each in three
# variants (as is / UPPERCASE / Title Case); three 16-token prompts trained with 180K tokens each on one
# variant, one on the union with the same budget; a bank of the three, calibrated on each prompt's own
# training text; `idp bank eval` of the held-out stories under the calibrated rule, the paper's rule and the
# union prompt. About 5 minutes on 2 cores.
#   bash scripts/idp-routing/run.sh [OUT]        (OUT default /tmp/idp-routing; needs npm run build)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-/tmp/idp-routing}"
DATA="${IDP_DATA:-$(cd .. && pwd)/shared/data}"
GGUF="$DATA/models/stories260K/stories260K.gguf"
idp() { node dist/cli.js "$@"; }
mkdir -p "$OUT"
[ -f "$OUT/data/union.train.jsonl" ] || node out/scripts/idp-routing/make-data.js --model "$GGUF" --out "$OUT/data" --train-docs 900 --heldout-docs 120
[ -d "$OUT/q3" ] || idp compress --model "$GGUF" --method gptq --bits 3 --group-size -1 --dense --calib model --samples 32 --seqlen 256 --out "$OUT/q3"
for v in as-is upper title union; do
  [ -f "$OUT/p-$v/result.json" ] || idp train --model "$OUT/q3" --method prompt --prompt-tokens 16 --data "$OUT/data/$v.train.jsonl" \
    --tokens 180000 --lr 0.01 --seqlen 256 --batch 8 --out "$OUT/p-$v" --json > /dev/null
done
idp bank assemble --model "$OUT/q3" --out "$OUT/bank" --overwrite "$OUT/p-as-is" "$OUT/p-upper" "$OUT/p-title"
idp bank calibrate --model "$OUT/q3" --bank "$OUT/bank" --max-docs 200 \
  --prompt-data "$OUT/data/as-is.train.jsonl" --prompt-data "$OUT/data/upper.train.jsonl" --prompt-data "$OUT/data/title.train.jsonl" 2>/dev/null
HELD=("$OUT/data/as-is.heldout.jsonl" "$OUT/data/upper.heldout.jsonl" "$OUT/data/title.heldout.jsonl")
for rule in calibrated paper; do
  echo "== $rule (last column: one prompt trained on the union of the three)"
  idp bank eval --model "$OUT/q3" --bank "$OUT/bank" --data "${HELD[@]}" --expect 0,1,2 --max-tokens 256 --selection "$rule" --also "$OUT/p-union" 2>/dev/null
done
