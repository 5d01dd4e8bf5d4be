"""Segmenter throughput: translocator's SegFormer against Hugging Face's on PyTorch CPU, one run.

Rounds alternate the two engines: each round runs `translocator bench segment --json --rounds 1`
(SegFormer-B0 and -B2 with nvidia's ADE20K configs, 512x512, random weights) and then Hugging
Face's `SegformerForSemanticSegmentation` built from the same configs (random init, eval,
no_grad, 2 threads) on the same input size, best of --seconds each. Prints images/s per round,
then each model's median over rounds of the per-round ratio ours / PyTorch (the host is noisy:
a ratio of two measurements minutes apart is not one).

  swift build -c release && python3 scripts/bench/segment.py [--binary .build/release/translocator]
      [--rounds 3] [--seconds 5] [--threads 2] [--size 512]
"""
import argparse
import json
import statistics
import subprocess
import time

import torch
from transformers import SegformerConfig, SegformerForSemanticSegmentation

VARIANTS = {
    "segformer-b0": dict(hidden_sizes=[32, 64, 160, 256], depths=[2, 2, 2, 2], decoder_hidden_size=256),
    "segformer-b2": dict(hidden_sizes=[64, 128, 320, 512], depths=[3, 4, 6, 3], decoder_hidden_size=768),
}


def torch_images_per_second(model, x, seconds):
    with torch.no_grad():
        model(pixel_values=x)  # warm-up
        start, runs, best = time.perf_counter(), 0, float("inf")
        while time.perf_counter() - start < seconds or runs < 3:
            t = time.perf_counter()
            model(pixel_values=x)
            best = min(best, time.perf_counter() - t)
            runs += 1
    return x.shape[0] / best


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build/release/translocator")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = {name: SegformerForSemanticSegmentation(SegformerConfig(
        num_attention_heads=[1, 2, 5, 8], sr_ratios=[8, 4, 2, 1], num_labels=150, **variant)).eval()
        for name, variant in VARIANTS.items()}
    x = torch.randn(1, 3, args.size, args.size)
    ratios = {name: [] for name in VARIANTS}
    for round_index in range(1, args.rounds + 1):
        ours = json.loads(subprocess.run(
            [args.binary, "bench", "segment", "--json", "--rounds", "1", "--seconds", str(args.seconds),
             "--size", str(args.size), "--models", ",".join(VARIANTS)], check=True, capture_output=True, text=True).stdout)
        for row in ours:
            reference = torch_images_per_second(models[row["model"]], x, args.seconds)
            ratio = row["imagesPerSecond"] / reference
            ratios[row["model"]].append(ratio)
            print(f"round {round_index}: {row['model']} {args.size}x{args.size}: ours {row['imagesPerSecond']:.2f} images/s, "
                  f"torch {reference:.2f} images/s, ratio {ratio:.2f}", flush=True)
    for name, values in ratios.items():
        print(f"{name}: median ratio ours/torch {statistics.median(values):.2f} over {len(values)} rounds "
              f"({', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()
