"""translocator model files, written and read as Sources/TransLocator/ModelFile.swift does
(docs/ARCHITECTURE.md "File formats"), so a model trained here is served by `translocator
predict` and `translocator eval`, and a model the Swift engine trained loads here.

One safetensors file: every parameter as F32 under the twin's name (`rgb.blocks.3.attn.qkv.weight`,
`fusion.0.f.weight`, `heads.fine.2.bias`, ...), and `__metadata__` with
  format         `translocator-model/1`
  config         the config's "model" object as JSON (snake_case, as configs/*.json)
  partitions     {"coarse"|"middle"|"fine": {"tokens", "latitudes", "longitudes", "images"}},
                 index = class label, coordinates the cells' mean in degrees
  preprocessing  {"resize_short_side": n}; when absent, 256/224 of img_size.
Other tensors (a checkpoint's optimizer state, a bundled segmenter) and keys are ignored on reading.
"""
import json
import math
from dataclasses import dataclass, field

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .config import ConfigError, check_model_config, parse_model_config
from .inputs import Preprocessing
from .model import TransLocatorTwin
from .partitions import GEO_LEVELS, GeoPartitions, PartitionCell, PartitionError, canonical_token, cell_id, make_partition

FORMAT = "translocator-model/1"


class ModelFileError(ValueError):
    """A file that is not a translocator model file, or whose weights do not fit its config."""


@dataclass
class ModelFile:
    """A model with its parameters loaded, the partitions its heads classify into, and the resize
    its photos were trained with; `metadata` is every `__metadata__` entry, ours included."""
    model: TransLocatorTwin
    partitions: GeoPartitions
    preprocessing: Preprocessing
    metadata: dict[str, str] = field(default_factory=dict)


def head_sizes(model: TransLocatorTwin) -> dict[str, int]:
    return {level: model.heads[level][-1].out_features for level in GEO_LEVELS}


def write_model_file(path: str, model: TransLocatorTwin, partitions: GeoPartitions,
                     preprocessing: Preprocessing | None = None, metadata: dict[str, str] | None = None,
                     extra_tensors: dict[str, torch.Tensor] | None = None) -> None:
    """Writes `model` (its parameters as F32) with the partitions its heads were sized for.
    - preprocessing: the resize used in training; None for 256/224 of img_size.
    - metadata: extra `__metadata__` entries (a checkpoint's own keys); ours override them.
    - extra_tensors: written after the parameters (a checkpoint's optimizer state).
    Raises ValueError (ConfigError) when the config, the partitions or the resize do not fit the model."""
    if partitions.head_sizes != head_sizes(model):
        raise ValueError(f"partitions {partitions.head_sizes} for a model with heads {head_sizes(model)}")
    config = check_model_config(model.config, "model.config")   # exactly the keys the Swift reader decodes
    preprocessing = preprocessing or Preprocessing.default(config["img_size"])
    problem = preprocessing.problem(config["img_size"])
    if problem is not None:
        raise ValueError(problem)
    tensors = {name: value.detach().to(torch.float32).contiguous() for name, value in model.state_dict().items()}
    for name, value in (extra_tensors or {}).items():
        if name in tensors:
            raise ValueError(f"extra tensor '{name}' would replace a parameter")
        tensors[name] = value.detach().contiguous()
    header = dict(metadata or {})
    header["format"] = FORMAT
    # Sorted keys, no spaces: the JSON the Swift encoder writes (`ModelConfig.jsonString`).
    header["config"] = json.dumps(config, sort_keys=True, separators=(",", ":"))
    header["partitions"] = encode_partitions(partitions)
    header["preprocessing"] = json.dumps({"resize_short_side": preprocessing.resize_short_side}, separators=(",", ":"))
    save_file(tensors, path, metadata=header)


