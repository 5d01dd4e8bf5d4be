"""Manifests: the CSVs that list a data set's images, read exactly as the Swift engine reads them
(Sources/Training/Manifest.swift, Sources/GeoCells/CoordinateFile.swift, CSVReader.swift), and
the labelled CSV `translocator label` writes (Sources/Training/LabelledManifest.swift).

A manifest has a header and one image a row:
  - ours: `image,lat,lon[,seg][,scene]`, any column order, extra columns ignored;
  - MP-16's meta CSVs (`IMG_ID,LAT,LON,...,S365_Label`): `IMG_ID` the path under the image folder.
Header names compare case-insensitively, spaces around them ignored: image|img_id|path,
lat|latitude, lon|lng|longitude, seg|segmentation, scene|s365_label (the first column of a name
wins). Paths stay as written and resolve against the manifest's folder (absolute ones as they are).
Rows: a non-empty image path, latitude in [-90, 90] and longitude in [-180, 180] (finite, decimal:
what C's strtod reads, no hexadecimal), a scene a whole number in 0...364; an empty seg or scene
means none. A bad value is a ManifestError naming file:line, the column and the value
(`train.csv:1043: lat is '91.2', expected degrees in [-90, 90]`), or with `skip_invalid` the row
is dropped and counted, as Swift's `--skip-invalid`.

The CSV dialect is CSVReader's (RFC 4180): quoted fields hold commas, newlines and `""`; anything
between a closing quote and the next comma is ignored; CRLF or LF; a UTF-8 byte-order mark is
skipped; blank lines are ignored; a record's line is the 1-based line it starts on.
"""
import os
import re
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
from PIL import Image

from .inputs import InputError, InputPipeline, PhotoInput, SegmentationMapError, read_photo, read_segmentation

IMAGE_NAMES = ("image", "img_id", "path")
LATITUDE_NAMES = ("lat", "latitude")
LONGITUDE_NAMES = ("lon", "lng", "longitude")
SEGMENTATION_NAMES = ("seg", "segmentation")
SCENE_NAMES = ("scene", "s365_label")
PLACES365_COUNT = 365          # Places365's categories (Zhou et al., TPAMI 2017)
GEO_LEVELS = ("coarse", "middle", "fine")
# Swift's CharacterSet.whitespaces (tab and Unicode's space separators), which header names and
# the image, seg and scene fields are trimmed of before their emptiness is judged.
_WHITESPACES = "\t \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"


# What Pillow raises for a file it cannot decode: UnidentifiedImageError and truncated data
# (OSError), bad headers (SyntaxError, ValueError), short reads (EOFError), a decompression bomb.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


class ManifestError(ValueError):
    """A manifest (or labelled CSV) that cannot be read, a row with a bad value, or a row whose
    file is missing or does not decode. The message is the Swift engine's: `file:line: problem`."""


# MARK: - CSV records (CSVReader.swift)

def csv_records(path: str, name: str | None = None) -> Iterator[tuple[int, list[str]]]:
    """(line on which the record starts, unquoted fields) for each non-blank record of the file,
    the header included. Errors call the file `name` (default: `path`).
    Raises ManifestError: unreadable, or a quoted field never closed."""
    file = name or path
    if not os.path.exists(path):
        raise ManifestError(f"{file}: cannot read (no such file)")
    if os.path.isdir(path):
        raise ManifestError(f"{file}: cannot read (a folder, not a file)")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as error:
        raise ManifestError(f"{file}: cannot read ({error.strerror or error})") from error
    return _records(data, file)


def _records(data: bytes, file: str) -> Iterator[tuple[int, list[str]]]:
    position = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    line = 1
    size = len(data)
    while position < size:
        end = data.find(b"\n", position)
        end = size if end < 0 else end
        text = data[position:end]
        if b'"' not in text:                       # the common record: split on commas
            fields = text.split(b",")
            if fields[-1].endswith(b"\r"):          # CR trimmed at the record's end only
                fields[-1] = fields[-1][:-1]
            if text not in (b"", b"\r"):
                yield line, [f.decode("utf-8", "replace") for f in fields]
            position, line = end + 1, line + 1
            continue
        record_line = line
        position, line, fields, blank = _quoted_record(data, position, line, file)
        if not blank:
            yield record_line, fields


