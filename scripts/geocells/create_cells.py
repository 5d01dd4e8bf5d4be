#!/usr/bin/env python3
"""A Python transcription of GeoEstimation's adaptive S2 partitioning, the reference for
`translocator partition` (fixtures and `scripts/bench/partition.py`).

Source: github.com/TIBHannover/GeoEstimation, partitioning/create_cells.py (Mueller-Budack,
Pustu-Iren, Ewerth, ECCV 2018), read and re-typed here. The algorithm, as there:
  1. every image's leaf cell is taken to its parent at level lvl_min (2);
  2. cells holding <= img_min images are deleted with their images (delete_cells);
  3. while some cell holds > img_max images and level < lvl_max (30): level += 1 and only the
     images of over-full cells move to their parent at the new level (gen_subcells);
  4. cells holding <= img_min images are deleted again;
  the mean coordinate of a cell is sum / count over its images, summed in image order.
Changes from the original, all deliberate and shared with translocator:
  - class labels in ascending S2 cell-id order (the original numbers cells in dict order);
  - one process, images in file order (the original's Pool.imap_unordered shuffles the order
    and with it the last bits of the means);
  - longitudes averaged across the antimeridian when a cell's images straddle it (max - min
    > 180 degrees: negative longitudes count +360, the mean is wrapped back); plain mean otherwise;
  - several img_max values in one run (coarse, middle, fine), written as coarse.csv, middle.csv,
    fine.csv (or p0.csv, p1.csv, ... for other counts) with the header
    class_label,hex_id,imgs_per_class,latitude_mean,longitude_mean.

Two implementations give identical files:
  --impl as-written   the original's dict-of-tokens loops, per image, per level;
  --impl numpy        leaf ids per image through S2, then sorted-id numpy arithmetic.

Uses the `s2geometry` bindings of Google's S2 (or `s2sphere`, which agrees, if absent).
  python3 scripts/geocells/create_cells.py --dataset train.csv --out DIR [--img_min 50]
      [--img_max 5000,2000,1000] [--impl numpy|as-written]
"""
import argparse
import csv
import sys
import time
from collections import Counter
from pathlib import Path

try:
    import s2geometry as s2

    def leaf_cell(lat, lng):
        return s2.S2CellId(s2.S2LatLng.FromDegrees(lat, lng))

    def token_of(cell_id_int):
        return s2.S2CellId(cell_id_int).ToToken()

    def cell_parent_token(cell, level):
        return cell.parent(level).ToToken()

    def token_to_id(token):
        return s2.S2CellId.FromToken(token).id()

    def cell_id_int(cell):
        return cell.id()
except ImportError:  # s2sphere: pure Python, same ids
    import s2sphere

    def leaf_cell(lat, lng):
        return s2sphere.CellId.from_lat_lng(s2sphere.LatLng.from_degrees(lat, lng))

    def token_of(cell_id_int):
        return s2sphere.CellId(cell_id_int).to_token()

    def cell_parent_token(cell, level):
        return cell.parent(level).to_token()

    def token_to_id(token):
        return s2sphere.CellId.from_token(token).id()

    def cell_id_int(cell):
        return cell.id()


