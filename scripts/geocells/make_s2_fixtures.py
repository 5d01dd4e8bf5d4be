#!/usr/bin/env python3
"""Reference fixtures for GeoCells' S2 cell ids, from Google's S2 itself.

Writes, into Tests/GeoCellsTests/Fixtures/ (or --out):
  s2-points.csv   lat,lon,leaf_id: several thousand points (random, clustered and the edge cases
                  below) and the leaf cell S2 gives them, S2CellId(S2LatLng::FromDegrees(lat, lon)).
  s2-cells.csv    id,token,level,center_lat,center_lon,v0_lat,v0_lon,...,v3_lat,v3_lon: cells at
                  every level 0..30 (parents of the points above): S2CellId::ToToken, ToLatLng and
                  S2LatLng(S2Cell(id).GetVertex(k)).
  s2-fixtures.json  provenance: library and Python versions, platform, seed, counts.

Edge cases: both poles, longitudes +-180, -0.0, face edges and cube corners (lat/lon 45, 135,
atan(1/sqrt 2)), and points exactly on cell boundaries at many levels (S2's own cell vertices and
(u, v) grid lines mapped back to degrees).

Floats are written with repr(), which round-trips exactly. Uses the `s2geometry` pip package
(Google's C++ library through SWIG; module `s2geometry`, older builds `pywraps2`). Run by a
developer, never by the tests:  python3 scripts/geocells/make_s2_fixtures.py
"""
import argparse
import csv
import json
import math
import platform
import random
import sys
from pathlib import Path

try:
    import s2geometry as s2
except ImportError:  # older builds of the same bindings
    import pywraps2 as s2

SEED = 20221023


def leaf(lat, lon):
    return s2.S2CellId(s2.S2LatLng.FromDegrees(lat, lon))


def degrees(point):
    ll = s2.S2LatLng(point)
    return ll.lat().degrees(), ll.lng().degrees()


def st_to_uv(s):  # S2::STtoUV, quadratic projection (only used to make boundary points)
    return (1 / 3.0) * (4 * s * s - 1) if s >= 0.5 else (1 / 3.0) * (1 - 4 * (1 - s) * (1 - s))


def face_uv_to_xyz(face, u, v):
    return [(1, u, v), (-u, 1, v), (-u, -v, 1), (-1, -v, -u), (v, -1, -u), (v, u, -1)][face]


def xyz_degrees(x, y, z):
    return degrees(s2.S2Point_FromRaw(x, y, z))


def edge_case_points(rng):
    pts = []
    for lat in (90.0, -90.0, 89.99999999, -89.99999999):
        for lon in (0.0, 45.0, 90.0, 135.0, 180.0, -180.0, -45.0, -135.0, 12.3456):
            pts.append((lat, lon))
    for lon in (180.0, -180.0, 179.99999999, -179.99999999, 180 - 1e-13, -180 + 1e-13):
        for lat in (0.0, 45.0, -45.0, 35.26438968275466, -35.26438968275466, 60.0, -60.0, 1e-9):
            pts.append((lat, lon))
    pts += [(0.0, 0.0), (-0.0, -0.0), (0.0, -0.0), (-0.0, 0.0), (0.0, 90.0), (0.0, -90.0)]
    corner = math.degrees(math.atan(1 / math.sqrt(2)))  # cube corners
    for a in (45.0, 135.0, -45.0, -135.0, corner, -corner):
        for b in (0.0, 45.0, 90.0, 135.0, 180.0, -45.0, -90.0, -135.0, -180.0, corner, -corner):
            if abs(a) <= 90:
                pts.append((a, b))
            pts.append((b / 2 if abs(b) > 90 else b, a))
    for lat in (45.0, -45.0):  # face 0/2 and 0/5 edges run along lat 45 only at lon 0; add nearby
        for lon in (-1e-12, 1e-12, 0.5, -0.5, 44.999999999, 45.000000001):
            pts.append((lat, lon))
    # Exactly on cell boundaries: S2's own vertices of cells at many levels, and points on the
    # (u, v) grid lines i = k * 2^(30 - level).
    for _ in range(400):
        level = rng.randrange(0, 31)
        face = rng.randrange(6)
        size = 1 << (30 - level)
        i = rng.randrange(0, (1 << level) + 1) * size
        j = rng.randrange(0, 1 << 30)
        u = st_to_uv(i / float(1 << 30))
        v = st_to_uv(j / float(1 << 30))
        if rng.random() < 0.5:
            u, v = v, u
        pts.append(xyz_degrees(*face_uv_to_xyz(face, u, v)))
    for _ in range(400):
        cell = leaf(rng.uniform(-90, 90), rng.uniform(-180, 180)).parent(rng.randrange(0, 31))
        c = s2.S2Cell(cell)
        pts.append(degrees(c.GetVertex(rng.randrange(4))))
    return pts


