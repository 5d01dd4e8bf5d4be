#!/usr/bin/env python3
"""Benchmark driver: `translocator bench partition` against the Python transcription of
GeoEstimation's create_cells.py (scripts/geocells/create_cells.py) on the same coordinates.

1. runs `translocator bench partition --json --save-points P` (default: MP-16's 4,723,695
   points, the bundled 20k sample replicated with seeded jitter), best of --repeats;
2. runs the transcription on P: `--impl numpy` on all points, and `--impl as-written` (the
   original's per-image dict loops) on the first --as-written-points points, scaled linearly to
   all points (it takes minutes per million; pass --as-written-points 0 to skip it, or the full
   count to run it whole);
3. checks that all three produce the same cell counts and prints the times and the ratios.
Python's time counts leaf cells and the three partitions, not reading the CSV, as Swift's does.

  swift build -c release && python3 scripts/bench/partition.py [--points N] [--binary PATH]
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_json(command):
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=str(ROOT / ".build/release/translocator"))
    parser.add_argument("--points", type=int, default=4_723_695)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--as-written-points", type=int, default=500_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        points = Path(tmp) / "points.csv"
        swift = run_json([args.binary, "bench", "partition", "--json", "--points", str(args.points),
                          "--repeats", str(args.repeats), "--save-points", str(points)])
        print(f"translocator bench partition: {swift['points']} points, {swift['seconds']:.3f} s "
              f"(leaf cells {swift.get('leafCellSeconds', float('nan')):.3f} s), cells {swift.get('cells')}")

        script = str(ROOT / "scripts/geocells/create_cells.py")
        numpy = run_json([sys.executable, script, "--dataset", str(points), "--out", str(Path(tmp) / "np"),
                          "--impl", "numpy"])
        print(f"python numpy transcription:   {numpy['points']} points, {numpy['seconds']:.1f} s, cells {numpy['cells']}")
        if swift.get("cells") and swift["cells"] != numpy["cells"]:
            print("MISMATCH: cell counts differ between Swift and Python", file=sys.stderr)
            return 1
        print(f"ratio numpy / swift:          {numpy['seconds'] / swift['seconds']:.0f}x")

        if args.as_written_points > 0:
            n = min(args.as_written_points, args.points)
            written = run_json([sys.executable, script, "--dataset", str(points), "--out", str(Path(tmp) / "aw"),
                                "--impl", "as-written", "--limit", str(n)])
            scaled = written["seconds"] * args.points / n
            note = "" if n == args.points else f" (ran {n} points in {written['seconds']:.1f} s, scaled linearly)"
            print(f"python as-written:            {scaled:.0f} s for {args.points} points{note}")
            print(f"ratio as-written / swift:     {scaled / swift['seconds']:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
