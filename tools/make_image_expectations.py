#!/usr/bin/env python3
"""Expected outputs for the TNTImage tests, made by the references themselves:
OpenCV's imdecode for decoding, Pillow's resize, PaddleClas's own deploy/python/preprocess.py
for the whole pipeline. Writes compact files into Tests/TNTImageTests/Fixtures so the Swift
tests need no Python:

- pngsuite.json: per PngSuite file, OpenCV's decoded RGB size and SHA-256 (or that it fails),
  and the SHA-256 of PaddleClas's 224x224 crop;
- jpeg/NAME.jpg (made with Pillow) and jpeg/NAME.expected.png (OpenCV's RGB pixels);
- resize/NAME.png inputs and resize/NAME.{bicubic,bilinear}.png (Pillow's output);
- pipeline/NAME.jpg (scikit-learn's sample photographs), pipeline/NAME.crop.png (PaddleClas's
  uint8 crop) and pipeline.json (SHA-256 of PaddleClas's float32 CHW tensor).

    python3 tools/make_image_expectations.py [--pngsuite ../shared/testdata/pngsuite]
"""
import argparse
import glob
import hashlib
import io
import json
import os
import sys

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import paddleclas_source  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "TNTImageTests", "Fixtures")

# PaddleClas's TNT_small.yaml, Infer.transforms.
TNT_TRANSFORMS = [
    {"DecodeImage": {"to_rgb": True, "channel_first": False}},
    {"ResizeImage": {"resize_short": 248, "interpolation": "bicubic", "backend": "pil"}},
    {"CropImage": {"size": 224}},
    {"NormalizeImage": {"scale": 1.0 / 255.0, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "order": ""}},
    {"ToCHWImage": None},
]


def paddleclas_preprocess_module():
    """deploy/python/preprocess.py from the wheel; the det_preprocess import (detection only)
    and paddle.vision's transforms import (unused by these operators) are blanked."""
    source = paddleclas_source.read("deploy/python/preprocess.py")
    lines = []
    for line in source.splitlines():
        if line.startswith("from paddleclas.deploy.python.det_preprocess import") or \
                line.startswith("from paddle.vision.transforms import"):
            lines.append("")
        else:
            lines.append(line)
    module = type(sys)("paddleclas_preprocess")
    module.__dict__["__name__"] = "paddleclas_preprocess"
    sys.modules["paddleclas_preprocess"] = module
    exec(compile("\n".join(lines), "paddleclas/deploy/python/preprocess.py", "exec"), module.__dict__)
    return module


def paddleclas_pipeline(pre):
    ops = []
    for entry in TNT_TRANSFORMS:
        (name, params), = entry.items()
        ops.append(getattr(pre, name)(**(params or {})))
    return ops


def run(ops, data, stop_after=None):
    x = data
    for op in ops:
        x = op(x)
        if stop_after is not None and type(op).__name__ == stop_after:
            break
    return x


