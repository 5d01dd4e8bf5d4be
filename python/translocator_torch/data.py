"""torch Datasets over manifests: evaluation views (inputs.py's centre crop or TenCrop) and the
training augmentation of the Swift trainer (Sources/TransLocator/InputPipeline.swift
`trainingView`, Sources/ImageCodec/Image+Affine.swift, Image+ColorJitter.swift, Image+Crop.swift;
config `training.augmentation`).

Training view of labelled image `index` in `epoch`, in the Swift trainer's order:
  1. resize the short side to `resize_short_side` (photo bilinear antialiased, map nearest: inputs.py);
  2. rotate photo and map by one angle drawn uniformly in [-rotation_degrees, rotation_degrees]
     about the centre, NEAREST for both (torchvision RandomAffine's default interpolation, which the
     Swift engine reproduces: `F.affine` on a PIL image, i.e. Pillow's AFFINE transform); where no
     source pixel lands the photo is black and the map class 255 ("ignore", rendered black);
  3. crop both `img_size` square at one drawn corner inside the resized photo (RandomCrop);
  4. flip both on one draw with probability 1/2 (when `horizontal_flip`);
  5. with probability `color_jitter_probability`, ColorJitter(brightness, contrast, saturation, hue)
     on the photo alone: a random order of the four adjustments, factors uniform in
     [max(0, 1 - x), 1 + x], hue uniform in [-h, h], as torchvision's functional ops on PIL
     images (ImageEnhance blends, hue through Pillow's HSV);
then ImageNet normalization of the photo and of the map rendered with the ADE20K palette.

Draws: every number comes from `CounterRandom(seed, stream 2, epoch, index)`, the Swift engine's
counter-based SplitMix64 stream, in the Swift order (angle, left, top, flip, jitter, then the
jitter's order and factors), so a view is a function of (seed, epoch, index) alone: the same in
any DataLoader worker, batch composition or resumed run. The numbers are the Swift engine's; the
views are meant to equal the Swift trainer's too, but that bit-equality is NOT tested or required
(only the semantics and order are): the Python trainer's determinism is what a resume relies on.

A missing or undecodable image (or map) is a failed sample (`Sample.error`, naming file:line) that
`collate` drops and reports in `Batch.skipped`, or with `strict` a ManifestError raised at once.
"""
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, ImageEnhance
from torch.utils.data import Dataset

from .config import ConfigError
from .inputs import InputPipeline, normalized_chw, render_ade20k
from .manifest import LabelledManifest, Manifest, ManifestError

AUGMENTATION_STREAM = 2      # RandomStream.augmentation (Sources/TensorEngine/Random.swift)
IGNORE_CLASS = 255           # a map's fill where rotation brings in nothing; renders black
_MASK64 = (1 << 64) - 1


# MARK: - The random stream (CounterRandom, Sources/TensorEngine/Random.swift)