def _quoted_record(data: bytes, position: int, line: int, file: str) -> tuple[int, int, list[str], bool]:
    """One record that holds a quote, byte by byte as CSVReader.forEachRecord: returns the
    position after it, the next line number, its fields and whether it was blank."""
    size, record_line, start = len(data), line, position
    fields: list[str] = []
    while True:
        if position < size and data[position] == 0x22:           # a quoted field
            position += 1
            chunks, chunk_start = [], position
            while True:
                if position >= size:
                    raise ManifestError(f"{file}:{record_line}: quoted field never closed")
                byte = data[position]
                if byte == 0x22:
                    if position + 1 < size and data[position + 1] == 0x22:
                        chunks.append(data[chunk_start:position + 1])   # "" is one "
                        position += 2
                        chunk_start = position
                        continue
                    break
                if byte == 0x0A:
                    line += 1
                position += 1
            chunks.append(data[chunk_start:position])
            fields.append(b"".join(chunks).decode("utf-8", "replace"))
            position += 1                                         # the closing quote
            while position < size and data[position] not in (0x2C, 0x0A):   # ignored up to the separator
                position += 1
        else:
            field_start = position
            while position < size and data[position] not in (0x2C, 0x0A):
                position += 1
            field_end = position
            if field_end > field_start and data[field_end - 1] == 0x0D and (position == size or data[position] == 0x0A):
                field_end -= 1
            fields.append(data[field_start:field_end].decode("utf-8", "replace"))
        record_end = position
        if position < size and data[position] == 0x2C:
            position += 1
            continue
        if position < size:
            position, line = position + 1, line + 1                # the newline
        if record_end > start and data[record_end - 1] == 0x0D:
            record_end -= 1
        return position, line, fields, record_end == start


# What C's strtod reads whole (after CSVRecord.double trims spaces): leading white space, a
# decimal number, inf/infinity/nan(...); hexadecimal is refused as CSVRecord.double refuses it.
_STRTOD = re.compile(r"[ \t\n\v\f\r]*[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                     r"|(?i:inf(?:inity)?)|(?i:nan)(?:\([0-9A-Za-z_]*\))?)")


def parse_double(text: str) -> float | None:
    """`CSVRecord.double(at:)`: the field as a number (spaces around it allowed), or None.
    NaN and infinities parse; range checks are the caller's."""
    text = text.strip(" ")
    if not 0 < len(text.encode("utf-8")) < 64 or not _STRTOD.fullmatch(text):
        return None
    body = text.lstrip(" \t\n\v\f\r").lstrip("+-").lower()
    if body.startswith("nan"):
        return float("nan")
    return float(text.lstrip(" \t\n\v\f\r"))


# MARK: - Manifests

@dataclass(frozen=True)
class ManifestEntry:
    """One row: paths as written, coordinates in degrees, the Places365 index or None, and the
    1-based line of the row (0 for one not read from a file)."""
    image_path: str
    latitude: float
    longitude: float
    segmentation_path: str | None = None
    scene: int | None = None
    line: int = 0