def sha256(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def opencv_rgb(data):
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return None if image is None else np.ascontiguousarray(image[:, :, ::-1])


def save_png(path, rgb):
    Image.fromarray(rgb, "RGB").save(path, optimize=True)


def pngsuite(ops, directory):
    result = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.png"))):
        data = open(path, "rb").read()
        rgb = opencv_rgb(data)
        name = os.path.basename(path)
        if rgb is None:
            result[name] = {"decodes": False, "tensor_sha256": ""}
            continue
        crop = run(ops, data, stop_after="CropImage")
        tensor = run(ops, data)
        result[name] = {"decodes": True, "width": rgb.shape[1], "height": rgb.shape[0], "sha256": sha256(rgb),
                        "crop_sha256": sha256(crop), "tensor_sha256": sha256(tensor.astype(np.float32))}
    return result


def photographs():
    from sklearn.datasets import load_sample_image
    import sklearn.datasets
    base = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
    return {name: open(os.path.join(base, name), "rb").read() for name in ("china.jpg", "flower.jpg")}


def jpegs(out):
    os.makedirs(out, exist_ok=True)
    photo = Image.open(io.BytesIO(photographs()["china.jpg"])).convert("RGB")
    small = photo.crop((100, 60, 100 + 157, 60 + 103))  # odd sizes exercise edge blocks
    variants = {
        "baseline420": dict(quality=90, subsampling=2),
        "baseline444": dict(quality=90, subsampling=0),
        "baseline422": dict(quality=85, subsampling=1),
        "progressive420": dict(quality=90, subsampling=2, progressive=True),
        "optimized444": dict(quality=95, subsampling=0, optimize=True),
    }
    for name, options in variants.items():
        small.save(os.path.join(out, name + ".jpg"), "JPEG", **options)
    small.convert("L").save(os.path.join(out, "grayscale.jpg"), "JPEG", quality=90)
    for orientation in (3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        small.save(os.path.join(out, f"exif_orientation{orientation}.jpg"), "JPEG", quality=90, exif=exif.tobytes())
    for path in sorted(glob.glob(os.path.join(out, "*.jpg"))):
        save_png(path[:-4] + ".expected.png", opencv_rgb(open(path, "rb").read()))


RESIZE_CASES = [  # (input width, height) -> (output width, height): up, down, mixed, degenerate
    ((1, 1), (5, 3)), ((1, 1), (1, 7)), ((2, 2), (1, 1)), ((3, 5), (7, 11)), ((7, 5), (3, 2)),
    ((16, 16), (16, 16)), ((17, 13), (62, 48)), ((31, 29), (93, 87)), ((64, 48), (96, 72)),
    ((100, 100), (48, 48)), ((101, 67), (73, 48)), ((133, 100), (130, 98)), ((200, 120), (71, 43)),
    ((157, 201), (48, 61)), ((160, 107), (47, 31)), ((107, 160), (31, 47)), ((500, 9), (248, 4)),
    ((9, 500), (4, 248)), ((1000, 3), (827, 2)), ((3, 700), (2, 579)), ((50, 48), (50, 48)),
    ((85, 80), (21, 100)), ((40, 30), (331, 248)),
]


def resize_cases(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(5)
    for (w, h), (ow, oh) in RESIZE_CASES:
        # Noise over a gradient: sharp edges (overshoot, clamping) and smooth areas.
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), ((xx + yy) * 7) % 256], -1)
        noise = rng.integers(-60, 61, (h, w, 3))
        rgb = np.clip(base + noise, 0, 255).astype(np.uint8)
        name = f"{w}x{h}_to_{ow}x{oh}"
        save_png(os.path.join(out, name + ".png"), rgb)
        for filter_name, flag in (("bicubic", Image.BICUBIC), ("bilinear", Image.BILINEAR)):
            resized = np.asarray(Image.fromarray(rgb).resize((ow, oh), flag))
            save_png(os.path.join(out, f"{name}.{filter_name}.png"), resized)


def pipeline_cases(ops, out):
    os.makedirs(out, exist_ok=True)
    result = {}
    for name, data in photographs().items():
        open(os.path.join(out, name), "wb").write(data)
        crop = run(ops, data, stop_after="CropImage")
        tensor = run(ops, data).astype(np.float32)
        save_png(os.path.join(out, name.replace(".jpg", ".crop.png")), np.ascontiguousarray(crop))
        result[name] = {"tensor_sha256": sha256(tensor), "shape": list(tensor.shape)}
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pngsuite", default=os.path.join(ROOT, "..", "shared", "testdata", "pngsuite"))
    args = parser.parse_args()
    ops = paddleclas_pipeline(paddleclas_preprocess_module())
    os.makedirs(OUT, exist_ok=True)
    suite = pngsuite(ops, args.pngsuite)
    with open(os.path.join(OUT, "pngsuite.json"), "w") as f:
        json.dump(suite, f, indent=1, sort_keys=True)
    jpegs(os.path.join(OUT, "jpeg"))
    resize_cases(os.path.join(OUT, "resize"))
    with open(os.path.join(OUT, "pipeline.json"), "w") as f:
        json.dump(pipeline_cases(ops, os.path.join(OUT, "pipeline")), f, indent=1, sort_keys=True)
    print(f"pngsuite: {sum(v['decodes'] for v in suite.values())} decode, "
          f"{sum(not v['decodes'] for v in suite.values())} rejected by OpenCV -> {OUT}")


if __name__ == "__main__":
    main()
