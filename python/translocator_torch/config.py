"""The "model" object of a config file (configs/*.json), checked as the Swift engine checks it
(Sources/TransLocator/ModelConfig.swift: every key required, sizes range-checked), so a config
this side accepts is one `translocator` accepts, and errors name the source and the key.
"""
import json
import math

# Every key of the model object (ModelConfig.CodingKeys); head sizes come from the partitions.
MODEL_KEYS = ("architecture", "img_size", "patch_size", "embed_dim", "depth", "num_heads", "mlp_ratio",
              "segmentation_branch", "multimodal_feature_fusion", "modality_attention",
              "modality_attention_hidden", "head_hidden", "scene_classes")
HEAD_NAMES = ("coarse", "middle", "fine", "scene")


class ConfigError(ValueError):
    """A config that is not JSON, lacks a key, or holds a value out of range."""


def load_model_config(path: str) -> dict:
    """The checked "model" object of a config file. Raises ConfigError naming the file and key."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config: {error.strerror or error}") from error
    return parse_model_config(text, path)


def parse_model_config(text: str, source: str) -> dict:
    """Parses a whole config document ({"model": {...}, ...}) or a bare model object and checks it.
    Returns the model object with exactly MODEL_KEYS (mlp_ratio as a float)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{source}: not JSON: {error}") from error
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: the top level is not a JSON object")
    model = document["model"] if isinstance(document.get("model"), dict) else document
    return check_model_config(model, source)


def check_model_config(model: dict, source: str) -> dict:
    """`ModelConfig.validate`: the keys, their types and ranges. Returns a clean copy."""
    def fail(key: str, value, expected: str) -> ConfigError:
        return ConfigError(f"{source}: model.{key} is {value}, expected {expected}")

    def integer(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    for key in MODEL_KEYS:
        if key not in model or model[key] is None:
            raise fail(key, "missing", "a value")
    config = {key: model[key] for key in MODEL_KEYS}
    if not isinstance(config["architecture"], str):
        raise fail("architecture", config["architecture"], "a string")
    for key in ("img_size", "patch_size", "embed_dim", "depth", "num_heads"):
        if not integer(config[key]) or config[key] < 1:
            raise fail(key, config[key], "a positive integer")
    if config["img_size"] % config["patch_size"]:
        raise fail("img_size", config["img_size"], f"a multiple of patch_size {config['patch_size']}")
    if config["embed_dim"] % config["num_heads"]:
        raise fail("num_heads", config["num_heads"], f"a divisor of embed_dim {config['embed_dim']}")
    ratio = config["mlp_ratio"]
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not math.isfinite(ratio) \
            or ratio <= 0 or int(config["embed_dim"] * ratio) < 1:
        raise fail("mlp_ratio", ratio, "a positive number")
    config["mlp_ratio"] = float(ratio)
    for key in ("segmentation_branch", "multimodal_feature_fusion", "modality_attention"):
        if not isinstance(config[key], bool):
            raise fail(key, config[key], "true or false")
    if not integer(config["scene_classes"]) or config["scene_classes"] < 0:
        raise fail("scene_classes", config["scene_classes"], "0 (no scene head) or a class count")
    hidden = config["head_hidden"]
    if not isinstance(hidden, dict) or any(name not in hidden for name in HEAD_NAMES):
        raise fail("head_hidden", hidden, "an object with coarse, middle, fine and scene layer widths")
    config["head_hidden"] = {name: hidden[name] for name in HEAD_NAMES}
    for key, sizes in [("modality_attention_hidden", config["modality_attention_hidden"])] + \
            [(f"head_hidden.{name}", config["head_hidden"][name]) for name in HEAD_NAMES]:
        if not isinstance(sizes, list) or not all(integer(size) and size >= 1 for size in sizes):
            raise fail(key, sizes, "positive layer widths")
    return config
