#!/usr/bin/env python3
"""Partition fixture for GeoCells' tests: a manifest and the partitions that the Python
transcription of GeoEstimation's create_cells.py (scripts/geocells/create_cells.py) makes of it.

Writes into Tests/GeoCellsTests/Fixtures/:
  partition-manifest.csv   image,lat,lon: 6000 real MP-16 coordinates (data/mp16-sample-20k.csv,
                           first rows) plus synthetic clusters that reach the algorithm's corners:
                           a cluster straddling the antimeridian (Fiji), 90 copies of one
                           coordinate (a level-30 cell over every max), a cluster just at the
                           minimum (deleted), points near both poles, and image names that need
                           CSV quoting.
  partition-{coarse,middle,fine}.csv  --img_min 10 --img_max 400,150,60, from both
                           implementations of the transcription (checked identical).
Run by a developer:  python3 scripts/geocells/make_partition_fixture.py
"""
import csv
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests/GeoCellsTests/Fixtures"
rng = random.Random(7)

rows = []
with open(ROOT / "data/mp16-sample-20k.csv", newline="") as f:
    reader = csv.DictReader(f)
    for k, r in enumerate(reader):
        if k == 6000:
            break
        rows.append((f"mp16/{k:05d}.jpg", r["LAT"], r["LON"]))


def cluster(name, lat, lon, n, spread):
    for k in range(n):
        la = max(-90.0, min(90.0, lat + rng.gauss(0, spread)))
        lo = ((lon + rng.gauss(0, spread) + 180) % 360) - 180
        rows.append((f"{name}/{k}.jpg", f"{la:.6f}", f"{lo:.6f}"))


cluster("fiji", -16.8, 179.95, 300, 0.08)          # straddles +-180
cluster("chukotka", 66.0, -179.9, 40, 0.05)
for k in range(90):                                  # one coordinate, 90 times
    rows.append((f"dup/{k}.jpg", "48.858370", "2.294481"))
cluster("few", -45.0, -120.0, 10, 0.01)              # exactly img_min: deleted
cluster("north", 89.9, 10.0, 30, 0.05)
cluster("south", -89.95, -60.0, 25, 0.03)
rows.append(('quoted "name", with comma.jpg', "51.5", "-0.12"))
rng.shuffle(rows)

OUT.mkdir(parents=True, exist_ok=True)
manifest = OUT / "partition-manifest.csv"
with open(manifest, "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["image", "lat", "lon"])
    w.writerows(rows)

script = ROOT / "scripts/geocells/create_cells.py"
args = ["--dataset", str(manifest), "--img_min", "10", "--img_max", "400,150,60"]
with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
    for impl, out in (("numpy", a), ("as-written", b)):
        print(subprocess.run([sys.executable, str(script), *args, "--impl", impl, "--out", out],
                             check=True, capture_output=True, text=True).stdout.strip())
    for name in ("coarse", "middle", "fine"):
        x = (Path(a) / f"{name}.csv").read_text()
        y = (Path(b) / f"{name}.csv").read_text()
        assert x == y, f"numpy and as-written differ on {name}.csv"
        (OUT / f"partition-{name}.csv").write_text(x)
print(f"wrote {manifest} ({len(rows)} rows) and partition-{{coarse,middle,fine}}.csv")
