"""The optimizer and learning-rate schedule of a training config, as the Swift trainer runs them
(Sources/Training/ParameterOptimizer.swift, Optimizers.swift, LearningRateSchedule.swift), and
their state in a checkpoint under the Swift trainer's names, so either engine can read the
other's optimizer state.

- SGD is torch.optim.SGD (momentum, no dampening, no Nesterov, weight decay added to the
  gradient); AdamW is torch.optim.AdamW. The Swift kernels are tested against these two
  (scripts/training/optimizer_fixtures.py).
- Two parameter groups differing only in rate: weights at `weight_learning_rate_scale` x the
  schedule's rate, biases (names ending in "bias") at `bias_learning_rate_scale` x it (the
  authors' multipliers); weight decay on both, as one torch group would apply it.
- Checkpoint state: `optimizer.momentum.<name>` (SGD) or `optimizer.exp_avg.<name>` and
  `optimizer.exp_avg_sq.<name>` (AdamW), metadata `optimizer.kind` and `optimizer.step`.
"""
import math

import torch

from .training_config import TrainingConfig


class Schedule:
    """Linear warm-up, then cosine to final_scale x base, per optimizer step (0-based s, the step
    about to be taken): s < W: base (s + 1) / W; W <= s < T: final + (base - final)(1 + cos(pi (s - W)/(T - W)))/2;
    s >= T: final."""

    def __init__(self, base: float, warmup_steps: int, total_steps: int, final_scale: float):
        if not (warmup_steps >= 0 and total_steps >= warmup_steps and base >= 0 and final_scale >= 0):
            raise ValueError(f"schedule base {base}, warm-up {warmup_steps}, total {total_steps}, final x{final_scale}")
        self.base, self.warmup_steps, self.total_steps, self.final_scale = base, warmup_steps, total_steps, final_scale

    @classmethod
    def of(cls, config: TrainingConfig, steps_per_epoch: int) -> "Schedule":
        """A config's schedule, epochs counted in optimizer steps."""
        return cls(config.learning_rate, config.warmup_epochs * steps_per_epoch, config.epochs * steps_per_epoch,
                   config.final_learning_rate_scale)

    def rate(self, step: int) -> float:
        if step < 0:
            raise ValueError(f"negative step {step}")
        if step < self.warmup_steps:
            return self.base * (step + 1) / self.warmup_steps
        final = self.final_scale * self.base
        if step >= self.total_steps:
            return final
        progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        return final + (self.base - final) * (1 + math.cos(math.pi * progress)) / 2


def make_optimizer(model: torch.nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    """The config's optimizer over `model`'s parameters in two groups (weights, biases), each
    carrying its rate multiplier as "scale"; `set_learning_rate` applies the schedule's rate."""
    weights = [p for name, p in model.named_parameters() if not name.endswith("bias")]
    biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
    groups = [{"params": weights, "scale": config.weight_learning_rate_scale, "kind": "weights"},
              {"params": biases, "scale": config.bias_learning_rate_scale, "kind": "biases"}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.learning_rate, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=tuple(config.betas), eps=config.epsilon,
                             weight_decay=config.weight_decay)


def set_learning_rate(optimizer: torch.optim.Optimizer, rate: float) -> None:
    """Every group's rate for the next step: the schedule's rate times the group's multiplier."""
    for group in optimizer.param_groups:
        group["lr"] = rate * group["scale"]


def take_step(optimizer: torch.optim.Optimizer) -> None:
    """One optimizer step, counted: torch's SGD keeps no step count, and a checkpoint needs one."""
    optimizer.step()
    optimizer.translocator_steps = getattr(optimizer, "translocator_steps", 0) + 1


def optimizer_state(optimizer: torch.optim.Optimizer, model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The optimizer's state as checkpoint tensors and metadata, under the Swift trainer's names.
    Parameters that have not been stepped yet save zeros (what the Swift optimizer holds then)."""
    kind = "sgd" if isinstance(optimizer, torch.optim.SGD) else "adamw"
    tensors = {}
    for name, parameter in model.named_parameters():
        state = optimizer.state.get(parameter, {})
        if kind == "sgd":
            buffer = state.get("momentum_buffer")
            tensors[f"optimizer.momentum.{name}"] = (buffer if buffer is not None else torch.zeros_like(parameter)).detach().float()
        else:
            tensors[f"optimizer.exp_avg.{name}"] = state.get("exp_avg", torch.zeros_like(parameter)).detach().float()
            tensors[f"optimizer.exp_avg_sq.{name}"] = state.get("exp_avg_sq", torch.zeros_like(parameter)).detach().float()
    steps = getattr(optimizer, "translocator_steps", 0)
    return tensors, {"optimizer.kind": kind, "optimizer.step": str(steps)}


def restore_optimizer_state(optimizer: torch.optim.Optimizer, model: torch.nn.Module, tensors, metadata: dict[str, str],
                            file: str) -> None:
    """Loads what `optimizer_state` (or the Swift trainer) saved. `tensors` maps a name to a
    tensor (a dict, or a safetensors handle's get). Raises ValueError naming the file and the
    missing or misshaped tensor or key."""
    kind = "sgd" if isinstance(optimizer, torch.optim.SGD) else "adamw"
    if metadata.get("optimizer.kind") != kind:
        raise ValueError(f"{file}: optimizer is '{metadata.get('optimizer.kind', 'missing')}', the config says '{kind}'")
    text = metadata.get("optimizer.step", "")
    if not text.isdigit():
        raise ValueError(f"{file}: metadata 'optimizer.step' is {repr(text) if text else 'missing'}")
    steps = int(text)

    def tensor(name, like):
        value = tensors.get(name) if hasattr(tensors, "get") else None
        if value is None:
            raise ValueError(f"{file}: no tensor '{name}'")
        if tuple(value.shape) != tuple(like.shape):
            raise ValueError(f"{file}: tensor '{name}' is {list(value.shape)}, expected {list(like.shape)}")
        return value.to(dtype=like.dtype, device=like.device).clone()

    for name, parameter in model.named_parameters():
        if kind == "sgd":
            optimizer.state[parameter] = {"momentum_buffer": tensor(f"optimizer.momentum.{name}", parameter)} if steps else {}
        else:
            optimizer.state[parameter] = {"step": torch.tensor(float(steps)),
                                          "exp_avg": tensor(f"optimizer.exp_avg.{name}", parameter),
                                          "exp_avg_sq": tensor(f"optimizer.exp_avg_sq.{name}", parameter)} if steps else {}
    optimizer.translocator_steps = steps
