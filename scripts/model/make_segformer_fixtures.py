"""Makes `translocator verify-segmenter` fixtures from Hugging Face's own SegFormer.

Each file holds a random-initialised `SegformerForSemanticSegmentation` state dict under the names
`save_pretrained` writes (the names of the files users download, e.g.
`segformer.encoder.block.0.0.attention.self.query.weight`; BatchNorm's int64
`num_batches_tracked` included), `__metadata__.config` = the SegformerConfig as JSON,
`pixel_values` [B,3,H,W] (already normalized), the model's `logits` [B,K,H/4,W/4] in eval mode,
and the post-processed maps: `labels` [B,h,w] (`post_process_semantic_segmentation` at target size
h x w, as float) with `margin` [B,h,w] (top-1 minus top-2 of the resized logits, so a test can
excuse near-ties). Input sizes are not multiples of 32 and the spatial-reduction convolutions
floor. `preprocess.safetensors` holds a small photo's pixels and what the Pillow image processor
(`SegformerImageProcessorPil`, bilinear stretch, /255, ImageNet mean/std) makes of them.
`segformer-hub-folder/` is the first model as a Hub download with PyTorch weights (config.json,
pytorch_model.bin, preprocessor_config.json at 64x48). `kauai-map.png` is the first model's map of
data/kauai.png through the whole Hugging Face path, `kauai-ties.png` its near-ties.

  python3 scripts/model/make_segformer_fixtures.py --out Tests/SegmenterTests/Fixtures
"""
import argparse
import collections
import json
import os
import tempfile

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import SegformerConfig, SegformerForSemanticSegmentation
from transformers.models.segformer.image_processing_pil_segformer import SegformerImageProcessorPil


