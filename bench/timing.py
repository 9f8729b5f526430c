"""Timing shared by the Python sides of the benchmarks."""
import statistics
import time


def median_seconds(run, budget):
    """The median of `run`'s wall times over at least 3 runs and `budget` seconds, after one warm-up."""
    run()
    times = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < budget:
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
