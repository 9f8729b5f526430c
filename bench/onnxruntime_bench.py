#!/usr/bin/env python3
"""ONNX Runtime's side of the forward-pass benchmark: the Paddle-exported TNT on CPU, one
configuration per (batch, threads), printed in the same table shape as `tnt bench model`.
Checks its logits against the PaddlePaddle reference before timing.

    python3 bench/onnxruntime_bench.py --model tnt_small.onnx --reference DIR --batch 1,8 --threads 1,2
"""
import argparse

import numpy as np
import onnxruntime as ort

from timing import median_seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--reference", required=True, help="make_reference.py output for the same weights")
    parser.add_argument("--batch", default="1,8")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--gflop-per-image", type=float, default=10.43)
    args = parser.parse_args()

    x = np.load(f"{args.reference}/input.npy")
    expected = np.load(f"{args.reference}/logits.npy")
    print(f"onnxruntime {ort.__version__}, providers {ort.get_available_providers()}")
    print("| batch | threads | median ms/batch | images/s | GFLOP/s | max abs Δ logits vs Paddle |")
    print("|---:|---:|---:|---:|---:|---:|")
    for threads in [int(t) for t in args.threads.split(",")]:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        for batch in [int(b) for b in args.batch.split(",")]:
            inputs = np.ascontiguousarray(np.resize(x, (batch,) + x.shape[1:]))
            logits = session.run(None, {name: inputs})[0]
            n = min(batch, x.shape[0])
            error = float(np.abs(logits[:n] - expected[:n]).max())
            median = median_seconds(lambda: session.run(None, {name: inputs}), args.seconds)
            print(f"| {batch} | {threads} | {median * 1000:.1f} | {batch / median:.2f} | "
                  f"{args.gflop_per_image * batch / median:.1f} | {error:.2e} |")


if __name__ == "__main__":
    main()
