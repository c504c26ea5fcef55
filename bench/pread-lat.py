#!/usr/bin/env python3
"""Random 4 KiB pread latency on one file, for bench/run.sh.

    bench/pread-lat.py FILE COUNT [REFERENCE]

Does COUNT plain pread()s (no O_DIRECT) of 4 KiB at random 4 KiB-aligned
offsets of FILE, each after posix_fadvise(DONTNEED) of that range so the
read reaches the filesystem instead of the page cache, and prints one line:

    p50 MS p99 MS max MS wrong N

wrong counts reads that differ from the same range of REFERENCE (when
given). The offsets are the same on every run (fixed seed).
"""
import os
import random
import sys
import time


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.strip())
    fd = os.open(sys.argv[1], os.O_RDONLY)
    ref = os.open(sys.argv[3], os.O_RDONLY) if len(sys.argv) == 4 else None
    count = int(sys.argv[2])
    size = os.fstat(fd).st_size
    rng = random.Random(1)
    lat, wrong = [], 0
    for _ in range(count):
        off = rng.randrange(0, max(1, size - 4096)) & ~4095
        os.posix_fadvise(fd, off, 4096, os.POSIX_FADV_DONTNEED)
        t0 = time.perf_counter()
        data = os.pread(fd, 4096, off)
        lat.append(time.perf_counter() - t0)
        if ref is not None:
            wrong += data != os.pread(ref, 4096, off)
    lat.sort()

    def pct(q):
        return lat[min(len(lat) - 1, int(q * len(lat)))] * 1e3

    print("p50 %.3f p99 %.3f max %.3f wrong %d"
          % (pct(0.5), pct(0.99), lat[-1] * 1e3, wrong))


if __name__ == "__main__":
    main()
