#!/usr/bin/env bash
# Forward-pass speed of TNTServe beside the engines a user would pick instead, in one session
# on the same threads: Paddle Inference with oneDNN (PaddleClas's documented CPU deployment)
# and ONNX Runtime, all on TNT_small with the same sharpened PaddlePaddle weights and inputs.
#   bench/model_vs_references.sh [seconds per configuration] [rounds]
# TNTServe runs in three environments: as a fresh machine has it (no variable: the program
# chooses its kernels, and on AVX-512 its own tiles for the large products), the same with
# OpenBLAS computing every product (TNT_LARGE_PRODUCTS=openblas), and with
# OPENBLAS_CORETYPE=Haswell named. Each first checks
# parity against PaddlePaddle; the references check theirs. Alternating rounds (default 2),
# then bench/summarize_model_bench.py prints the ratios of each round and their medians.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-6}
rounds=${2:-2}
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
fresh=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE -u TNT_LARGE_PRODUCTS)
allopenblas=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE TNT_LARGE_PRODUCTS=openblas)
haswell=(env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=Haswell)

echo "## $(date -u +%FT%TZ) on $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for round in $(seq "$rounds"); do
    echo; echo "### round $round: TNTServe, fresh environment (no OpenBLAS variable)"
    parity "${fresh[@]}" $tnt
    "${fresh[@]}" $tnt bench model --arch tnt_small --weights $work/tnt_small/weights.safetensors --batch 1,8 --threads 1,2 --seconds "$seconds"
    echo; echo "### round $round: Paddle Inference + oneDNN"
    # Each thread count in a process of its own, as a deployment runs it, so that one
    # configuration's session cannot slow another's. (ONNX Runtime's batch 8 on 2 threads still
    # varies from 570 to over 1,000 ms from process to process on a shared machine.)
    for threads in 1 2; do
        "${fresh[@]}" python3 bench/paddle_inference_bench.py --weights $work/tnt_small/weights.safetensors --reference $work/tnt_small --work $work/tnt_small --batch 1,8 --threads $threads --seconds "$seconds" 2>&1 | grep -v -i -E "warn|^\s*$|^[IWE][0-9]{4} "
    done
    echo; echo "### round $round: ONNX Runtime"
    for threads in 1 2; do
        python3 bench/onnxruntime_bench.py --model $work/tnt_small/tnt_small.onnx --reference $work/tnt_small --batch 1,8 --threads $threads --seconds "$seconds"
    done
    echo; echo "### round $round: TNTServe, OpenBLAS for every product (TNT_LARGE_PRODUCTS=openblas)"
    parity "${allopenblas[@]}" $tnt
    "${allopenblas[@]}" $tnt bench model --arch tnt_small --weights $work/tnt_small/weights.safetensors --batch 1,8 --threads 1,2 --seconds "$seconds"
    echo; echo "### round $round: TNTServe, OPENBLAS_CORETYPE=Haswell"
    parity "${haswell[@]}" $tnt
    "${haswell[@]}" $tnt bench model --arch tnt_small --weights $work/tnt_small/weights.safetensors --batch 1,8 --threads 1,2 --seconds "$seconds"
done
