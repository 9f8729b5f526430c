#!/usr/bin/env python3
"""Paddle Inference's side of the forward-pass benchmark: PaddleClas's documented CPU
deployment (paddle.inference with oneDNN, `enable_mkldnn()`), the same TNT network and
weights as `tnt bench model`, exported with paddle.jit.save. One configuration per
(batch, threads), in the same table shape as `tnt bench model`; checks its logits against
the PaddlePaddle reference (dygraph) before timing.

    python3 bench/paddle_inference_bench.py --weights W.safetensors --reference DIR --batch 1,8 --threads 1,2
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from make_reference import build_config  # noqa: E402
from paddleclas_source import load_tnt_module  # noqa: E402
from timing import median_seconds  # noqa: E402


def export(arch, weights, prefix):
    """paddle.jit.save of PaddleClas's TNT with these weights: the inference model files."""
    import paddle
    from safetensors.numpy import load_file
    paddle.set_device("cpu")
    config = build_config(arch)
    model = load_tnt_module().TNT(**config)
    model.set_state_dict({k: paddle.to_tensor(v) for k, v in load_file(weights).items()})
    model.eval()
    size = config["img_size"]
    spec = [paddle.static.InputSpec([None, 3, size, size], "float32", "x")]
    paddle.jit.save(model, prefix, input_spec=spec)


def predictor(prefix, threads):
    from paddle import inference
    model_file = prefix + ".json" if os.path.exists(prefix + ".json") else prefix + ".pdmodel"
    config = inference.Config(model_file, prefix + ".pdiparams")
    config.disable_gpu()
    config.enable_mkldnn()
    config.set_cpu_math_library_num_threads(threads)
    config.switch_ir_optim(True)
    config.disable_glog_info()
    return inference.create_predictor(config)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="tnt_small")
    parser.add_argument("--weights", required=True)
    parser.add_argument("--reference", required=True, help="make_reference.py output for the same weights")
    parser.add_argument("--work", required=True, help="folder for the exported inference model")
    parser.add_argument("--batch", default="1,8")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--gflop-per-image", type=float, default=10.43)
    args = parser.parse_args()

    import paddle
    prefix = os.path.join(args.work, f"{args.arch}_inference")
    if not os.path.exists(prefix + ".pdiparams"):
        export(args.arch, args.weights, prefix)
    x = np.load(f"{args.reference}/input.npy")
    expected = np.load(f"{args.reference}/logits.npy")
    print(f"Paddle Inference {paddle.__version__}, oneDNN {paddle.base.core.is_compiled_with_mkldnn()}")
    print("| batch | threads | median ms/batch | images/s | GFLOP/s | max abs Δ logits vs Paddle | error/bound |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    failed = False
    for threads in [int(t) for t in args.threads.split(",")]:
        p = predictor(prefix, threads)
        input_handle = p.get_input_handle(p.get_input_names()[0])
        output_handle = p.get_output_handle(p.get_output_names()[0])
        for batch in [int(b) for b in args.batch.split(",")]:
            inputs = np.ascontiguousarray(np.resize(x, (batch,) + x.shape[1:]))

            def run():
                input_handle.reshape(inputs.shape)
                input_handle.copy_from_cpu(inputs)
                p.run()
                return output_handle.copy_to_cpu()

            logits = run()
            n = min(batch, x.shape[0])
            error = np.abs(logits[:n] - expected[:n])
            ratio = float((error / (1e-4 + 1e-4 * np.abs(expected[:n]))).max())
            failed |= ratio > 1
            median = median_seconds(run, args.seconds)
            print(f"| {batch} | {threads} | {median * 1000:.1f} | {batch / median:.2f} | "
                  f"{args.gflop_per_image * batch / median:.1f} | {float(error.max()):.2e} | {ratio:.3f} |", flush=True)
    if failed:
        print("parity FAILED: Paddle Inference's logits differ from the PaddlePaddle reference beyond the bound")


if __name__ == "__main__":
    main()