class CounterRandom:
    """SplitMix64's finaliser over (key + counter * golden), the key hashing (seed, stream, epoch,
    index): each draw a pure function of those and its position."""
    GOLDEN = 0x9E37_79B9_7F4A_7C15   # 2^64 / phi (Steele, Lea & Flood, OOPSLA 2014)

    @staticmethod
    def mix(value: int) -> int:
        z = value & _MASK64
        z = ((z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB) & _MASK64
        return z ^ (z >> 31)

    def __init__(self, seed: int, stream: int, epoch: int, index: int):
        key = self.mix((seed & _MASK64) ^ 0x6A09_E667_F3BC_C908)
        for value in (stream, epoch, index):
            key = self.mix(key ^ (value & _MASK64))          # Int64 bit patterns
        self.key, self.counter = key, 0

    def next(self) -> int:
        self.counter += 1
        return self.mix(self.key + self.counter * self.GOLDEN)

    def unit(self) -> float:
        """Uniform in [0, 1) from the top 53 bits."""
        return (self.next() >> 11) * 2.0 ** -53

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.unit()

    def index_below(self, n: int) -> int:
        """0..<n from the high word of a 64x64 product (Lemire's map without rejection)."""
        return (self.next() * n) >> 64


# MARK: - Augmentation settings and draws

@dataclass(frozen=True)
class Augmentation:
    """A config's `training.augmentation` (the paper's settings by default)."""
    rotation_degrees: float = 15.0
    color_jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1)   # brightness, contrast, saturation, hue
    color_jitter_probability: float = 0.8
    horizontal_flip: bool = True

    @staticmethod
    def from_config(augmentation: dict | None, source: str = "config") -> "Augmentation":
        """Checked as TrainingConfig.swift checks it; absent keys keep the defaults.
        Raises ConfigError (a ValueError) naming `source` and the key."""
        default = Augmentation()
        augmentation = augmentation or {}

        def bad(key, value, expected) -> ConfigError:
            return ConfigError(f"{source}: training.augmentation.{key} is {value}, expected {expected}")

        def number(key, low, high, fallback):
            value = augmentation.get(key)
            if value is None:
                return fallback
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise bad(key, value, f"a number in {low}...{high}")
            return float(value)

        jitter = augmentation.get("color_jitter", default.color_jitter)
        numbers = isinstance(jitter, (list, tuple)) and len(jitter) == 4 and \
            all(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0 for x in jitter)
        if not numbers or jitter[3] > 0.5:
            raise bad("color_jitter", jitter, "[brightness, contrast, saturation, hue], all >= 0, hue <= 0.5")
        flip = augmentation.get("horizontal_flip", default.horizontal_flip)
        if not isinstance(flip, bool):
            raise bad("horizontal_flip", flip, "true or false")
        return Augmentation(number("rotation_degrees", 0, 180, default.rotation_degrees),
                            tuple(float(x) for x in jitter),
                            number("color_jitter_probability", 0, 1, default.color_jitter_probability), flip)


@dataclass(frozen=True)
class ColorJitterParameters:
    """One ColorJitter draw: `order` a permutation of 0..3 (brightness, contrast, saturation,
    hue), each factor or None (that adjustment skipped)."""
    order: tuple[int, ...] = (0, 1, 2, 3)
    brightness: float | None = None
    contrast: float | None = None
    saturation: float | None = None
    hue: float | None = None


@dataclass(frozen=True)
class AugmentationDraw:
    """The draws of one training view: rotation (degrees, counter-clockwise), crop corner (pixels
    in the resized photo), flip, and the colour jitter (None: not applied)."""
    angle: float
    left: int
    top: int
    flip: bool
    jitter: ColorJitterParameters | None


def draw_augmentation(augmentation: Augmentation, seed: int, epoch: int, index: int,
                      width: int, height: int, crop_size: int) -> AugmentationDraw:
    """The draws for image `index` in `epoch` of a photo resized to width x height, in the Swift
    order (InputPipeline.trainingView, ColorJitterParameters.random)."""
    random = CounterRandom(seed, AUGMENTATION_STREAM, epoch, index)
    angle = random.uniform(-augmentation.rotation_degrees, augmentation.rotation_degrees)
    left = random.index_below(width - crop_size + 1)
    top = random.index_below(height - crop_size + 1)
    flip = augmentation.horizontal_flip and random.unit() < 0.5      # no draw when flips are off
    jitter = None
    if random.unit() < augmentation.color_jitter_probability:
        order = [0, 1, 2, 3]
        for i in range(3, 0, -1):                                     # Fisher-Yates from the back
            j = random.index_below(i + 1)
            order[i], order[j] = order[j], order[i]

        def factor(x):
            return max(0.0, 1 - x) + (1 + x - max(0.0, 1 - x)) * random.unit() if x > 0 else None

        brightness, contrast, saturation, hue = augmentation.color_jitter
        b, c, s = factor(brightness), factor(contrast), factor(saturation)
        h = -hue + 2 * hue * random.unit() if hue > 0 else None
        jitter = ColorJitterParameters(tuple(order), b, c, s, h)
    return AugmentationDraw(angle, left, top, flip, jitter)


# MARK: - The operations (torchvision's functional ops on PIL images)

