"""Trains the PyTorch twin with DistributedDataParallel, writing the out folder `translocator train`
writes (Sources/CLI/TrainCommand.swift): DIR/last.safetensors (checkpoint: model file + optimizer
state + `training.*` metadata), DIR/best.safetensors (with --val), DIR/partitions/*.csv and
DIR/metrics.jsonl (one line per step, one per epoch, the Swift line format).

    torchrun --nproc_per_node N python/translocator_torch/train.py --config C --train T.csv \\
        [--val V.csv] --out DIR [--partitions DIR] [--init VIT] [--resume] [--max-steps N] [--seed S]
    python3 python/translocator_torch/train.py ...          # one process (world size 1)

Step semantics (Sources/Training/GradientAccumulation.swift, TrainingLoop.swift): an epoch is
ceil(labelled images / batch_size) optimizer steps over one permutation of the labelled images
(torch's DistributedSampler permutation seeded seed + epoch, the same for every world size); step s
covers permutation positions [s B, (s + 1) B); rank r takes positions s B + r, s B + r + W, ...
and feeds them in micro-batches of micro_batch_size, every rank the same number of micro-batches
(an empty one still joins the all-reduce with a zero loss). The loss of a step is the sum of the
per-image losses over all ranks divided by the step's image count over all ranks (after skipped
images), so W processes give the update one process gives with the same global batch.
Augmentation draws depend on (seed, epoch, labelled index) alone (data.py), so --resume continues
to the weights an uninterrupted run reaches.

Partitions (Sources/Training/TrainingRun.swift): without --partitions they are built from every
row of the training manifest with the config's training.partition min and max (partitions.py's
build_partitions, equal to `translocator partition`); every rank builds the same ones
(deterministic) and rank 0 writes them, given or built, to DIR/partitions/*.csv as Swift writes them.

Limitations: the validation loss is not computed (metrics' "validationLoss" is null); validation runs on rank 0 alone.
"""
import argparse
import json
import math
import os
import sys
import time

if __package__ in (None, ""):          # run as a script: import the package beside this file
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "translocator_torch"

import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors import safe_open
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from translocator_torch.data import TrainingDataset, collate
from translocator_torch.evaluate import evaluate
from translocator_torch.inputs import InputPipeline, Preprocessing
from translocator_torch.labels import label_manifest, read_scene_hierarchy
from translocator_torch.manifest import read_manifest
from translocator_torch.metrics import json_number, swift_number
from translocator_torch.model import TransLocatorTwin, multitask_loss
from translocator_torch.modelfile import ModelFile, read_model_file, write_model_file
from translocator_torch.optim import Schedule, make_optimizer, optimizer_state, restore_optimizer_state, set_learning_rate, take_step
from translocator_torch.partitions import GEO_LEVELS, build_partitions, read_partitions, write_partitions
from translocator_torch.training_config import read_config_file

HEADS = ("coarse", "middle", "fine", "scene")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="train.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="config JSON (model and training objects)")
    p.add_argument("--train", required=True, help="training manifest (image,lat,lon[,seg][,scene])")
    p.add_argument("--val", help="validation manifest, scored on rank 0 after every epoch (best model kept)")
    p.add_argument("--out", required=True, help="folder for checkpoints, the best model, partitions and metrics")
    p.add_argument("--partitions",
                   help="folder with coarse.csv, middle.csv, fine.csv to train on (`translocator partition` writes "
                        "them); default: built from --train with the config's training.partition min and max")
    p.add_argument("--scene-hierarchy", help="Places365 hierarchy CSV for the scene labels "
                                             "(default: scene_hierarchy.csv beside --train, if any)")
    p.add_argument("--init", help="safetensors weights to start from: a translocator model file, or a timm ViT "
                                  "state dict loaded into both branches")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors")
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps in all (resumable)")
    p.add_argument("--seed", type=lambda s: int(s, 0), default=0, help="seed of the initialisation, order and augmentation")
    p.add_argument("--checkpoint-every", type=int, default=0, help="also write last.safetensors every N steps")
    p.add_argument("--strict", action="store_true", help="stop at a missing or undecodable image instead of skipping it")
    return p