def randomized(model, seed):
    """Weights far from the default init, so every layer moves the logits."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
        bn = model.decode_head.batch_norm
        bn.running_mean.copy_(0.1 * torch.randn(bn.running_mean.shape, generator=g))
        bn.running_var.copy_(0.5 + torch.rand(bn.running_var.shape, generator=g))
        bn.num_batches_tracked.fill_(123)
    return model.eval()


def make(name, out_dir, config, batch, height, width, target, seed, hub_folder=None):
    """`hub_folder`: also write the model as the Hub lays it out with PyTorch weights: config.json,
    pytorch_model.bin (torch.save of the Hub-named state dict) and preprocessor_config.json."""
    torch.manual_seed(seed)
    model = randomized(SegformerForSemanticSegmentation(config), seed)
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)                 # the Hub's tensor names
        tensors = load_file(os.path.join(folder, "model.safetensors"))
        with open(os.path.join(folder, "config.json")) as f:
            config_json = json.load(f)
    pixel_values = torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        logits = model(pixel_values=pixel_values).logits
        resized = torch.nn.functional.interpolate(logits, size=target, mode="bilinear", align_corners=False)
    top2 = resized.topk(2, dim=1).values
    tensors = {k: v.contiguous() for k, v in tensors.items()}
    tensors["pixel_values"] = pixel_values.contiguous()
    tensors["logits"] = logits.contiguous()
    tensors["labels"] = resized.argmax(dim=1).float().contiguous()
    tensors["margin"] = (top2[:, 0] - top2[:, 1]).contiguous()
    if hub_folder:
        target_folder = os.path.join(out_dir, hub_folder)
        os.makedirs(target_folder, exist_ok=True)
        weights = collections.OrderedDict((k, v) for k, v in tensors.items() if k.split(".")[0] in ("segformer", "decode_head"))
        torch.save(weights, os.path.join(target_folder, "pytorch_model.bin"))
        with open(os.path.join(target_folder, "config.json"), "w") as f:
            json.dump(config_json, f, indent=2, sort_keys=True)
        SegformerImageProcessorPil(size={"height": 64, "width": 48}).save_pretrained(target_folder)
    path = os.path.join(out_dir, name + ".safetensors")
    save_file(tensors, path, metadata={"config": json.dumps(config_json, sort_keys=True)})
    print(path, os.path.getsize(path), "bytes, logits", list(logits.shape))
    return model


def make_end_to_end(out_dir, model, photo):
    """The whole path on a real photo: the Pillow image processor at its 512x512 default, the
    model, post_process_semantic_segmentation at the photo's size. Writes the map as an 8-bit
    PNG, and a PNG marking (255) the near-ties a test may excuse: top-2 margin below 1e-4."""
    image = Image.open(photo).convert("RGB")
    inputs = SegformerImageProcessorPil()(images=image, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
        resized = torch.nn.functional.interpolate(logits, size=(image.height, image.width), mode="bilinear", align_corners=False)
    top2 = resized.topk(2, dim=1).values[0]
    labels = resized.argmax(dim=1)[0].numpy().astype(np.uint8)
    ties = ((top2[0] - top2[1]).numpy() < 1e-4).astype(np.uint8) * 255
    Image.fromarray(labels, mode="L").save(os.path.join(out_dir, "kauai-map.png"))
    Image.fromarray(ties, mode="L").save(os.path.join(out_dir, "kauai-ties.png"))
    print("kauai-map.png", image.size, "near-ties", int((ties > 0).sum()))


def make_preprocess(out_dir):
    """A photo-like 83x57 image through the Pillow image processor at 64x48 (height x width)."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:57, 0:83]
    pixels = np.stack([(x * 3) % 256, (y * 4) % 256, (x + y) % 256], axis=-1).astype(np.int16)
    pixels = np.clip(pixels + rng.integers(-40, 40, pixels.shape), 0, 255).astype(np.uint8)
    processor = SegformerImageProcessorPil(size={"height": 48, "width": 64})
    values = processor(images=Image.fromarray(pixels), return_tensors="pt")["pixel_values"]
    tensors = {"pixels": torch.from_numpy(pixels.astype(np.float32)).contiguous(), "pixel_values": values.contiguous()}
    path = os.path.join(out_dir, "preprocess.safetensors")
    save_file(tensors, path, metadata={"size": "48x64"})
    print(path, os.path.getsize(path), "bytes, pixel_values", list(values.shape))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    out = parser.parse_args().out
    os.makedirs(out, exist_ok=True)
    # Four stages as B0-B5 have them, ADE20K's 150 labels, an odd input whose stage sizes floor
    # (67x45 -> 17x12 -> 9x6 -> 5x3 -> 3x2; sr 8 on 17x12 gives 2x1).
    four = make("segformer-four-stages", out, SegformerConfig(
        hidden_sizes=[8, 16, 24, 32], num_attention_heads=[1, 2, 3, 4], depths=[1, 2, 1, 1],
        sr_ratios=[8, 4, 2, 1], decoder_hidden_size=16, num_labels=150, mlp_ratios=[4, 4, 4, 4]),
        batch=2, height=67, width=45, target=(73, 50), seed=0, hub_folder="segformer-hub-folder")
    # Three stages, other patch sizes, strides and ratios, 19 labels (Cityscapes-like), tanh GELU.
    make("segformer-three-stages", out, SegformerConfig(
        num_encoder_blocks=3, hidden_sizes=[12, 20, 28], num_attention_heads=[2, 2, 4], depths=[2, 1, 2],
        sr_ratios=[4, 2, 1], patch_sizes=[5, 3, 3], strides=[2, 2, 2], mlp_ratios=[2, 3, 4],
        decoder_hidden_size=24, num_labels=19, hidden_act="gelu_new"), batch=1, height=41, width=58, target=(41, 58), seed=1)
    make_preprocess(out)
    make_end_to_end(out, four, os.path.join(os.path.dirname(__file__), "..", "..", "data", "kauai.png"))


if __name__ == "__main__":
    main()
