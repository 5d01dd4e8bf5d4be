#!/usr/bin/env python3
"""Compare `translocator bench gemm` with numpy (OpenBLAS) on the same shapes, in the same run.

This VM's speed drifts by tens of percent over seconds (other tenants, clock boost), so the two
sides are interleaved finely: each round visits every shape and thread count, and times ours
and numpy back to back on that one shape, in alternating order (ours first on even rounds).
numpy runs in a fresh process per measurement (OPENBLAS_NUM_THREADS is read when OpenBLAS
loads, and an idle OpenBLAS pool spins for a while after a call, which would steal from ours).
Shapes come from the Swift bench's default list (its --json), so the two never drift. numpy
times C = op(A) @ op(B) in float32 with op a transposed *view* (numpy hands BLAS the transpose
flag; nothing is copied), best of --repeats after a warm-up, like ours.

Per row: best of --rounds for each side and their ratio, and the median of the rounds' own
ratios (each round's pair ran seconds apart, so it is the steadier reading on a drifting
machine); ours as % of the FMA peak (`bench gemm --peak`, best of start and end).

`--shapes` times other shapes (our `--shapes` syntax); `--packed-b` times ours over a B packed
ahead (PackedMatrix, as inference packs its weights at load) against numpy as usual: for a few
rows, OpenBLAS's GEMV reads the weight as stored, so that is the comparison a batch-1 forward
pass sees.

  swift build -c release && python3 scripts/bench/gemm.py [--rounds 6] [--threads 1,2]
  python3 scripts/bench/gemm.py --packed-b --shapes 1x6000x12893:ABt,8x6000x12893:ABt
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

NUMPY_CHILD = r"""
import json, sys, time
import numpy as np
s, repeats = json.loads(sys.argv[1]), int(sys.argv[2])
clock = time.process_time if sys.argv[3] == "cpu" else time.perf_counter
rng = np.random.default_rng(1)
m, k, n = s["m"], s["k"], s["n"]
a = rng.uniform(-1, 1, (k, m) if s["transposeA"] else (m, k)).astype(np.float32)
b = rng.uniform(-1, 1, (n, k) if s["transposeB"] else (k, n)).astype(np.float32)
opa = a.T if s["transposeA"] else a
opb = b.T if s["transposeB"] else b
c = np.empty((m, n), dtype=np.float32)
np.matmul(opa, opb, out=c)
best = float("inf")
for _ in range(repeats):
    t = clock()
    np.matmul(opa, opb, out=c)
    best = min(best, clock() - t)
print(json.dumps(2 * m * n * k / best * 1e-9))
"""


def form(row):
    return ("At" if row["transposeA"] else "A") + ("Bt" if row["transposeB"] else "B")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=".build/release/translocator")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.add_argument("--shapes", help="MxKxN[:AB|AtB|ABt],... instead of ViT-B/16's (passed to bench gemm)")
    parser.add_argument("--packed-b", action="store_true", help="ours with B packed ahead (bench gemm --packed-b)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="both sides divide by process CPU seconds (GFLOP per core-second): steadier on a busy "
                             "machine; with 1 thread it equals throughput on an idle one")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]

    timing = (["--cpu-time"] if args.cpu_time else []) + (["--packed-b"] if args.packed_b else [])
    peaks = {}

    def measure_peaks():
        run = subprocess.run([args.binary, "bench", "gemm", "--json", "--peak", "--threads", args.threads,
                              "--shapes", "64x64x64:AB", "--repeats", "1"], capture_output=True, text=True, check=True)
        for line in run.stderr.splitlines():
            match = re.match(r"peak (\d+) thread\(s\): ([\d.]+)", line)
            if match:
                t, value = int(match.group(1)), float(match.group(2))
                peaks[t] = max(peaks.get(t, 0), value)

    def run_ours(row, t):
        shape = f"{row['m']}x{row['k']}x{row['n']}:{form(row)}"
        run = subprocess.run([args.binary, "bench", "gemm", "--json", "--threads", str(t), "--shapes", shape,
                              "--repeats", str(args.repeats)] + timing, capture_output=True, text=True, check=True)
        return json.loads(run.stdout)[0]["gflops"]

    def run_numpy(row, t):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t))
        child = subprocess.run([sys.executable, "-c", NUMPY_CHILD, json.dumps(row), str(args.repeats),
                                "cpu" if args.cpu_time else "wall"],
                               capture_output=True, text=True, check=True, env=env)
        return json.loads(child.stdout)

    listing = subprocess.run([args.binary, "bench", "gemm", "--json", "--threads", "1", "--repeats", "1"]
                             + (["--shapes", args.shapes] if args.shapes else []),
                             capture_output=True, text=True, check=True)
    shapes = json.loads(listing.stdout)
    measure_peaks()
    ours, theirs = {}, {}   # key -> one reading per round
    for round_index in range(args.rounds):
        for row in shapes:
            for t in threads:
                key = (row["m"], row["k"], row["n"], row["transposeA"], row["transposeB"], t)
                if round_index % 2 == 0:
                    mine = run_ours(row, t); blas = run_numpy(row, t)
                else:
                    blas = run_numpy(row, t); mine = run_ours(row, t)
                ours.setdefault(key, []).append(mine)
                theirs.setdefault(key, []).append(blas)
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
    measure_peaks()

    table = []
    for key in ours:
        m, k, n, ta, tb, t = key
        peak = peaks.get(t)
        best, blas_best = max(ours[key]), max(theirs[key])
        paired = statistics.median(mine / blas for mine, blas in zip(ours[key], theirs[key]))
        table.append(dict(m=m, k=k, n=n, transposeA=ta, transposeB=tb, threads=t, gflops=round(best, 1),
                          openblasGflops=round(blas_best, 1), ratio=round(best / blas_best, 3),
                          medianRoundRatio=round(paired, 3),
                          percentOfPeak=round(100 * best / peak, 1) if peak else None,
                          rounds=dict(ours=ours[key], openblas=theirs[key])))
    if args.json:
        print(json.dumps({"fmaPeakGflops": peaks, "rows": table}, indent=1))
        return
    print("FMA peak (GFLOP/s): " + ", ".join(f"{t} thread(s) {p:.1f}" for t, p in sorted(peaks.items())))
    print(f"{'m':>5} {'k':>5} {'n':>5} {'op':>5} {'thr':>3} {'ours':>7} {'OpenBLAS':>8} {'ratio':>6} "
          f"{'median':>6} {'%peak':>6}")
    for r in table:
        op = ("Aᵀ" if r["transposeA"] else "A") + ("Bᵀ" if r["transposeB"] else "B")
        print(f"{r['m']:5d} {r['k']:5d} {r['n']:5d} {op:>5} {r['threads']:3d} {r['gflops']:7.1f} "
              f"{r['openblasGflops']:8.1f} {r['ratio']:6.2f} {r['medianRoundRatio']:6.2f} {r['percentOfPeak'] or 0:6.1f}")
    print("ratio: best of rounds, ours / OpenBLAS; median: median over rounds of that round's ours / OpenBLAS")
    for column in ("ratio", "medianRoundRatio"):
        worst = min((r for r in table if r["threads"] == max(threads)), key=lambda r: r[column])
        print(f"lowest {column} at {max(threads)} threads: {worst[column]:.2f} "
              f"({worst['m']}x{worst['k']}x{worst['n']} {form(worst)})")

if __name__ == "__main__":
    main()