class Distributed:
    """torch.distributed from torchrun's environment, or world size 1 without it."""

    def __init__(self):
        self.active = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
        self.device = torch.device("cpu")
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", 0))
            torch.cuda.set_device(local)
            self.device = torch.device("cuda", local)
        if self.active:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.rank = dist.get_rank() if self.active else 0
        self.world = dist.get_world_size() if self.active else 1

    def sum(self, values: list[float]) -> list[float]:
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.active:
            dist.all_reduce(tensor)
        return tensor.tolist()

    def barrier(self):
        if self.active:
            dist.barrier()

    def close(self):
        if self.active:
            dist.destroy_process_group()


def epoch_permutation(count: int, seed: int, epoch: int) -> list[int]:
    """The epoch's order: DistributedSampler's shuffle (randperm seeded seed + epoch), one replica."""
    sampler = DistributedSampler(range(count), num_replicas=1, rank=0, shuffle=True, seed=seed, drop_last=False)
    sampler.set_epoch(epoch)
    return list(sampler)


def rank_micro_batches(order: list[int], step: int, batch: int, micro: int, rank: int, world: int) -> list[list[int]]:
    """This rank's share of step `step`, cut into micro-batches; the same count on every rank."""
    positions = range(step * batch, min(len(order), (step + 1) * batch))
    mine = [order[p] for p in positions[rank::world]]
    count = math.ceil(math.ceil(batch / world) / micro)
    return [mine[k * micro:(k + 1) * micro] for k in range(count)]


def load_init(model: TransLocatorTwin, path: str) -> None:
    with safe_open(path, "pt") as f:
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    own = model.state_dict()
    if any(name in own for name in tensors):
        wanted = {name: value for name, value in tensors.items() if name in own and own[name].shape == value.shape}
    else:                                   # a plain ViT: into both branches
        wanted = {}
        for prefix in ("rgb.", "seg."):
            for name, value in tensors.items():
                if prefix + name in own and own[prefix + name].shape == value.shape:
                    wanted[prefix + name] = value
    if not wanted:
        raise ValueError(f"{path}: no tensor fits the model")
    model.load_state_dict(wanted, strict=False)


def write_checkpoint(path: str, model, partitions, preprocessing, optimizer, progress: dict) -> None:
    """last.safetensors atomically: written beside, the old one kept as last.previous.safetensors."""
    tensors, optimizer_metadata = optimizer_state(optimizer, model)
    metadata = {"training.seed": format(progress["seed"] & ((1 << 64) - 1), "x"), "training.step": str(progress["step"]),
                "training.epoch": str(progress["epoch"]), "training.step_in_epoch": str(progress["step_in_epoch"]),
                "training.skipped_in_epoch": str(progress["skipped_in_epoch"]),
                "training.loss_sum_in_epoch": repr(progress["loss_sum_in_epoch"]),
                "training.images_in_epoch": str(progress["images_in_epoch"]), **optimizer_metadata}
    if progress.get("best") is not None:
        metadata["training.best_validation_score"] = repr(progress["best"])
    temporary = path + ".tmp"
    write_model_file(temporary, model, partitions, preprocessing, metadata, tensors)
    if os.path.exists(path):
        os.replace(path, path.replace(".safetensors", ".previous.safetensors"))
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    env = Distributed()
    try:
        return train(arguments, env)
    finally:
        env.close()


