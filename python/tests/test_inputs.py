"""The input pipeline's parts (inputs.py) against their definitions: the Swift palette table,
torchvision's transforms, the map encodings SegmentationMap.swift reads. The end-to-end agreement
with the Swift engine is test_swift_agreement.py."""
import os
import re

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPOSITORY, write_png
from translocator_torch.ade20k import CLASS_COUNT, CLASS_NAMES, PALETTE
from translocator_torch.inputs import (IMAGENET_MEAN, IMAGENET_STD, InputError, InputPipeline, PhotoInput, Preprocessing,
                                       SegmentationMapError, center_crop_origin, normalized_chw, read_segmentation,
                                       render_ade20k, resized_size)


def test_palette_and_names_equal_the_swift_table():
    path = os.path.join(REPOSITORY, "Sources", "ImageCodec", "ADE20KPalette.swift")
    if not os.path.exists(path):
        pytest.skip(f"{path} is not here (package installed outside the repository)")
    text = open(path).read()
    names = re.findall(r'"([^"]*)"', text[text.index("classNames"):text.index("palette:")])
    values = [int(v) for v in re.findall(r"\d+", text[text.index("palette: [UInt8] = ["):].split("=", 1)[1].split("]")[0])]
    assert names == list(CLASS_NAMES) and len(names) == CLASS_COUNT
    assert values == [v for colour in PALETTE for v in colour]


def test_normalization_is_torchs_float32_formula_for_every_byte():
    # Image+Normalize.swift: (Float(v) / 255 - mean) / std in single precision, bit for bit.
    values = np.arange(256, dtype=np.uint8)
    pixels = np.stack([values, values[::-1], np.roll(values, 7)], axis=1)[None]      # [1, 256, 3]
    ours = normalized_chw(pixels).numpy()
    for c in range(3):
        x = pixels[0, :, c].astype(np.float32) / np.float32(255)
        expected = (x - np.float32(IMAGENET_MEAN[c])) / np.float32(IMAGENET_STD[c])
        assert np.array_equal(ours[c, 0], expected), f"channel {c}"


@pytest.mark.parametrize("size, short_side, crop", [((77, 50), 40, 32), ((50, 79), 40, 32), ((97, 131), 72, 64),
                                                    ((64, 64), 73, 64), ((33, 200), 32, 32)])
def test_photo_views_equal_torchvision_resize_centercrop_normalize(size, short_side, crop):
    transforms = pytest.importorskip("torchvision.transforms")
    rng = np.random.default_rng(sum(size) + short_side)
    photo = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    reference = to_tensor(transforms.CenterCrop(crop)(transforms.Resize(short_side)(photo)))
    tencrop = torch.stack([to_tensor(view) for view in transforms.TenCrop(crop)(transforms.Resize(short_side)(photo))])
    pipeline = InputPipeline(crop, Preprocessing(short_side), uses_segmentation=False)
    rgb, seg = pipeline.tensors([PhotoInput(photo, None, "photo")])
    assert seg is None and torch.equal(rgb[0], reference)
    assert torch.equal(pipeline.tensors([PhotoInput(photo, None, "photo")], ten_crop=True)[0], tencrop)


def test_sizes_and_offsets_round_as_torchvision():
    assert resized_size(77, 50, 40) == (61, 40) and resized_size(50, 79, 40) == (40, 63)
    assert resized_size(300, 299, 256) == (256, 256)                      # int() truncates 256.85
    assert center_crop_origin(61, 32) == 14 and center_crop_origin(63, 32) == 16   # 14.5 and 15.5: half to even
    assert center_crop_origin(30, 32) == -1


