"""S2 cells, manifests and training labels (s2.py, manifest.py, labels.py) against the Swift
engine itself: leaf cells equal `translocator cell`'s (and s2geometry's), manifests read with the
Swift reader's values and errors, and every label of 20,000 real MP-16 coordinates equals
`translocator label`'s. Exact equality throughout: the S2 arithmetic is the same IEEE double
operations in the same order, and labels are integers."""
import math
import os
import re
import subprocess

import numpy as np
import pytest

from conftest import REPOSITORY, run
from translocator_torch import s2
from translocator_torch.labels import CellIndex, LabelError, label_manifest, read_scene_hierarchy, scene_label
from translocator_torch.manifest import ManifestError, read_labelled_manifest, read_manifest
from translocator_torch.partitions import read_partitions

SAMPLE = os.path.join(REPOSITORY, "data", "mp16-sample-20k.csv")
CATEGORIES = 9


def awkward_coordinates(seed: int) -> list[tuple[float, float]]:
    """Poles, the antimeridian, cube-face edges and corners, zeros of both signs, and random points."""
    corner = math.degrees(math.atan(1 / math.sqrt(2)))           # where three faces meet
    points = [(90, 0), (-90, 0), (90, 180), (-90, -180), (89.99999999, 45), (-89.9999999, -135),
              (0, 180), (0, -180), (12.5, 179.9999999999), (-33.2, -179.99999999), (0.0, -0.0), (-0.0, 0.0),
              (0, 45), (0, -45), (0, 135), (0, -135), (45, 0), (-45, 0), (45, 90), (-45, -90), (45, 180),
              (corner, 45), (-corner, 45), (corner, -135), (-corner, 135), (corner, 45.0000000001),
              (35.26438968275465, 45), (1e-300, 1e-300), (-5e-324, 5e-324), (0, 90), (0, -90)]
    rng = np.random.default_rng(seed)
    points += [(float(a), float(b)) for a, b in zip(rng.uniform(-90, 90, 200), rng.uniform(-180, 180, 200))]
    # Near the face edges |x| = |y| and |x| = |z| (u or v = +-1), where the quadratic projection ends.
    points += [(float(a), 45 + float(d)) for a, d in zip(rng.uniform(-30, 30, 40), rng.normal(0, 1e-9, 40))]
    points += [(45 + float(d), float(b)) for b, d in zip(rng.uniform(-40, 40, 40), rng.normal(0, 1e-9, 40))]
    return points


def swift_cells(binary, tmp_path, points, level: int) -> list[str]:
    path = tmp_path / "points.csv"
    path.write_text("lat,lon\n" + "".join(f"{a!r},{b!r}\n" for a, b in points))
    rows = run(binary, "cell", "--csv", str(path), "--level", str(level)).splitlines()[1:]
    return [row.split(",")[2] for row in rows]


def test_leaf_cells_equal_the_swift_engines_and_s2geometrys(binary, tmp_path):
    points = awkward_coordinates(seed=4)
    leaves = s2.leaf_cell_ids([a for a, _ in points], [b for _, b in points])
    assert [s2.token(int(c)) for c in leaves] == swift_cells(binary, tmp_path, points, 30), "seed 4"
    assert [s2.token(s2.parent(int(c), 9)) for c in leaves] == swift_cells(binary, tmp_path, points, 9), "seed 4"
    s2geometry = pytest.importorskip("s2geometry")
    for (a, b), cell in zip(points, leaves.tolist()):
        assert cell == s2geometry.S2CellId(s2geometry.S2LatLng.FromDegrees(a, b)).id(), f"({a!r}, {b!r})"


def test_cell_laws():
    for cell in s2.leaf_cell_ids(np.linspace(-80, 80, 9), np.linspace(-170, 170, 9)).tolist():
        assert s2.level(cell) == 30 and s2.cell_id_of_token(s2.token(cell)) == cell
        for level in range(31):
            ancestor = s2.parent(cell, level)
            assert s2.level(ancestor) == level and s2.contains(ancestor, cell)
            assert s2.cell_id_of_token(s2.token(ancestor)) == ancestor
            if level:
                assert s2.contains(s2.parent(cell, level - 1), ancestor)
    assert s2.leaf_cell_id(40.7128, -74.006) == 9926595630970964329        # `translocator cell 40.7128 -74.006`


# MARK: - Labels of 20,000 real coordinates

