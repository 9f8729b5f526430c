#!/usr/bin/env python3
"""Reference fixtures from PaddlePaddle running PaddleClas's own tnt.py.

Writes into --out: config.json, weights.safetensors (PaddleClas names, Paddle layouts),
input.npy [B,3,H,W], logits.npy [B,classes] and features.npy [B,embed_dim].

--weights stock keeps PaddleClas's initialisers. Those make attention almost uniform, so a
wrong scale or swapped q/k would hide inside 1e-4; --weights sharp therefore randomises every
LayerNorm, bias, cls_token and positional embedding, and multiplies the qk weights by
--inner-gain / --outer-gain so attention is peaked.

    python3 tools/make_reference.py --arch tnt_small --weights sharp --batch 3 --out /tmp/ref
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from paddleclas_source import load_tnt_module  # noqa: E402

# embed 128 = in_dim 8 × 16 pixels, as PaddleClas's Block requires; 64×64 keeps the fixture small.
TINY = {"img_size": 64, "embed_dim": 128, "in_dim": 8, "depth": 2, "num_heads": 2,
        "in_num_head": 2, "mlp_ratio": 2.0, "class_num": 10}
PRESETS = {
    "tnt_small": {"embed_dim": 384, "in_dim": 24, "depth": 12, "num_heads": 6, "in_num_head": 4},
    "tnt_base": {"embed_dim": 640, "in_dim": 40, "depth": 12, "num_heads": 10, "in_num_head": 4},
    "tiny": TINY,
}


def build_config(arch):
    if arch in PRESETS:
        config = dict(PRESETS[arch])
    else:
        with open(arch) as f:
            config = json.load(f)
    full = {"img_size": 224, "patch_size": 16, "in_chans": 3, "mlp_ratio": 4.0, "class_num": 1000,
            "in_num_head": 4}
    full.update(config)
    return full


def sharpen(model, rng, inner_gain, outer_gain):
    import paddle
    state = model.state_dict()
    for name, tensor in state.items():
        value = tensor.numpy()
        shape = value.shape
        is_norm = ".norm" in "." + name and name.endswith(".weight") and value.ndim == 1
        if is_norm:
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith(".bias"):
            value = rng.normal(0.0, 0.1, shape)
        elif name in ("cls_token", "patch_pos", "pixel_pos"):
            value = rng.normal(0.0, 0.5, shape)
        elif value.ndim >= 2 and not name.endswith(".qk.weight"):
            # Linear [in, out] and Conv2D [out, in, kh, kw] weights scaled to their fan-in, so
            # every residual branch (attention above all) moves the tokens by O(1).
            fan_in = shape[0] if value.ndim == 2 else int(np.prod(shape[1:]))
            value = rng.normal(0.0, fan_in ** -0.5, shape)
        if name.endswith("attn_in.qk.weight"):
            value = value * inner_gain
        elif name.endswith("attn_out.qk.weight"):
            value = value * outer_gain
        tensor.set_value(paddle.to_tensor(value.astype(np.float32)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="tiny", help="tiny, tnt_small, tnt_base or a JSON config file")
    parser.add_argument("--weights", choices=["stock", "sharp"], default="sharp")
    parser.add_argument("--inner-gain", type=float, default=16.0)
    parser.add_argument("--outer-gain", type=float, default=3.0)
    parser.add_argument("--batch", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import paddle
    from safetensors.numpy import save_file

    paddle.set_device("cpu")
    paddle.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    config = build_config(args.arch)
    tnt = load_tnt_module()
    model = tnt.TNT(**config)
    if args.weights == "sharp":
        sharpen(model, rng, args.inner_gain, args.outer_gain)
    model.eval()

    size = config["img_size"]
    x = rng.uniform(-1.0, 1.0, (args.batch, config["in_chans"], size, size)).astype(np.float32)
    with paddle.no_grad():
        features = model.forward_features(paddle.to_tensor(x)).numpy()
        logits = model(paddle.to_tensor(x)).numpy()

    os.makedirs(args.out, exist_ok=True)
    weights = {name: np.ascontiguousarray(t.numpy().astype(np.float32)) for name, t in model.state_dict().items()}
    save_file(weights, os.path.join(args.out, "weights.safetensors"),
              metadata={"source": "PaddleClas 2.6.0 tnt.py", "weights": args.weights, "seed": str(args.seed)})
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    np.save(os.path.join(args.out, "input.npy"), x)
    np.save(os.path.join(args.out, "logits.npy"), logits.astype(np.float32))
    np.save(os.path.join(args.out, "features.npy"), features.astype(np.float32))
    print(f"{args.arch} ({args.weights}): {len(weights)} tensors, batch {args.batch}, "
          f"logit range [{logits.min():.3f}, {logits.max():.3f}] -> {args.out}")


if __name__ == "__main__":
    main()
