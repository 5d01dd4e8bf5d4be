"""The Datasets (data.py): shapes, the augmentation's draws a function of (seed, epoch, index),
photo and map moved by the same geometry, maps resampled nearest (only palette colours), the
jitter on the photo alone, and failed images skipped and counted or, strict, an error naming
file:line. The operations are held to torchvision's functional ops on PIL images (exactly) when
torchvision is installed."""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from conftest import REPOSITORY
from translocator_torch.ade20k import PALETTE
from translocator_torch.data import (Augmentation, ColorJitterParameters, CounterRandom, EvaluationDataset, EpochKeys,
                                     TrainingDataset, collate, color_jittered, draw_augmentation, rotated)
from translocator_torch.inputs import (IMAGENET_MEAN, IMAGENET_STD, InputPipeline, Preprocessing, read_segmentation,
                                       render_ade20k)
from translocator_torch.manifest import LabelledManifest, ManifestError, read_manifest

CROP, RESIZE = 32, 40
NO_JITTER = Augmentation(color_jitter_probability=0.0)


def pixels(tensor: torch.Tensor) -> np.ndarray:
    """A normalized [3, S, S] tensor back to [S, S, 3] uint8 (exact: normalization is invertible
    to well within half a level)."""
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return ((tensor * std + mean) * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


@pytest.fixture(scope="module")
def dataset_files(tmp_path_factory) -> dict:
    """Six images with maps: photos 40x56 / 56x40 (the short side already 40: no resize, so the
    photo painted with its map's palette colours stays exactly that), a 70x50 noise photo (resized)
    with a map, then a row whose photo is missing and one whose photo is not an image."""
    root = tmp_path_factory.mktemp("data")
    os.makedirs(root / "images")
    os.makedirs(root / "seg")
    rng = np.random.default_rng(3)
    rows = []
    for k, (width, height) in enumerate([(40, 56), (56, 40), (40, 40), (48, 40), (70, 50)]):
        classes = rng.integers(0, 150, (height // 4 + 1, width // 4 + 1)).astype(np.uint8)
        classes = np.kron(classes, np.ones((4, 4), dtype=np.uint8))[:height, :width]   # 4x4 blocks
        photo = render_ade20k(classes) if k < 4 else rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        Image.fromarray(photo).save(root / "images" / f"{k}.png")
        Image.fromarray(classes).save(root / "seg" / f"{k}.png")
        rows.append(f"images/{k}.png,{k},{k},seg/{k}.png")
    (root / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    Image.fromarray(np.zeros((40, 40), dtype=np.uint8)).save(root / "seg" / "x.png")
    rows += ["images/absent.png,1,1,seg/x.png", "images/broken.png,2,2,seg/x.png"]
    manifest = root / "manifest.csv"
    manifest.write_text("image,lat,lon,seg\n" + "\n".join(rows) + "\n")
    return {"manifest": str(manifest)}


def labelled(path: str) -> LabelledManifest:
    manifest = read_manifest(path)
    n = len(manifest)
    return LabelledManifest(manifest, np.arange(n), np.arange(n) % 3, np.arange(n) % 5, np.arange(n), None, 0)


def pipeline(maps: bool = True) -> InputPipeline:
    return InputPipeline(CROP, Preprocessing(RESIZE), maps)


def test_the_draws_are_the_swift_engines_counter_stream():
    # CounterRandom(seed 9, stream 2, epoch 4, index 1234) and (3, 2, -1, 7) as the Swift struct
    # (Sources/TensorEngine/Random.swift, compiled alone with swiftc) gives them.
    random = CounterRandom(9, 2, 4, 1234)
    assert [random.next() for _ in range(3)] == [4627611288293911091, 1250706326770530685, 8081098368579543330]
    assert (random.unit(), random.uniform(-15, 15), random.index_below(9)) == (0.9268921837726073, -8.259064875373102, 3)
    assert CounterRandom(3, 2, -1, 7).next() == 2812105536228735138


def test_draws_depend_on_seed_epoch_and_index_only():
    paper = Augmentation()
    draws = [draw_augmentation(paper, 5, epoch, index, 40, 56, CROP) for epoch in range(3) for index in range(200)]
    assert draws == [draw_augmentation(paper, 5, epoch, index, 40, 56, CROP) for epoch in range(3) for index in range(200)]
    assert draws[:200] != draws[200:400] and draw_augmentation(paper, 6, 0, 0, 40, 56, CROP) != draws[0]
    angles = [d.angle for d in draws]
    assert -15 <= min(angles) < -14 and 14 < max(angles) <= 15
    assert {d.left for d in draws} == set(range(40 - CROP + 1)) and {d.top for d in draws} == set(range(56 - CROP + 1))
    assert 0.45 < np.mean([d.flip for d in draws]) < 0.55            # 600 draws: 5 sigma about 0.1
    jitters = [d.jitter for d in draws if d.jitter is not None]
    assert 0.74 < len(jitters) / len(draws) < 0.86
    assert all(0.6 <= j.brightness <= 1.4 and 0.6 <= j.saturation <= 1.4 and -0.1 <= j.hue <= 0.1 for j in jitters)
    assert len({j.order for j in jitters}) == 24                        # every order of the four adjustments
    no_flip = draw_augmentation(Augmentation(horizontal_flip=False), 5, 0, 0, 40, 56, CROP)
    assert not no_flip.flip


def test_training_items_have_the_models_shapes_and_repeat_per_seed_epoch_and_index(dataset_files):
    data = TrainingDataset(labelled(dataset_files["manifest"]), pipeline(), Augmentation(), seed=7)
    first = [data[k] for k in range(5)]
    assert all(s.rgb.shape == s.seg.shape == (3, CROP, CROP) and s.rgb.dtype == torch.float32 for s in first)
    assert first[2].labels == {"coarse": 2, "middle": 2, "fine": 2}
    again = [data[k] for k in range(5)]
    assert all(torch.equal(a.rgb, b.rgb) and torch.equal(a.seg, b.seg) for a, b in zip(first, again))
    data.set_epoch(1)
    later = [data[k] for k in range(5)]
    assert sum(not torch.equal(a.rgb, b.rgb) for a, b in zip(first, later)) >= 4, "epoch 1 should look different"
    assert all(torch.equal(data[(0, k)].rgb, first[k].rgb) for k in range(5))      # (epoch, index) keys
    # DataLoader workers (and batches of any composition) see the same views.
    data.set_epoch(0)
    loader = DataLoader(data, batch_size=3, sampler=EpochKeys(range(5), epoch=0), num_workers=2, collate_fn=collate)
    batches = list(loader)
    assert torch.equal(torch.cat([b.rgb for b in batches]), torch.stack([s.rgb for s in first]))
    assert torch.equal(torch.cat([b.labels["fine"] for b in batches]), torch.arange(5))
    assert not TrainingDataset(labelled(dataset_files["manifest"]), pipeline(maps=False), NO_JITTER, 7)[0].seg


def test_photo_and_map_move_together(dataset_files):
    # The first four photos are their maps painted with the palette: after rotation, crop and
    # flip the photo must still be its map's rendering everywhere (fill: black photo, class 255).
    data = TrainingDataset(labelled(dataset_files["manifest"]), pipeline(), NO_JITTER, seed=1)
    flips, filled = set(), 0
    for index in range(4):
        size = Image.open(data.labelled.manifest.image_file(data.labelled.entry(index))).size
        for epoch in range(6):
            photo, raster = data.view(epoch, index)
            classes = np.asarray(raster)
            assert np.array_equal(np.asarray(photo), render_ade20k(classes)), f"image {index}, epoch {epoch}, seed 1"
            flips.add(draw_augmentation(NO_JITTER, 1, epoch, index, *size, CROP).flip)
            filled += int((classes == 255).any())
    assert flips == {True, False} and filled > 0, "seed 1: both flips and some rotation fill seen"


def test_maps_hold_only_palette_colours_after_augmentation(dataset_files):
    data = TrainingDataset(labelled(dataset_files["manifest"]), pipeline(), Augmentation(), seed=2)
    allowed = {tuple(c) for c in PALETTE} | {(0, 0, 0)}                   # the palette, and black for 255
    for index in range(5):
        source = set(np.unique(read_segmentation(data.labelled.manifest.segmentation_file(data.labelled.entry(index)))))
        for epoch in range(4):
            sample = data[(epoch, index)]
            colours = {tuple(c) for c in pixels(sample.seg).reshape(-1, 3)}
            assert colours <= allowed, f"image {index}, epoch {epoch}: {colours - allowed}"
            classes = set(np.unique(np.asarray(data.view(epoch, index)[1])))
            assert classes <= source | {255}, f"image {index}, epoch {epoch}: nearest invents no class"


def test_jitter_changes_the_photo_alone(dataset_files):
    # The jitter is drawn after the geometry: with and without it, the same maps, other photos.
    data = TrainingDataset(labelled(dataset_files["manifest"]), pipeline(), Augmentation(), seed=3)
    plain = TrainingDataset(labelled(dataset_files["manifest"]), pipeline(), NO_JITTER, seed=3)
    keys = [(epoch, index) for epoch in range(4) for index in range(4)]
    assert all(torch.equal(data[key].seg, plain[key].seg) for key in keys)
    changed = sum(not torch.equal(data[key].rgb, plain[key].rgb) for key in keys)
    assert 0.5 * len(keys) < changed < len(keys), f"{changed} of {len(keys)} photos jittered (p 0.8), seed 3"


def test_evaluation_items_are_the_pipelines_views(dataset_files):
    manifest = read_manifest(dataset_files["manifest"])
    for ten_crop, crops in [(False, 1), (True, 10)]:
        sample = EvaluationDataset(manifest, pipeline(), ten_crop)[4]
        assert sample.rgb.shape == sample.seg.shape == (crops, 3, CROP, CROP)
        expected_rgb, expected_seg = pipeline().tensors([manifest.photo_input(manifest.entries[4], pipeline())], ten_crop)
        assert torch.equal(sample.rgb, expected_rgb) and torch.equal(sample.seg, expected_seg)
    batch = collate([EvaluationDataset(manifest, pipeline(), True)[k] for k in (3, 4)])
    assert batch.rgb.shape == (20, 3, CROP, CROP) and batch.indices == [3, 4]


def test_failed_images_are_skipped_and_counted_or_strict_errors(dataset_files):
    path = dataset_files["manifest"]
    data = TrainingDataset(labelled(path), pipeline(), Augmentation(), seed=4)
    batches = list(DataLoader(data, batch_size=4, collate_fn=collate))
    assert [b.indices for b in batches] == [[0, 1, 2, 3], [4]]
    skipped = [error for b in batches for _, error in b.skipped]
    assert [i for b in batches for i, _ in b.skipped] == [5, 6]
    assert skipped[0] == f"{path}:7: image 'images/absent.png' does not exist"
    assert skipped[1].startswith(f"{path}:8: image 'images/broken.png' cannot be read")
    assert batches[1].labels["fine"].tolist() == [4]
    strict = TrainingDataset(labelled(path), pipeline(), Augmentation(), seed=4, strict=True)
    with pytest.raises(ManifestError, match=r"manifest\.csv:8: image 'images/broken.png' cannot be read"):
        strict[6]
    evaluation = collate([EvaluationDataset(read_manifest(path), pipeline())[k] for k in (5, 6)])
    assert evaluation.rgb is None and evaluation.indices == [] and len(evaluation.skipped) == 2


def test_augmentation_reads_the_configs():
    for name in ("tiny", "translocator-b16", "vit-mt-b16"):
        with open(os.path.join(REPOSITORY, "configs", f"{name}.json")) as f:
            assert Augmentation.from_config(json.load(f)["training"]["augmentation"], name) == Augmentation()
    assert Augmentation.from_config({"rotation_degrees": 0, "horizontal_flip": False}) == \
        Augmentation(rotation_degrees=0.0, horizontal_flip=False)
    with pytest.raises(ValueError, match=r"c\.json: training\.augmentation\.color_jitter is \[0\.4, 0\.4, 0\.4, 0\.6\]"):
        Augmentation.from_config({"color_jitter": [0.4, 0.4, 0.4, 0.6]}, "c.json")


def test_operations_equal_torchvisions(dataset_files):
    functional = pytest.importorskip("torchvision.transforms.functional")
    from torchvision.transforms import InterpolationMode
    rng = np.random.default_rng(9)
    photo = Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8))
    classes = Image.fromarray(rng.integers(0, 150, (37, 53), dtype=np.uint8))
    for angle in [0.0, 7.25, -14.9, 90.0, float(rng.uniform(-15, 15))]:
        assert np.array_equal(np.asarray(rotated(photo, angle, (0, 0, 0))), np.asarray(
            functional.affine(photo, angle, [0, 0], 1.0, [0.0, 0.0], InterpolationMode.NEAREST, 0))), angle
        assert np.array_equal(np.asarray(rotated(classes, angle, 255)), np.asarray(
            functional.affine(classes, angle, [0, 0], 1.0, [0.0, 0.0], InterpolationMode.NEAREST, 255))), angle
    steps = [functional.adjust_brightness, functional.adjust_contrast, functional.adjust_saturation, functional.adjust_hue]
    for seed in range(6):
        draw = draw_augmentation(Augmentation(color_jitter_probability=1.0), seed, 0, 0, 53, 37, CROP).jitter
        expected = photo
        for step in draw.order:
            expected = steps[step](expected, [draw.brightness, draw.contrast, draw.saturation, draw.hue][step])
        assert np.array_equal(np.asarray(color_jittered(photo, draw)), np.asarray(expected)), f"seed {seed}: {draw}"
    assert np.array_equal(np.asarray(color_jittered(photo, ColorJitterParameters(hue=-0.5))),
                          np.asarray(functional.adjust_hue(photo, -0.5)))