def read_coordinates(path):
    """lat/lon columns (any case, any order) of a CSV file with a header."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader)]
        lat_col = next(i for i, h in enumerate(header) if h in ("lat", "latitude"))
        lon_col = next(i for i, h in enumerate(header) if h in ("lon", "lng", "longitude"))
        lats, lons = [], []
        for row in reader:
            if not row:
                continue
            lats.append(float(row[lat_col]))
            lons.append(float(row[lon_col]))
    return lats, lons


def mean_longitude(total, shifted_total, count, lo, hi):
    if hi - lo > 180:
        mean = shifted_total / count
        return mean - 360 if mean > 180 else mean
    return total / count


# ---------------------------------------------------------------- as written (dicts per image)

def partition_as_written(lats, lons, leaves, img_min, img_max, lvl_min=2, lvl_max=30):
    # init_cells: [lat, lng, hexid, cell] per image
    img_container = [[lat, lng, cell_parent_token(cell, lvl_min), cell]
                     for lat, lng, cell in zip(lats, lons, leaves)]
    h = dict(Counter(img[2] for img in img_container))
    img_container, h = delete_cells(img_container, h, img_min)
    level = lvl_min
    while any(v > img_max for v in h.values()) and level < lvl_max:
        level += 1
        img_container, h = gen_subcells(img_container, h, level, img_max)
    img_container, h = delete_cells(img_container, h, img_min)

    # write_output, labels in ascending cell-id order
    sums = {k: [0, 0, 0, 180.0, -180.0] for k in h}
    for lat, lng, hexid, _ in img_container:
        s = sums[hexid]
        s[0] += lat
        s[1] += lng
        s[2] += lng + 360 if lng < 0 else lng
        s[3] = min(s[3], lng)
        s[4] = max(s[4], lng)
    rows = []
    for label, k in enumerate(sorted(h, key=token_to_id)):
        v = h[k]
        s = sums[k]
        rows.append([label, k, v, s[0] / v, mean_longitude(s[1], s[2], v, s[3], s[4])])
    return rows


def delete_cells(img_container, h, t_min):
    del_cells = {k for k, v in h.items() if v <= t_min}
    h = {k: v for k, v in h.items() if v > t_min}
    return [img for img in img_container if img[2] not in del_cells], h


def gen_subcells(img_container_0, h_0, level, t_max):
    img_container = []
    h = {}
    for img in img_container_0:
        hexid_0 = img[2]
        if h_0[hexid_0] > t_max:
            hexid = cell_parent_token(img[3], level)
            img[2] = hexid
            h[hexid] = h.get(hexid, 0) + 1
        else:
            h[hexid_0] = h.get(hexid_0, 0) + 1
        img_container.append(img)
    return img_container, h


# ---------------------------------------------------------------- numpy (sorted leaf ids)

def partition_numpy(lats, lons, leaf_ids, img_min, img_max, lvl_min=2, lvl_max=30):
    import numpy as np

    ids = np.asarray(leaf_ids, dtype=np.uint64)
    n = len(ids)

    def parents(values, level):
        lsb = np.uint64(1 << (2 * (30 - level)))
        return (values & ~(lsb - np.uint64(1))) | lsb   # (id & -lsb) | lsb, S2CellId::parent

    cell = parents(ids, lvl_min)                   # current cell of every image
    level_of = np.full(n, lvl_min, dtype=np.int64)
    alive = np.ones(n, dtype=bool)

    def counts_of(cells, mask):
        uniq, inverse, counts = np.unique(cells[mask], return_inverse=True, return_counts=True)
        full = np.zeros(n, dtype=np.int64)
        full[np.nonzero(mask)[0]] = counts[inverse]
        return full, counts

    count, _ = counts_of(cell, alive)
    alive &= count > img_min
    count, counts = counts_of(cell, alive)
    level = lvl_min
    while (counts > img_max).any() and level < lvl_max:
        level += 1
        move = alive & (count > img_max)
        cell[move] = parents(ids[move], level)
        count, counts = counts_of(cell, alive)
    alive &= count > img_min

    idx = np.nonzero(alive)[0]
    uniq, labels = np.unique(cell[idx], return_inverse=True)
    k = len(uniq)
    lat = np.asarray(lats, dtype=np.float64)[idx]
    lon = np.asarray(lons, dtype=np.float64)[idx]
    cnt = np.bincount(labels, minlength=k)
    # bincount adds weights one by one in image order: the same sums as the loop above
    lat_sum = np.bincount(labels, weights=lat, minlength=k)
    lon_sum = np.bincount(labels, weights=lon, minlength=k)
    shifted_sum = np.bincount(labels, weights=np.where(lon < 0, lon + 360, lon), minlength=k)
    lo = np.full(k, 180.0)
    hi = np.full(k, -180.0)
    np.minimum.at(lo, labels, lon)
    np.maximum.at(hi, labels, lon)
    rows = []
    for label in range(k):
        v = int(cnt[label])
        rows.append([label, token_of(int(uniq[label])), v, float(lat_sum[label]) / v,
                     mean_longitude(float(lon_sum[label]), float(shifted_sum[label]), v,
                                    float(lo[label]), float(hi[label]))])
    return rows


def write_partition(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["class_label", "hex_id", "imgs_per_class", "latitude_mean", "longitude_mean"])
        for row in rows:
            w.writerow([row[0], row[1], row[2], repr(row[3]), repr(row[4])])


def main():
    parser = argparse.ArgumentParser(description="GeoEstimation's create_cells.py, transcribed")
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--img_min", type=int, default=50)
    parser.add_argument("--img_max", type=str, default="5000,2000,1000")
    parser.add_argument("--impl", choices=["numpy", "as-written"], default="numpy")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N rows")
    args = parser.parse_args()
    maxima = [int(x) for x in args.img_max.split(",")]

    lats, lons = read_coordinates(args.dataset)
    if args.limit:
        lats, lons = lats[:args.limit], lons[:args.limit]
    start = time.perf_counter()
    leaves = [leaf_cell(lat, lng) for lat, lng in zip(lats, lons)]
    if args.impl == "numpy":
        leaf_ids = [cell_id_int(c) for c in leaves]
        results = [partition_numpy(lats, lons, leaf_ids, args.img_min, m) for m in maxima]
    else:
        results = [partition_as_written(lats, lons, leaves, args.img_min, m) for m in maxima]
    seconds = time.perf_counter() - start

    args.out.mkdir(parents=True, exist_ok=True)
    names = ["coarse", "middle", "fine"] if len(maxima) == 3 else [f"p{i}" for i in range(len(maxima))]
    for name, rows in zip(names, results):
        write_partition(args.out / f"{name}.csv", rows)
    print(f'{{"points": {len(lats)}, "seconds": {seconds:.3f}, "impl": "{args.impl}", '
          f'"cells": [{", ".join(str(len(r)) for r in results)}]}}')


if __name__ == "__main__":
    sys.exit(main())
