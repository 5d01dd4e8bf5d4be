"""Forward-pass throughput: translocator against PyTorch CPU, in one run on one machine.

Runs `translocator bench forward --json` (ViT-B/16 at 224 px and TransLocator-B/16, batch 1
and 8), then timm's `vit_base_patch16_224` (random init, eval, no_grad, 2 threads) at the same
batches, and prints images/s and the ratio ours / PyTorch. TransLocator-B/16 in PyTorch is the
twin (scripts/model/twin.py) at the paper's sizes.

  swift build -c release && python3 scripts/bench/forward.py [--binary .build/release/translocator]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "model"))


def torch_images_per_second(model, inputs, batch, seconds=8.0):
    with torch.no_grad():
        model(*inputs)  # warm-up
        start, runs = time.perf_counter(), 0
        best = float("inf")
        while time.perf_counter() - start < seconds or runs < 3:
            t = time.perf_counter()
            model(*inputs)
            best = min(best, time.perf_counter() - t)
            runs += 1
    return batch / best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build/release/translocator")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    ours = json.loads(subprocess.run([args.binary, "bench", "forward", "--json"], check=True,
                                     capture_output=True, text=True).stdout)
    torch.set_num_threads(args.threads)
    import timm
    from twin import TransLocatorTwin, load_config
    vit = timm.create_model("vit_base_patch16_224", pretrained=False).eval()
    config = load_config(os.path.join(os.path.dirname(__file__), "..", "..", "configs", "translocator-b16.json"))["model"]
    dual = TransLocatorTwin(config, {"coarse": 3298, "middle": 7202, "fine": 12893}).eval()
    print(f"{'model':18} {'batch':>5} {'ours img/s':>11} {'torch img/s':>12} {'ratio':>6}")
    for row in ours:
        batch = row["batch"]
        x = torch.randn(batch, 3, 224, 224)
        if row["model"] == "vit-b16":
            reference = torch_images_per_second(vit, (x,), batch)
        else:
            reference = torch_images_per_second(dual, (x, torch.randn(batch, 3, 224, 224)), batch)
        print(f"{row['model']:18} {batch:5d} {row['imagesPerSecond']:11.2f} {reference:12.2f} {row['imagesPerSecond'] / reference:6.2f}")


if __name__ == "__main__":
    main()
