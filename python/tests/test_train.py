"""train.py on the synthesized set with a tiny model: one process trains and its checkpoint is
served by `translocator eval` as `evaluate.py` scores it; 2-process gloo DDP gives the weights of
one process with the same global batch; --resume reaches the uninterrupted run's weights; the
loss goes down on a fixed subset."""
import json
import os
import socket
import subprocess
import sys

import pytest
from safetensors.torch import load_file

from conftest import PYTHON_DIR, SMALL_CONFIG, run

TRAIN = os.path.join(PYTHON_DIR, "translocator_torch", "train.py")
EVALUATE = os.path.join(PYTHON_DIR, "translocator_torch", "evaluate.py")
STEPS = 14          # the synthesized set's 96 training rows make 12 steps of 8 an epoch


def config_file(folder, optimizer="adamw", learning_rate=1e-3, epochs=3, warmup_epochs=1, augmentation=None) -> str:
    training = {"optimizer": optimizer, "learning_rate": learning_rate, "epochs": epochs, "warmup_epochs": warmup_epochs,
                "batch_size": 8, "micro_batch_size": 4, "resize_short_side": 36}
    if augmentation is not None:
        training["augmentation"] = augmentation
    path = os.path.join(folder, f"config-{optimizer}-{learning_rate}-{epochs}.json")
    with open(path, "w") as f:
        json.dump({"model": SMALL_CONFIG, "training": training}, f)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train(synthetic, config, out, *extra, processes=1, manifest="train.csv"):
    arguments = ["--config", config, "--train", os.path.join(synthetic["data"], manifest), "--out", out,
                 "--partitions", synthetic["partitions"], "--seed", "7", *extra]
    if processes == 1:
        command = [sys.executable, TRAIN, *arguments]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                   "--master_addr", "127.0.0.1", "--master_port", str(free_port()), TRAIN, *arguments]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def weights(path):
    return {name: value for name, value in load_file(path).items() if not name.startswith("optimizer.")}


def largest_difference(a, b) -> float:
    assert a.keys() == b.keys()
    return max((a[name] - b[name]).abs().max().item() for name in a)


