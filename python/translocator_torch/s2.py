"""Google's S2 cells in pure Python: a latitude/longitude to its leaf cell, bit-exact with the
Swift engine (Sources/GeoCells/S2CellID.swift, S2Coordinates.swift) and the C++ library
(s2geometry v0.14.0), so that an image falls in the same geo-cell here as in `translocator train`.

A cell id is 64 bits: 3 bits of cube face, two bits a level of Hilbert-curve position, then a 1
marking the level (level 30: a leaf, about 1 cm). A point goes (lat, lon) in degrees -> radians
((pi / 180) * degrees, S1Angle::Degrees) -> unit vector (S2LatLng::ToPoint) -> the face of its
largest component with (u, v) on it -> (s, t) by the quadratic projection -> (i, j) leaf column
and row -> the Hilbert position, 4 levels a lookup (S2CellId::FromFaceIJ).

Every double operation keeps S2's order; the trigonometry is libm's through `math` (what the
Swift engine and S2 call), the rest numpy arithmetic (+ - * / sqrt are correctly rounded, and
numpy does not contract to FMA), so the ids are exact, not approximate. Tokens are
`partitions.canonical_token` / `partitions.cell_id`, re-exported here.
"""
import math

import numpy as np

from .partitions import canonical_token as token
from .partitions import cell_id as cell_id_of_token

__all__ = ["MAX_LEVEL", "leaf_cell_ids", "leaf_cell_id", "level", "parent", "range_min", "range_max", "contains",
           "token", "cell_id_of_token"]

MAX_LEVEL = 30
_POSITION_BITS = 61            # 2 * 30 + 1
_LIMIT_IJ = 1 << 30            # leaf columns along a face side
_SWAP_MASK, _INVERT_MASK = 1, 2
_LOOKUP_BITS = 4               # levels a table lookup (s2cell_id.cc)


def _position_table() -> np.ndarray:
    """S2's `lookup_pos`: "iiiijjjjoo" (4 bits of i, of j, the orientation) -> "ppppppppoo"
    (8 bits of Hilbert position, the orientation after them) (InitLookupCell)."""
    position_to_ij = ((0, 1, 3, 2), (0, 2, 3, 1), (3, 2, 0, 1), (3, 1, 0, 2))   # kPosToIJ
    position_to_orientation = (_SWAP_MASK, 0, 0, _INVERT_MASK + _SWAP_MASK)      # kPosToOrientation
    table = np.zeros(1 << (2 * _LOOKUP_BITS + 2), dtype=np.uint64)

    def init_cell(level, i, j, original_orientation, position, orientation):
        if level == _LOOKUP_BITS:
            table[(((i << _LOOKUP_BITS) + j) << 2) + original_orientation] = (position << 2) + orientation
            return
        for k, quadrant in enumerate(position_to_ij[orientation]):
            init_cell(level + 1, (i << 1) + (quadrant >> 1), (j << 1) + (quadrant & 1), original_orientation,
                      (position << 2) + k, orientation ^ position_to_orientation[k])

    for orientation in range(4):
        init_cell(0, 0, 0, orientation, 0, orientation)
    return table


_POSITION = _position_table()


def _libm(function, values: np.ndarray) -> np.ndarray:
    """`function` (math.sin, math.cos) element by element: libm, as S2 and the Swift engine call it
    (numpy's own vectorized sin/cos may differ in the last bit)."""
    return np.fromiter(map(function, values.tolist()), dtype=np.float64, count=values.size)


def _uv_to_st(u: np.ndarray) -> np.ndarray:
    """S2::UVtoST, quadratic projection."""
    with np.errstate(invalid="ignore"):                    # the branch not taken may be sqrt(< 0)
        return np.where(u >= 0, 0.5 * np.sqrt(1 + 3 * u), 1 - 0.5 * np.sqrt(1 - 3 * u))


def _st_to_ij(s: np.ndarray) -> np.ndarray:
    """S2::STtoIJ (v0.14): floor of 2^30 * s clamped to [0, 2^30 - 1]; NaN and s <= 0 give 0."""
    positive = s > 0
    scaled = np.where(positive, _LIMIT_IJ * np.where(positive, s, 0.0), 0.0)
    return np.minimum(np.trunc(scaled).astype(np.int64), _LIMIT_IJ - 1)


