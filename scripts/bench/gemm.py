#!/usr/bin/env python3
"""Compare `translocator bench gemm` with numpy (OpenBLAS) on the same shapes, in the same run.

For each round: the Swift bench (all shapes, all thread counts, plus the FMA peak), then numpy in
a fresh process per thread count (OPENBLAS_NUM_THREADS is read when OpenBLAS loads, so each
count needs its own process). Shapes come from the Swift bench's --json, so the two never
drift. numpy times C = op(A) @ op(B) in float32 with op a transposed *view* (numpy hands BLAS
the transpose flag; nothing is copied), best of --repeats after a warm-up, like ours.

Best of --rounds per row for each side (the machine is shared; the best run is the one least
disturbed), then the ratio ours / OpenBLAS and ours as % of the FMA peak.

  swift build -c release && python3 scripts/bench/gemm.py [--rounds 3] [--threads 1,2]
"""
import argparse
import json
import os
import re
import subprocess
import sys

NUMPY_CHILD = r"""
import json, sys, time
import numpy as np
shapes, repeats = json.loads(sys.argv[1]), int(sys.argv[2])
clock = time.process_time if sys.argv[3] == "cpu" else time.perf_counter
rng = np.random.default_rng(1)
out = []
for s in shapes:
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
    out.append(2 * m * n * k / best * 1e-9)
print(json.dumps(out))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=".build/release/translocator")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.add_argument("--cpu-time", action="store_true",
                        help="both sides divide by process CPU seconds (GFLOP per core-second): steadier on a busy "
                             "machine; with 1 thread it equals throughput on an idle one")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]

    ours, theirs, peaks = {}, {}, {}
    for round_index in range(args.rounds):
        run = subprocess.run([args.binary, "bench", "gemm", "--json", "--peak", "--threads", args.threads,
                              "--repeats", str(args.repeats)] + (["--cpu-time"] if args.cpu_time else []), capture_output=True, text=True, check=True)
        for line in run.stderr.splitlines():
            match = re.match(r"peak (\d+) thread\(s\): ([\d.]+)", line)
            if match:
                t, value = int(match.group(1)), float(match.group(2))
                peaks[t] = max(peaks.get(t, 0), value)
        rows = json.loads(run.stdout)
        for row in rows:
            key = (row["m"], row["k"], row["n"], row["transposeA"], row["transposeB"], row["threads"])
            ours[key] = max(ours.get(key, 0), row["gflops"])
        for t in threads:
            shapes = [r for r in rows if r["threads"] == t]
            env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t))
            child = subprocess.run([sys.executable, "-c", NUMPY_CHILD, json.dumps(shapes), str(args.repeats),
                                    "cpu" if args.cpu_time else "wall"],
                                   capture_output=True, text=True, check=True, env=env)
            for row, value in zip(shapes, json.loads(child.stdout)):
                key = (row["m"], row["k"], row["n"], row["transposeA"], row["transposeB"], t)
                theirs[key] = max(theirs.get(key, 0), value)
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)

    table = []
    for key in ours:
        m, k, n, ta, tb, t = key
        peak = peaks.get(t)
        table.append(dict(m=m, k=k, n=n, transposeA=ta, transposeB=tb, threads=t, gflops=round(ours[key], 1),
                          openblasGflops=round(theirs[key], 1), ratio=round(ours[key] / theirs[key], 3),
                          percentOfPeak=round(100 * ours[key] / peak, 1) if peak else None))
    if args.json:
        print(json.dumps({"fmaPeakGflops": peaks, "rows": table}, indent=1))
        return
    print("FMA peak (GFLOP/s): " + ", ".join(f"{t} thread(s) {p:.1f}" for t, p in sorted(peaks.items())))
    print(f"{'m':>5} {'k':>5} {'n':>5} {'op':>5} {'thr':>3} {'ours':>7} {'OpenBLAS':>8} {'ratio':>6} {'%peak':>6}")
    for r in table:
        op = ("Aᵀ" if r["transposeA"] else "A") + ("Bᵀ" if r["transposeB"] else "B")
        print(f"{r['m']:5d} {r['k']:5d} {r['n']:5d} {op:>5} {r['threads']:3d} {r['gflops']:7.1f} "
              f"{r['openblasGflops']:8.1f} {r['ratio']:6.2f} {r['percentOfPeak'] or 0:6.1f}")
    worst = min(table, key=lambda r: r["ratio"] if r["threads"] == max(threads) else 9)
    print(f"lowest ratio at {max(threads)} threads: {worst['ratio']:.2f} "
          f"({worst['m']}x{worst['k']}x{worst['n']} transposeA={worst['transposeA']} transposeB={worst['transposeB']})")


if __name__ == "__main__":
    main()