def step_losses(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        lines = [json.loads(line) for line in f]
    return [line["loss"] for line in lines if "step" in line]


@pytest.fixture(scope="module")
def straight(synthetic, tmp_path_factory):
    """One process, STEPS steps of batch 8 (2 micro-batches of 4), AdamW, with validation."""
    folder = tmp_path_factory.mktemp("train")
    config = config_file(str(folder))
    out = str(folder / "straight")
    train(synthetic, config, out, "--max-steps", str(STEPS), "--val", os.path.join(synthetic["data"], "val.csv"))
    return {"folder": str(folder), "config": config, "out": out}


def test_one_process_trains_and_translocator_serves_it(synthetic, straight, binary):
    out = straight["out"]
    losses = step_losses(out)
    assert len(losses) == STEPS and all(loss == loss and abs(loss) < 1e3 for loss in losses)
    assert sorted(os.listdir(os.path.join(out, "partitions"))) == ["coarse.csv", "fine.csv", "middle.csv"]
    assert os.path.exists(os.path.join(out, "best.safetensors"))      # 120 images / 8 = 12 steps per epoch
    test = os.path.join(synthetic["data"], "test.csv")
    for model in ("last.safetensors", "best.safetensors"):
        swift = run(binary, "eval", "--model", os.path.join(out, model), "--manifest", test)
        python = subprocess.run([sys.executable, EVALUATE, "--model", os.path.join(out, model), "--manifest", test],
                                capture_output=True, text=True)
        assert python.returncode == 0, python.stderr
        assert python.stdout == swift


def test_two_processes_give_the_weights_of_one(synthetic, straight):
    # SGD: AdamW divides by the root of the second moment, which turns the last-bit differences
    # of a gradient summed in another order into 1e-4 differences where a gradient is near 0.
    config = config_file(straight["folder"], optimizer="sgd", learning_rate=0.05)
    one, two = os.path.join(straight["folder"], "sgd-1"), os.path.join(straight["folder"], "sgd-2")
    train(synthetic, config, one, "--max-steps", str(STEPS))
    train(synthetic, config, two, "--max-steps", str(STEPS), processes=2)
    assert largest_difference(weights(os.path.join(one, "last.safetensors")),
                              weights(os.path.join(two, "last.safetensors"))) < 1e-5
    assert step_losses(two) == pytest.approx(step_losses(one), rel=1e-5)
    with open(os.path.join(two, "metrics.jsonl")) as f:
        assert sum('"trainLoss"' in line for line in f) == 1


def test_resume_reaches_the_uninterrupted_weights(synthetic, straight):
    out = os.path.join(straight["folder"], "resumed")
    first = train(synthetic, straight["config"], out, "--max-steps", "5")
    assert "resume with --resume" in first.stdout
    train(synthetic, straight["config"], out, "--max-steps", str(STEPS), "--resume")
    assert os.path.exists(os.path.join(out, "last.previous.safetensors"))
    assert largest_difference(weights(os.path.join(out, "last.safetensors")),
                              weights(os.path.join(straight["out"], "last.safetensors"))) <= 1e-6
    resumed, uninterrupted = load_file(os.path.join(out, "last.safetensors")), load_file(os.path.join(straight["out"], "last.safetensors"))
    moments = [name for name in uninterrupted if name.startswith("optimizer.")]
    assert moments and all((resumed[n] - uninterrupted[n]).abs().max().item() <= 1e-6 for n in moments)
    assert step_losses(out) == pytest.approx(step_losses(straight["out"]), rel=1e-6)


def test_the_loss_goes_down_on_a_fixed_subset(synthetic, straight):
    with open(os.path.join(synthetic["data"], "train.csv")) as f:
        rows = f.read().splitlines()
    with open(os.path.join(synthetic["data"], "train-first8.csv"), "w") as f:
        f.write("\n".join(rows[:9]) + "\n")
    config = config_file(straight["folder"], learning_rate=3e-3, epochs=20, warmup_epochs=0,
                         augmentation={"rotation_degrees": 0, "color_jitter_probability": 0, "horizontal_flip": False})
    out = os.path.join(straight["folder"], "subset")
    train(synthetic, config, out, manifest="train-first8.csv")
    losses = step_losses(out)
    assert len(losses) == 20
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3, losses


def test_empty_micro_batches_join_the_all_reduce(synthetic, straight):
    """8 rows of which 7 name missing photos: every step one micro-batch (of 1 process) or one
    rank's only micro-batch (of 2) has nothing to train on; both runs still agree and count the skips."""
    from translocator_torch.labels import label_manifest
    from translocator_torch.manifest import read_manifest
    from translocator_torch.partitions import read_partitions
    train_csv = os.path.join(synthetic["data"], "train.csv")
    labelled = label_manifest(read_manifest(train_csv), read_partitions(synthetic["partitions"]))
    with open(train_csv) as f:
        rows = f.read().splitlines()
    inside = [rows[1 + int(k)] for k in labelled.entry_indices[:8]]      # the partitions cover these
    lines = [rows[0], inside[0]] + [row.replace("images/", "missing/", 1) for row in inside[1:]]
    with open(os.path.join(synthetic["data"], "train-mostly-missing.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    config = config_file(straight["folder"], optimizer="sgd", learning_rate=0.05, epochs=4, warmup_epochs=0)
    one, two = os.path.join(straight["folder"], "missing-1"), os.path.join(straight["folder"], "missing-2")
    train(synthetic, config, one, manifest="train-mostly-missing.csv")
    train(synthetic, config, two, manifest="train-mostly-missing.csv", processes=2)
    assert largest_difference(weights(os.path.join(one, "last.safetensors")),
                              weights(os.path.join(two, "last.safetensors"))) < 1e-5
    for out in (one, two):
        with open(os.path.join(out, "metrics.jsonl")) as f:
            epochs = [json.loads(line) for line in f if '"trainLoss"' in line]
        assert [line["skipped"] for line in epochs] == [7] * 4