def read_model_file(path: str) -> ModelFile:
    """Reads a model file that `translocator train` or `write_model_file` wrote (checkpoints too).
    Raises ModelFileError naming the file: not safetensors, no translocator metadata, a config or
    partition that does not parse, weights that do not fit the config (every missing and
    misshaped parameter at once)."""
    try:
        with safe_open(path, framework="pt") as f:
            metadata = dict(f.metadata() or {})
            config_text, partition_text = metadata.get("config"), metadata.get("partitions")
            if config_text is None or partition_text is None:
                key = "config" if config_text is None else "partitions"
                raise ModelFileError(f"{path}: __metadata__.{key} absent: not a translocator model file")
            try:
                config = parse_model_config(config_text, f"{path} __metadata__.config")
            except ConfigError as error:
                raise ModelFileError(str(error)) from error
            partitions = decode_partitions(partition_text, path)
            model = TransLocatorTwin(config, partitions.head_sizes)
            expected = model.state_dict()
            names = set(f.keys())
            missing = [name for name in expected if name not in names]
            misshaped = [f"{name} {list(f.get_slice(name).get_shape())} (expected {list(value.shape)})"
                         for name, value in expected.items()
                         if name in names and list(f.get_slice(name).get_shape()) != list(value.shape)]
            if missing or misshaped:
                raise ModelFileError(f"{path}: weights do not fit the config: missing {missing}, misshaped {misshaped}")
            model.load_state_dict({name: f.get_tensor(name).to(torch.float32) for name in expected})
    except (OSError, SafetensorError) as error:
        raise ModelFileError(f"{path}: not a safetensors file ({error})") from error
    preprocessing = Preprocessing.default(config["img_size"])
    if "preprocessing" in metadata:
        try:
            resize = json.loads(metadata["preprocessing"])["resize_short_side"]
            if not isinstance(resize, int) or isinstance(resize, bool):
                raise TypeError(resize)
        except (ValueError, KeyError, TypeError) as error:
            raise ModelFileError(f"{path}: __metadata__.preprocessing: expected {{\"resize_short_side\": n}}") from error
        preprocessing = Preprocessing(resize)
        problem = preprocessing.problem(config["img_size"])
        if problem is not None:
            raise ModelFileError(f"{path}: __metadata__.preprocessing: {problem}")
    return ModelFile(model.eval(), partitions, preprocessing, metadata)


# MARK: - Partitions as JSON

def encode_partitions(partitions: GeoPartitions) -> str:
    """The `partitions` entry: per level the columns tokens, latitudes, longitudes, images."""
    return json.dumps({level: {"tokens": [c.token for c in partitions[level].cells],
                               "latitudes": [c.latitude_mean for c in partitions[level].cells],
                               "longitudes": [c.longitude_mean for c in partitions[level].cells],
                               "images": [c.images for c in partitions[level].cells]}
                       for level in GEO_LEVELS}, sort_keys=True, separators=(",", ":"))


def decode_partitions(text: str, path: str) -> GeoPartitions:
    """The partitions of a model file, checked as `ModelFile.decodePartitions` checks them."""
    def fail(reason: str) -> ModelFileError:
        return ModelFileError(f"{path}: __metadata__.partitions: {reason}")

    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        raise fail('expected {"coarse"|"middle"|"fine": {"tokens", "latitudes", "longitudes", "images"}}')

    def partition(level: str):
        columns = document.get(level)
        if not isinstance(columns, dict) or any(not isinstance(columns.get(k), list)
                                                for k in ("tokens", "latitudes", "longitudes", "images")):
            raise fail(f"no {level} partition with tokens, latitudes, longitudes and images")
        tokens, latitudes, longitudes, images = (columns[k] for k in ("tokens", "latitudes", "longitudes", "images"))
        n = len(tokens)
        if n == 0 or not len(latitudes) == len(longitudes) == len(images) == n:
            raise fail(f"{level}: columns of different lengths or empty")
        cells = []
        for k in range(n):
            value = cell_id(tokens[k]) if isinstance(tokens[k], str) else None
            if value is None:
                raise fail(f"{level}[{k}]: token '{tokens[k]}' is not an S2 cell")
            lat, lon = latitudes[k], longitudes[k]
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lat, lon)) \
                    or not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise fail(f"{level}[{k}]: mean ({lat}, {lon}) is not in degrees")
            if not isinstance(images[k], int) or isinstance(images[k], bool):
                raise fail(f"{level}[{k}]: images is {images[k]}, expected an integer")
            cells.append(PartitionCell(k, canonical_token(value), images[k], float(lat), float(lon)))
        try:
            return make_partition(cells, f"{path} __metadata__.partitions.{level}")
        except PartitionError as error:
            raise ModelFileError(str(error)) from error

    return GeoPartitions(*(partition(level) for level in GEO_LEVELS))
