#!/usr/bin/env python3
"""Ratios of one bench/model_vs_references.sh log, per round: TNTServe (fresh environment, the
same with OpenBLAS for every product, and OPENBLAS_CORETYPE=Haswell) against Paddle Inference + oneDNN and ONNX Runtime, and each
TNTServe figure against the sgemm ceiling measured beside it; then the median over the rounds
of each ratio.

    python3 bench/summarize_model_bench.py LOG
"""
import re
import statistics
import sys


ENVIRONMENTS = [
    ("fresh", "TNTServe, fresh"),
    ("OpenBLAS products", "TNTServe, OpenBLAS for every product"),
    ("Haswell", "TNTServe, OPENBLAS_CORETYPE=Haswell"),
]


def tables(log):
    """{(round, engine): {(batch, threads): row}} from the markdown tables of the log."""
    out, key = {}, None
    for line in open(log):
        m = re.match(r"### round (\d+): (.*)", line)
        if m:
            key = (int(m.group(1)), m.group(2).strip())
            out[key] = {}
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if key and len(cells) > 4 and cells[0].isdigit() and cells[1].isdigit():
            out[key][(int(cells[0]), int(cells[1]))] = cells
    return out


def main():
    t = tables(sys.argv[1])
    rounds = sorted({r for r, _ in t})
    # Logs from before the OpenBLAS-products environment existed lack it.
    present = [(env, prefix) for env, prefix in ENVIRONMENTS if any(name.startswith(prefix) for _, name in t)]
    engine = lambda r, prefix: next(v for (rr, name), v in t.items() if rr == r and name.startswith(prefix))
    print("| round | TNTServe environment | batch | threads | TNTServe ms | img/s | of sgemm ceiling | Paddle Inference ms | ÷ Paddle Inference (speed) | ONNX Runtime ms | ÷ ONNX Runtime (speed) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rounds:
        paddle, ort = engine(r, "Paddle Inference"), engine(r, "ONNX Runtime")
        for env, prefix in present:
            ours = engine(r, prefix)
            for (batch, threads), row in sorted(ours.items()):
                ms, ceiling = float(row[2]), float(row[6])
                p, o = float(paddle[(batch, threads)][2]), float(ort[(batch, threads)][2])
                print(f"| {r} | {env} | {batch} | {threads} | {ms:.1f} | {float(row[3]):.2f} | {ceiling:.2f} | {p:.1f} | {p / ms:.2f} | {o:.1f} | {o / ms:.2f} |")
    for r in rounds:
        for env, prefix in present:
            ours = engine(r, prefix)
            print(f"round {r}, {env}: batch 1 on 2 threads is {float(ours[(1, 1)][2]) / float(ours[(1, 2)][2]):.2f}x faster than on 1 thread")
    print()
    print(f"| TNTServe environment | batch | threads | median over {len(rounds)} rounds: of sgemm ceiling | ÷ Paddle Inference | ÷ ONNX Runtime |")
    print("|---|---:|---:|---:|---:|---:|")
    for env, prefix in present:
        for key in sorted(engine(rounds[0], prefix)):
            ceiling, vs_paddle, vs_ort = [], [], []
            for r in rounds:
                ms = float(engine(r, prefix)[key][2])
                ceiling.append(float(engine(r, prefix)[key][6]))
                vs_paddle.append(float(engine(r, "Paddle Inference")[key][2]) / ms)
                vs_ort.append(float(engine(r, "ONNX Runtime")[key][2]) / ms)
            m = statistics.median
            print(f"| {env} | {key[0]} | {key[1]} | {m(ceiling):.2f} | {m(vs_paddle):.2f} | {m(vs_ort):.2f} |")


if __name__ == "__main__":
    main()
