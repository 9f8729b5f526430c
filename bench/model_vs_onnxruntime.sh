#!/usr/bin/env bash
# Forward-pass speed of TNTServe beside ONNX Runtime, in one session on the same threads:
# TNT_small with sharpened PaddlePaddle weights, exported to ONNX by paddle2onnx.
#   bench/model_vs_onnxruntime.sh [seconds per configuration]
# Two OpenBLAS modes: the environment as set (OPENBLAS_CORETYPE=Haswell here: AVX2), and
# AVX-512, where OPENBLAS_L2_SIZE is unset and OPENBLAS_CORETYPE names an AVX-512 kernel
# family for this one command (Debian's OpenBLAS 0.3.21 does not know this CPU model and,
# with both variables unset, falls back to its SSE3 "Prescott" kernels). Each mode first
# checks parity against PaddlePaddle in that same mode.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-8}
avx512=${AVX512_CORETYPE:-Cooperlake}
work=.build/bench
tnt=.build/release/tnt
mkdir -p "$work"

[[ -f $work/tnt_small/logits.npy ]] || python3 tools/make_reference.py --arch tnt_small --weights sharp --batch 8 --seed 11 --out $work/tnt_small 2>&1 | grep -v -i warn
[[ -f $work/tnt_small/tnt_small.onnx ]] || python3 bench/export_onnx.py --arch tnt_small --weights $work/tnt_small/weights.safetensors --out $work/tnt_small/tnt_small.onnx 2>&1 | grep -E "^wrote|Error"

parity() {
    "$@" forward --arch tnt_small --weights $work/tnt_small/weights.safetensors --input $work/tnt_small/input.npy --output $work/logits.npy --threads 2
    python3 - "$work" <<'PY'
import sys, numpy as np
w = sys.argv[1]
a, b = np.load(f"{w}/logits.npy"), np.load(f"{w}/tnt_small/logits.npy")
ratio = float((np.abs(a - b) / (1e-4 + 1e-4 * np.abs(b))).max())
print(f"parity vs PaddlePaddle, batch 8: max |Δlogit| {np.abs(a - b).max():.2e}, error/bound {ratio:.3f}", "PASS" if ratio <= 1 else "FAIL")
sys.exit(0 if ratio <= 1 else 1)
PY
}

echo "## $(date -u +%FT%TZ) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for round in 1 2; do
    echo; echo "### round $round: OpenBLAS as the environment sets it (OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset})"
    parity $tnt
    $tnt bench model --arch tnt_small --weights $work/tnt_small/weights.safetensors --batch 1,8 --threads 1,2 --seconds "$seconds"
    echo; echo "### round $round: ONNX Runtime"
    python3 bench/onnxruntime_bench.py --model $work/tnt_small/tnt_small.onnx --reference $work/tnt_small --batch 1,8 --threads 1,2 --seconds "$seconds"
    echo; echo "### round $round: OpenBLAS AVX-512 (OPENBLAS_CORETYPE=$avx512, OPENBLAS_L2_SIZE unset)"
    parity env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=$avx512 $tnt
    env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=$avx512 $tnt bench model --arch tnt_small --weights $work/tnt_small/weights.safetensors --batch 1,8 --threads 1,2 --seconds "$seconds"
done
