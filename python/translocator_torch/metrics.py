"""Scoring predicted locations as the Swift engine scores them (Sources/GeoCells/GreatCircle.swift,
Sources/Training/Evaluation.swift), with its text: the paper's table (eq. 9: the share of images
within 1 / 25 / 200 / 750 / 2500 km), mean and median error, the `--json` document and the
`--predictions` CSV, character for character as `translocator eval` prints them.

Numbers print as Swift's `Double.description` does (`swift_number`): the shortest digits that read
back to the same double, which Python's repr also gives, in Swift's layout.
"""
import functools
import math
import operator
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0                            # GeoEstimation's and TransLocator's mean radius
THRESHOLDS_KM = (1.0, 25.0, 200.0, 750.0, 2500.0)   # the paper's Table 1, in table order
SCALE_NAMES = ("Street", "City", "Region", "Country", "Continent")


def _sequential_sum(values) -> float:
    """Left to right, one rounding an addition, as Swift's `reduce(0, +)` (Python 3.12's sum() compensates)."""
    return functools.reduce(operator.add, values, 0.0)


def great_circle_distance_km(latitude_a: float, longitude_a: float, latitude_b: float, longitude_b: float) -> float:
    """Haversine on a sphere of 6371 km between two points in degrees, as GeoEstimation's
    `vectorized_gc_distance` and `greatCircleDistance` compute it (same operations, same order)."""
    phi_a, phi_b = latitude_a * (math.pi / 180), latitude_b * (math.pi / 180)
    half_latitude_delta = (phi_b - phi_a) / 2
    half_longitude_delta = (longitude_b - longitude_a) * (math.pi / 180) / 2
    sin_latitude, sin_longitude = math.sin(half_latitude_delta), math.sin(half_longitude_delta)
    h = sin_latitude * sin_latitude + math.cos(phi_a) * math.cos(phi_b) * sin_longitude * sin_longitude
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))   # min: rounding may push h past 1


def swift_number(value: float) -> str:
    """Swift's `"\\(value)"` for a Double: Python's shortest round-trip digits, in exponent form
    below 1e-4 (as both print) and above 2^53 (Swift) rather than from 1e16 (Python)."""
    text = repr(float(value))
    if not math.isfinite(value) or "e" in text or abs(value) <= 2.0 ** 53:
        return text
    digits = text.lstrip("-").split(".")[0].rstrip("0")               # an integer-valued double
    exponent = len(text.lstrip("-").split(".")[0]) - 1
    mantissa = digits[0] + "." + (digits[1:] or "0")
    return ("-" if value < 0 else "") + f"{mantissa}e+{exponent:02d}"


def json_number(value: float) -> str:
    """`JSONLiteral.number`: a finite double as Swift prints it; NaN and infinities as null."""
    return swift_number(value) if math.isfinite(value) else "null"


def csv_field(text: str) -> str:
    """A CSV field, quoted (RFC 4180) when it holds a comma, a quote or a line break."""
    if not any(c in text for c in ',"\n\r'):
        return text
    return '"' + text.replace('"', '""') + '"'


@dataclass(frozen=True)
class AccuracyTable:
    """The paper's five-scale accuracies (percent within each threshold), mean and median error
    (km; the median of an even count the mean of the middle two, as numpy's)."""
    count: int
    percent_within: tuple[float, ...]
    mean_km: float
    median_km: float
    inclusive: bool      # d <= threshold (GeoEstimation) rather than the paper's d < threshold

    @staticmethod
    def of(distances_km: list[float], inclusive: bool = False) -> "AccuracyTable":
        if not distances_km:
            raise ValueError("accuracy table of no predictions")
        n = len(distances_km)
        within = operator.le if inclusive else operator.lt
        percent = tuple(100 * float(sum(1 for d in distances_km if within(d, t))) / n for t in THRESHOLDS_KM)
        ordered = sorted(distances_km)
        middle = n // 2
        median = ordered[middle] if n % 2 == 1 else (ordered[middle - 1] + ordered[middle]) / 2
        return AccuracyTable(n, percent, _sequential_sum(distances_km) / n, median, inclusive)


@dataclass(frozen=True)
class GeoEvaluation:
    """Predictions scored against the truth: per image its name (manifest path), true and
    predicted (latitude, longitude) in degrees and the error in km, and the table."""
    images: list[str]
    truths: list[tuple[float, float]]
    predictions: list[tuple[float, float]]
    distances_km: list[float]
    table: AccuracyTable

    @staticmethod
    def of(images: list[str], truths: list[tuple[float, float]], predictions: list[tuple[float, float]],
           inclusive: bool = False) -> "GeoEvaluation":
        if not len(images) == len(truths) == len(predictions) or not truths:
            raise ValueError(f"{len(images)} images, {len(truths)} truths, {len(predictions)} predictions")
        distances = [great_circle_distance_km(*truth, *prediction) for truth, prediction in zip(truths, predictions)]
        return GeoEvaluation(list(images), list(truths), list(predictions), distances, AccuracyTable.of(distances, inclusive))

    @property
    def json(self) -> str:
        """`{"images": N, "accuracy": {"1": %, "25": %, ...}, "meanKm": x, "medianKm": y}`, keys in that order."""
        accuracy = ", ".join(f'"{int(t)}": {json_number(p)}' for t, p in zip(THRESHOLDS_KM, self.table.percent_within))
        return (f'{{"images": {self.table.count}, "accuracy": {{{accuracy}}}, "meanKm": {json_number(self.table.mean_km)}, '
                f'"medianKm": {json_number(self.table.median_km)}}}')

    @property
    def predictions_csv(self) -> str:
        """`image,lat,lon,pred_lat,pred_lon,distance_km`, one row per image in input order."""
        rows = ["image,lat,lon,pred_lat,pred_lon,distance_km\n"]
        for image, (lat, lon), (pred_lat, pred_lon), distance in zip(self.images, self.truths, self.predictions,
                                                                     self.distances_km):
            rows.append(f"{csv_field(image)},{swift_number(lat)},{swift_number(lon)},{swift_number(pred_lat)},"
                        f"{swift_number(pred_lon)},{swift_number(distance)}\n")
        return "".join(rows)


def table_text(rows: list[tuple[str, GeoEvaluation]]) -> str:
    """The paper's table as `translocator eval` prints it: a header, one row per (label,
    evaluation), the number of images and the comparison used."""
    label_width = max(8, max((len(label) for label, _ in rows), default=0))
    text = " " * label_width
    for name, threshold in zip(SCALE_NAMES, THRESHOLDS_KM):
        header = f"{name} {int(threshold)} km"
        text += "  " + " " * max(0, 16 - len(header)) + header
    text += "      mean km    median km\n"
    for label, evaluation in rows:
        text += label.ljust(label_width)[:label_width]
        for percent in evaluation.table.percent_within:
            text += "  %15.1f%%" % percent
        text += "  %11.1f  %11.1f\n" % (evaluation.table.mean_km, evaluation.table.median_km)
    first = rows[0][1].table if rows else None
    comparison = "<=" if first is not None and first.inclusive else "<"
    text += f"({first.count if first else 0} images; share with error {comparison} threshold, great-circle, R = 6371 km)\n"
    return text