def test_maps_follow_the_photo_nearest_and_render_with_the_palette():
    rng = np.random.default_rng(3)
    photo = Image.fromarray(rng.integers(0, 256, (50, 77, 3), dtype=np.uint8))
    classes = rng.integers(0, CLASS_COUNT, (50, 77)).astype(np.uint8)
    classes[0, 0] = 255                                                  # "ignore" renders black
    pipeline = InputPipeline(32, Preprocessing(40), uses_segmentation=True)
    (view_photo, view_map), = pipeline.evaluation_views(PhotoInput(photo, classes, "photo", "map"))
    expected = np.asarray(Image.fromarray(classes).resize((61, 40), Image.Resampling.NEAREST))[4:36, 14:46]
    assert view_photo.size == (32, 32) and np.array_equal(np.asarray(view_map), expected)
    _, seg = pipeline.tensors([PhotoInput(photo, classes, "photo", "map")])
    assert torch.equal(seg[0], normalized_chw(render_ade20k(expected)))
    assert np.array_equal(render_ade20k(np.array([[0, 149, 150, 255]], dtype=np.uint8))[0],
                          [PALETTE[0], PALETTE[149], (0, 0, 0), (0, 0, 0)])


def test_missing_or_misfit_maps_are_input_errors():
    pipeline = InputPipeline(32, Preprocessing(40), uses_segmentation=True)
    photo = Image.new("RGB", (50, 40))
    with pytest.raises(InputError, match="a.png: this TransLocator model needs"):
        pipeline.validate(PhotoInput(photo, None, "a.png"))
    with pytest.raises(InputError, match="a.png: its segmentation map a-seg.png is 40x50, expected the photo's 50x40"):
        pipeline.validate(PhotoInput(photo, np.zeros((50, 40), np.uint8), "a.png", "a-seg.png"))
    with pytest.raises(ValueError, match="resize_short_side is 31"):
        InputPipeline(32, Preprocessing(31), uses_segmentation=False)


@pytest.mark.parametrize("depth", [1, 2, 4, 8])
@pytest.mark.parametrize("colour_type", [0, 3], ids=["gray", "palette"])
def test_index_pngs_read_their_samples_as_classes(tmp_path, depth, colour_type):
    # Pillow scales gray samples below 8 bits to 0..255; SegmentationMap.swift reads the raw samples.
    rng = np.random.default_rng(depth)
    classes = rng.integers(0, min(2 ** depth, CLASS_COUNT), (5, 11)).astype(np.uint8)
    path = str(tmp_path / "map.png")
    palette = bytes(rng.integers(0, 256, 3 * 2 ** depth, dtype=np.uint8)) if colour_type == 3 else None
    write_png(path, classes, depth, colour_type, palette)
    assert np.array_equal(read_segmentation(path), classes)


def test_palette_coded_maps_read_back_to_classes(tmp_path):
    classes = np.arange(CLASS_COUNT, dtype=np.uint8).reshape(10, 15)
    path = str(tmp_path / "coded.png")
    Image.fromarray(render_ade20k(classes)).save(path)
    read = read_segmentation(path)
    # (140, 140, 140) is class 6 and class 48: it reads as 48 (the Swift dictionary keeps the
    # later class); rendering is the same either way.
    expected = classes.copy()
    expected[classes == 6] = 48
    assert np.array_equal(read, expected)
    assert np.array_equal(render_ade20k(read), render_ade20k(classes))


def test_bad_maps_name_file_and_pixel(tmp_path):
    coded = render_ade20k(np.zeros((4, 6), np.uint8))
    coded[2, 5] = (1, 2, 3)
    Image.fromarray(coded).save(tmp_path / "colour.png")
    with pytest.raises(SegmentationMapError, match=r"colour.png: pixel \(5, 2\) has colour \(1, 2, 3\), which is not"):
        read_segmentation(str(tmp_path / "colour.png"))
    indices = np.zeros((4, 6), np.uint8)
    indices[3, 1] = 150
    Image.fromarray(indices).save(tmp_path / "index.png")
    with pytest.raises(SegmentationMapError, match=r"index.png: pixel \(1, 3\) is class 150, expected an ADE20K class index"):
        read_segmentation(str(tmp_path / "index.png"))