@dataclass
class Manifest:
    """A manifest's rows in file order; `file` is the name errors use, `directory` the folder
    relative paths resolve against; `skipped_rows` and `first_skipped` what `skip_invalid` dropped."""
    file: str
    directory: str
    entries: list[ManifestEntry]
    skipped_rows: int = 0
    first_skipped: str | None = None

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def latitudes(self) -> np.ndarray:
        return np.array([e.latitude for e in self.entries], dtype=np.float64)

    @property
    def longitudes(self) -> np.ndarray:
        return np.array([e.longitude for e in self.entries], dtype=np.float64)

    def resolve(self, path: str) -> str:
        """A path from the manifest: absolute as it is, otherwise under `directory`."""
        return path if path.startswith("/") else os.path.join(self.directory, path)

    def image_file(self, entry: ManifestEntry) -> str:
        return self.resolve(entry.image_path)

    def segmentation_file(self, entry: ManifestEntry) -> str | None:
        return None if entry.segmentation_path is None else self.resolve(entry.segmentation_path)

    def missing_file(self, entry: ManifestEntry) -> str | None:
        """`checkingFiles`'s test of one row: the error for its missing image, else for its
        missing map (whether or not the model reads maps), else None."""
        if not os.path.exists(self.image_file(entry)):
            return f"{self.file}:{entry.line}: image '{entry.image_path}' does not exist"
        segmentation = self.segmentation_file(entry)
        if segmentation is not None and not os.path.exists(segmentation):
            return f"{self.file}:{entry.line}: seg '{entry.segmentation_path}' does not exist"
        return None

    def photo_input(self, entry: ManifestEntry, pipeline: InputPipeline) -> PhotoInput:
        """The row's photo and, when the pipeline's model reads maps, its map, decoded and checked
        (`Manifest.photoInput(of:for:)`). Raises ManifestError naming file:line: a missing file,
        one that does not decode, a map the pipeline cannot use."""
        path = self.image_file(entry)
        if not os.path.exists(path):
            raise ManifestError(f"{self.file}:{entry.line}: image '{entry.image_path}' does not exist")
        try:
            image = read_photo(path)
        except _DECODE_ERRORS as error:
            raise ManifestError(f"{self.file}:{entry.line}: image '{entry.image_path}' cannot be read "
                                f"({error})") from error
        if not pipeline.uses_segmentation:
            return PhotoInput(image, None, entry.image_path)
        map_path = self.segmentation_file(entry)
        if map_path is None or not os.path.exists(map_path):
            raise ManifestError(f"{self.file}:{entry.line}: seg '{entry.segmentation_path or ''}' does not exist")
        try:
            photo = PhotoInput(image, read_segmentation(map_path), entry.image_path, entry.segmentation_path)
            pipeline.validate(photo)
        except (SegmentationMapError, InputError, *_DECODE_ERRORS) as error:
            raise ManifestError(f"{self.file}:{entry.line}: segmentation map '{entry.segmentation_path}' "
                                f"cannot be read ({error})") from error
        return photo


class _Columns:
    """Which column holds what, from the header (Manifest.Columns, CoordinateColumns)."""

    def __init__(self, header: list[str], file: str):
        keys = [name.strip(_WHITESPACES).lower() for name in header]

        def first(names) -> int:
            return next((index for index, key in enumerate(keys) if key in names), -1)

        self.file = file
        self.image, self.segmentation, self.scene = first(IMAGE_NAMES), first(SEGMENTATION_NAMES), first(SCENE_NAMES)
        self.latitude, self.longitude = first(LATITUDE_NAMES), first(LONGITUDE_NAMES)
        for index, name in [(self.image, "image"), (self.latitude, "lat"), (self.longitude, "lon")]:
            if index < 0:
                raise ManifestError(f"{file}: missing required column '{name}'")

    def bad(self, line: int, column: str, value: str, expected: str) -> ManifestError:
        return ManifestError(f"{self.file}:{line}: {column} is '{value}', expected {expected}")

    def degrees(self, record: list[str], line: int, index: int, name: str, limit: float) -> float:
        expected = f"degrees in [{-int(limit)}, {int(limit)}]"
        if index >= len(record):
            raise self.bad(line, name, "", expected)
        value = parse_double(record[index])
        if value is None or not abs(value) <= limit:            # NaN and infinities fail too
            raise self.bad(line, name, record[index], expected)
        return value

    def entry(self, record: list[str], line: int) -> ManifestEntry:
        if self.image >= len(record) or not record[self.image].strip(_WHITESPACES):
            raise ManifestError(f"{self.file}:{line}: image is missing")
        latitude = self.degrees(record, line, self.latitude, "lat", 90)
        longitude = self.degrees(record, line, self.longitude, "lon", 180)
        segmentation = None
        if 0 <= self.segmentation < len(record) and record[self.segmentation].strip(_WHITESPACES):
            segmentation = record[self.segmentation]
        scene = None
        if 0 <= self.scene < len(record) and record[self.scene].strip(_WHITESPACES):
            value = parse_double(record[self.scene])
            if value is None or not value.is_integer() or not 0 <= value < PLACES365_COUNT:
                raise self.bad(line, "scene", record[self.scene], f"a Places365 index in 0...{PLACES365_COUNT - 1}")
            scene = int(value)
        return ManifestEntry(record[self.image], latitude, longitude, segmentation, scene, line)


def read_manifest(path: str, name: str | None = None, image_directory: str | None = None,
                  skip_invalid: bool = False) -> Manifest:
    """Reads a manifest; errors call it `name` (default: `path`); relative paths resolve against
    `image_directory` (default: the manifest's folder).
    - skip_invalid: drop rows with a bad value (counted, the first error kept) instead of raising.
    Raises ManifestError naming the file (and line, column and value); `no data rows` when none is left."""
    manifest, _ = _read(path, name, image_directory, skip_invalid, extra=())
    return manifest


