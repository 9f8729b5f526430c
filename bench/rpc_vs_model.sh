#!/usr/bin/env bash
# RPC throughput and latency of tnt-server (release) on TNT_small, beside `tnt bench model`
# in the same run. Client and server share this machine's cores.
#   bench/rpc_vs_model.sh [seconds per measurement]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/announced_port.sh
seconds=${1:-10}
work=.build/bench
tnt=.build/release/tnt
server_bin=.build/release/tnt-server
mkdir -p "$work/models/tnt_small"
[[ -f $work/tnt_small/weights.safetensors ]] || python3 tools/make_reference.py --arch tnt_small --weights sharp --batch 8 --seed 11 --out $work/tnt_small 2>&1 | grep -v -i warn
ln -sf "$PWD/$work/tnt_small/weights.safetensors" "$work/models/tnt_small/weights.safetensors"
echo '{"architecture": "tnt_small", "weights": "weights.safetensors"}' > "$work/models/tnt_small/model.json"
image=Tests/TNTImageTests/Fixtures/pipeline/china.jpg

start_server() {
    "$server_bin" --port 0 --models "$work/models" --log-level warning "$@" > "$work/server.out" &
    server_pid=$!
    port=$(announced_port "$work/server.out")
}
stop_server() { kill -TERM "$server_pid"; wait "$server_pid"; }

echo "## $(date -u +%FT%TZ), $(nproc) cores, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
echo "$($tnt kernels | head -1)"
start_server
echo; echo "### Health (defaults)"
$tnt bench rpc --server 127.0.0.1:$port --method health --concurrency 1 --seconds "$seconds"
$tnt bench rpc --server 127.0.0.1:$port --method health --concurrency 64 --connections 8 --seconds "$seconds"
stop_server

predict() {
    echo; echo "### Predict, 16 concurrent single-image callers: $*"
    start_server "$@"
    $tnt bench rpc --server 127.0.0.1:$port --method predict --image $image --concurrency 16 --connections 4 --seconds "$seconds"
    stop_server
}
for round in 1 2; do
    echo; echo "## round $round"
    echo; echo "### tnt bench model (server stopped)"
    $tnt bench model --arch tnt_small --weights $work/tnt_small/weights.safetensors --batch 1,4,8 --threads 2 --seconds "$seconds" | grep -E "^\\| [0-9]"
    predict    # the defaults: one worker on every core, max batch 8
    predict --max-batch 1
    predict --workers 2 --blas-threads 1 --max-batch 4    # the defaults before the engine split one image across threads
done
