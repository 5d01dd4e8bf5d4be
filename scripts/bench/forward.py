"""Forward-pass throughput: translocator against PyTorch CPU, in one run on one machine.

Runs `translocator bench forward --json` (ViT-B/16 at 224 px and TransLocator-B/16, batch 1
and 8), then timm's `vit_base_patch16_224` (random init, eval, no_grad, 2 threads) at the same
batches, and prints images/s and the ratio ours / PyTorch. TransLocator-B/16 in PyTorch is the
twin (scripts/model/twin.py) at the paper's sizes. Then, per batch, TransLocator's time per image
over ViT-B/16's for both (our target: at most 2.1), and our peak memory over
TransLocator's weight bytes (target: at most 1.5).

  swift build -c release && python3 scripts/bench/forward.py [--binary .build/release/translocator]
      [--batch 1,8] [--seconds 5] [--threads 2]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "model"))


def torch_images_per_second(model, inputs, batch, seconds):
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
    parser.add_argument("--batch", default="1,8", help="batch sizes, passed to bench forward")
    parser.add_argument("--seconds", type=float, default=5, help="timing per measurement, both sides")
    args = parser.parse_args()
    ours = json.loads(subprocess.run([args.binary, "bench", "forward", "--json", "--batch", args.batch,
                                      "--seconds", str(args.seconds)], check=True, capture_output=True, text=True).stdout)
    torch.set_num_threads(args.threads)
    import timm
    from twin import TransLocatorTwin, load_config
    vit = timm.create_model("vit_base_patch16_224", pretrained=False).eval()
    config = load_config(os.path.join(os.path.dirname(__file__), "..", "..", "configs", "translocator-b16.json"))["model"]
    dual = TransLocatorTwin(config, {"coarse": 3298, "middle": 7202, "fine": 12893}).eval()
    print(f"{'model':18} {'batch':>5} {'ours img/s':>11} {'torch img/s':>12} {'ratio':>6}")
    torch_rate = {}
    for row in ours:
        batch = row["batch"]
        x = torch.randn(batch, 3, 224, 224)
        if row["model"] == "vit-b16":
            reference = torch_images_per_second(vit, (x,), batch, args.seconds)
        else:
            reference = torch_images_per_second(dual, (x, torch.randn(batch, 3, 224, 224)), batch, args.seconds)
        torch_rate[(row["model"], batch)] = reference
        print(f"{row['model']:18} {batch:5d} {row['imagesPerSecond']:11.2f} {reference:12.2f} {row['imagesPerSecond'] / reference:6.2f}")
    rate = {(row["model"], row["batch"]): row["imagesPerSecond"] for row in ours}
    for row in ours:
        if row["model"] != "translocator-b16" or ("vit-b16", row["batch"]) not in rate:
            continue
        key, vit_key = ("translocator-b16", row["batch"]), ("vit-b16", row["batch"])
        print(f"batch {row['batch']}: TransLocator/ViT time ours {rate[vit_key] / rate[key]:.2f}, "
              f"torch {torch_rate[vit_key] / torch_rate[key]:.2f}")
    memory = next((row for row in ours if "peakResidentBytes" in row), None)
    if memory:
        print(f"TransLocator-B/16 peak memory / weight bytes: resident {memory['peakResidentBytes'] / memory['weightBytes']:.2f}, "
              f"tensors {memory['peakTensorBytes'] / memory['weightBytes']:.2f}")

if __name__ == "__main__":
    main()
