"""A config file's "training" object, read with the defaults, ranges and cross-checks of
Sources/Training/TrainingConfig.swift and ConfigFile.swift, so that the PyTorch trainer and
`translocator train` run the same settings from the same file.

Keys absent from the file keep their defaults; unknown keys are ignored; a bad value is a
ConfigError naming the file and the key (`training.learning_rate is 11, expected a value in 0...10`).
"""
import json
from dataclasses import dataclass, field

from .config import ConfigError, check_model_config
from .data import Augmentation


@dataclass
class TrainingConfig:
    """Field names and defaults as the JSON's (TrainingConfig.swift)."""
    optimizer: str = "adamw"                     # "sgd" or "adamw"
    learning_rate: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    epsilon: float = 1e-8
    weight_learning_rate_scale: float = 1.0      # the authors' multiplier of weights' rate
    bias_learning_rate_scale: float = 1.0        # and of biases'
    epochs: int = 40
    warmup_epochs: int = 2
    final_learning_rate_scale: float = 1e-3
    batch_size: int = 256
    micro_batch_size: int = 32
    middle_loss_weight: float = 0.3
    fine_loss_weight: float = 0.2
    scene_loss_weight: float = 1.0
    label_smoothing: float = 0.0
    resize_short_side: int = 256
    augmentation: Augmentation = field(default_factory=Augmentation)
    partition_min: int = 50
    partition_max: list[int] = field(default_factory=lambda: [5000, 2000, 1000])
    stated_crop_size: int | None = None          # crop_size as written; it must equal model.img_size

    @property
    def loss_weights(self) -> dict[str, float]:
        """Eq. 8's weights: coarse 1 - a - b, middle a, fine b, scene g."""
        return {"coarse": 1 - self.middle_loss_weight - self.fine_loss_weight, "middle": self.middle_loss_weight,
                "fine": self.fine_loss_weight, "scene": self.scene_loss_weight}


def _number(value, key, file, kind=float):
    # JSON true/false are not numbers here (Swift's decoder refuses them too).
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not float(value).is_integer()):
        raise ConfigError(f"{file}: training.{key} is {json.dumps(value)}, expected {'an integer' if kind is int else 'a number'}")
    return kind(value)


def parse_training_config(training: dict, file: str) -> TrainingConfig:
    """The "training" object of a config, checked as TrainingConfig.swift checks it."""
    if not isinstance(training, dict):
        raise ConfigError(f"{file}: training is not an object")
    config = TrainingConfig()

    def checked(key, low, high, fallback, kind=float):
        return _checked(training, key, low, high, fallback, file, kind)

    if "optimizer" in training:
        name = str(training["optimizer"]).lower()
        if name not in ("sgd", "adamw"):
            raise ConfigError(f"{file}: training.optimizer is {training['optimizer']}, expected \"sgd\" or \"adamw\"")
        config.optimizer = name
    config.learning_rate = checked("learning_rate", 0, 10, config.learning_rate)
    config.momentum = checked("momentum", 0, 1, config.momentum)
    config.weight_decay = checked("weight_decay", 0, 1, config.weight_decay)
    if "betas" in training:
        betas = training["betas"]
        if not (isinstance(betas, list) and len(betas) == 2
                and all(not isinstance(b, bool) and isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
            raise ConfigError(f"{file}: training.betas is {betas}, expected two numbers in [0, 1)")
        config.betas = [float(b) for b in betas]
    config.epsilon = checked("epsilon", 0, 1, config.epsilon)
    config.weight_learning_rate_scale = checked("weight_learning_rate_scale", 0, 1000, 1.0)
    config.bias_learning_rate_scale = checked("bias_learning_rate_scale", 0, 1000, 1.0)
    config.epochs = checked("epochs", 1, 100_000, config.epochs, int)
    config.warmup_epochs = checked("warmup_epochs", 0, config.epochs, min(config.warmup_epochs, config.epochs), int)
    config.final_learning_rate_scale = checked("final_learning_rate_scale", 0, 1, config.final_learning_rate_scale)
    config.batch_size = checked("batch_size", 1, 1_000_000, config.batch_size, int)
    config.micro_batch_size = checked("micro_batch_size", 1, config.batch_size, min(config.micro_batch_size, config.batch_size), int)
    weights = training.get("loss_weights")
    if weights is not None:
        if not isinstance(weights, dict):
            raise ConfigError(f"{file}: training.loss_weights is not an object")
        config.middle_loss_weight = _checked(weights, "middle", 0, 1, config.middle_loss_weight, file, prefix="loss_weights.")
        config.fine_loss_weight = _checked(weights, "fine", 0, 1, config.fine_loss_weight, file, prefix="loss_weights.")
        config.scene_loss_weight = _checked(weights, "scene", 0, 100, config.scene_loss_weight, file, prefix="loss_weights.")
        if config.middle_loss_weight + config.fine_loss_weight > 1:
            raise ConfigError(f"{file}: training.loss_weights is middle {config.middle_loss_weight} + fine "
                              f"{config.fine_loss_weight}, expected a sum <= 1 (the coarse weight is 1 - middle - fine)")
    config.label_smoothing = checked("label_smoothing", 0, 1, config.label_smoothing)
    config.resize_short_side = checked("resize_short_side", 1, 100_000, config.resize_short_side, int)
    if training.get("augmentation") is not None and not isinstance(training["augmentation"], dict):
        raise ConfigError(f"{file}: training.augmentation is not an object")
    config.augmentation = Augmentation.from_config(training.get("augmentation"), file)
    partition = training.get("partition")
    if partition is not None:
        if not isinstance(partition, dict):
            raise ConfigError(f"{file}: training.partition is not an object")
        config.partition_min = _checked(partition, "min", 0, 100_000_000, config.partition_min, file, int, prefix="partition.")
        if "max" in partition:
            most = partition["max"]
            if not (isinstance(most, list) and len(most) == 3
                    and all(isinstance(m, int) and not isinstance(m, bool) and m > config.partition_min for m in most)):
                raise ConfigError(f"{file}: training.partition.max is {most}, expected three integers above min")
            config.partition_max = list(most)
    config.stated_crop_size = training.get("crop_size")
    return config


def _checked(values, key, low, high, fallback, file, kind=float, prefix=""):
    """values[key] in low...high, or `fallback` when absent; errors name `training.<prefix><key>`."""
    if key not in values or values[key] is None:
        return fallback
    value = _number(values[key], prefix + key, file, kind)
    if not low <= value <= high:
        raise ConfigError(f"{file}: training.{prefix}{key} is {values[key]}, expected a value in {low}...{high}")
    return value


def read_config_file(path: str) -> tuple[dict, TrainingConfig]:
    """A config file's "model" object (checked) and "training" object, checked against each other
    as ConfigFile.swift does: resize_short_side at least img_size, crop_size (when given) img_size."""
    try:
        with open(path, encoding="utf-8") as f:
            root = json.load(f)
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path}: cannot read config ({error})") from error
    if not isinstance(root, dict) or "model" not in root:
        raise ConfigError(f"{path}: no \"model\" object")
    model = check_model_config(root["model"], path)
    training = parse_training_config(root.get("training", {}), path)
    if training.resize_short_side < model["img_size"]:
        raise ConfigError(f"{path}: training.resize_short_side is {training.resize_short_side}, expected at least "
                          f"model.img_size {model['img_size']}")
    crop = training.stated_crop_size
    if crop is not None and crop != model["img_size"]:
        raise ConfigError(f"{path}: training.crop_size is {crop}, expected model.img_size {model['img_size']} (the crop is the input)")
    return model, training
