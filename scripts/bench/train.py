"""Training-step throughput: translocator against PyTorch CPU, in one run on one machine.

Runs `translocator bench train --json --threads N` (ViT-S/16 at batch 32 and the tiny
TransLocator: one forward + backward + AdamW step, best of the timed steps), then the same step
in PyTorch with N threads: timm `vit_small_patch16_224` (1000 classes) and the twin
(scripts/model/twin.py) with configs/tiny.json's model and the head sizes our row reports,
AdamW(lr 1e-4, weight_decay 1e-4). Prints images/s, the ratio ours / PyTorch, and how much our
engine allocated in a step after the first (0 is the goal).

  swift build -c release && python3 scripts/bench/train.py [--binary .build/release/translocator]
      [--threads 2] [--steps 5] [--skip-vit]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "model"))


def step_images_per_second(model, make_inputs, loss_fn, batch, steps=5):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    inputs = make_inputs()
    best = float("inf")
    for i in range(steps + 1):
        t = time.perf_counter()
        optimizer.zero_grad(set_to_none=False)
        loss = loss_fn(model, inputs)
        loss.backward()
        optimizer.step()
        if i > 0:
            best = min(best, time.perf_counter() - t)
    return batch / best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build/release/translocator")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model, both sides (best counts)")
    parser.add_argument("--skip-vit", action="store_true", help="time only the tiny TransLocator")
    args = parser.parse_args()
    command = [args.binary, "bench", "train", "--json", "--threads", str(args.threads), "--steps", str(args.steps)]
    if args.skip_vit:
        command.append("--skip-vit")
    ours = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    torch.set_num_threads(args.threads)
    import timm
    from twin import TransLocatorTwin, load_config, multitask_loss
    print(f"{'model':18} {'batch':>5} {'ours img/s':>11} {'torch img/s':>12} {'ratio':>6} {'allocs/step':>12}")
    for row in ours:
        batch = row["batch"]
        if row["model"].startswith("vit-s16"):
            model = timm.create_model("vit_small_patch16_224", pretrained=False, num_classes=1000).train()
            make = lambda: (torch.randn(batch, 3, 224, 224), torch.randint(0, 1000, (batch,)))
            loss_fn = lambda m, xs: F.cross_entropy(m(xs[0]), xs[1])
        else:
            config = load_config(os.path.join(os.path.dirname(__file__), "..", "..", "configs", "tiny.json"))
            sizes = row["headSizes"]
            model = TransLocatorTwin(config["model"], sizes).train()
            size = config["model"]["img_size"]
            scene = config["model"]["scene_classes"]

            def make():
                labels = {k: torch.randint(0, v, (batch,)) for k, v in sizes.items()}
                if scene:
                    labels["scene"] = torch.randint(0, scene, (batch,))
                return torch.randn(batch, 3, size, size), torch.randn(batch, 3, size, size), labels
            weights = config["training"]["loss_weights"]
            loss_fn = lambda m, xs: multitask_loss(m(xs[0], xs[1]), xs[2], weights)
        reference = step_images_per_second(model, make, loss_fn, batch, steps=args.steps)
        print(f"{row['model']:18} {batch:5d} {row['imagesPerSecond']:11.2f} {reference:12.2f} "
              f"{row['imagesPerSecond'] / reference:6.2f} {row.get('allocationsPerStep', '?'):>12}")


if __name__ == "__main__":
    main()