def _read(path, name, image_directory, skip_invalid, extra: tuple[str, ...]):
    """The manifest and, for each name in `extra` (lower case), the column index or -1 and each
    kept row's record (for the labelled CSV's extra columns)."""
    file = name or path
    columns: _Columns | None = None
    entries: list[ManifestEntry] = []
    records: list[list[str]] = []
    extra_columns: dict[str, int] = {}
    skipped, first_skipped = 0, None
    for line, record in csv_records(path, name):
        if columns is None:
            columns = _Columns(record, file)
            keys = [key.strip(_WHITESPACES).lower() for key in record]
            extra_columns = {key: keys.index(key) if key in keys else -1 for key in extra}
            continue
        try:
            entries.append(columns.entry(record, line))
        except ManifestError as error:
            if not skip_invalid:
                raise
            skipped += 1
            first_skipped = first_skipped or str(error)
            continue
        if extra:
            records.append(record)
    if columns is None or not entries:
        raise ManifestError(f"{file}: no data rows")
    directory = image_directory or os.path.dirname(os.path.abspath(path))
    return Manifest(file, directory, entries, skipped, first_skipped), (extra_columns, records)


# MARK: - Labelled manifests (`translocator label`)

@dataclass
class LabelledManifest:
    """A manifest with every labelled image's classes (`LabelledManifest.swift`): `entry_indices`
    into `manifest.entries` (ascending), coarse/middle/fine class per labelled image, `scene` the
    scene head's class per labelled image (None without a scene head), and `outside_count` the
    images left out because no cell of some partition holds them."""
    manifest: Manifest
    entry_indices: np.ndarray
    coarse: np.ndarray
    middle: np.ndarray
    fine: np.ndarray
    scene: np.ndarray | None = None
    outside_count: int = 0
    labels_by_level: dict = field(init=False, repr=False)

    def __post_init__(self):
        self.labels_by_level = {"coarse": self.coarse, "middle": self.middle, "fine": self.fine}
        if self.scene is not None:
            self.labels_by_level["scene"] = self.scene

    def __len__(self) -> int:
        return len(self.entry_indices)

    def entry(self, k: int) -> ManifestEntry:
        """Labelled image k's manifest row."""
        return self.manifest.entries[int(self.entry_indices[k])]

    def labels(self, k: int) -> dict[str, int]:
        """Labelled image k's class per head (scene only with a scene head)."""
        return {head: int(values[k]) for head, values in self.labels_by_level.items()}


def read_labelled_manifest(path: str, name: str | None = None,
                           head_sizes: dict[str, int] | None = None) -> LabelledManifest:
    """Reads the CSV `translocator label` writes: `image,lat,lon[,seg][,scene],coarse,middle,fine
    [,scene_class]`, paths relative to its folder. Every row is a labelled image.
    - head_sizes: {"coarse": K1, "middle": K2, "fine": K3[, "scene": S]}: each label must be below
      its head's size (the partitions the labels came from); None checks only that they are
      non-negative integers.
    Raises ManifestError naming file:line, column and value."""
    file = name or path
    manifest, (columns, records) = _read(path, name, None, False, extra=(*GEO_LEVELS, "scene_class"))
    for level in GEO_LEVELS:
        if columns[level] < 0:
            raise ManifestError(f"{file}: missing required column '{level}'")
    heads = {level: level for level in GEO_LEVELS}          # head -> column
    if columns["scene_class"] >= 0:
        heads["scene"] = "scene_class"
    values = {head: np.empty(len(records), dtype=np.int64) for head in heads}
    for k, (entry, record) in enumerate(zip(manifest.entries, records)):
        for head, column in heads.items():
            text = record[columns[column]].strip(" ") if columns[column] < len(record) else ""
            size = (head_sizes or {}).get(head)
            if not re.fullmatch(r"\+?[0-9]+", text) or (size is not None and int(text) >= size):
                expected = f"a class label in 0...{size - 1}" if size is not None else "a non-negative integer"
                raise ManifestError(f"{file}:{entry.line}: {column} is '{text}', expected {expected}")
            values[head][k] = int(text)
    return LabelledManifest(manifest, np.arange(len(manifest.entries)), values["coarse"], values["middle"],
                            values["fine"], values.get("scene"), 0)
