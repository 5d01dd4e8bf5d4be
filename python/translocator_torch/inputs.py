"""The evaluation input pipeline: a photo (and its ADE20K map) to the model's input tensors,
exactly as the Swift engine prepares them (docs/ARCHITECTURE.md "The input pipeline";
Sources/TransLocator/InputPipeline.swift, Sources/ImageCodec/).

  photo: decoded with its EXIF orientation applied, RGB (Pillow's `exif_transpose` + `convert`,
         which the Swift decoders reproduce); resized so the short side is `resize_short_side`
         (torchvision `Resize` on a PIL image: Pillow's antialiased bilinear, which the Swift
         resize equals); centre crop `img_size` (torchvision `CenterCrop`) or TenCrop; /255 and
         ImageNet mean/std (torchvision `ToTensor` + `Normalize`, float32).
  map:   class indices 0..149 from an 8-bit (or lower) gray or palette PNG, or an RGB image whose
         colours are ADE20K palette colours; resized NEAREST to the resized photo's size, cut with
         the photo's crops, rendered with the ADE20K palette and normalized like a photo.

Pillow does the resampling here, so the pixels equal the Swift engine's for the Pillow the Swift
side was measured against (Sources/ImageCodec/Image+Resize.swift: Pillow 13.0.0).
"""
import struct
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps

from .ade20k import CLASS_COUNT, PALETTE

# torchvision's Normalize values in the paper's pipeline (Sources/ImageCodec/Image+Normalize.swift).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_GRAY, _PNG_PALETTE = 0, 3   # IHDR colour types

# Palette rendering as a 256-entry lookup: indices of 150 and more (255 is "ignore") render black.
_RENDER_TABLE = np.zeros((256, 3), dtype=np.uint8)
_RENDER_TABLE[:CLASS_COUNT] = np.array(PALETTE, dtype=np.uint8)


class InputError(ValueError):
    """A photo the pipeline cannot prepare: no map for a model that needs one, or a map of another size."""


class SegmentationMapError(ValueError):
    """A map file that does not decode to ADE20K classes; the message names the file and pixel."""


