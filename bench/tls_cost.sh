#!/usr/bin/env bash
# What TLS and mutual TLS cost on the RPC port, beside plaintext in the same run: three
# tnt-server processes (plain, TLS, mTLS) over the bundled digits model, loaded in alternating
# rounds by `tnt bench rpc` with Health calls at 1 and 64 in flight, and with 602 KB tensor
# calls (method transfer: read and decoded whole, then refused for their shape, so that no
# forward pass hides the transport). Prints each round and the medians, and TLS's cost at 64
# in flight.
#   bench/tls_cost.sh [rounds] [seconds]   (release build of tnt and tnt-server)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/announced_port.sh
rounds=${1:-3}; seconds=${2:-5}
work=.build/bench-tls; rm -rf "$work"; mkdir -p "$work"
python3 - "$work" <<'PY'
import sys
sys.path.insert(0, "tools/tests")
from certs import Authority
ca = Authority(sys.argv[1])
ca.issue("server")
ca.issue("client", names=("bench",), client=True)
PY
tnt=.build/release/tnt
ca=$work/TNTServe-test-CA.pem
start() {  # name, flags...
    local name=$1; shift
    .build/release/tnt-server --port 0 --models models --log-level warning "$@" > "$work/$name.out" 2> "$work/$name.err" &
    echo $! > "$work/$name.pid"
    announced_port "$work/$name.out"
}
tls=(--tls-cert "$work/server.pem" --tls-key "$work/server.key")
declare -A port flags
port[plain]=$(start plain); flags[plain]=""
port[tls]=$(start tls "${tls[@]}"); flags[tls]="--tls-ca $ca"
port[mtls]=$(start mtls "${tls[@]}" --tls-client-ca "$ca"); flags[mtls]="--tls-ca $ca --tls-cert $work/client.pem --tls-key $work/client.key"
trap 'for n in plain tls mtls; do kill -TERM $(cat $work/$n.pid) 2>/dev/null || true; done' EXIT

measure() {  # mode, load args... -> the figure (calls/s, or MB/s for transfer)
    local mode=$1; shift
    local line
    line=$($tnt bench rpc --server 127.0.0.1:${port[$mode]} ${flags[$mode]} --seconds "$seconds" "$@")
    if [[ $line == *"MB/s"* ]]; then sed -n 's/.* = \([0-9.]*\) MB\/s.*/\1/p' <<< "$line"; else sed -n 's/.* = \([0-9.]*\) calls\/s.*/\1/p' <<< "$line"; fi
}
declare -A results
loads=("health1:--method health --concurrency 1" "health64:--method health --concurrency 64 --connections 4" "transfer64:--method transfer --concurrency 64 --connections 4")
for round in $(seq "$rounds"); do
    for entry in "${loads[@]}"; do
        name=${entry%%:*}; args=${entry#*:}
        for mode in plain tls mtls; do
            value=$(measure $mode $args)
            results[$name,$mode]+="$value "
            echo "round $round $name $mode: $value"
        done
    done
done
echo
echo "| load | plain | TLS | mTLS | TLS / plain | mTLS / plain |"
echo "|---|---:|---:|---:|---:|---:|"
for entry in "${loads[@]}"; do
    name=${entry%%:*}
    python3 - "$name" "${results[$name,plain]}" "${results[$name,tls]}" "${results[$name,mtls]}" <<'PY'
import statistics, sys
name, *columns = sys.argv[1:]
medians = [statistics.median(map(float, c.split())) for c in columns]
unit = {"health1": "Health calls/s, 1 in flight", "health64": "Health calls/s, 64 in flight", "transfer64": "602 KB tensor calls, MB/s, 64 in flight"}[name]
print(f"| {unit} | {medians[0]:.1f} | {medians[1]:.1f} | {medians[2]:.1f} | {medians[1] / medians[0]:.3f} | {medians[2] / medians[0]:.3f} |")
PY
done
echo "(medians of $rounds alternating rounds of $seconds s; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores)"
