#!/usr/bin/env bash
# The server's defaults against the engine in-process, over several alternating rounds:
# `tnt bench model` (batch 1 and batch 8, all cores), then tnt-server with no tuning flags and
# no OpenBLAS variable, loaded by 16 concurrent single-image callers and by one caller.
# Prints each round's figures and the medians of the two ratios:
#   crowd: server images/s with 16 callers ÷ in-process batch-8 images/s
#   lone:  server p50 latency with 1 caller ÷ in-process batch-1 latency
#   bench/rpc_ratio.sh [rounds] [seconds]   (release build of tnt and tnt-server)
# Windows of 30 s by default: the server completes calls 8 at a time, every half second here,
# so a 10-second window counts them with a granularity of 5%.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/announced_port.sh
rounds=${1:-5}; seconds=${2:-30}
tnt=.build/release/tnt; work=.build/bench
mkdir -p "$work/models/tnt_small"
[[ -f $work/tnt_small/weights.safetensors ]] || python3 tools/make_reference.py --arch tnt_small --weights sharp --batch 8 --seed 11 --out $work/tnt_small 2>&1 | grep -v -i warn
ln -sf "$PWD/$work/tnt_small/weights.safetensors" "$work/models/tnt_small/weights.safetensors"
echo '{"architecture": "tnt_small", "weights": "weights.safetensors"}' > "$work/models/tnt_small/model.json"
image=Tests/TNTImageTests/Fixtures/pipeline/china.jpg
threads=$(nproc)
crowd=(); lone=()
for round in $(seq "$rounds"); do
    table=$(env -u OPENBLAS_CORETYPE $tnt bench model --arch tnt_small --weights $work/tnt_small/weights.safetensors --batch 1,8 --threads "$threads" --seconds "$seconds")
    batch1_ms=$(awk -F'|' -v t="$threads" '$2+0 == 1 && $3+0 == t {gsub(/ /, "", $4); print $4}' <<< "$table")
    batch8=$(awk -F'|' -v t="$threads" '$2+0 == 8 && $3+0 == t {gsub(/ /, "", $5); print $5}' <<< "$table")
    env -u OPENBLAS_CORETYPE .build/release/tnt-server --port 0 --models $work/models --log-level warning > $work/ratio.out &
    pid=$!
    port=$(announced_port $work/ratio.out)
    many=$($tnt bench rpc --server 127.0.0.1:$port --method predict --image $image --concurrency 16 --connections 4 --seconds "$seconds" \
           | sed -n 's/.* = \([0-9.]*\) calls\/s.*/\1/p')
    one_ms=$($tnt bench rpc --server 127.0.0.1:$port --method predict --image $image --concurrency 1 --seconds "$seconds" \
             | sed -n 's/.*p50 \([0-9.]*\),.*/\1/p')
    kill -TERM $pid; wait $pid
    crowd+=("$(python3 -c "print(f'{$many / $batch8:.3f}')")")
    lone+=("$(python3 -c "print(f'{$one_ms / $batch1_ms:.3f}')")")
    echo "round $round: in-process batch 8 $batch8 img/s, batch 1 $batch1_ms ms; server 16 callers $many img/s (ratio ${crowd[-1]}), 1 caller p50 $one_ms ms (ratio ${lone[-1]})"
done
median() { python3 -c "import statistics, sys; r = sorted(map(float, sys.argv[2:])); print(f'median {sys.argv[1]} ratio {statistics.median(r):.3f} over {len(r)} rounds (min {r[0]:.3f}, max {r[-1]:.3f})')" "$@"; }
median crowd "${crowd[@]}"
median lone "${lone[@]}"
