#!/usr/bin/env python3
"""Reference numbers for Tests/TrainingTests/OptimizerTests.swift: a few steps of
torch.optim.AdamW and torch.optim.SGD (momentum, weight decay) on one float32 tensor.

Parameters and gradients are exact binary fractions, so the Swift test rebuilds them bit for bit:
  p0[i]   = ((i * 37) % 101 - 50) / 64
  g[t][i] = ((i * 53 + t * 17) % 97 - 48) / 128      (t = 1, 2, 3: the step)
19 elements: two SIMD8 blocks and a 3-element tail. Prints Swift array literals to paste.
Run: python3 scripts/training/optimizer_fixtures.py
"""
import torch

COUNT, STEPS = 19, 3


def initial():
    return torch.tensor([((i * 37) % 101 - 50) / 64 for i in range(COUNT)], dtype=torch.float32)


def gradient(t):
    return torch.tensor([((i * 53 + t * 17) % 97 - 48) / 128 for i in range(COUNT)], dtype=torch.float32)


def run(make_optimizer):
    p = torch.nn.Parameter(initial())
    optimizer = make_optimizer([p])
    for t in range(1, STEPS + 1):
        p.grad = gradient(t)
        optimizer.step()
    return p.detach()


def literal(name, tensor):
    values = ", ".join(repr(float(v)) for v in tensor.tolist())
    print(f"    static let {name}: [Float] = [{values}]")


torch.set_num_threads(1)
print(f"    // torch {torch.__version__}, scripts/training/optimizer_fixtures.py")
literal("adamW", run(lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1, foreach=False)))
literal("sgd", run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01, foreach=False)))
