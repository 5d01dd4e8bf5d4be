"""`python3 python/translocator_torch/evaluate.py --model M --manifest T [--json] [--tencrop]
[--hierarchical] [--inclusive] [--predictions P] [--skip-invalid] [--baseline] [--batch N]`:
scores a translocator model file on a manifest and prints exactly what `translocator eval` prints
(Sources/CLI/EvalCommand.swift, Sources/Training/Evaluator.swift, Evaluation.swift): the
paper's table, or with --json the same JSON document.

Each photo is prepared by the model file's input pipeline (inputs.py: resize, centre crop or
TenCrop with the crops' logits averaged), run through the twin in eval mode, and answered with
the mean coordinate of the top fine cell (--hierarchical: the cell maximising
p_fine * p_middle(parent) * p_coarse(parent), probabilities in double precision as CellRanker).
Missing files are found first (an error naming the manifest's file:line, or skipped and counted
with --skip-invalid), then undecodable images batch by batch, as the Swift evaluator does.
Warnings and errors go to stderr; exit 0 success, 1 failed, 64 usage error.
"""
import argparse
import dataclasses
import math
import os
import sys

if __package__ in (None, ""):   # run as a script: import the package this file belongs to
    _PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path[0] = _PYTHON_DIR          # not this folder: its modules are not top-level modules
    else:
        sys.path.insert(0, _PYTHON_DIR)
    import translocator_torch  # noqa: F401,E402
    __package__ = "translocator_torch"

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from . import s2  # noqa: E402
from .config import ConfigError  # noqa: E402
from .data import EvaluationDataset, collate  # noqa: E402
from .inputs import InputPipeline  # noqa: E402
from .labels import CellIndex  # noqa: E402
from .manifest import Manifest, ManifestError, read_manifest  # noqa: E402
from .metrics import GeoEvaluation, table_text  # noqa: E402
from .modelfile import ModelFile, ModelFileError, read_model_file  # noqa: E402
from .partitions import GeoPartitions, PartitionError  # noqa: E402


class EvaluationError(ValueError):
    """Nothing left to score."""


# MARK: - Ranking fine cells (Sources/TransLocator/CellRanker.swift)

def softmax(logits: list[float]) -> list[float]:
    """Softmax in double precision: the maximum subtracted, libm's exp, summed left to right."""
    top = max(logits)
    exponentials = [math.exp(x - top) for x in logits]
    total = 0.0
    for e in exponentials:
        total += e
    return [e / total for e in exponentials]


class CellRanker:
    """Fine-cell scores of one image's logits: p_fine, or p_fine * p_middle * p_coarse of the
    middle and coarse cells containing each fine cell (0 for a fine cell outside them)."""

    def __init__(self, partitions: GeoPartitions):
        self.partitions = partitions
        range_mins = np.array([s2.range_min(s2.cell_id_of_token(cell.token)) for cell in partitions.fine.cells],
                              dtype=np.uint64)
        self.middle_parent = CellIndex.of(partitions.middle).class_labels(range_mins).tolist()
        self.coarse_parent = CellIndex.of(partitions.coarse).class_labels(range_mins).tolist()

    def scores(self, logits: dict[str, list[float]], hierarchical: bool) -> list[float]:
        fine = softmax(logits["fine"])
        if not hierarchical:
            return fine
        middle, coarse = softmax(logits["middle"]), softmax(logits["coarse"])
        return [fine[k] * middle[m] * coarse[c] if m >= 0 and c >= 0 else 0.0
                for k, (m, c) in enumerate(zip(self.middle_parent, self.coarse_parent))]

    def best(self, logits: dict[str, list[float]], hierarchical: bool = False) -> int:
        """The top fine class; ties to the lower label."""
        scores = self.scores(logits, hierarchical)
        return max(range(len(scores)), key=lambda k: (scores[k], -k))


def crop_mean(logits: torch.Tensor, crops: int) -> torch.Tensor:
    """[B * crops, K] -> [B, K]: each image's crops summed in order, then divided (float32, as
    `imageLogits`)."""
    grouped = logits.view(-1, crops, logits.shape[-1])
    total = grouped[:, 0].clone()
    for crop in range(1, crops):
        total += grouped[:, crop]
    return total / crops


# MARK: - Evaluating

@dataclasses.dataclass
class EvaluationResult:
    evaluation: GeoEvaluation
    skipped: list[str]          # the rows left out (skip_invalid), missing files first, in row order