def inverse_rotation_matrix(width: int, height: int, degrees: float) -> list[float]:
    """torchvision `_get_inverse_affine_matrix(center=(w/2, h/2), angle, translate 0, scale 1,
    shear 0)`: the matrix F.affine hands Pillow, same operations in the same order."""
    rotation = math.radians(degrees)
    cx, cy = width * 0.5, height * 0.5
    a = math.cos(rotation) / math.cos(0.0)
    b = -math.cos(rotation) * math.tan(0.0) / math.cos(0.0) - math.sin(rotation)
    c = math.sin(rotation) / math.cos(0.0)
    d = -math.sin(rotation) * math.tan(0.0) / math.cos(0.0) + math.cos(rotation)
    m = [x / 1.0 for x in (d, -b, 0.0, -c, a, 0.0)]
    m[2] += m[0] * (-cx - 0) + m[1] * (-cy - 0)
    m[5] += m[3] * (-cx - 0) + m[4] * (-cy - 0)
    m[2] += cx
    m[5] += cy
    return m


def rotated(raster: Image.Image, degrees: float, fill) -> Image.Image:
    """torchvision `F.affine(raster, degrees, [0, 0], 1, [0, 0], NEAREST, fill)`: counter-clockwise
    about the centre, same size, nearest neighbour, `fill` (a colour or a class) where nothing lands."""
    matrix = inverse_rotation_matrix(raster.width, raster.height, degrees)
    return raster.transform(raster.size, Image.Transform.AFFINE, matrix, Image.Resampling.NEAREST, fillcolor=fill)


def adjusted_hue(image: Image.Image, hue: float) -> Image.Image:
    """torchvision `adjust_hue` on PIL: Pillow's HSV, H += uint8(int32(hue * 255)) mod 256, back."""
    h, s, v = image.convert("HSV").split()
    shifted = (np.asarray(h, dtype=np.uint8) + np.uint8(np.int32(hue * 255) & 0xFF)).astype(np.uint8)
    return Image.merge("HSV", (Image.fromarray(shifted, "L"), s, v)).convert(image.mode)


def color_jittered(image: Image.Image, parameters: ColorJitterParameters) -> Image.Image:
    """torchvision `ColorJitter.forward` with these parameters: the adjustments in `order`."""
    for step in parameters.order:
        if step == 0 and parameters.brightness is not None:
            image = ImageEnhance.Brightness(image).enhance(parameters.brightness)
        elif step == 1 and parameters.contrast is not None:
            image = ImageEnhance.Contrast(image).enhance(parameters.contrast)
        elif step == 2 and parameters.saturation is not None:
            image = ImageEnhance.Color(image).enhance(parameters.saturation)
        elif step == 3 and parameters.hue is not None:
            image = adjusted_hue(image, parameters.hue)
    return image


def augmented(photo: Image.Image, raster: Image.Image | None, draw: AugmentationDraw,
              crop_size: int) -> tuple[Image.Image, Image.Image | None]:
    """Steps 2-5 on a resized photo and its resized map raster (mode L, classes)."""
    if draw.angle != 0:
        photo = rotated(photo, draw.angle, (0, 0, 0))
        raster = rotated(raster, draw.angle, IGNORE_CLASS) if raster is not None else None
    box = (draw.left, draw.top, draw.left + crop_size, draw.top + crop_size)
    photo = photo.crop(box)
    raster = raster.crop(box) if raster is not None else None
    if draw.flip:
        photo = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        raster = raster.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if raster is not None else None
    if draw.jitter is not None:
        photo = color_jittered(photo, draw.jitter)
    return photo, raster


# MARK: - Samples and batches

@dataclass
class Sample:
    """One item: `rgb` [3, S, S] (training) or [crops, 3, S, S] (evaluation), `seg` alike or None
    for a model without maps, the labels (training), or `error` (file:line) when it failed."""
    index: int
    rgb: torch.Tensor | None = None
    seg: torch.Tensor | None = None
    labels: dict[str, int] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Batch:
    """Samples that loaded, stacked (evaluation crops image-major: [B * crops, 3, S, S]), their
    dataset indices and labels ([B] per head), and the failed ones as (index, error) in order."""
    indices: list[int]
    rgb: torch.Tensor | None
    seg: torch.Tensor | None
    labels: dict[str, torch.Tensor]
    skipped: list[tuple[int, str]]


