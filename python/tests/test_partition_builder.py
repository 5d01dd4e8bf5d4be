"""partitions.build_partitions / write_partitions against `translocator partition`: the same CSVs
byte for byte on the 20k MP-16 sample at two settings and on random points that reach the poles
and the antimeridian; train.py without --partitions writes the partitions `translocator partition`
builds from its training manifest with the config's training.partition settings."""
import filecmp
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import PYTHON_DIR, REPOSITORY, SMALL_CONFIG, run
from translocator_torch.manifest import csv_records, parse_double
from translocator_torch.partitions import (FILE_NAMES, PartitionError, build_partitions, read_partitions,
                                           write_partitions)

SAMPLE = os.path.join(REPOSITORY, "data", "mp16-sample-20k.csv")
TRAIN = os.path.join(PYTHON_DIR, "translocator_torch", "train.py")
NAMES = sorted(FILE_NAMES.values())


def coordinates(path: str) -> tuple[list[float], list[float]]:
    """The LAT, LON columns (the first two) of a coordinate CSV."""
    rows = [record for _, record in csv_records(path)][1:]
    return [parse_double(r[0]) for r in rows], [parse_double(r[1]) for r in rows]


def assert_same_files(ours: str, theirs: str) -> None:
    assert sorted(n for n in os.listdir(ours)) == NAMES, os.listdir(ours)   # no temporaries left
    for name in NAMES:
        with open(os.path.join(ours, name), "rb") as a, open(os.path.join(theirs, name), "rb") as b:
            assert a.read() == b.read(), f"{name} differs from translocator partition's"


@pytest.mark.parametrize("minimum,maximum", [(10, [1000, 400, 200]), (50, [5000, 2000, 1000])])
def test_sample_partitions_equal_translocator_partition(binary, tmp_path, minimum, maximum):
    theirs, ours = str(tmp_path / "swift"), str(tmp_path / "python")
    run(binary, "partition", "--manifest", SAMPLE, "--out", theirs, "--min", str(minimum),
        "--max", ",".join(map(str, maximum)))
    os.makedirs(ours)
    latitudes, longitudes = coordinates(SAMPLE)
    built = build_partitions(latitudes, longitudes, minimum, maximum)
    write_partitions(ours, built)
    assert_same_files(ours, theirs)
    assert read_partitions(ours) == read_partitions(theirs) == built
    assert all(len(built[level]) > 0 for level in ("coarse", "middle", "fine"))


def test_random_points_with_poles_and_antimeridian(binary, tmp_path):
    generator = np.random.default_rng(5)
    latitudes = np.degrees(np.arcsin(generator.uniform(-1, 1, 6000)))
    longitudes = generator.uniform(-180, 180, 6000)
    longitudes[:800] = generator.choice([-180.0, 180.0, -179.9999, 179.9999], 800)   # on and by the antimeridian
    latitudes[800:900] = generator.choice([-90.0, 90.0, 89.99999, -89.99999], 100)    # at the poles
    path = str(tmp_path / "points.csv")
    with open(path, "w") as f:
        f.write("lat,lon\n" + "".join(f"{a!r},{o!r}\n" for a, o in zip(latitudes.tolist(), longitudes.tolist())))
    theirs, ours = str(tmp_path / "swift"), str(tmp_path / "python")
    run(binary, "partition", "--manifest", path, "--out", theirs, "--min", "3", "--max", "300,60,20")
    os.makedirs(ours)
    write_partitions(ours, build_partitions(*coordinates(path), 3, [300, 60, 20]))
    assert_same_files(ours, theirs)


def test_parameters_checked_as_swift_checks_them():
    for minimum, maximum in [(10, [100, 100, 50]), (60, [100, 80, 60]), (-1, [3, 2, 1]), (1, [5, 4])]:
        with pytest.raises(PartitionError):
            build_partitions([0.0], [0.0], minimum, maximum)


def test_train_without_partitions_builds_them(synthetic, binary, tmp_path):
    config = str(tmp_path / "config.json")
    with open(config, "w") as f:
        json.dump({"model": SMALL_CONFIG,
                   "training": {"optimizer": "adamw", "learning_rate": 1e-3, "epochs": 1, "warmup_epochs": 0,
                                "batch_size": 8, "micro_batch_size": 8, "resize_short_side": 36,
                                "partition": {"min": 2, "max": [20, 8, 4]}}}, f)
    train_csv = os.path.join(synthetic["data"], "train.csv")
    out, theirs = str(tmp_path / "out"), str(tmp_path / "swift")
    command = [sys.executable, TRAIN, "--config", config, "--train", train_csv, "--out", out, "--max-steps", "1"]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"
    run(binary, "partition", "--manifest", train_csv, "--out", theirs, "--min", "2", "--max", "20,8,4")
    assert_same_files(os.path.join(out, "partitions"), theirs)
    assert not filecmp.cmp(os.path.join(theirs, "fine.csv"), os.path.join(synthetic["partitions"], "fine.csv"),
                           shallow=False)      # the config's settings, not the fixture's


def test_mean_longitude_across_the_antimeridian():
    from translocator_torch.partitions import _mean_longitude
    # Swift's Partition.meanLongitude: the plain mean unless the span exceeds 180 degrees.
    assert _mean_longitude(10.0, 10.0, 2.0, 4.0, 6.0) == 5.0
    assert _mean_longitude(179.0 - 178.0, 179.0 + 182.0, 2.0, -178.0, 179.0) == 180.5 - 360
    assert _mean_longitude(170.0 - 172.0, 170.0 + 188.0, 2.0, -172.0, 170.0) == 179.0