def write_hierarchy(path) -> None:
    """A Places365-format hierarchy of CATEGORIES rows, some with several flags in a level (the
    first flagged group is the label) and flags other than 1."""
    rows = ["explanation,level 1,,,level 2" + "," * 15, "category," + ",".join(f"g{k}" for k in range(19))]
    for category in range(CATEGORIES):
        flags = [0] * 19
        flags[category % 3] = 1
        flags[(category + 1) % 3] = 1 if category % 2 else 0            # two level-1 flags
        flags[3 + (category * 5) % 16] = 1
        flags[3 + (category * 7) % 16] = 0.5
        rows.append(f"'/c/{category}'," + ",".join(repr(f) if f != int(f) else str(int(f)) for f in flags))
    path.write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def sample(binary, tmp_path_factory) -> dict:
    """The 20k sample as a manifest (image, lat, lon, a seeded scene 0..8), its partitions
    (`partition --min 10 --max 1000,400,200`) and a hierarchy."""
    root = tmp_path_factory.mktemp("sample")
    with open(SAMPLE) as f:
        coordinates = [line.strip().split(",") for line in f.readlines()[1:]]
    scenes = np.random.default_rng(11).integers(0, CATEGORIES, len(coordinates))
    manifest = root / "manifest.csv"
    manifest.write_text("image,lat,lon,scene\n" + "".join(f"photos/{k:05d}.jpg,{a},{b},{s}\n"
                                                         for k, ((a, b), s) in enumerate(zip(coordinates, scenes))))
    partitions = str(root / "partitions")
    run(binary, "partition", "--manifest", SAMPLE, "--out", partitions, "--min", "10", "--max", "1000,400,200")
    write_hierarchy(root / "hierarchy.csv")
    os.makedirs(root / "out")
    return {"root": root, "manifest": str(manifest), "partitions": partitions, "hierarchy": str(root / "hierarchy.csv")}