def train(arguments, env: Distributed) -> int:
    model_config, config = read_config_file(arguments.config)
    manifest = read_manifest(arguments.train)
    if arguments.partitions:
        partitions = read_partitions(arguments.partitions)
    else:                   # TrainingRun: GeoPartitions.build(manifest.coordinates, min, max), on every rank alike
        partitions = build_partitions(manifest.latitudes, manifest.longitudes, config.partition_min, config.partition_max)
    for level in GEO_LEVELS:
        if len(partitions[level]) == 0:
            raise SystemExit(f"{arguments.train}: its {len(manifest)} images leave no {level} geo-cell of more than "
                             f"{config.partition_min} images (training.partition.min): add images or lower the minimum")
    hierarchy_path = arguments.scene_hierarchy or os.path.join(os.path.dirname(os.path.abspath(arguments.train)),
                                                               "scene_hierarchy.csv")
    hierarchy = None
    if model_config["scene_classes"] not in (0, 365) and os.path.exists(hierarchy_path):
        hierarchy = read_scene_hierarchy(hierarchy_path)
    labelled = label_manifest(manifest, partitions, hierarchy, model_config["scene_classes"])
    preprocessing = Preprocessing(config.resize_short_side)
    pipeline = InputPipeline.for_model(model_config, preprocessing)
    dataset = TrainingDataset(labelled, pipeline, config.augmentation, arguments.seed, strict=arguments.strict)
    out = arguments.out
    last = os.path.join(out, "last.safetensors")
    if env.rank == 0:
        os.makedirs(os.path.join(out, "partitions"), exist_ok=True)
        write_partitions(os.path.join(out, "partitions"), partitions)     # as TrainingRun writes them, given or built

    torch.manual_seed(arguments.seed)
    model = TransLocatorTwin(model_config, partitions.head_sizes)
    model.init_weights(arguments.seed)
    if arguments.init:
        load_init(model, arguments.init)
    optimizer = make_optimizer(model, config)
    steps_per_epoch = (len(labelled) + config.batch_size - 1) // config.batch_size
    if steps_per_epoch == 0:
        raise SystemExit(f"{arguments.train}: no image inside the partitions")
    schedule = Schedule.of(config, steps_per_epoch)
    progress = {"seed": arguments.seed, "step": 0, "epoch": 0, "step_in_epoch": 0, "skipped_in_epoch": 0,
                "loss_sum_in_epoch": 0.0, "images_in_epoch": 0, "best": None}
    if arguments.resume:
        if not os.path.exists(last):
            raise SystemExit(f"{last}: no checkpoint to resume from")
        checkpoint = read_model_file(last)
        model.load_state_dict(checkpoint.model.state_dict())
        with safe_open(last, "pt") as f:
            tensors = {name: f.get_tensor(name) for name in f.keys() if name.startswith("optimizer.")}
        restore_optimizer_state(optimizer, model, tensors, checkpoint.metadata, last)
        meta = checkpoint.metadata
        progress.update(seed=int(meta["training.seed"], 16), step=int(meta["training.step"]),
                        epoch=int(meta["training.epoch"]), step_in_epoch=int(meta["training.step_in_epoch"]),
                        skipped_in_epoch=int(meta.get("training.skipped_in_epoch", 0)),
                        loss_sum_in_epoch=float(meta.get("training.loss_sum_in_epoch", 0.0)),
                        images_in_epoch=int(meta.get("training.images_in_epoch", 0)),
                        best=float(meta["training.best_validation_score"]) if "training.best_validation_score" in meta else None)
        dataset.seed = progress["seed"]
    model.to(env.device)
    for state in optimizer.state.values():
        for key, value in state.items():
            if torch.is_tensor(value) and key != "step":
                state[key] = value.to(env.device)
    model.train()
    network = DistributedDataParallel(model) if env.active else model
    total_steps = schedule.total_steps if arguments.max_steps is None else min(arguments.max_steps, schedule.total_steps)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if env.device.type == "cuda" else torch.autocast("cpu", enabled=False)
    weights = config.loss_weights
    metrics = open(os.path.join(out, "metrics.jsonl"), "a", encoding="utf-8") if env.rank == 0 else None
    validation = read_manifest(arguments.val) if arguments.val else None
    started, images_done = time.time(), 0
    size = model_config["img_size"]
    dummy_rgb = torch.zeros(1, 3, size, size, device=env.device)
    dummy_seg = dummy_rgb if model_config["segmentation_branch"] else None

    def log(line: str):
        if metrics is not None:
            metrics.write(line + "\n")
            metrics.flush()

    while progress["step"] < total_steps and progress["epoch"] < config.epochs:
        epoch = progress["epoch"]
        order = epoch_permutation(len(labelled), progress["seed"], epoch)
        while progress["step_in_epoch"] < steps_per_epoch and progress["step"] < total_steps:
            micros = rank_micro_batches(order, progress["step_in_epoch"], config.batch_size, config.micro_batch_size,
                                        env.rank, env.world)
            batches = [collate([dataset[(epoch, index)] for index in micro]) for micro in micros]
            local_skipped = sum(len(b.skipped) for b in batches)
            count, skipped = env.sum([sum(len(b.indices) for b in batches), local_skipped])
            rate = schedule.rate(progress["step"])
            set_learning_rate(optimizer, rate)
            optimizer.zero_grad(set_to_none=True)
            sums = [0.0] * (1 + len(HEADS))
            for k, batch in enumerate(batches):
                last_micro = k == len(batches) - 1
                context = network.no_sync() if env.active and not last_micro else _nothing()
                with context:
                    with autocast:
                        if batch.indices:
                            labels = {h: v.to(env.device) for h, v in batch.labels.items()}
                            logits = network(batch.rgb.to(env.device), batch.seg.to(env.device) if batch.seg is not None else None)
                            n = len(batch.indices)
                            loss = multitask_loss({h: v.float() for h, v in logits.items()}, labels, weights,
                                                  config.label_smoothing) * n
                            with torch.no_grad():
                                sums[0] += loss.item()
                                for j, head in enumerate(HEADS):
                                    if head in logits:
                                        sums[1 + j] += F.cross_entropy(logits[head].float(), labels[head],
                                                                       label_smoothing=config.label_smoothing).item() * n
                        else:           # nothing loaded: still join the all-reduce, with a zero loss
                            logits = network(dummy_rgb, dummy_seg)
                            loss = sum(v.float().sum() for v in logits.values()) * 0.0
                    # DDP averages over ranks: scale so the gradients are the sum over all ranks / count.
                    (loss * (env.world / max(count, 1.0))).backward()
            take_step(optimizer)
            sums = env.sum(sums)
            progress["step"] += 1
            progress["step_in_epoch"] += 1
            progress["skipped_in_epoch"] += int(skipped)
            progress["loss_sum_in_epoch"] += sums[0]
            progress["images_in_epoch"] += int(count)
            images_done += int(count)
            mean = sums[0] / max(count, 1.0)
            heads = ", ".join(f'"{h}": {json_number(sums[1 + j] / max(count, 1.0))}' for j, h in enumerate(HEADS)
                              if h in model.heads)
            speed = images_done / max(1e-9, time.time() - started)
            log(f'{{"step": {progress["step"]}, "epoch": {epoch + 1}, "loss": {json_number(mean)}, '
                f'"headLosses": {{{heads}}}, "learningRate": {swift_number(rate)}, "imagesPerSecond": {json_number(speed)}}}')
            if (arguments.checkpoint_every and progress["step"] % arguments.checkpoint_every == 0
                    and progress["step_in_epoch"] < steps_per_epoch and env.rank == 0):
                write_checkpoint(last, model, partitions, preprocessing, optimizer, progress)
        if progress["step_in_epoch"] < steps_per_epoch:
            break                                            # --max-steps inside the epoch
        train_loss = progress["loss_sum_in_epoch"] / max(progress["images_in_epoch"], 1)
        skipped_epoch = progress["skipped_in_epoch"]
        progress.update(epoch=epoch + 1, step_in_epoch=0, skipped_in_epoch=0, loss_sum_in_epoch=0.0, images_in_epoch=0)
        if env.rank == 0:
            if validation is None:
                log(f'{{"epoch": {epoch + 1}, "trainLoss": {json_number(train_loss)}, "skipped": {skipped_epoch}}}')
            else:
                model.eval()
                result = evaluate(ModelFile(model, partitions, preprocessing), validation, skip_invalid=True)
                model.train()
                score = sum(result.evaluation.table.percent_within) / len(result.evaluation.table.percent_within)
                kept = progress["best"] is None or score > progress["best"]
                if kept:
                    progress["best"] = score
                    write_model_file(os.path.join(out, "best.safetensors.tmp"), model, partitions, preprocessing)
                    os.replace(os.path.join(out, "best.safetensors.tmp"), os.path.join(out, "best.safetensors"))
                print(f"epoch {epoch + 1}: train loss {train_loss:.3f}; mean accuracy {score:.2f}%"
                      + (" (best so far: best.safetensors)" if kept else ""), file=sys.stderr)
                log(f'{{"epoch": {epoch + 1}, "trainLoss": {json_number(train_loss)}, "skipped": {skipped_epoch}, '
                    f'"validationLoss": null, "validation": {result.evaluation.json}, '
                    f'"validationScore": {json_number(score)}, "best": {"true" if kept else "false"}}}')
    model.train()
    if env.rank == 0:
        write_checkpoint(last, model, partitions, preprocessing, optimizer, progress)
        finished = progress["epoch"] >= config.epochs or progress["step"] >= schedule.total_steps
        print(f"trained {progress['step']} steps; checkpoint {last}" if finished
              else f"stopped after {progress['step']} steps (--max-steps); resume with --resume")
        metrics.close()
    env.barrier()
    return 0


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    sys.exit(main())
