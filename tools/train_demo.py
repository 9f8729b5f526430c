#!/usr/bin/env python3
"""Trains the bundled demo model: a small TNT (PaddleClas's own tnt.py, in PaddlePaddle) on
scikit-learn's handwritten digits, a real labelled dataset that ships with the package.

The 8x8 digits are upscaled to 64x64 RGB PNGs; the model sees exactly what TNTServe's
preprocessing makes of those files (resize_short 64 and crop 64 leave them as they are;
scale 1/255, mean 0.5, std 0.5). 20% of the images, stratified, are held out.

Writes models/digits/ (weights.safetensors, model.json, labels.txt, training.json with the
held-out accuracy PaddlePaddle measured), models/digits/heldout/ (the held-out images and
list.txt in PaddleClas's `path label` format) and examples/ (a few held-out images).

    python3 tools/train_demo.py [--epochs 40] [--seed 0]
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from paddleclas_source import load_tnt_module  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = {"img_size": 64, "patch_size": 16, "in_chans": 3, "embed_dim": 128, "in_dim": 8, "depth": 3,
          "num_heads": 4, "in_num_head": 2, "mlp_ratio": 2.0, "class_num": 10}


def digits_as_images():
    from PIL import Image
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = []
    for pixels in digits.images:  # 0..16 gray levels
        gray = Image.fromarray(np.uint8(np.round(pixels * 255 / 16)), "L").resize((64, 64), Image.BICUBIC)
        images.append(np.asarray(gray.convert("RGB")))
    return np.stack(images), digits.target


def normalise(images):
    """TNTServe's preprocessing of a 64x64 image for this model: (x/255 - 0.5) / 0.5, CHW."""
    x = images.astype(np.float32) * np.float32(1.0 / 255.0)
    return ((x - np.float32(0.5)) / np.float32(0.5)).transpose(0, 3, 1, 2).copy()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import paddle
    from PIL import Image
    from safetensors.numpy import save_file
    from sklearn.model_selection import train_test_split

    paddle.set_device("cpu")
    paddle.seed(args.seed)
    np.random.seed(args.seed)
    images, labels = digits_as_images()
    train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=0.2, stratify=labels, random_state=args.seed)
    x_train, y_train = normalise(images[train_idx]), labels[train_idx]
    x_test, y_test = normalise(images[test_idx]), labels[test_idx]

    model = load_tnt_module().TNT(**CONFIG)
    steps = args.epochs * ((len(x_train) + 63) // 64)
    schedule = paddle.optimizer.lr.CosineAnnealingDecay(learning_rate=2e-3, T_max=steps)
    optimizer = paddle.optimizer.AdamW(learning_rate=schedule, parameters=model.parameters(), weight_decay=0.05)
    loss_fn = paddle.nn.CrossEntropyLoss()
    rng = np.random.default_rng(args.seed)
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(x_train))
        total = 0.0
        for start in range(0, len(order), 64):
            batch = order[start:start + 64]
            logits = model(paddle.to_tensor(x_train[batch]))
            loss = loss_fn(logits, paddle.to_tensor(y_train[batch].astype(np.int64)))
            loss.backward()
            optimizer.step()
            optimizer.clear_grad()
            schedule.step()
            total += float(loss) * len(batch)
        if epoch % 10 == 9 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1}: loss {total / len(order):.4f}")

    model.eval()
    with paddle.no_grad():
        logits = model(paddle.to_tensor(x_test)).numpy()
    top1 = float((logits.argmax(1) == y_test).mean())
    top5 = float(np.mean([y in np.argsort(-row)[:5] for row, y in zip(logits, y_test)]))
    print(f"held-out: {len(y_test)} images, top-1 {top1:.4f}, top-5 {top5:.4f} (PaddlePaddle)")

    out = os.path.join(ROOT, "models", "digits")
    heldout = os.path.join(out, "heldout")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(heldout)
    weights = {name: np.ascontiguousarray(t.numpy().astype(np.float32)) for name, t in model.state_dict().items()}
    save_file(weights, os.path.join(out, "weights.safetensors"), metadata={"source": "tools/train_demo.py", "seed": str(args.seed)})
    manifest = {"architecture": CONFIG, "weights": "weights.safetensors", "labels": "labels.txt",
                "preprocess": {"resize_short": 64, "interpolation": "bicubic", "crop_size": 64,
                               "scale": 1.0 / 255.0, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}
    json.dump(manifest, open(os.path.join(out, "model.json"), "w"), indent=2)
    open(os.path.join(out, "labels.txt"), "w").write("".join(f"digit {i}\n" for i in range(10)))
    lines = []
    for k, index in enumerate(test_idx):
        name = f"{k:03d}_digit{labels[index]}.png"
        Image.fromarray(images[index]).save(os.path.join(heldout, name), optimize=True)
        lines.append(f"{name} {labels[index]}\n")
    open(os.path.join(heldout, "list.txt"), "w").writelines(lines)
    json.dump({"heldout_images": len(y_test), "top1": top1, "top5": top5, "epochs": args.epochs, "seed": args.seed,
               "paddlepaddle": paddle.__version__, "config": CONFIG}, open(os.path.join(out, "training.json"), "w"), indent=2)

    examples = os.path.join(ROOT, "examples")
    shutil.rmtree(examples, ignore_errors=True)
    os.makedirs(examples)
    for digit in range(10):
        k = next(k for k, index in enumerate(test_idx) if labels[index] == digit)
        shutil.copy(os.path.join(heldout, f"{k:03d}_digit{digit}.png"), os.path.join(examples, f"digit{digit}.png"))
    print(f"wrote {out}, {heldout} ({len(lines)} images) and {examples}")


if __name__ == "__main__":
    main()
