#!/usr/bin/env python3
"""Exports PaddleClas's TNT (tnt.py, weights from a safetensors file) to ONNX with paddle2onnx,
for the ONNX Runtime side of the forward-pass benchmark.

    python3 bench/export_onnx.py --arch tnt_small --weights W.safetensors --out tnt_small.onnx
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from make_reference import build_config  # noqa: E402
from paddleclas_source import load_tnt_module  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="tnt_small")
    parser.add_argument("--weights", help="safetensors with PaddleClas names; PaddleClas's initialisers when absent")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import paddle
    from safetensors.numpy import load_file
    paddle.set_device("cpu")
    config = build_config(args.arch)
    model = load_tnt_module().TNT(**config)
    if args.weights:
        model.set_state_dict({k: paddle.to_tensor(v) for k, v in load_file(args.weights).items()})
    model.eval()
    size = config["img_size"]
    spec = [paddle.static.InputSpec([None, 3, size, size], "float32", "x")]
    prefix = os.path.splitext(args.out)[0]
    paddle.onnx.export(model, prefix, input_spec=spec, opset_version=13)
    print(f"wrote {prefix}.onnx")


if __name__ == "__main__":
    main()
