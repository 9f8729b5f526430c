#!/usr/bin/env python3
"""Client-side figures, Swift (`tnt bench rpc`) beside Python (`tnt_client`), same server, same
run: Health calls on one connection, one call at a time, and single-image Predict.

    python3 bench/clients.py --server HOST:PORT --image FILE [--seconds 10]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
from tnt_client import Client  # noqa: E402


def python_loop(server, seconds, call):
    with Client(server) as client:
        call(client)
        latencies, end = [], time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            call(client)
            latencies.append(time.perf_counter() - t0)
    latencies.sort()
    pick = lambda p: latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000
    return f"{len(latencies)} calls in {seconds:.1f} s = {len(latencies) / seconds:.1f} calls/s; latency ms p50 {pick(0.5):.2f}, p90 {pick(0.9):.2f}, p99 {pick(0.99):.2f}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    image = open(args.image, "rb").read()
    tnt = os.path.join(ROOT, ".build", "release", "tnt")
    for round_ in (1, 2):
        print(f"\n### round {round_}")
        sys.stdout.flush()
        subprocess.run([tnt, "bench", "rpc", "--server", args.server, "--method", "health", "--seconds", str(args.seconds)], check=True)
        print("python health × 1 caller on 1 connection:", python_loop(args.server, args.seconds, lambda c: c.health()))
        sys.stdout.flush()
        subprocess.run([tnt, "bench", "rpc", "--server", args.server, "--method", "predict", "--image", args.image,
                        "--seconds", str(args.seconds)], check=True)
        print("python predict × 1 caller on 1 connection:", python_loop(args.server, args.seconds, lambda c: c.predict(image)))


if __name__ == "__main__":
    main()
