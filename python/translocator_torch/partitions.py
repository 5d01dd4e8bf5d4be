"""Geo-cell partitions: the coarse, middle and fine S2 cells the heads classify into.

Read from the CSVs `translocator partition` writes (docs/ARCHITECTURE.md "Partition CSVs";
Sources/GeoCells/Partition+CSV.swift): header `class_label,hex_id,imgs_per_class,latitude_mean,
longitude_mean`, one row a cell, hex_id its S2 token. GeoEstimation's published `cells_50_*.csv`
read too: the metadata lines before the header are skipped and `imgs_per_cell` stands for
`imgs_per_class`. Checked as the Swift reader checks (Sources/GeoCells/Partition.swift): labels
0..N-1 once each, valid and disjoint cells. Errors name the file and line.
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
