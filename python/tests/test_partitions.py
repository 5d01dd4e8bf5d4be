"""Partition CSVs (partitions.py): ours and GeoEstimation's read; every bad file is an error
naming the file and line."""
import pytest

from translocator_torch.partitions import PartitionError, canonical_token, cell_id, read_partition

OURS = """class_label,hex_id,imgs_per_class,latitude_mean,longitude_mean
1,47c,5,51.1770662,5.426137799999999
0,13,2,32.3922435,4.84811
2,89,5,39.31794380000001,-79.470639
"""

# GeoEstimation's published cells_50_*.csv: metadata lines, then imgs_per_cell, upper-case tokens allowed.
GEOESTIMATION = """num_images: 4654532
min_concept_probability: 0.5
class_label,hex_id,imgs_per_cell,latitude_mean,longitude_mean
0,8085,142,37.50,-122.25
1,808F,93,37.75,-122.0
"""


def write(tmp_path, text: str) -> str:
    path = tmp_path / "cells.csv"
    path.write_text(text)
    return str(path)


def test_our_file_reads_in_label_order(tmp_path):
    partition = read_partition(write(tmp_path, OURS))
    assert [c.class_label for c in partition.cells] == [0, 1, 2]
    assert partition.tokens == ["13", "47c", "89"]
    assert partition.cells[1].images == 5 and partition.cells[1].latitude_mean == 51.1770662
    assert partition.cells[2].longitude_mean == -79.470639


def test_geoestimation_file_reads(tmp_path):
    partition = read_partition(write(tmp_path, GEOESTIMATION))
    assert partition.tokens == ["8085", "808f"]                 # canonical: lower case
    assert [c.images for c in partition.cells] == [142, 93]


def test_tokens_are_checked_as_s2_cells():
    assert cell_id("89") == 0x89 << 56 and canonical_token(0x89 << 56) == "89"
    assert canonical_token(cell_id("47C")) == "47c"
    for bad in ["", "0", "c", "e", "8", "88", "g1", "12345678901234567"]:   # face 6/7, odd level bit, not hex
        assert cell_id(bad) is None, bad


@pytest.mark.parametrize("text, expected", [
    (OURS.replace("47c,5", "47x,5"), r"cells.csv:2: hex_id is '47x', expected an S2 cell token"),
    (OURS.replace("32.3922435", "95"), r"cells.csv:3: latitude_mean is '95', expected degrees in \[-90, 90\]"),
    (OURS.replace("-79.470639", "1_0"), r"cells.csv:4: longitude_mean is '1_0', expected degrees"),
    (OURS.replace(",5,51", ",-5,51"), r"cells.csv:2: imgs_per_class is '-5', expected a non-negative integer"),
    (OURS.replace("latitude_mean", "lat"), r"cells.csv: missing required column 'latitude_mean'"),
    ("hex_id,imgs\n13,2\n", r"cells.csv: missing required column 'class_label'"),
    (OURS.splitlines()[0] + "\n", r"cells.csv: no data rows"),
    (OURS.replace("2,89", "1,89"), r"cells.csv: class label 1 twice"),
    (OURS.replace("2,89", "3,89"), r"cells.csv: class label 3 with 3 cells"),
    (OURS.replace("2,89", "2,47c4"), r"cells.csv: cells 47c and 47c4 overlap"),
])
def test_bad_files_name_file_and_line(tmp_path, text, expected):
    with pytest.raises(PartitionError, match=expected):
        read_partition(write(tmp_path, text))


def test_missing_file_is_a_partition_error(tmp_path):
    with pytest.raises(PartitionError, match="nothing.csv: cannot read"):
        read_partition(str(tmp_path / "nothing.csv"))
