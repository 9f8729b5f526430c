#!/usr/bin/env bash
# Generates the protobuf-c code for proto/tnt/v1/*.proto into Sources/CTNTProto (committed).
#   tools/gen-proto.sh            regenerate in place
#   tools/gen-proto.sh --check    regenerate into a temporary folder; fail if the committed code differs
set -euo pipefail
cd "$(dirname "$0")/.."
target=Sources/CTNTProto
out=$target
if [[ "${1:-}" == "--check" ]]; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
fi
protos=(proto/tnt/v1/*.proto)
tmp=$(mktemp -d)
protoc-c --c_out="$tmp" -Iproto "${protos[@]}"
mkdir -p "$out/tnt/v1" "$out/include/tnt/v1"
for proto in "${protos[@]}"; do
    name=$(basename "$proto" .proto)
    mv "$tmp/tnt/v1/$name.pb-c.c" "$out/tnt/v1/"
    mv "$tmp/tnt/v1/$name.pb-c.h" "$out/include/tnt/v1/"
done
rm -rf "$tmp"
{
    echo "module CTNTProto {"
    for proto in "${protos[@]}"; do echo "    header \"tnt/v1/$(basename "$proto" .proto).pb-c.h\""; done
    echo "    export *"
    echo "}"
} > "$out/include/module.modulemap"
if [[ "${1:-}" == "--check" ]]; then
    if ! diff -r "$out" "$target" > /dev/null; then
        echo "Sources/CTNTProto is stale: run tools/gen-proto.sh and commit the result" >&2
        diff -r "$out" "$target" | head -20 >&2
        exit 1
    fi
    echo "Sources/CTNTProto matches proto/ (protoc-c $(protoc-c --version | head -1))"
fi