@pytest.mark.parametrize("scene_classes", [16, 3, 365])
def test_labels_of_the_mp16_sample_equal_translocator_labels(binary, sample, scene_classes):
    out = str(sample["root"] / "out" / f"labelled-{scene_classes}.csv")
    arguments = ["label", "--manifest", sample["manifest"], "--partitions", sample["partitions"], "--out", out,
                 "--scene-classes", str(scene_classes)]
    hierarchy = None
    if scene_classes != 365:
        arguments += ["--scene-hierarchy", sample["hierarchy"]]
        hierarchy = read_scene_hierarchy(sample["hierarchy"])
    report = run(binary, *arguments)
    swift_outside = int(re.search(r"(\d+) outside", report).group(1))
    partitions = read_partitions(sample["partitions"])
    manifest = read_manifest(sample["manifest"])
    ours = label_manifest(manifest, partitions, hierarchy, scene_classes)
    theirs = read_labelled_manifest(out, head_sizes={**partitions.head_sizes, "scene": scene_classes})
    assert ours.outside_count == swift_outside > 0
    assert len(ours) == len(theirs) == len(manifest) - swift_outside
    for head in ("coarse", "middle", "fine", "scene"):
        mismatch = np.flatnonzero(ours.labels_by_level[head] != theirs.labels_by_level[head])
        assert mismatch.size == 0, f"{head}: rows {mismatch[:5]} differ, e.g. {ours.entry(int(mismatch[0]))}"
    # The labelled CSV's paths (relative to its folder) name the same files; coordinates round-trip.
    for k in (0, len(ours) // 2, len(ours) - 1):
        mine, written = ours.entry(k), theirs.entry(k)
        assert os.path.normpath(manifest.image_file(mine)) == os.path.normpath(theirs.manifest.image_file(written))
        assert (mine.latitude, mine.longitude, mine.scene) == (written.latitude, written.longitude, written.scene)


def test_every_cell_holds_its_first_and_last_leaf_and_nothing_around(sample):
    for level, partition in read_partitions(sample["partitions"]).__dict__.items():
        index = CellIndex.of(partition)
        ids = [s2.cell_id_of_token(cell.token) for cell in partition.cells]
        firsts = np.array([s2.range_min(c) for c in ids], dtype=np.uint64)
        lasts = np.array([s2.range_max(c) for c in ids], dtype=np.uint64)
        labels = np.arange(len(ids))
        assert np.array_equal(index.class_labels(firsts), labels), level
        assert np.array_equal(index.class_labels(lasts), labels), level
        # The leaves just outside each cell (2 apart: leaf ids are odd) are another cell's or none.
        for outside in (firsts - np.uint64(2), lasts + np.uint64(2)):
            assert not np.any(index.class_labels(outside) == labels), level


def test_cells_above_level_2_label_nothing_as_in_swift(binary, tmp_path):
    # Cells of levels 0, 1, 2, 2 on faces 0-3: only the level-2 cells' points are labelled
    # (GeoEstimation searches levels 2 and deeper); a GeoEstimation-style file could hold such cells.
    points = awkward_coordinates(seed=5)
    cells = [s2.parent(s2.leaf_cell_id(latitude, longitude), level)               # faces 0, 1, 2, 3
             for latitude, longitude, level in [(0, 0, 0), (0, 90, 1), (90, 0, 2), (10, 170, 2)]]
    folder = tmp_path / "partitions"
    os.makedirs(folder)
    rows = "".join(f"{k},{s2.token(c)},1,0.0,0.0\n" for k, c in enumerate(cells))
    for level in ("coarse", "middle", "fine"):
        (folder / f"{level}.csv").write_text("class_label,hex_id,imgs_per_class,latitude_mean,longitude_mean\n" + rows)
    manifest = tmp_path / "m.csv"
    manifest.write_text("image,lat,lon\n" + "".join(f"{k}.jpg,{a!r},{b!r}\n" for k, (a, b) in enumerate(points)))
    out = tmp_path / "labelled.csv"
    run(binary, "label", "--manifest", str(manifest), "--partitions", str(folder), "--out", str(out))
    ours = label_manifest(read_manifest(str(manifest)), read_partitions(str(folder)))
    theirs = read_labelled_manifest(str(out))
    assert ours.fine.tolist() == theirs.fine.tolist() and len(ours) > 0
    assert [os.path.basename(ours.entry(k).image_path) for k in range(len(ours))] == \
        [os.path.basename(theirs.entry(k).image_path) for k in range(len(theirs))]
    assert set(ours.fine.tolist()) == {2, 3}          # faces 0 and 1 hold points too, at levels 0 and 1


def test_scene_labels_follow_the_hierarchys_first_flag(sample):
    hierarchy = read_scene_hierarchy(sample["hierarchy"])
    assert hierarchy.category_count == CATEGORIES
    assert [hierarchy.label(c, 3) for c in range(4)] == [0, 1, 2, 0]   # category 1: flags at 1 and 2 -> 1
    assert [hierarchy.label(c, 16) for c in range(4)] == [0, 5, 10, 5]  # min((5c) % 16, (7c) % 16): the first flag
    assert scene_label(CATEGORIES, hierarchy, 3) is None and scene_label(364, None, 365) == 364
    assert scene_label(20, None, 16) is None


def test_scene_problems_name_the_row(sample, tmp_path):
    manifest_path = tmp_path / "m.csv"
    manifest_path.write_text("image,lat,lon,scene\na.jpg,48.85,2.35,1\nb.jpg,48.86,2.35,\nc.jpg,48.87,2.35,50\n")
    partitions = read_partitions(sample["partitions"])
    manifest = read_manifest(str(manifest_path))
    with pytest.raises(LabelError, match=r"m\.csv:3: scene is missing"):
        label_manifest(manifest, partitions, read_scene_hierarchy(sample["hierarchy"]), 16)
    manifest.entries.pop(1)
    with pytest.raises(LabelError, match=r"m\.csv:4: scene is 50, outside the hierarchy's 9 categories"):
        label_manifest(manifest, partitions, read_scene_hierarchy(sample["hierarchy"]), 16)
    with pytest.raises(LabelError, match="needs a scene hierarchy"):
        label_manifest(manifest, partitions, None, 3)


# MARK: - Manifests read as the Swift reader reads them

def swift_error(binary, manifest: str, partitions: str, out: str) -> str:
    """The one `error:` line `translocator label` prints for a manifest it refuses."""
    result = subprocess.run([binary, "label", "--manifest", manifest, "--partitions", partitions, "--out", out],
                            capture_output=True, text=True)
    assert result.returncode == 1, result.stdout
    return result.stderr.strip().removeprefix("error: ")


BAD_MANIFESTS = {
    "latitude out of range": "image,lat,lon\na.jpg,48.8,2.3\nb.jpg,91.2,2.3\n",
    "longitude not a number": "image,lat,lon\na.jpg,48.8,abc\n",
    "hexadecimal": "image,lat,lon\na.jpg,0x10,2.3\n",
    "nan": "image,lat,lon\na.jpg,nan,2.3\n",
    "trailing garbage": "image,lat,lon\na.jpg,48.8 N,2.3\n",
    "short row": "image,lat,lon\na.jpg,48.8\n",
    "empty image": "image,lat,lon\n ,48.8,2.3\n",
    "no image column": "photo,lat,lon\na.jpg,48.8,2.3\n",
    "no longitude column": "image,lat,long\na.jpg,48.8,2.3\n",
    "scene not whole": "image,lat,lon,scene\na.jpg,48.8,2.3,3.5\n",
    "scene out of range": "image,lat,lon,scene\na.jpg,48.8,2.3,365\n",
    "unterminated quote": 'image,lat,lon\n"a.jpg,48.8,2.3\n',
    "quoted line break before a bad value": 'image,lat,lon\n"a\nb.jpg",48.8,2.3\nc.jpg,1,200\n',
    "header only": "image,lat,lon\n\n",
}


@pytest.mark.parametrize("name", list(BAD_MANIFESTS))
def test_a_bad_manifest_is_the_swift_readers_error(binary, sample, tmp_path, name):
    path = str(tmp_path / "bad.csv")
    with open(path, "w", newline="") as f:
        f.write(BAD_MANIFESTS[name])
    with pytest.raises(ManifestError) as caught:
        read_manifest(path)
    assert str(caught.value) == swift_error(binary, path, sample["partitions"], str(tmp_path / "out.csv"))


def test_manifest_layouts_and_skipping(tmp_path):
    # MP-16's meta layout, upper case, a byte-order mark, CRLF, quoted paths, blank lines, extra
    # columns, degrees with spaces and signs, 3.0 as a scene, an absolute path.
    path = tmp_path / "mp16.csv"
    path.write_bytes(b'\xef\xbb\xbf IMG_ID ,AUTHOR,LAT,LON,S365_Label\r\n'
                     b'"x/a,1.jpg",me, +48.5 ,-2e0,3.0\r\n\r\n'
                     b'"say ""hi"".jpg",you,-0.25,.5,\r\n'
                     b'/abs/c.jpg,,1,2,364\r\n')
    manifest = read_manifest(str(path))
    assert [(e.image_path, e.latitude, e.longitude, e.scene, e.line) for e in manifest.entries] == [
        ("x/a,1.jpg", 48.5, -2.0, 3, 2), ('say "hi".jpg', -0.25, 0.5, None, 4), ("/abs/c.jpg", 1.0, 2.0, 364, 5)]
    assert manifest.image_file(manifest.entries[0]) == os.path.join(str(tmp_path), "x/a,1.jpg")
    assert manifest.image_file(manifest.entries[2]) == "/abs/c.jpg"
    skipping = tmp_path / "skip.csv"
    skipping.write_text("image,lat,lon\na.jpg,1,2\nb.jpg,100,2\nc.jpg,1,x\nd.jpg,3,4\n")
    kept = read_manifest(str(skipping), skip_invalid=True)
    assert [e.image_path for e in kept.entries] == ["a.jpg", "d.jpg"] and kept.skipped_rows == 2
    assert kept.first_skipped == f"{skipping}:3: lat is '100', expected degrees in [-90, 90]"
    skipping.write_text("image,lat,lon\nb.jpg,100,2\n")
    with pytest.raises(ManifestError, match="no data rows"):
        read_manifest(str(skipping), skip_invalid=True)


def test_a_bad_labelled_row_names_the_file_line_and_value(tmp_path):
    path = tmp_path / "labelled.csv"
    path.write_text("image,lat,lon,coarse,middle,fine\na.jpg,1,2,0,1,2\nb.jpg,1,2,0,7,2\n")
    assert read_labelled_manifest(str(path)).labels(1) == {"coarse": 0, "middle": 7, "fine": 2}
    with pytest.raises(ManifestError, match=r"labelled\.csv:3: middle is '7', expected a class label in 0\.\.\.4"):
        read_labelled_manifest(str(path), head_sizes={"coarse": 5, "middle": 5, "fine": 5})
    path.write_text("image,lat,lon,coarse,middle\na.jpg,1,2,0,1\n")
    with pytest.raises(ManifestError, match="missing required column 'fine'"):
        read_labelled_manifest(str(path))
