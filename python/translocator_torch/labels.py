"""Training labels: each image's coarse, middle and fine geo-cell class and its scene class,
assigned exactly as the Swift trainer assigns them (Sources/Training/GeoLabels.swift,
LabelledManifest.swift, SceneHierarchy.swift, Sources/GeoCells/Partition.swift), so that both
engines train on the same classes (`translocator label` writes the Swift side's; the tests
compare the two on 20,000 real MP-16 coordinates).

  - An image's class at a level is the partition cell containing its leaf cell: one binary search
    over the disjoint cells sorted by id, the candidate kept when it contains the leaf and is at
    level 2 or deeper (GeoEstimation's `assign_classes.py` searches levels 2-29; level-30 cells
    are found too, as in Swift).
  - An image no cell of some level contains is left out of all levels and counted, never lost.
  - The scene class of a Places365 index: through the hierarchy file for a head of 3 or 16
    classes (the first flagged group of the category's row), the index itself for 365.
"""
from dataclasses import dataclass

import numpy as np

from . import s2
from .manifest import GEO_LEVELS, LabelledManifest, Manifest, ManifestError, csv_records, parse_double
from .partitions import GeoPartitions, Partition

LEVEL3_COUNT, LEVEL16_COUNT = 3, 16     # Places365's hierarchy: indoor / outdoor natural / man-made; 16 groups
_MIN_LEVEL = 2                           # GeoEstimation's lowest partition level


class LabelError(ValueError):
    """Labels that cannot be made: a scene missing or outside the hierarchy (naming file:line),
    or a scene head without the hierarchy it needs."""


# MARK: - Geo-cell classes

@dataclass(frozen=True)
class CellIndex:
    """A partition's cells sorted by id, for the containment search (`Partition.classLabel(containing:)`)."""
    range_mins: np.ndarray    # uint64, ascending
    range_maxs: np.ndarray    # uint64
    labels: np.ndarray        # int64 class labels in the same order
    deep_enough: np.ndarray   # bool: level >= 2

    @staticmethod
    def of(partition: Partition) -> "CellIndex":
        cells = sorted((s2.cell_id_of_token(cell.token), cell.class_label) for cell in partition.cells)
        ids = [cell for cell, _ in cells]
        return CellIndex(np.array([s2.range_min(c) for c in ids], dtype=np.uint64),
                         np.array([s2.range_max(c) for c in ids], dtype=np.uint64),
                         np.array([label for _, label in cells], dtype=np.int64),
                         np.array([s2.level(c) >= _MIN_LEVEL for c in ids], dtype=bool))

    def class_labels(self, leaves: np.ndarray) -> np.ndarray:
        """The class of the cell containing each leaf id (uint64), -1 where none does."""
        leaves = np.asarray(leaves, dtype=np.uint64)
        after = np.searchsorted(self.range_mins, leaves, side="right")     # first cell with rangeMin > leaf
        candidate = np.maximum(after - 1, 0)
        found = (after > 0) & (leaves <= self.range_maxs[candidate]) & self.deep_enough[candidate]
        return np.where(found, self.labels[candidate], -1)


def class_labels(partition: Partition, latitudes, longitudes) -> np.ndarray:
    """The class of each point (degrees) in `partition`, -1 where no cell contains it."""
    return CellIndex.of(partition).class_labels(s2.leaf_cell_ids(latitudes, longitudes))


def geo_labels(latitudes, longitudes, partitions: GeoPartitions) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """`GeoLabels`: the indices of the points every level's partition covers (ascending) and their
    class per level. The others are left out."""
    leaves = s2.leaf_cell_ids(latitudes, longitudes)
    per_level = {level: CellIndex.of(partitions[level]).class_labels(leaves) for level in GEO_LEVELS}
    kept = np.flatnonzero(np.all([per_level[level] >= 0 for level in GEO_LEVELS], axis=0))
    return kept, {level: per_level[level][kept] for level in GEO_LEVELS}


# MARK: - Scene classes

