"""Geo-cell partitions: the coarse, middle and fine S2 cells the heads classify into.

Read from the CSVs `translocator partition` writes (docs/ARCHITECTURE.md "Partition CSVs";
Sources/GeoCells/Partition+CSV.swift): header `class_label,hex_id,imgs_per_class,latitude_mean,
longitude_mean`, one row a cell, hex_id its S2 token. GeoEstimation's published `cells_50_*.csv`
read too: the metadata lines before the header are skipped and `imgs_per_cell` stands for
`imgs_per_class`. Checked as the Swift reader checks (Sources/GeoCells/Partition.swift): labels
0..N-1 once each, valid and disjoint cells. Errors name the file and line.

Built as `translocator partition` builds them (`build_partitions`: GeoEstimation's adaptive cells,
Partition.swift) and written as it writes them (`write_partitions`: the same bytes, temporaries
renamed into place).
"""
import csv
import os
import re
from dataclasses import dataclass

GEO_LEVELS = ("coarse", "middle", "fine")
FILE_NAMES = {level: level + ".csv" for level in GEO_LEVELS}   # GeoPartitions.fileNames

# What Swift's Int() and strtod accept for these columns, without Python's extras ("1_000", "0x1p3").
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


class PartitionError(ValueError):
    """A partition file (or a model file's partitions) that cannot be read or makes no sense."""


@dataclass(frozen=True)
class PartitionCell:
    """One class: its S2 cell (canonical token), training images in it, their mean coordinate."""
    class_label: int
    token: str
    images: int
    latitude_mean: float    # degrees
    longitude_mean: float   # degrees


@dataclass(frozen=True)
class Partition:
    """Disjoint S2 cells indexed by class label: `cells[k].class_label == k`."""
    cells: tuple[PartitionCell, ...]

    def __len__(self) -> int:
        return len(self.cells)

    @property
    def tokens(self) -> list[str]:
        return [cell.token for cell in self.cells]


@dataclass(frozen=True)
class GeoPartitions:
    """The three partitions whose class counts size the coarse, middle and fine heads."""
    coarse: Partition
    middle: Partition
    fine: Partition

    def __getitem__(self, level: str) -> Partition:
        if level not in GEO_LEVELS:
            raise KeyError(level)
        return getattr(self, level)

    @property
    def head_sizes(self) -> dict[str, int]:
        return {level: len(self[level]) for level in GEO_LEVELS}


# MARK: - S2 tokens (Sources/GeoCells/S2CellID+Geometry.swift)

def cell_id(token: str) -> int | None:
    """The 64-bit id of an S2 token (either case, 1-16 hex digits), or None unless it is a valid
    cell: face 0...5 and the lowest set bit at an even position (S2CellID.isValid)."""
    if not 1 <= len(token) <= 16 or any(c not in "0123456789abcdefABCDEF" for c in token):
        return None
    value = int(token, 16) << (4 * (16 - len(token)))
    lowest_bit = value & -value
    if value >> 61 >= 6 or lowest_bit & 0x1555_5555_5555_5555 == 0:
        return None
    return value


def canonical_token(value: int) -> str:
    """S2's token of a cell id: 16 hex digits less the trailing zeros (S2CellID.token)."""
    return f"{value:016x}".rstrip("0") if value else "X"


def make_partition(cells: list[PartitionCell], source: str) -> Partition:
    """Orders `cells` by label and checks them as `Partition(cells:)` does.
    Raises PartitionError naming `source`: a label outside 0..N-1 or twice, an invalid or
    overlapping cell."""
    by_label: list[PartitionCell | None] = [None] * len(cells)
    for cell in cells:
        if cell_id(cell.token) is None:
            raise PartitionError(f"{source}: '{cell.token}' is not a valid S2 cell token")
        if not 0 <= cell.class_label < len(cells):
            raise PartitionError(f"{source}: class label {cell.class_label} with {len(cells)} cells "
                                 f"(labels must be 0..{len(cells) - 1}, each once)")
        if by_label[cell.class_label] is not None:
            raise PartitionError(f"{source}: class label {cell.class_label} twice")
        by_label[cell.class_label] = cell
    ordered = tuple(by_label)
    # Disjoint: sorted by id, each cell's range [id - (lsb - 1), id + (lsb - 1)] ends before the next's.
    ranges = sorted((cell_id(c.token), c.token) for c in ordered)
    for (a, token_a), (b, token_b) in zip(ranges, ranges[1:]):
        if a + ((a & -a) - 1) >= b - ((b & -b) - 1):
            raise PartitionError(f"{source}: cells {token_a} and {token_b} overlap")
    return Partition(ordered)


# MARK: - Reading the CSVs

