"""The Python side against the Swift engine itself (the `translocator` binary; skipped without it):
model files written here are served by `translocator predict` and `eval` with the probabilities
this side computes, and model files `translocator train` writes load here and predict alike.

Tolerance: probabilities within 1e-4 absolute. Both sides feed bit-identical input tensors (the
pipeline's parts are exact); what differs is float32 summation order in the forward (GEMM
tiling, attention), ~1e-6 relative in the logits of this small model, far below 1e-4."""
import csv
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPOSITORY, SMALL_CONFIG, VIT_MT_CONFIG, random_twin, run, write_png
from translocator_torch.inputs import InputPipeline, PhotoInput, Preprocessing, read_photo, read_segmentation, render_ade20k
from translocator_torch.modelfile import read_model_file, write_model_file
from translocator_torch.partitions import read_partitions

TOLERANCE = 1e-4
RESIZE = 40   # not SMALL_CONFIG's default 37: the file's preprocessing must be what both sides use


def manifest_rows(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def photos(synthetic, tmp_path_factory) -> list[tuple[str, str]]:
    """(photo, map) pairs covering the pipeline's paths: two synthesized rows (square 96-pixel
    PNG photos, 8-bit index maps); a 79x50 JPEG with EXIF orientation 6 (seen 50x79: resized 40x63,
    crop top 15.5 -> 16) with a palette-coded RGB map; a 77x50 PNG (resized 61x40, crop left
    14.5 -> 14) with a 4-bit gray index map."""
    data = synthetic["data"]
    rows = manifest_rows(os.path.join(data, "test.csv"))[:2]
    pairs = [(os.path.join(data, row["image"]), os.path.join(data, row["seg"])) for row in rows]
    folder = tmp_path_factory.mktemp("photos")
    source, classes = Image.open(pairs[0][0]).convert("RGB"), read_segmentation(pairs[0][1])

    exif = Image.Exif()
    exif[0x0112] = 6                                                # shown rotated 90 degrees clockwise
    rotated = os.path.join(folder, "rotated.jpg")
    source.resize((79, 50), Image.Resampling.BILINEAR).save(rotated, quality=90, exif=exif.tobytes())
    stored_map = Image.fromarray(classes).resize((79, 50), Image.Resampling.NEAREST)
    shown_map = np.asarray(stored_map.transpose(Image.Transpose.ROTATE_270))   # as exif_transpose turns the photo
    coded = os.path.join(folder, "rotated-seg.png")
    Image.fromarray(render_ade20k(shown_map)).save(coded)
    assert read_photo(rotated).size == (50, 79)

    wide = os.path.join(folder, "wide.png")
    Image.open(pairs[1][0]).convert("RGB").resize((77, 50), Image.Resampling.BILINEAR).save(wide)
    four_bit = os.path.join(folder, "wide-seg.png")
    wide_map = Image.fromarray(read_segmentation(pairs[1][1])).resize((77, 50), Image.Resampling.NEAREST)
    write_png(four_bit, np.asarray(wide_map) % 16, depth=4, colour_type=0)
    return pairs + [(rotated, coded), (wide, four_bit)]


def swift_predictions(binary: str, model: str, photos, maps: bool, ten_crop: bool, top: int) -> list[list[dict]]:
    arguments = ["predict", *[photo for photo, _ in photos], "--model", model, "--json", "--top", str(top)]
    if maps:
        for _, segmentation in photos:
            arguments += ["--seg", segmentation]
    if ten_crop:
        arguments.append("--tencrop")
    return [entry["predictions"] for entry in json.loads(run(binary, *arguments))]


def python_probabilities(model_path: str, photos, ten_crop: bool) -> torch.Tensor:
    """p_fine [B, K] in double precision, as CellRanker computes it from the crops' mean logits."""
    file = read_model_file(model_path)
    pipeline = InputPipeline.for_model(file.model.config, file.preprocessing)
    inputs = [PhotoInput.from_files(photo, segmentation if pipeline.uses_segmentation else None)
              for photo, segmentation in photos]
    rgb, seg = pipeline.tensors(inputs, ten_crop=ten_crop)
    with torch.no_grad():
        logits = file.model(rgb, seg)["fine"]
    return logits.view(len(photos), -1, logits.shape[-1]).mean(dim=1).double().softmax(dim=-1)


def assert_same_predictions(swift: list[list[dict]], probabilities: torch.Tensor, partitions, label: str):
    fine = partitions.fine.cells
    for image, (theirs, ours) in enumerate(zip(swift, probabilities)):
        order = sorted(range(len(fine)), key=lambda k: (-float(ours[k]), k))   # best first, ties to the lower label
        assert [p["token"] for p in theirs[:5]] == [fine[k].token for k in order[:5]], f"{label}, image {image}: top 5"
        for prediction in theirs:
            k = next(k for k, cell in enumerate(fine) if cell.token == prediction["token"])
            assert abs(prediction["probability"] - float(ours[k])) <= TOLERANCE, \
                f"{label}, image {image}, cell {prediction['token']}: {prediction['probability']} vs {float(ours[k])}"
            assert (prediction["latitude"], prediction["longitude"]) == (fine[k].latitude_mean, fine[k].longitude_mean)
    # The cells must be told apart for the comparison to mean anything (not a near-uniform p).
    assert float(probabilities.max(dim=-1).values.min()) > 2 / probabilities.shape[-1], "predictions nearly uniform"


@pytest.mark.parametrize("config, ten_crop", [(SMALL_CONFIG, False), (SMALL_CONFIG, True), (VIT_MT_CONFIG, False)],
                         ids=["translocator", "translocator-tencrop", "vit-mt"])
def test_predict_serves_a_python_model_file_with_our_probabilities(binary, synthetic, photos, tmp_path, config, ten_crop):
    partitions = read_partitions(synthetic["partitions"])
    path = str(tmp_path / "python.safetensors")
    write_model_file(path, random_twin(config, partitions.head_sizes, seed=7), partitions, Preprocessing(RESIZE))
    uses_maps = config["segmentation_branch"]
    swift = swift_predictions(binary, path, photos, maps=uses_maps, ten_crop=ten_crop, top=len(partitions.fine))
    assert len(swift) == len(photos) and all(len(p) == len(partitions.fine) for p in swift)
    assert_same_predictions(swift, python_probabilities(path, photos, ten_crop), partitions,
                            f"{config['architecture']}, tencrop {ten_crop}, seed 7")


def test_eval_scores_a_python_model_file_with_our_answers(binary, synthetic, tmp_path):
    partitions = read_partitions(synthetic["partitions"])
    path, predictions = str(tmp_path / "python.safetensors"), str(tmp_path / "predictions.csv")
    write_model_file(path, random_twin(SMALL_CONFIG, partitions.head_sizes, seed=8), partitions, Preprocessing(RESIZE))
    manifest = os.path.join(synthetic["data"], "test.csv")
    report = json.loads(run(binary, "eval", "--model", path, "--manifest", manifest, "--json", "--predictions", predictions))
    rows = manifest_rows(manifest)
    assert report["images"] == len(rows) > 0
    # Every image's answer (the top fine cell's mean) is the cell this side ranks first.
    photos = [(os.path.join(synthetic["data"], row["image"]), os.path.join(synthetic["data"], row["seg"])) for row in rows]
    best = python_probabilities(path, photos, ten_crop=False).argmax(dim=-1)
    answers = [(float(row["pred_lat"]), float(row["pred_lon"])) for row in manifest_rows(predictions)]
    cells = partitions.fine.cells
    assert answers == [(cells[k].latitude_mean, cells[k].longitude_mean) for k in best.tolist()]


def test_a_swift_trained_model_file_reads_here_and_predicts_alike(binary, synthetic, photos, tmp_path):
    config_path, out = str(tmp_path / "config.json"), str(tmp_path / "run")
    with open(os.path.join(REPOSITORY, "configs", "tiny.json")) as f:
        document = json.load(f)
    document["model"] = SMALL_CONFIG
    document["training"].update({"resize_short_side": RESIZE, "crop_size": 32, "batch_size": 8, "micro_batch_size": 8})
    with open(config_path, "w") as f:
        json.dump(document, f)
    run(binary, "train", "--config", config_path, "--train", os.path.join(synthetic["data"], "train.csv"), "--out", out,
        "--partitions", synthetic["partitions"], "--max-steps", "2", "--seed", "3")
    checkpoint = os.path.join(out, "last.safetensors")
    file = read_model_file(checkpoint)                          # a checkpoint: optimizer tensors ignored
    assert file.model.config == SMALL_CONFIG and file.preprocessing == Preprocessing(RESIZE)
    # The partitions reader, on the CSVs `translocator partition` wrote and those train copied,
    # equals what the Swift-written model file holds.
    assert read_partitions(synthetic["partitions"]) == file.partitions == read_partitions(os.path.join(out, "partitions"))
    swift = swift_predictions(binary, checkpoint, photos, maps=True, ten_crop=False, top=len(file.partitions.fine))
    probabilities = python_probabilities(checkpoint, photos, ten_crop=False)
    fine = file.partitions.fine.cells
    for image, (theirs, ours) in enumerate(zip(swift, probabilities)):   # 2 steps from timm's init: near-uniform p
        for prediction in theirs:
            k = next(k for k, cell in enumerate(fine) if cell.token == prediction["token"])
            assert abs(prediction["probability"] - float(ours[k])) <= TOLERANCE, f"image {image}, cell {prediction['token']}"


def test_photos_decode_to_the_swift_decoders_pixels(binary, tmp_path):
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    paths = []
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        for suffix, options in [("jpg", {"quality": 90}), ("png", {})]:
            paths.append(str(tmp_path / f"o{orientation}.{suffix}"))
            Image.fromarray(pixels).save(paths[-1], exif=exif.tobytes(), **options)
    kinds = {"gray.png": Image.fromarray(pixels[..., 0]), "alpha.png": Image.fromarray(np.dstack([pixels, pixels[..., :1]])),
             "palette.png": Image.fromarray(pixels).quantize(32),
             "gray16.png": Image.fromarray(pixels[..., 0].astype(np.uint16) * 257 + 3),   # Pillow would clamp; Swift keeps the high byte
             "progressive.jpg": Image.fromarray(pixels), "gray.jpg": Image.fromarray(pixels[..., 1])}
    for name, image in kinds.items():
        paths.append(str(tmp_path / name))
        image.save(paths[-1], **({"progressive": True} if name == "progressive.jpg" else {}))
    for path in paths:
        run(binary, "decode", path, "--rgb", path + ".rgb")
        theirs = np.fromfile(path + ".rgb", dtype=np.uint8)
        ours = np.asarray(read_photo(path))
        assert theirs.size == ours.size and np.array_equal(theirs, ours.reshape(-1)), os.path.basename(path)