@dataclass(frozen=True)
class SceneHierarchy:
    """The Places365 hierarchy (`scene_hierarchy_places365.csv`'s format): an explanation row, a
    row naming the levels, then per category its name, 3 level-1 flags and 16 level-2 flags. A
    category's label at a level is its first flagged group (numpy's argmax of the normalised row,
    as GeoEstimation's `read_hierarchy`)."""
    category_names: tuple[str, ...]
    label3: tuple[int, ...]
    label16: tuple[int, ...]

    @property
    def category_count(self) -> int:
        return len(self.category_names)

    def label(self, category: int, classes: int) -> int | None:
        """Category `category`'s class for a head of `classes` outputs (3, 16, or the category
        count for the index itself); None outside the hierarchy or for another head size."""
        if not 0 <= category < self.category_count:
            return None
        if classes == LEVEL3_COUNT:
            return self.label3[category]
        if classes == LEVEL16_COUNT:
            return self.label16[category]
        return category if classes == self.category_count else None


def read_scene_hierarchy(path: str, name: str | None = None) -> SceneHierarchy:
    """Reads a hierarchy file (`SceneHierarchy(contentsOf:)`). Raises ManifestError naming
    file:line: a row with fewer than 1 + 3 + 16 fields, a flag that is not a number >= 0, a level
    with no flag; `no data rows` without category rows."""
    file = name or path
    width = 1 + LEVEL3_COUNT + LEVEL16_COUNT
    names, label3, label16 = [], [], []
    for row, (line, record) in enumerate(csv_records(path, name)):
        if row < 2:                                                   # explanation, level names
            continue
        if len(record) < width:
            raise ManifestError(f"{file}:{line}: row is '{len(record)} fields', expected a name and 3 + 16 flags")
        flags = []
        for k in range(1, width):
            value = parse_double(record[k])
            if value is None or not np.isfinite(value) or value < 0:
                raise ManifestError(f"{file}:{line}: flag {k} is '{record[k]}', expected 0 or 1")
            flags.append(float(np.float32(value)))              # SceneHierarchy keeps Float flags
        for groups, level_name, labels in [(flags[:3], "level 1 (3 groups)", label3),
                                           (flags[3:], "level 2 (16 groups)", label16)]:
            if not any(flag > 0 for flag in groups):
                raise ManifestError(f"{file}:{line}: {level_name} is 'no flag', expected at least one group flagged")
            labels.append(next(k for k, flag in enumerate(groups) if flag > 0))
        names.append(record[0])
    if not names:
        raise ManifestError(f"{file}: no data rows")
    return SceneHierarchy(tuple(names), tuple(label3), tuple(label16))


def scene_label(category: int, hierarchy: SceneHierarchy | None, scene_classes: int) -> int | None:
    """`LabelledManifest.sceneLabel`: through the hierarchy when there is one (its answer, None
    included, is final), otherwise the index itself when below the head size."""
    if hierarchy is not None:
        return hierarchy.label(category, scene_classes)
    return category if category < scene_classes else None


# MARK: - Labelling a manifest

def label_manifest(manifest: Manifest, partitions: GeoPartitions, hierarchy: SceneHierarchy | None = None,
                   scene_classes: int = 0) -> LabelledManifest:
    """Every image of `manifest` that all three partitions cover, with its classes
    (`LabelledManifest(manifest:partitions:hierarchy:sceneClasses:)`).
    - hierarchy: maps Places365 indices to 3 or 16 groups; not needed for scene_classes 0 (no
      scene head) or 365 (the index itself).
    Raises LabelError naming file:line for a labelled image without a usable scene."""
    kept, classes = geo_labels(manifest.latitudes, manifest.longitudes, partitions)
    scene = None
    if scene_classes > 0:
        if hierarchy is None and scene_classes != 365:
            raise LabelError(f"a scene head of {scene_classes} classes needs a scene hierarchy file "
                             f"(Places365's scene_hierarchy_places365.csv format)")
        scene = np.empty(len(kept), dtype=np.int64)
        for k, index in enumerate(kept.tolist()):
            entry = manifest.entries[index]
            if entry.scene is None:
                raise LabelError(f"{manifest.file}:{entry.line}: scene is missing, but the model has a scene head "
                                 f"({scene_classes} classes): give every image a Places365 index or use a config with "
                                 f"scene_classes 0")
            label = scene_label(entry.scene, hierarchy, scene_classes)
            if label is None:
                categories = hierarchy.category_count if hierarchy is not None else scene_classes
                raise LabelError(f"{manifest.file}:{entry.line}: scene is {entry.scene}, outside the hierarchy's "
                                 f"{categories} categories")
            scene[k] = label
    return LabelledManifest(manifest, kept, classes["coarse"], classes["middle"], classes["fine"], scene,
                            len(manifest) - len(kept))