def collate(samples: list[Sample]) -> Batch:
    """A DataLoader `collate_fn`: drops the failed samples (kept in `skipped`) and stacks the rest;
    `rgb` is None when none loaded."""
    good = [s for s in samples if s.error is None]
    skipped = [(s.index, s.error) for s in samples if s.error is not None]

    def stacked(tensors):
        if not tensors or tensors[0] is None:
            return None
        return torch.cat(tensors) if tensors[0].dim() == 4 else torch.stack(tensors)

    heads = good[0].labels if good else {}
    labels = {head: torch.tensor([s.labels[head] for s in good], dtype=torch.long) for head in heads}
    return Batch([s.index for s in good], stacked([s.rgb for s in good]), stacked([s.seg for s in good]), labels, skipped)


def _tensors(photo: Image.Image, raster: Image.Image | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    seg = normalized_chw(render_ade20k(np.asarray(raster))) if raster is not None else None
    return normalized_chw(np.asarray(photo)), seg


class TrainingDataset(Dataset):
    """The labelled images, augmented as the Swift trainer augments them.

    Item `index` (or `(epoch, index)`) is labelled image `index` viewed in `epoch` (`set_epoch`,
    default 0): its draws depend on (seed, epoch, index) only. Pass `(epoch, index)` keys (a
    sampler wrapped with `EpochKeys`) when DataLoader workers persist across epochs, which keep the
    copy of `epoch` they were started with."""

    def __init__(self, labelled: LabelledManifest, pipeline: InputPipeline, augmentation: Augmentation,
                 seed: int, strict: bool = False):
        self.labelled, self.pipeline, self.augmentation = labelled, pipeline, augmentation
        self.seed, self.strict, self.epoch = seed, strict, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.labelled)

    def view(self, epoch: int, index: int) -> tuple[Image.Image, Image.Image | None]:
        """The augmented crop of labelled image `index` (photo, map raster of classes or None).
        Raises ManifestError naming file:line when its files are missing or do not decode."""
        photo_input = self.labelled.manifest.photo_input(self.labelled.entry(index), self.pipeline)
        photo, raster = self.pipeline.resized(photo_input)
        draw = draw_augmentation(self.augmentation, self.seed, epoch, index, photo.width, photo.height,
                                 self.pipeline.crop_size)
        return augmented(photo, raster, draw, self.pipeline.crop_size)

    def __getitem__(self, key) -> Sample:
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        try:
            rgb, seg = _tensors(*self.view(epoch, index))
        except ManifestError as error:
            if self.strict:
                raise
            return Sample(index, error=str(error))
        return Sample(index, rgb, seg, self.labelled.labels(index))


class EpochKeys:
    """A sampler's indices as `(epoch, index)` keys, for TrainingDataset with persistent workers."""

    def __init__(self, sampler, epoch: int):
        self.sampler, self.epoch = sampler, epoch

    def __iter__(self):
        return ((self.epoch, index) for index in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


class EvaluationDataset(Dataset):
    """The rows of a manifest as the model file's pipeline prepares them for `eval`: item k is row
    k's centre crop ([1, 3, S, S]) or TenCrop ([10, 3, S, S], torchvision's order)."""

    def __init__(self, manifest: Manifest, pipeline: InputPipeline, ten_crop: bool = False, strict: bool = False):
        self.manifest, self.pipeline, self.ten_crop, self.strict = manifest, pipeline, ten_crop, strict

    def __len__(self) -> int:
        return len(self.manifest.entries)

    def __getitem__(self, index: int) -> Sample:
        try:
            photo_input = self.manifest.photo_input(self.manifest.entries[index], self.pipeline)
        except ManifestError as error:
            if self.strict:
                raise
            return Sample(index, error=str(error))
        views = [_tensors(photo, raster) for photo, raster in self.pipeline.evaluation_views(photo_input, self.ten_crop)]
        seg = torch.stack([s for _, s in views]) if self.pipeline.uses_segmentation else None
        return Sample(index, torch.stack([r for r, _ in views]), seg)
