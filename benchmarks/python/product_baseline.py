#!/usr/bin/env python3
"""Baseline for `bench_walk`: generate the same 10^7-walk full product in Python.

py-combtest enumerates walks with itertools.product (last action fastest); this times that
enumeration (with a running walk id, as the Rust iterator yields) and the peak RSS, so the
Rust figures have a ratio. Run: python3 benchmarks/python/product_baseline.py
"""

import itertools
import resource
import time

ACTIONS = 7
OPTIONS = 10


def main() -> None:
    started = time.perf_counter()
    checksum = 0
    count = 0
    for walk_id, walk in enumerate(itertools.product(range(OPTIONS), repeat=ACTIONS)):
        checksum = (checksum + (walk_id ^ walk[-1])) & 0xFFFFFFFFFFFFFFFF
        count += 1
    elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"python itertools.product: {count} walks in {elapsed:.3f} s "
          f"({count / elapsed / 1e6:.2f} M walks/s), checksum {checksum:x}, "
          f"peak RSS {peak_kib / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
