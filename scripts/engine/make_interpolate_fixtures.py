#!/usr/bin/env python3
"""Bilinear resize and Conv2d fixtures, written by PyTorch (the reference), channels last.

interpolate.safetensors: for each case i, `case{i}.input` [B, H, W, C] and `case{i}.output`
[B, Ho, Wo, C], torch's F.interpolate(mode="bilinear", align_corners=False, size=(Ho, Wo)) of
the input (run NCHW, stored NHWC): 4x upsampling, 7->23, 13->5 (downsampling), mixed ratios,
the same size; C = 11 so that both torch's 8-lane loop and its scalar tail are covered. And
`argmax.logits` [H, W, K], `argmax.labels` [Ho, Wo] (torch.argmax over K of the resized
logits, as floats) and `argmax.margin` [Ho, Wo] (top-1 minus top-2 resized logit).

conv2d.safetensors: for each case i, `conv{i}.input` [B, H, W, Cin], `conv{i}.weight`
[Cout, Cin/groups, kh, kw] (PyTorch's layout), `conv{i}.bias` [Cout], `conv{i}.output`
[B, Ho, Wo, Cout] of F.conv2d, and the arguments in __metadata__ as JSON.

torch's CPU upsample kernel is compiled per instruction set; the AVX2 and AVX-512 builds fuse
its multiply-adds into FMAs, so their results depend on the machine by a few ulp. The script
pins ATEN_CPU_CAPABILITY=default (no FMA), whose results any machine reproduces and which the
Swift kernel matches bit for bit. Inputs are uniform in [-1, 1). Run by a developer:
  python3 scripts/engine/make_interpolate_fixtures.py Tests/TensorEngineTests/Fixtures
"""
import json
import os
import sys

os.environ["ATEN_CPU_CAPABILITY"] = "default"   # before torch is imported: it reads it once

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

RESIZE_CASES = [  # (batch, channels, (H, W), (Ho, Wo))
    (1, 11, (6, 8), (24, 32)),       # 4x upsampling (SegFormer's decode head: H/32 .. H/8 to H/4)
    (2, 11, (7, 7), (23, 23)),       # non-integer ratio, batch 2
    (1, 11, (13, 13), (5, 5)),       # downsampling
    (1, 11, (7, 13), (23, 5)),       # up in one axis, down in the other
    (1, 11, (9, 11), (9, 11)),       # same size: a copy
    (1, 3, (1, 5), (4, 1)),          # a single row / column, C < 8: only the scalar tail
]
ARGMAX = ((12, 15), 19, (45, 61))   # (H, W), K (two lanes of 8 and a tail of 3), (Ho, Wo)
CONV_CASES = [  # (batch, H, W, Cin, Cout, kernel, stride, padding, groups)
    (1, 19, 21, 3, 8, 7, 4, 3, 1),   # SegFormer's first overlapping patch embedding
    (2, 9, 10, 6, 9, 3, 2, 1, 3),    # stride 2 with groups 3, batch 2
    (1, 11, 9, 10, 10, 3, 1, 1, 10),  # depthwise 3x3 (MixFFN), C not a multiple of 8
    (1, 17, 13, 4, 5, 8, 8, 0, 1),   # kernel = stride (spatial reduction), sizes not multiples of 8
]


def nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1).contiguous()


def resize_fixtures(out: str, generator: torch.Generator) -> None:
    tensors = {}
    for i, (batch, channels, size, output_size) in enumerate(RESIZE_CASES):
        x = torch.rand(batch, channels, *size, generator=generator) * 2 - 1
        y = F.interpolate(x, size=output_size, mode="bilinear", align_corners=False)
        tensors[f"case{i}.input"] = nhwc(x)
        tensors[f"case{i}.output"] = nhwc(y)
    (height, width), classes, output_size = ARGMAX
    logits = torch.randn(1, classes, height, width, generator=generator) * 3
    resized = F.interpolate(logits, size=output_size, mode="bilinear", align_corners=False)[0]
    top2 = resized.topk(2, dim=0).values
    tensors["argmax.logits"] = nhwc(logits)[0]
    tensors["argmax.labels"] = resized.argmax(dim=0).float()
    tensors["argmax.margin"] = top2[0] - top2[1]
    metadata = {"torch": torch.__version__, "capability": torch.backends.cpu.get_cpu_capability(),
                "cases": json.dumps(RESIZE_CASES), "argmax": json.dumps(ARGMAX)}
    save_file(tensors, f"{out}/interpolate.safetensors", metadata=metadata)


def conv_fixtures(out: str, generator: torch.Generator) -> None:
    tensors, arguments = {}, []
    for i, (batch, height, width, c_in, c_out, kernel, stride, padding, groups) in enumerate(CONV_CASES):
        x = torch.rand(batch, c_in, height, width, generator=generator) * 2 - 1
        weight = torch.rand(c_out, c_in // groups, kernel, kernel, generator=generator) * 2 - 1
        bias = torch.rand(c_out, generator=generator) * 2 - 1
        y = F.conv2d(x, weight, bias, stride=stride, padding=padding, groups=groups)
        tensors.update({f"conv{i}.input": nhwc(x), f"conv{i}.weight": weight, f"conv{i}.bias": bias,
                        f"conv{i}.output": nhwc(y)})
        arguments.append({"stride": stride, "padding": padding, "groups": groups})
    metadata = {"torch": torch.__version__, "arguments": json.dumps(arguments)}
    save_file(tensors, f"{out}/conv2d.safetensors", metadata=metadata)


def main() -> None:
    out = sys.argv[1]
    generator = torch.Generator().manual_seed(20240611)
    resize_fixtures(out, generator)
    conv_fixtures(out, generator)
    print("torch", torch.__version__, "capability", torch.backends.cpu.get_cpu_capability())


if __name__ == "__main__":
    main()