def read_partition(path: str) -> Partition:
    """Reads one partition CSV (ours or GeoEstimation's).
    Raises PartitionError naming the file (and line, column and value for a bad row)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(_records(csv.reader(f)))
    except OSError as error:
        raise PartitionError(f"{path}: cannot read ({error.strerror or error})") from error
    except csv.Error as error:
        raise PartitionError(f"{path}: not CSV ({error})") from error
    columns: dict[str, int] = {}
    cells: list[PartitionCell] = []
    for line, record in rows:
        if not columns:
            # Metadata lines come before the header; the header starts with class_label.
            if len(record) > 1 and record[0].strip() == "class_label":
                columns = {name.strip(): index for index, name in enumerate(record)}
                columns.setdefault("imgs_per_class", columns.get("imgs_per_cell"))
                for name in ("hex_id", "imgs_per_class", "latitude_mean", "longitude_mean"):
                    if columns.get(name) is None:
                        raise PartitionError(f"{path}: missing required column '{name}'")
            continue
        cells.append(_cell(record, columns, path, line))
    if not columns:
        raise PartitionError(f"{path}: missing required column 'class_label'")
    if not cells:
        raise PartitionError(f"{path}: no data rows")
    return make_partition(cells, path)


def read_partitions(folder: str) -> GeoPartitions:
    """Reads folder/coarse.csv, middle.csv and fine.csv. Raises PartitionError naming the file."""
    return GeoPartitions(*(read_partition(os.path.join(folder, FILE_NAMES[level])) for level in GEO_LEVELS))


def _records(reader):
    """(1-based line on which the record starts, fields) for each non-blank record."""
    line = 1
    for record in reader:
        if record:
            yield line, record
        line = reader.line_num + 1


def _cell(record: list[str], columns: dict[str, int], path: str, line: int) -> PartitionCell:
    def field(name: str) -> str:
        index = columns[name]
        return record[index].strip() if index < len(record) else ""

    def bad(name: str, expected: str) -> PartitionError:
        return PartitionError(f"{path}:{line}: {name} is '{field(name)}', expected {expected}")

    def integer(name: str) -> int:
        if not _INTEGER.fullmatch(field(name)) or int(field(name)) < 0:
            raise bad(name, "a non-negative integer")
        return int(field(name))

    def degrees(name: str, limit: float) -> float:
        text = field(name)
        if not _DECIMAL.fullmatch(text) or not abs(float(text)) <= limit:
            raise bad(name, f"degrees in [{-int(limit)}, {int(limit)}]")
        return float(text)

    value = cell_id(field("hex_id"))
    if value is None:
        raise bad("hex_id", "an S2 cell token")
    return PartitionCell(class_label=integer("class_label"), token=canonical_token(value),
                         images=integer("imgs_per_class"), latitude_mean=degrees("latitude_mean", 90),
                         longitude_mean=degrees("longitude_mean", 180))


# MARK: - Building (Sources/GeoCells/Partition.swift, GeoPartitions.swift; GeoEstimation's create_cells.py)

_MIN_LEVEL = 2           # GeoEstimation's starting level
_MAX_LEVEL = 30          # S2's leaf level
CSV_HEADER = "class_label,hex_id,imgs_per_class,latitude_mean,longitude_mean"


def check_parameters(min_images: int, max_images: list[int]) -> None:
    """`Partition.checkParameters` plus GeoPartitions' three values; raises PartitionError with Swift's text."""
    if len(max_images) != 3:
        raise PartitionError(f"three tau_max values (coarse, middle, fine) are needed, got {len(max_images)}")
    if min_images < 0:
        raise PartitionError(f"--min is {min_images}, expected >= 0")
    if any(finer >= coarser for coarser, finer in zip(max_images, max_images[1:])):
        raise PartitionError(f"--max {','.join(map(str, max_images))} must strictly decrease (coarse to fine)")
    if min(max_images) <= min_images:
        raise PartitionError(f"--min {min_images} must be below every --max value (smallest: {min(max_images)})")


def _level(cell: int) -> int:
    return _MAX_LEVEL - (((cell & -cell).bit_length() - 1) >> 1)


def _parent(cell: int, level: int) -> int:
    lowest = 1 << (2 * (_MAX_LEVEL - level))
    return (cell & -lowest & 0xFFFF_FFFF_FFFF_FFFF) | lowest


def _children(cell: int) -> list[int]:
    """S2CellId's four children in Hilbert (id) order."""
    lowest = cell & -cell
    first = cell - lowest + (lowest >> 2)
    return [first + k * (lowest >> 1) for k in range(4)]


def _first_after(cell: int, ids, start: int, end: int) -> int:
    """The first index in ids[start:end] whose id lies beyond the cell (`firstIndex(after:in:from:upTo:)`)."""
    import numpy as np
    limit = np.uint64(cell + ((cell & -cell) - 1))
    return start + int(np.searchsorted(ids[start:end], limit, side="right"))


def _cut(ids, min_images: int, max_images: int) -> list[tuple[int, int, int]]:
    """Steps 1-4 on the sorted leaf ids: (cell, start, end) kept, ascending id order (`Partition.cut`)."""
    kept: list[tuple[int, int, int]] = []

    def split(cell: int, start: int, end: int) -> None:
        if end - start > max_images and _level(cell) < _MAX_LEVEL:
            for child in _children(cell):
                if start >= end:
                    break
                child_end = _first_after(child, ids, start, end)
                if child_end > start:
                    split(child, start, child_end)
                start = child_end
        elif end - start > min_images:
            kept.append((cell, start, end))

    start = 0
    while start < len(ids):
        cell = _parent(int(ids[start]), _MIN_LEVEL)
        end = _first_after(cell, ids, start, len(ids))
        if end - start > min_images:
            split(cell, start, end)
        start = end
    return kept


