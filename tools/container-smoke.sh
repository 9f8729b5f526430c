#!/usr/bin/env bash
# Proves the Dockerfile's runtime stage without a Docker engine (none runs here):
#  1. a bookworm base image made locally with debootstrap (no registry is reachable);
#  2. the release binaries built here with --static-swift-stdlib, as the build stage does;
#  3. the Dockerfile's own runtime stage (its text, with only the base image and the source of
#     the binaries swapped) built by podman with --isolation=chroot;
#  4. tnt-server started inside that image's root filesystem (chroot, as the image's user, with
#     the image's environment) and called from outside: health, predict, /readyz, the
#     HEALTHCHECK command; then SIGTERM, exit 0.
# Needs root. About 5 minutes the first time (debootstrap and the release build are cached).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${TNT_SMOKE_DIR:-/var/tmp/tnt-container-smoke}
mkdir -p "$work"
export DEBIAN_FRONTEND=noninteractive
command -v podman >/dev/null && command -v debootstrap >/dev/null || {
    apt-get update -qq && apt-get install -y -qq --no-install-recommends podman debootstrap fuse-overlayfs > /dev/null
}

mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
mirror=${mirror:-$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null)}
if ! podman image exists localhost/debian:bookworm-local; then
    echo "== debootstrap bookworm from $mirror"
    rm -rf "$work/rootfs"
    debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" > "$work/debootstrap.log"
    tar -C "$work/rootfs" -c . | podman import - localhost/debian:bookworm-local > /dev/null
    rm -rf "$work/rootfs"
fi

echo "== release build with --static-swift-stdlib"
swift build -c release --static-swift-stdlib --traits GRPC --product tnt-server --scratch-path .build-static > /dev/null
swift build -c release --static-swift-stdlib --traits GRPC --product tnt --scratch-path .build-static > /dev/null
context="$work/context"
rm -rf "$context" && mkdir -p "$context/out"
cp .build-static/release/tnt-server .build-static/release/tnt "$context/out/"

echo "== podman build of the Dockerfile's runtime stage"
# The last stage, verbatim but for its base image and where the binaries come from.
awk 'f; /^FROM swift/ {s=1} s && /^FROM debian/ {f=1; print "FROM localhost/debian:bookworm-local"}' Dockerfile \
    | sed 's#^COPY --from=build /out/tnt-server /out/tnt /usr/local/bin/#COPY out/tnt-server out/tnt /usr/local/bin/#' > "$context/Dockerfile"
grep -q "^COPY out/tnt-server" "$context/Dockerfile" || { echo "could not rewrite the COPY line" >&2; exit 1; }
podman build --isolation=chroot --format docker -q -t localhost/tntserve-runtime:smoke -f "$context/Dockerfile" "$context" > /dev/null
podman image inspect localhost/tntserve-runtime:smoke --format 'image user {{.Config.User}}, entrypoint {{.Config.Entrypoint}}, healthcheck {{.Config.Healthcheck.Test}}'

mnt=$(podman image mount localhost/tntserve-runtime:smoke)
trap 'podman image unmount localhost/tntserve-runtime:smoke > /dev/null || true' EXIT
models="$work/models"
rm -rf "$models" && mkdir -p "$models/tiny"
cp Tests/TNTModelTests/Fixtures/tiny-sharp/weights.safetensors "$models/tiny/"
printf '{"architecture": %s, "weights": "weights.safetensors"}\n' "$(cat Tests/TNTModelTests/Fixtures/tiny-sharp/config.json)" > "$models/tiny/model.json"
chmod -R a+rX "$models"
mapfile -t image_env < <(podman image inspect localhost/tntserve-runtime:smoke --format '{{range .Config.Env}}{{println .}}{{end}}' | sed '/^$/d')
port=$((20000 + RANDOM % 20000)); admin=$((port + 1)); grpc=$((port + 2))

echo "== tnt-server inside the image's root filesystem, ports $port (RPC), $admin (admin) and $grpc (gRPC)"
unshare -m --fork sh -c "mount -t proc proc '$mnt/proc' && mount --bind '$models' '$mnt/models' && \
    exec chroot --userspec=10001:10001 '$mnt' env -i ${image_env[*]} TNT_PORT=$port TNT_ADMIN_PORT=$admin TNT_GRPC_PORT=$grpc /usr/local/bin/tnt-server" \
    > "$work/server.out" 2> "$work/server.err" &
server=$!
for _ in $(seq 100); do grep -q "listening on" "$work/server.out" 2>/dev/null && break; sleep 0.1; done
cat "$work/server.out"
tnt=.build-static/release/tnt
$tnt health --server 127.0.0.1:$port
$tnt models --server 127.0.0.1:$port
$tnt predict --server 127.0.0.1:$port --top-k 3 Tests/TNTImageTests/Fixtures/pipeline/china.jpg
echo "readyz: $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$admin/readyz)"
python3 -c "import grpc; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; \
print('gRPC grpc.health.v1:', h.HealthCheckResponse.ServingStatus.Name(g.HealthStub(grpc.insecure_channel('127.0.0.1:$grpc')).Check(h.HealthCheckRequest(), timeout=10).status))"
curl -s http://127.0.0.1:$admin/metrics | grep -c '^tnt_' | sed 's/^/metrics lines: /'
# The image's HEALTHCHECK command, run inside the image (a static Swift binary needs /proc).
check=$(unshare -m --fork sh -c "mount -t proc proc '$mnt/proc' && chroot --userspec=10001:10001 '$mnt' /usr/local/bin/tnt ready --admin 127.0.0.1:$admin")
echo "HEALTHCHECK inside the image: $check"
[ "$check" = "HTTP/1.1 200 OK" ]
pkill -TERM -f "^/usr/local/bin/tnt-server" || kill -TERM $server
wait $server && echo "tnt-server exited 0 after SIGTERM"
grep -c '"level":"info"' "$work/server.err" | sed 's/^/JSON log lines: /'
echo "container smoke test passed"
