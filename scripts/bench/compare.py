"""Two builds of translocator against each other, in one run: did a change keep the speed?

Runs the same `translocator bench ... --json` commands with a base binary and a new one,
alternating base/new within each round (this host drifts by tens of percent over minutes, so
only rounds run side by side are compared), and prints, per figure, the best of each and the
median of the per-round ratios new / base (above 1: the new build is faster).

  git worktree add /tmp/base <commit> && (cd /tmp/base && swift build -c release)
  swift build -c release
  python3 scripts/bench/compare.py --base /tmp/base/.build/release/translocator \
      --new .build/release/translocator [--rounds 5] [--only forward,train]

Needs only Python's standard library.
"""
import argparse
import json
import statistics
import subprocess

# name -> (arguments, rows -> {figure: value}, whether higher is better)
BENCHES = {
    "forward": (["bench", "forward", "--json", "--batch", "1,8", "--seconds", "2", "--rounds", "1"],
                lambda rows: {f"{r['model']} b{r['batch']} images/s": r["imagesPerSecond"] for r in rows}, True),
    "train": (["bench", "train", "--json", "--skip-vit", "--steps", "5"],
              lambda rows: {f"{r['model']} b{r['batch']} images/s": r["imagesPerSecond"] for r in rows}, True),
    "gemm": (["bench", "gemm", "--json", "--threads", "2", "--repeats", "5",
              "--shapes", "1576x768x2304:AB,197x768x2304:ABt,1576x3072x768:AtB"],
             lambda rows: {f"gemm {r['m']}x{r['k']}x{r['n']} GFLOP/s": r["gflops"] for r in rows}, True),
    "partition": (["bench", "partition", "--json", "--points", "1000000", "--repeats", "2"],
                  lambda row: {"partition 1M points s": row["seconds"]}, False),
    "decode-png": (["bench", "decode", "--json", "--repeats", "20", "data/kauai.png"],
                   lambda row: {"decode kauai.png ms": row["milliseconds"]}, False),
    "decode-jpeg": (["bench", "decode", "--json", "--repeats", "50", "Tests/ImageCodecTests/Fixtures/jpeg/goexif_sample1.jpg"],
                    lambda row: {"decode goexif_sample1.jpg ms": row["milliseconds"]}, False),
}


def run(binary, arguments):
    out = subprocess.run([binary] + arguments, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--new", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(BENCHES))
    args = parser.parse_args()
    names = args.only.split(",")
    best = {}      # figure -> {"base": value, "new": value}
    ratios = {}    # figure -> [new/base speed ratio per round]
    higher = {}
    for round_index in range(args.rounds):
        for name in names:
            arguments, figures, higher_is_better = BENCHES[name]
            values = {}
            for side, binary in (("base", args.base), ("new", args.new)):
                values[side] = figures(run(binary, arguments))
            for figure in values["new"]:
                if figure not in values["base"]:
                    continue
                b, n = values["base"][figure], values["new"][figure]
                higher[figure] = higher_is_better
                keep = max if higher_is_better else min
                slot = best.setdefault(figure, {"base": b, "new": n})
                slot["base"], slot["new"] = keep(slot["base"], b), keep(slot["new"], n)
                ratios.setdefault(figure, []).append(n / b if higher_is_better else b / n)
        print(f"round {round_index + 1}/{args.rounds} done", flush=True)
    print(f"{'figure':45} {'base (best)':>12} {'new (best)':>12} {'speed new/base, median of rounds':>34}")
    for figure, slot in best.items():
        print(f"{figure:45} {slot['base']:12.3f} {slot['new']:12.3f} {statistics.median(ratios[figure]):34.3f}")


if __name__ == "__main__":
    main()
