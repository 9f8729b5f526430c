#!/usr/bin/env bash
# The Predict-through-the-server ratio of issue [3 of 6] alone, over several alternating rounds:
# `tnt bench model` (batch 8, 2 threads) then tnt-server (2 workers x 1 thread, max batch 4)
# with 16 concurrent single-image callers. Prints each round's ratio and the median.
#   bench/rpc_ratio.sh [rounds] [seconds]   (needs bench/rpc_vs_model.sh's .build/bench/models)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}; seconds=${2:-15}
tnt=.build/release/tnt; work=.build/bench
image=Tests/TNTImageTests/Fixtures/pipeline/china.jpg
ratios=()
for round in $(seq "$rounds"); do
    model=$($tnt bench model --arch tnt_small --weights $work/tnt_small/weights.safetensors --batch 8 --threads 2 --seconds "$seconds" \
            | awk -F'|' '/^\| 8 \| 2 \|/ {gsub(/ /, "", $5); print $5}')
    .build/release/tnt-server --port 0 --models $work/models --log-level warning > $work/ratio.out &
    pid=$!
    for _ in $(seq 100); do port=$(sed -n 's/.*listening on .*:\([0-9]*\)$/\1/p' $work/ratio.out); [[ -n "$port" ]] && break; sleep 0.1; done
    server=$($tnt bench rpc --server 127.0.0.1:$port --method predict --image $image --concurrency 16 --connections 4 --seconds "$seconds" \
             | sed -n 's/.* = \([0-9.]*\) calls\/s.*/\1/p')
    kill -TERM $pid; wait $pid
    ratio=$(python3 -c "print(f'{$server / $model:.3f}')")
    ratios+=("$ratio")
    echo "round $round: tnt bench model $model img/s, server $server img/s, ratio $ratio"
done
python3 -c "import statistics, sys; r = sorted(map(float, sys.argv[1:])); print(f'median ratio {statistics.median(r):.3f} over {len(r)} rounds (min {r[0]:.3f}, max {r[-1]:.3f})')" "${ratios[@]}"