def leaf_cell_ids(latitudes, longitudes) -> np.ndarray:
    """The leaf cells (level 30) containing points, as `S2CellId(S2LatLng::FromDegrees(lat, lon))`.
    latitudes, longitudes: degrees, any shape alike (longitudes outside [-180, 180] wrap).
    Returns uint64 ids of that shape."""
    latitudes = np.asarray(latitudes, dtype=np.float64)
    longitudes = np.asarray(longitudes, dtype=np.float64)
    if latitudes.shape != longitudes.shape:
        raise ValueError(f"{latitudes.shape} latitudes for {longitudes.shape} longitudes")
    shape = latitudes.shape
    phi = (math.pi / 180) * latitudes.ravel()            # S1Angle::Degrees: the constant folded first
    theta = (math.pi / 180) * longitudes.ravel()
    cos_phi = _libm(math.cos, phi)
    x = _libm(math.cos, theta) * cos_phi                 # S2LatLng::ToPoint
    y = _libm(math.sin, theta) * cos_phi
    z = _libm(math.sin, phi)

    # S2::GetFace: the largest absolute component, ties to the later axis; negative: face + 3.
    ax, ay, az = np.abs(x), np.abs(y), np.abs(z)
    axis = np.where(ax > ay, np.where(ax > az, 0, 2), np.where(ay > az, 1, 2))
    component = np.choose(axis, [x, y, z])
    face = axis + 3 * (component < 0)
    # S2::ValidFaceXYZtoUV, each face's (u, v); the other faces' quotients are discarded.
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.choose(face, [y / x, -x / y, -x / z, z / x, z / y, -y / z])
        v = np.choose(face, [z / x, z / y, -y / z, y / x, -x / y, -x / z])
    i, j = _st_to_ij(_uv_to_st(u)), _st_to_ij(_uv_to_st(v))

    # S2CellId::FromFaceIJ: 4 levels of i and j a lookup, from the top.
    ids = face.astype(np.uint64) << np.uint64(_POSITION_BITS - 1)
    bits = (face & _SWAP_MASK).astype(np.int64)
    mask = (1 << _LOOKUP_BITS) - 1
    for k in range(7, -1, -1):
        bits = bits + (((i >> (k * _LOOKUP_BITS)) & mask) << (_LOOKUP_BITS + 2))
        bits = bits + (((j >> (k * _LOOKUP_BITS)) & mask) << 2)
        looked_up = _POSITION[bits]
        ids |= (looked_up >> np.uint64(2)) << np.uint64(k * 2 * _LOOKUP_BITS)
        bits = (looked_up & np.uint64(_SWAP_MASK | _INVERT_MASK)).astype(np.int64)
    return (ids * np.uint64(2) + np.uint64(1)).reshape(shape)


def leaf_cell_id(latitude: float, longitude: float) -> int:
    """The leaf cell containing one point (degrees), as a Python int."""
    return int(leaf_cell_ids([latitude], [longitude])[0])


# MARK: - Structure (S2CellID.swift), on Python ints

def _lowest_on_bit(cell: int) -> int:
    return cell & -cell


def level(cell: int) -> int:
    """0 (a face) ... 30 (a leaf)."""
    if cell == 0:
        raise ValueError("level of the zero (None) cell id")
    return MAX_LEVEL - ((_lowest_on_bit(cell).bit_length() - 1) >> 1)


def parent(cell: int, at_level: int) -> int:
    """The ancestor at `at_level` (0 <= at_level <= level(cell)); the cell itself at its own level."""
    if not 0 <= at_level <= level(cell):
        raise ValueError(f"parent level {at_level} of a level-{level(cell)} cell")
    new_lowest_bit = 1 << (2 * (MAX_LEVEL - at_level))
    return (cell & -new_lowest_bit & 0xFFFF_FFFF_FFFF_FFFF) | new_lowest_bit


def range_min(cell: int) -> int:
    """The smallest leaf id inside the cell."""
    return cell - (_lowest_on_bit(cell) - 1)


def range_max(cell: int) -> int:
    """The largest leaf id inside the cell."""
    return cell + (_lowest_on_bit(cell) - 1)


def contains(cell: int, other: int) -> bool:
    """Whether `other` is `cell` or one of its descendants."""
    return range_min(cell) <= other <= range_max(cell)
