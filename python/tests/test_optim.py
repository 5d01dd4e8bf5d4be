"""The training config, schedule and optimizer of the PyTorch side against the Swift trainer's:
the shipped configs read alike, the schedule's formula at its edges, the optimizer state round
trip, and a Swift checkpoint's AdamW state taken up by torch's AdamW."""
import json
import math
import os

import pytest
import torch
from safetensors import safe_open

from conftest import REPOSITORY, SMALL_CONFIG, random_twin, run
from translocator_torch.config import ConfigError
from translocator_torch.optim import Schedule, make_optimizer, optimizer_state, restore_optimizer_state, set_learning_rate, take_step
from translocator_torch.training_config import TrainingConfig, parse_training_config, read_config_file

HEADS = {"coarse": 5, "middle": 7, "fine": 9}


def test_the_shipped_configs_read_as_their_json_says():
    for name in ("tiny", "translocator-b16", "vit-mt-b16"):
        path = os.path.join(REPOSITORY, "configs", name + ".json")
        with open(path) as f:
            training = json.load(f)["training"]
        model, config = read_config_file(path)
        assert config.optimizer == training["optimizer"] and config.learning_rate == training["learning_rate"]
        assert config.batch_size == training["batch_size"] and config.epochs == training["epochs"]
        assert math.isclose(sum(config.loss_weights[k] for k in ("coarse", "middle", "fine")), 1.0)
        assert config.resize_short_side >= model["img_size"]


@pytest.mark.parametrize("change, message", [
    ({"learning_rate": 11}, "training.learning_rate is 11, expected a value in 0...10"),
    ({"optimizer": "lion"}, "training.optimizer is lion"),
    ({"micro_batch_size": 64, "batch_size": 32}, "training.micro_batch_size is 64, expected a value in 1...32"),
    ({"epochs": 2.5}, "training.epochs is 2.5, expected an integer"),
    ({"loss_weights": {"middle": 0.7, "fine": 0.5}}, "expected a sum <= 1"),
    ({"augmentation": {"color_jitter": [0.4, 0.4, 0.4, 0.7]}}, "training.augmentation.color_jitter"),
    ({"partition": {"min": 5, "max": [10, 5, 2]}}, "training.partition.max is [10, 5, 2], expected three integers above min"),
    ({"betas": [0.9, 1.0]}, "training.betas is [0.9, 1.0], expected two numbers in [0, 1)"),
])
def test_bad_training_values_name_the_key(change, message):
    with pytest.raises(ConfigError, match=None) as error:
        parse_training_config(change, "c.json")
    assert message in str(error.value) and "c.json" in str(error.value)


def test_schedule_warms_up_then_follows_the_cosine_to_its_floor():
    schedule = Schedule.of(TrainingConfig(learning_rate=0.1, epochs=4, warmup_epochs=1, final_learning_rate_scale=1e-3), 10)
    assert (schedule.warmup_steps, schedule.total_steps) == (10, 40)
    assert schedule.rate(0) == pytest.approx(0.01)            # the first step is not wasted at 0
    assert schedule.rate(9) == pytest.approx(0.1) and schedule.rate(10) == pytest.approx(0.1)
    assert schedule.rate(25) == pytest.approx(1e-4 + (0.1 - 1e-4) * (1 + math.cos(math.pi * 0.5)) / 2)
    assert schedule.rate(40) == pytest.approx(1e-4) and schedule.rate(1000) == pytest.approx(1e-4)
    rates = [schedule.rate(s) for s in range(10, 41)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))


@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_state_saved_and_restored_continues_exactly(kind):
    config = TrainingConfig(optimizer=kind, learning_rate=0.05, weight_learning_rate_scale=0.2, bias_learning_rate_scale=0.0048)
    first, second = random_twin(SMALL_CONFIG, HEADS, 1), random_twin(SMALL_CONFIG, HEADS, 1)
    optimizer = make_optimizer(first, config)
    set_learning_rate(optimizer, 0.05)
    assert [group["lr"] for group in optimizer.param_groups] == pytest.approx([0.01, 0.00024])
    generator = torch.Generator().manual_seed(2)
    gradients = [[torch.randn(p.shape, generator=generator) for p in first.parameters()] for _ in range(4)]

    def step(model, optimizer, grads):
        for p, g in zip(model.parameters(), grads):
            p.grad = g.clone()
        take_step(optimizer)

    for grads in gradients[:3]:
        step(first, optimizer, grads)
    tensors, metadata = optimizer_state(optimizer, first)
    assert metadata == {"optimizer.kind": kind, "optimizer.step": "3"}
    names = [f"optimizer.momentum.{n}" for n, _ in first.named_parameters()] if kind == "sgd" else \
        [f"optimizer.{s}.{n}" for s in ("exp_avg", "exp_avg_sq") for n, _ in first.named_parameters()]
    assert sorted(tensors) == sorted(names)
    second.load_state_dict(first.state_dict())
    resumed = make_optimizer(second, config)
    restore_optimizer_state(resumed, second, tensors, metadata, "ckpt")
    set_learning_rate(resumed, 0.05)
    step(first, optimizer, gradients[3])
    step(second, resumed, gradients[3])
    for (name, a), b in zip(first.named_parameters(), second.parameters()):
        assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="ckpt: optimizer is 'adamw'" if kind == "sgd" else "ckpt: optimizer is 'sgd'"):
        restore_optimizer_state(resumed, second, tensors, {**metadata, "optimizer.kind": "adamw" if kind == "sgd" else "sgd"}, "ckpt")


def test_a_swift_checkpoints_adamw_state_is_taken_up_here(binary, synthetic, tmp_path):
    """`translocator train` (AdamW, 3 steps) writes optimizer tensors that torch's AdamW takes up
    under the same names and shapes, with the step count."""
    config_path, out = str(tmp_path / "config.json"), str(tmp_path / "run")
    with open(os.path.join(REPOSITORY, "configs", "tiny.json")) as f:
        document = json.load(f)
    document["model"] = SMALL_CONFIG
    document["training"].update({"resize_short_side": 36, "crop_size": 32, "batch_size": 8, "micro_batch_size": 8})
    with open(config_path, "w") as f:
        json.dump(document, f)
    run(binary, "train", "--config", config_path, "--train", os.path.join(synthetic["data"], "train.csv"), "--out", out,
        "--partitions", synthetic["partitions"], "--max-steps", "3", "--seed", "3")
    from translocator_torch.modelfile import read_model_file
    checkpoint = os.path.join(out, "last.safetensors")
    file = read_model_file(checkpoint)
    _, config = read_config_file(config_path)
    optimizer = make_optimizer(file.model, config)
    with safe_open(checkpoint, "pt") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys() if name.startswith("optimizer.")}
    restore_optimizer_state(optimizer, file.model, tensors, file.metadata, checkpoint)
    saved, metadata = optimizer_state(optimizer, file.model)
    assert metadata == {"optimizer.kind": "adamw", "optimizer.step": "3"}
    assert sorted(saved) == sorted(tensors)
    assert all(torch.equal(saved[name], tensors[name]) for name in saved)
    assert any(float(t.abs().max()) > 0 for t in saved.values())        # three steps moved the moments