def _mean_longitude(total: float, shifted_total: float, count: float, minimum: float, maximum: float) -> float:
    """`Partition.meanLongitude`: the plain mean unless the longitudes span more than 180 degrees."""
    if not maximum - minimum > 180:
        return total / count
    mean = shifted_total / count
    return mean - 360 if mean > 180 else mean


def build_partition_list(latitudes, longitudes, min_images: int, max_images: list[int]) -> list[Partition]:
    """`Partition.build(_:minImages:maxImages:)` for any number of tau_max (coarse to fine):
    labels 0..N-1 in ascending cell-id order, image counts, means summed in input order."""
    import numpy as np
    from . import s2
    latitudes = np.asarray(latitudes, dtype=np.float64).ravel()
    longitudes = np.asarray(longitudes, dtype=np.float64).ravel()
    leaves = s2.leaf_cell_ids(latitudes, longitudes)
    order = np.argsort(leaves, kind="stable")
    ids = leaves[order]
    shifted = np.where(longitudes < 0, longitudes + 360, longitudes)
    result = []
    for most in max_images:
        cut = _cut(ids, min_images, most)
        sorted_labels = np.full(len(ids), -1, dtype=np.int64)
        for label, (_, start, end) in enumerate(cut):
            sorted_labels[start:end] = label
        labels = np.empty_like(sorted_labels)
        labels[order] = sorted_labels               # each input's class, -1: deleted
        inside = labels >= 0
        k, n = labels[inside], len(cut)
        # np.bincount adds its weights one by one in input order, as Swift's loop does.
        lat_sum = np.bincount(k, weights=latitudes[inside], minlength=n)
        lon_sum = np.bincount(k, weights=longitudes[inside], minlength=n)
        shifted_sum = np.bincount(k, weights=shifted[inside], minlength=n)
        counts = np.bincount(k, minlength=n).astype(np.float64)
        lowest = np.full(n, np.inf)
        highest = np.full(n, -np.inf)
        np.minimum.at(lowest, k, longitudes[inside])
        np.maximum.at(highest, k, longitudes[inside])
        cells = tuple(PartitionCell(class_label=label, token=canonical_token(cell), images=end - start,
                                    latitude_mean=float(lat_sum[label] / counts[label]),
                                    longitude_mean=_mean_longitude(float(lon_sum[label]), float(shifted_sum[label]),
                                                                   float(counts[label]), float(lowest[label]),
                                                                   float(highest[label])))
                      for label, (cell, start, end) in enumerate(cut))
        result.append(Partition(cells))
    return result


def build_partitions(latitudes, longitudes, min_images: int = 50,
                     max_images: list[int] = (5000, 2000, 1000)) -> GeoPartitions:
    """`GeoPartitions.build`: GeoEstimation's adaptive cells of the points (degrees) at three
    resolutions, as `translocator partition` and `translocator train` build them.
    Raises PartitionError for parameters `checkParameters` rejects."""
    max_images = list(max_images)
    check_parameters(min_images, max_images)
    return GeoPartitions(*build_partition_list(latitudes, longitudes, min_images, max_images))


def partition_csv_text(partition: Partition) -> str:
    """`Partition.csvText`: the header, then one row a class in label order, means as Swift prints Doubles."""
    from .metrics import swift_number
    rows = [CSV_HEADER]
    rows += [f"{c.class_label},{c.token},{c.images},{swift_number(c.latitude_mean)},{swift_number(c.longitude_mean)}"
             for c in partition.cells]
    return "\n".join(rows) + "\n"


def write_partitions(folder: str, partitions: GeoPartitions) -> None:
    """`GeoPartitions.write(to:)`: folder/coarse.csv, middle.csv, fine.csv (the folder must exist),
    each written in full to `.NAME.PID.tmp` beside it before any is renamed into place.
    Raises PartitionError naming the file; temporaries are removed on failure."""
    temporaries: list[tuple[str, str]] = []
    renamed = 0
    try:
        for level in GEO_LEVELS:
            target = os.path.join(folder, FILE_NAMES[level])
            temporary = os.path.join(folder, f".{FILE_NAMES[level]}.{os.getpid()}.tmp")
            try:
                with open(temporary, "w", encoding="utf-8", newline="") as f:
                    temporaries.append((temporary, target))
                    f.write(partition_csv_text(partitions[level]))
            except OSError as error:
                raise PartitionError(f"{target}: cannot write ({error.strerror or error})") from error
        for temporary, target in temporaries:
            try:
                os.replace(temporary, target)
            except OSError as error:
                raise PartitionError(f"{target}: cannot write ({error.strerror or error})") from error
            renamed += 1
    finally:
        for temporary, _ in temporaries[renamed:]:
            try:
                os.remove(temporary)
            except OSError:
                pass
