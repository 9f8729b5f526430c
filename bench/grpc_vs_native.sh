#!/usr/bin/env bash
# The gRPC port beside the native one, on one tnt-server (release, defaults, TNT_small): Health
# calls/s at 1 and 64 in flight, and Predict images/s with 16 single-image callers, each load
# measured on one port then the other, in rounds; medians of the gRPC ÷ native ratios at the
# end. The load generator is `tnt bench rpc` (TNTClient, or with --grpc grpc-swift's own
# client) on the same cores; the server's CPU time per call is printed beside each figure.
#   bench/grpc_vs_native.sh [rounds] [seconds per measurement]
# Needs release builds of tnt and tnt-server with the gRPC trait (`make bench` makes them):
#   swift build -c release --traits GRPC --product tnt-server; ... --product tnt
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/announced_port.sh
rounds=${1:-2}; seconds=${2:-10}
work=.build/bench; tnt=.build/release/tnt
mkdir -p "$work/models/tnt_small"
[[ -f $work/tnt_small/weights.safetensors ]] || python3 tools/make_reference.py --arch tnt_small --weights sharp --batch 8 --seed 11 --out $work/tnt_small 2>&1 | grep -v -i warn
ln -sf "$PWD/$work/tnt_small/weights.safetensors" "$work/models/tnt_small/weights.safetensors"
echo '{"architecture": "tnt_small", "weights": "weights.safetensors"}' > "$work/models/tnt_small/model.json"
image=Tests/TNTImageTests/Fixtures/pipeline/china.jpg

.build/release/tnt-server --port 0 --grpc-port 0 --models "$work/models" --log-level warning > "$work/grpc.out" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' EXIT
native=$(announced_port "$work/grpc.out")
grpc=$(sed -n 's/^tnt-server grpc on .*:\([0-9]*\)$/\1/p' "$work/grpc.out")
cpu_ticks() { awk '{print $14 + $15}' /proc/$pid/stat; }

echo "## $(date -u +%FT%TZ), $(nproc) cores, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; native port $native, gRPC port $grpc"
rate() { sed -n 's/.* = \([0-9.]*\) calls\/s.*/\1/p' <<< "$1"; }
declare -A ratios
for round in $(seq "$rounds"); do
    echo; echo "### round $round"
    for load in health1 health64 predict16; do
        case $load in
            health1) args=(--method health --concurrency 1) ;;
            health64) args=(--method health --concurrency 64 --connections 8) ;;
            predict16) args=(--method predict --image $image --concurrency 16 --connections 4) ;;
        esac
        declare -A got=()
        for port in native grpc; do
            flag=(); [[ $port == grpc ]] && flag=(--grpc)
            before=$(cpu_ticks)
            line=$($tnt bench rpc --server "127.0.0.1:${!port}" "${flag[@]}" "${args[@]}" --seconds "$seconds")
            after=$(cpu_ticks)
            got[$port]=$(rate "$line")
            # The CPU window includes the one-second warm-up: its calls are counted at the same rate.
            echo "$line; server CPU $(python3 -c "print(f'{($after - $before) / $(getconf CLK_TCK) / (${got[$port]} * ($seconds + 1)) * 1e6:.1f}')") µs per call"
        done
        ratios[$load]+="$(python3 -c "print(f'{${got[grpc]} / ${got[native]}:.3f}')") "
    done
done
echo
for load in health1 health64 predict16; do
    python3 -c "import statistics, sys; r = sorted(map(float, sys.argv[2:])); print(f'{sys.argv[1]}: gRPC ÷ native calls/s, median {statistics.median(r):.3f} over {len(r)} rounds ({\", \".join(f\"{x:.3f}\" for x in r)})')" $load ${ratios[$load]}
done