def random_points(rng, n):
    pts = []
    for _ in range(n // 2):  # uniform on the sphere
        z = rng.uniform(-1, 1)
        pts.append((math.degrees(math.asin(z)), rng.uniform(-180, 180)))
    for _ in range(n // 4):  # uniform in lat/lon
        pts.append((rng.uniform(-90, 90), rng.uniform(-180, 180)))
    cities = [(40.7128, -74.006), (48.8566, 2.3522), (35.6762, 139.6503), (-33.8688, 151.2093),
              (-17.7134, 178.065), (64.8378, -147.7164), (-54.8019, -68.303), (1.3521, 103.8198)]
    for _ in range(n - len(pts)):  # clustered, 6 decimals as in MP-16
        lat, lon = rng.choice(cities)
        lat = round(max(-90, min(90, lat + rng.gauss(0, 0.05))), 6)
        lon = round(((lon + rng.gauss(0, 0.05) + 180) % 360) - 180, 6)
        pts.append((lat, lon))
    return pts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[2] / "Tests/GeoCellsTests/Fixtures")
    parser.add_argument("--points", type=int, default=4000)
    parser.add_argument("--cells-per-level", type=int, default=100)
    args = parser.parse_args()
    rng = random.Random(SEED)

    points = edge_case_points(rng) + random_points(rng, args.points)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "s2-points.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["lat", "lon", "leaf_id"])
        for lat, lon in points:
            w.writerow([repr(float(lat)), repr(float(lon)), leaf(lat, lon).id()])

    rows = 0
    with open(args.out / "s2-cells.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        header = ["id", "token", "level", "center_lat", "center_lon"]
        for k in range(4):
            header += [f"v{k}_lat", f"v{k}_lon"]
        w.writerow(header)
        seen = set()
        for level in range(31):
            sample = rng.sample(points, min(args.cells_per_level, len(points)))
            cells = [leaf(lat, lon).parent(level) for lat, lon in sample]
            if level == 0:
                cells += [s2.S2CellId.FromFacePosLevel(face, 0, 0) for face in range(6)]
            for cell in cells:
                if cell.id() in seen:
                    continue
                seen.add(cell.id())
                center = cell.ToLatLng()
                row = [cell.id(), cell.ToToken(), cell.level(),
                       repr(center.lat().degrees()), repr(center.lng().degrees())]
                c = s2.S2Cell(cell)
                for k in range(4):
                    row += [repr(x) for x in degrees(c.GetVertex(k))]
                w.writerow(row)
                rows += 1

    try:
        from importlib.metadata import version
        s2_version = version("s2geometry")
    except Exception:
        s2_version = "unknown"
    provenance = {
        "generator": "scripts/geocells/make_s2_fixtures.py",
        "reference": f"s2geometry {s2_version} (pip; Google's C++ S2 via SWIG, module {s2.__name__})",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libc": " ".join(platform.libc_ver()),
        "seed": SEED,
        "points": len(points),
        "cells": rows,
    }
    (args.out / "s2-fixtures.json").write_text(json.dumps(provenance, indent=2) + "\n")
    print(json.dumps(provenance, indent=2))


if __name__ == "__main__":
    main()