def evaluate(model_file: ModelFile, manifest: Manifest, ten_crop: bool = False, hierarchical: bool = False,
             inclusive: bool = False, skip_invalid: bool = False, batch_size: int = 16,
             workers: int = 0) -> EvaluationResult:
    """Predicts every row of `manifest` and scores the answers (`Evaluator.evaluate`).
    Raises ManifestError naming file:line for a missing or undecodable file (unless skip_invalid),
    EvaluationError when nothing is left to score."""
    kept, skipped = [], []
    for entry in manifest.entries:                     # checkingFiles: every missing file first
        problem = manifest.missing_file(entry)
        if problem is None:
            kept.append(entry)
        elif not skip_invalid:
            raise ManifestError(problem)
        else:
            skipped.append(problem)
    checked = dataclasses.replace(manifest, entries=kept)
    model = model_file.model.eval()
    pipeline = InputPipeline.for_model(model.config, model_file.preprocessing)
    crops = 10 if ten_crop else 1
    loader = DataLoader(EvaluationDataset(checked, pipeline, ten_crop), batch_size=batch_size, shuffle=False,
                        num_workers=workers, collate_fn=collate)
    ranker = CellRanker(model_file.partitions)
    fine = model_file.partitions.fine.cells
    images, truths, predictions = [], [], []
    with torch.no_grad():
        for batch in loader:
            if batch.skipped and not skip_invalid:
                raise ManifestError(batch.skipped[0][1])
            skipped += [error for _, error in batch.skipped]
            if not batch.indices:
                continue
            outputs = model(batch.rgb, batch.seg)
            logits = {head: crop_mean(outputs[head], crops).double().tolist() for head in ("coarse", "middle", "fine")}
            for row, index in enumerate(batch.indices):
                best = fine[ranker.best({head: values[row] for head, values in logits.items()}, hierarchical)]
                entry = checked.entries[index]
                images.append(entry.image_path)
                truths.append((entry.latitude, entry.longitude))
                predictions.append((best.latitude_mean, best.longitude_mean))
    if not images:
        raise EvaluationError(f"{manifest.file}: no image could be scored ({len(skipped)} skipped)")
    return EvaluationResult(GeoEvaluation.of(images, truths, predictions, inclusive), skipped)


def baseline(evaluation: GeoEvaluation, partitions: GeoPartitions, inclusive: bool) -> GeoEvaluation:
    """Always answering the most populous fine cell's mean (the lowest label among ties)."""
    best = max(partitions.fine.cells, key=lambda cell: (cell.images, -cell.class_label))
    answer = (best.latitude_mean, best.longitude_mean)
    return GeoEvaluation.of(evaluation.images, evaluation.truths, [answer] * len(evaluation.truths), inclusive)


# MARK: - The command

class _Parser(argparse.ArgumentParser):
    def error(self, message):        # usage errors exit 64, as the Swift CLI's
        self.print_usage(sys.stderr)
        self.exit(64, f"error: {message}\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="evaluate.py", description="Score a model on a manifest: the paper's table "
                "(1 / 25 / 200 / 750 / 2500 km), printed exactly as 'translocator eval' prints it.")
    p.add_argument("--model", required=True, help="Model file (safetensors from 'translocator train' or train.py).")
    p.add_argument("--manifest", required=True, help="Manifest with image,lat,lon[,seg] (paths relative to it).")
    p.add_argument("--tencrop", action="store_true", help="Average the logits of TenCrop (4 corners + centre, and mirrored).")
    p.add_argument("--hierarchical", action="store_true", help="Rank fine cells by p_fine * p_middle(parent) * p_coarse(parent).")
    p.add_argument("--inclusive", action="store_true", help="Count an error equal to a threshold (<=) instead of the paper's <.")
    p.add_argument("--json", action="store_true", help='Print {"images", "accuracy": {"1": %%, ...}, "meanKm", "medianKm"}.')
    p.add_argument("--predictions", metavar="CSV", help="Also write image,lat,lon,pred_lat,pred_lon,distance_km per image.")
    p.add_argument("--skip-invalid", action="store_true",
                   help="Skip (and count) rows with a bad value, a missing file or an undecodable image.")
    p.add_argument("--baseline", action="store_true", help="Also score always answering the most populous fine cell.")
    p.add_argument("--batch", type=int, default=16, help="Images per forward pass (default: 16).")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes decoding photos (default: 0).")
    return p


def main(argv: list[str] | None = None, stdout=None, stderr=None) -> int:
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    arguments = parser().parse_args(argv)
    if not 1 <= arguments.batch <= 4096 or arguments.workers < 0:
        print(f"error: --batch is {arguments.batch}, expected 1...4096 (and --workers >= 0)", file=stderr)
        return 64
    try:
        manifest = read_manifest(arguments.manifest, name=arguments.manifest, skip_invalid=arguments.skip_invalid)
        if manifest.skipped_rows:
            print(f"warning: skipped {manifest.skipped_rows} rows with bad values (first: {manifest.first_skipped})",
                  file=stderr)
        model_file = read_model_file(arguments.model)
        result = evaluate(model_file, manifest, arguments.tencrop, arguments.hierarchical, arguments.inclusive,
                          arguments.skip_invalid, arguments.batch, arguments.workers)
        if result.skipped:
            print(f"warning: skipped {len(result.skipped)} images (first: {result.skipped[0]})", file=stderr)
        evaluation = result.evaluation
        if arguments.predictions:
            temporary = arguments.predictions + ".partial"
            try:
                with open(temporary, "w", encoding="utf-8", newline="") as f:
                    f.write(evaluation.predictions_csv)
                os.replace(temporary, arguments.predictions)    # atomic, as Swift's .atomic write
            except OSError as error:
                raise EvaluationError(f"{arguments.predictions}: cannot write ({error.strerror or error})") from error
    except (ManifestError, ModelFileError, ConfigError, PartitionError, EvaluationError) as error:
        print(f"error: {error}", file=stderr)
        return 1
    if arguments.json:
        print(evaluation.json, file=stdout)
        return 0
    rows = [("model", evaluation)]
    if arguments.baseline:
        rows.append(("baseline", baseline(evaluation, model_file.partitions, arguments.inclusive)))
    stdout.write(table_text(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
