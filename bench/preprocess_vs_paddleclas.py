#!/usr/bin/env python3
"""Decode + preprocess of a ~1 megapixel JPEG and PNG: TNTServe (`tnt bench preprocess`)
beside PaddleClas's own pipeline (deploy/python/preprocess.py: OpenCV decode, Pillow bicubic
resize, crop, normalize, CHW), both on one thread, alternating for two rounds.

    python3 bench/preprocess_vs_paddleclas.py [--seconds 3]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import cv2
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from make_image_expectations import paddleclas_pipeline, paddleclas_preprocess_module, run  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def images(directory):
    import sklearn.datasets
    os.makedirs(directory, exist_ok=True)
    source = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images", "china.jpg")
    photo = Image.open(source).convert("RGB").resize((1224, 816), Image.BICUBIC)  # 1.0 megapixel
    paths = [os.path.join(directory, "photo-1mp.jpg"), os.path.join(directory, "photo-1mp.png")]
    photo.save(paths[0], quality=90)
    photo.save(paths[1])
    return paths


def median_ms(fn, seconds):
    fn()
    times, start = [], time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    ops = paddleclas_pipeline(paddleclas_preprocess_module())
    paths = images(os.path.join(ROOT, ".build", "bench", "preprocess"))
    tnt = os.path.join(ROOT, ".build", "release", "tnt")
    for round_ in (1, 2):
        print(f"\n### round {round_}: PaddleClas pipeline (OpenCV {cv2.__version__}, Pillow {Image.__version__}, 1 thread)")
        print("| image | median ms |\n|---|---:|")
        for path in paths:
            data = open(path, "rb").read()
            print(f"| {os.path.basename(path)} | {median_ms(lambda: run(ops, data), args.seconds):.2f} |")
        print(f"\n### round {round_}: TNTServe")
        sys.stdout.flush()
        subprocess.run([tnt, "bench", "preprocess", *paths, "--seconds", str(args.seconds)], check=True)


if __name__ == "__main__":
    main()