@dataclass(frozen=True)
class Preprocessing:
    """How photos are resized before cropping (a model file's `preprocessing`)."""
    resize_short_side: int   # pixels

    @staticmethod
    def default(img_size: int) -> "Preprocessing":
        """256/224 of the crop, rounded, as the paper's Resize(256) + crop 224 (Preprocessing(imageSize:))."""
        return Preprocessing((img_size * 256 + 112) // 224)

    def problem(self, img_size: int) -> str | None:
        """Why these settings cannot feed `img_size`-pixel crops, or None."""
        if self.resize_short_side < img_size:
            return (f"resize_short_side is {self.resize_short_side}, expected at least the model's img_size "
                    f"{img_size} (crops of {img_size} pixels are cut from the resized photo)")
        return None


# MARK: - Reading photos and maps

def read_photo(path: str) -> Image.Image:
    """The photo as a viewer shows it (EXIF orientation applied), 8-bit RGB: the pixels of
    `translocator decode --rgb`."""
    with Image.open(path) as image:
        image = ImageOps.exif_transpose(image)
        if image.mode.startswith("I;16"):
            # A 16-bit gray PNG: Pillow's convert clamps samples to 255, the Swift decoder keeps
            # their high byte, as Pillow itself does for 16-bit colour PNGs. We follow Swift.
            high = (np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8)
            return Image.fromarray(np.repeat(high[:, :, None], 3, axis=2))
        return image.convert("RGB")


def read_segmentation(path: str) -> np.ndarray:
    """An ADE20K class map [H, W] uint8, as `SegmentationMap(contentsOf:)` reads it: a gray or
    palette PNG of depth <= 8 holds class indices (a palette's colours are ignored, and no EXIF
    orientation is applied); anything else is decoded as a photo whose every colour must be an
    ADE20K palette colour. Raises SegmentationMapError naming the file and the first bad pixel."""
    try:
        with open(path, "rb") as f:
            header = _png_header(f.read(33))
        if header is not None and header[1] in (_PNG_GRAY, _PNG_PALETTE) and header[0] <= 8:
            depth, colour_type = header
            with Image.open(path) as image:
                if colour_type == _PNG_PALETTE:
                    classes = np.array(image, dtype=np.uint8)          # mode P: the indices
                else:
                    # Pillow scales gray samples of depth 1, 2, 4 to 0..255; the file's samples are the classes.
                    classes = np.array(image.convert("L"), dtype=np.uint8) // (255 // (2 ** depth - 1))
        else:
            classes = _classes_of_colours(np.asarray(read_photo(path)), path)
    except OSError as error:                        # unreadable, or not an image Pillow decodes
        raise SegmentationMapError(f"{path}: cannot read or decode ({error})") from error
    bad = np.flatnonzero(classes >= CLASS_COUNT)
    if bad.size:
        y, x = divmod(int(bad[0]), classes.shape[1])
        raise SegmentationMapError(f"{path}: pixel ({x}, {y}) is class {classes[y, x]}, "
                                   f"expected an ADE20K class index 0...{CLASS_COUNT - 1}")
    return classes


def _png_header(data: bytes) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR, or None when the bytes are not a PNG."""
    if len(data) < 33 or data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        return None
    depth, colour_type = struct.unpack(">BB", data[24:26])
    return depth, colour_type


def _classes_of_colours(rgb: np.ndarray, path: str) -> np.ndarray:
    # A colour shared by two classes ((140, 140, 140): 6 road and 48 skyscraper) reads as the
    # later one, as the Swift dictionary built in class order does; both render the same.
    class_of_code = {(r << 16) | (g << 8) | b: c for c, (r, g, b) in enumerate(PALETTE)}
    known = np.array(sorted(class_of_code), dtype=np.int64)
    classes_sorted = np.array([class_of_code[code] for code in known], dtype=np.uint8)
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    where = np.minimum(np.searchsorted(known, codes), len(known) - 1)
    unknown = np.flatnonzero(known[where] != codes)
    if unknown.size:
        y, x = divmod(int(unknown[0]), rgb.shape[1])
        r, g, b = (int(v) for v in rgb[y, x])
        raise SegmentationMapError(f"{path}: pixel ({x}, {y}) has colour ({r}, {g}, {b}), "
                                   f"which is not in the ADE20K palette")
    return classes_sorted[where]


def render_ade20k(classes: np.ndarray) -> np.ndarray:
    """The map [H, W] drawn with the ADE20K palette: [H, W, 3] uint8; classes >= 150 black."""
    return _RENDER_TABLE[classes]


# MARK: - Geometry (torchvision on PIL images, as Sources/ImageCodec/Image+Resize.swift, Image+Crop.swift)

def resized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """torchvision Resize(short_side)'s output (width, height): the long side is
    int(short_side * long / short), truncated (`_compute_resized_output_size`)."""
    short, long = min(width, height), max(width, height)
    new_long = int(short_side * long / short)
    return (short_side, new_long) if width <= height else (new_long, short_side)


def center_crop_origin(size: int, crop: int) -> int:
    """torchvision center_crop's offset: int(round((size - crop) / 2)), half to even; a crop
    larger than the image starts at minus torchvision's left/top padding."""
    if crop > size:
        return -((crop - size) // 2)
    return int(round((size - crop) / 2))


def _crop(raster: Image.Image, left: int, top: int, size: int) -> Image.Image:
    return raster.crop((left, top, left + size, top + size))   # Pillow: outside the raster is 0


def center_crop(raster: Image.Image, size: int) -> Image.Image:
    return _crop(raster, center_crop_origin(raster.width, size), center_crop_origin(raster.height, size), size)


def five_crops(raster: Image.Image, size: int) -> list[Image.Image]:
    """torchvision FiveCrop: top-left, top-right, bottom-left, bottom-right, centre."""
    w, h = raster.size
    if size > w or size > h:
        raise ValueError(f"five crops of {size} pixels from a {w}x{h} raster")
    return [_crop(raster, 0, 0, size), _crop(raster, w - size, 0, size), _crop(raster, 0, h - size, size),
            _crop(raster, w - size, h - size, size), center_crop(raster, size)]


def ten_crops(raster: Image.Image, size: int) -> list[Image.Image]:
    """torchvision TenCrop: the five crops, then the five of the mirror image."""
    return five_crops(raster, size) + five_crops(raster.transpose(Image.Transpose.FLIP_LEFT_RIGHT), size)


# MARK: - Tensors

def normalized_chw(pixels: np.ndarray) -> torch.Tensor:
    """Normalize(IMAGENET)(ToTensor()(pixels)): [H, W, 3] uint8 to [3, H, W] float32, each value
    (x / 255 - mean) / std in float32 in that order, as torchvision computes it."""
    x = torch.from_numpy(np.array(pixels, dtype=np.uint8)).permute(2, 0, 1).to(torch.float32).div(255)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32)[:, None, None]
    return (x - mean) / std


@dataclass
class PhotoInput:
    """One photo (RGB, oriented) and its class map [H, W] when the model reads maps; the names
    are what errors call them."""
    image: Image.Image
    segmentation: np.ndarray | None
    name: str
    segmentation_name: str | None = None

    @staticmethod
    def from_files(path: str, segmentation_path: str | None = None) -> "PhotoInput":
        segmentation = read_segmentation(segmentation_path) if segmentation_path is not None else None
        return PhotoInput(read_photo(path), segmentation, path, segmentation_path)


class InputPipeline:
    """The evaluation views and tensors of one model: its crop size (img_size), its resize
    (the model file's preprocessing), and whether it reads maps (segmentation_branch)."""

    def __init__(self, crop_size: int, preprocessing: Preprocessing, uses_segmentation: bool):
        problem = preprocessing.problem(crop_size)
        if problem is not None:
            raise ValueError(problem)
        self.crop_size = crop_size
        self.preprocessing = preprocessing
        self.uses_segmentation = uses_segmentation

    @staticmethod
    def for_model(model_config: dict, preprocessing: Preprocessing | None = None) -> "InputPipeline":
        size = model_config["img_size"]
        return InputPipeline(size, preprocessing or Preprocessing.default(size), bool(model_config["segmentation_branch"]))

    def validate(self, photo: PhotoInput) -> None:
        """A map, of the photo's size, when the model reads maps. Raises InputError naming both."""
        if not self.uses_segmentation:
            return
        if photo.segmentation is None:
            raise InputError(f"{photo.name}: this TransLocator model needs the photo's segmentation map")
        height, width = photo.segmentation.shape
        if (width, height) != photo.image.size:
            raise InputError(f"{photo.name}: its segmentation map {photo.segmentation_name or 'the map'} is "
                             f"{width}x{height}, expected the photo's {photo.image.width}x{photo.image.height}")

    def resized(self, photo: PhotoInput) -> tuple[Image.Image, Image.Image | None]:
        """The photo resized (bilinear, antialiased), and its map resized NEAREST to exactly the
        resized photo's size, as an 8-bit raster so that both take crops alike."""
        self.validate(photo)
        size = resized_size(photo.image.width, photo.image.height, self.preprocessing.resize_short_side)
        image = photo.image if size == photo.image.size else photo.image.resize(size, Image.Resampling.BILINEAR)
        if not self.uses_segmentation:
            return image, None
        raster = Image.fromarray(photo.segmentation)   # uint8 [H, W]: mode L
        if raster.size != size:
            raster = raster.resize(size, Image.Resampling.NEAREST)
        return image, raster

    def evaluation_views(self, photo: PhotoInput, ten_crop: bool = False) -> list[tuple[Image.Image, Image.Image | None]]:
        """The centre crop, or TenCrop's ten views in torchvision's order; photo and map cut alike."""
        image, raster = self.resized(photo)
        cut = ten_crops if ten_crop else (lambda r, s: [center_crop(r, s)])
        photos = cut(image, self.crop_size)
        maps = cut(raster, self.crop_size) if raster is not None else [None] * len(photos)
        return list(zip(photos, maps))

    def tensors(self, photos: list[PhotoInput], ten_crop: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The model's inputs, [B * crops, 3, S, S] each, image-major (an image's crops adjacent);
        seg None for a model without maps."""
        rgb, seg = [], []
        for photo in photos:
            for image, raster in self.evaluation_views(photo, ten_crop):
                rgb.append(normalized_chw(np.asarray(image)))
                if raster is not None:
                    seg.append(normalized_chw(render_ade20k(np.asarray(raster))))
        return torch.stack(rgb), (torch.stack(seg) if self.uses_segmentation else None)
