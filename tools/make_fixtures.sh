#!/usr/bin/env bash
# Generates the PaddlePaddle reference fixtures the parity tests read (TNT_REFERENCE_DIR):
# tiny, TNT_small and TNT_base, each with stock and sharpened weights, batch 3.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.build/reference}
mkdir -p "$out"
for arch in tiny tnt_small tnt_base; do
    for weights in stock sharp; do
        dir="$out/$arch-$weights"
        [[ -f "$dir/logits.npy" ]] && continue
        python3 tools/make_reference.py --arch "$arch" --weights "$weights" --batch 3 --seed 7 --out "$dir" 2>&1 \
            | grep -v -i "warn" || true
        [[ -f "$dir/logits.npy" ]] || { echo "fixture $dir was not written" >&2; exit 1; }
    done
done
