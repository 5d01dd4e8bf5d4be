"""The PyTorch twin of translocator's TransLocator model (Sources/TransLocator).

Same architecture, same parameter names, same config files (configs/*.json): a model trained
here (on GPUs, with torchrun/DDP) can be written as a translocator model file and loaded by the
Swift engine, and the Swift engine's forward and backward are tested against fixtures this
module makes (scripts/model/make_twin_fixture.py, through the scripts/model/twin.py shim).

Architecture (paper section 3; docs/ARCHITECTURE.md for where the paper is silent):
  - one or two timm ViT branches, `rgb.*` (the photo) and `seg.*` (its ADE20K segmentation map
    rendered with the ADE20K palette and normalized like a photo), named exactly as timm's
    VisionTransformer (`rgb.blocks.3.attn.qkv.weight`), so timm checkpoints load by prefixing;
  - MFF (eq. 4) after every block: cls <- g(sum_j f(cls_j)), written back as both branches' CLS
    token; f and g are embed_dim -> embed_dim linear layers, one pair per block
    (`fusion.{k}.f`, `fusion.{k}.g`);
  - modality attention (eqs. 5-7) on the two branches' final CLS tokens (after each branch's final
    norm): a scorer [embed_dim, 8, 1] with ReLU shared by both branches, softmax over the two
    scores, f_mm = [(1 + w_rgb) cls_rgb || (1 + w_seg) cls_seg];
  - four heads on f_mm (`heads.coarse`, `heads.middle`, `heads.fine`, `heads.scene`), each
    Linear layers with GELU between hidden layers, sizes from the config and the partition;
  - loss eq. 8: (1 - a - b) CE_coarse + a CE_middle + b CE_fine + g CE_scene.
ViT-MT and the ablation steps of Table 2 are configurations (segmentation_branch,
multimodal_feature_fusion, modality_attention, scene_classes = 0 for no scene head).

Requires torch and timm (python/pyproject.toml).
"""
import json

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer

__all__ = ["GEO_LEVELS", "TransLocatorTwin", "load_config", "make_head", "multitask_loss"]

GEO_LEVELS = ("coarse", "middle", "fine")


def load_config(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def make_head(in_features: int, hidden: list[int], out_features: int) -> nn.Sequential:
    """Linear layers with GELU between them: [in, *hidden, out] (paper Table A.2)."""
    sizes = [in_features, *hidden, out_features]
    layers = []
    for i in range(len(sizes) - 1):
        if i > 0:
            layers.append(nn.GELU())
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
    return nn.Sequential(*layers)


class TransLocatorTwin(nn.Module):
    def __init__(self, model_config: dict, head_sizes: dict[str, int]):
        """model_config: the "model" object of a configs/*.json file.
        head_sizes: {"coarse": K1, "middle": K2, "fine": K3}, the partition's class counts."""
        super().__init__()
        c = model_config
        self.config = c
        self.has_seg = bool(c["segmentation_branch"])
        self.has_mff = self.has_seg and bool(c["multimodal_feature_fusion"])
        self.has_attention = self.has_seg and bool(c["modality_attention"])
        dim = c["embed_dim"]

        def branch():
            return VisionTransformer(
                img_size=c["img_size"], patch_size=c["patch_size"], embed_dim=dim, depth=c["depth"],
                num_heads=c["num_heads"], mlp_ratio=c["mlp_ratio"], num_classes=0,
                class_token=True, global_pool="token", qkv_bias=True)

        self.rgb = branch()
        if self.has_seg:
            self.seg = branch()
        if self.has_mff:
            self.fusion = nn.ModuleList(
                nn.ModuleDict({"f": nn.Linear(dim, dim), "g": nn.Linear(dim, dim)})
                for _ in range(c["depth"]))
        if self.has_attention:
            self.modality_attention = make_head(dim, c["modality_attention_hidden"], 1)
            # make_head puts GELU between layers; the scorer uses ReLU (docs/ARCHITECTURE.md).
            for i, layer in enumerate(self.modality_attention):
                if isinstance(layer, nn.GELU):
                    self.modality_attention[i] = nn.ReLU()
        feature_dim = dim * (2 if self.has_seg else 1)
        heads = {level: make_head(feature_dim, c["head_hidden"][level], head_sizes[level]) for level in GEO_LEVELS}
        if c["scene_classes"] > 0:
            heads["scene"] = make_head(feature_dim, c["head_hidden"]["scene"], c["scene_classes"])
        self.heads = nn.ModuleDict(heads)

    def init_weights(self, seed: int = 0) -> None:
        """Heads N(0, 0.02) with zero bias (paper section 4); MFF starts as the mean of the two
        CLS tokens (f = I, g = I/2), so a pretrained backbone's CLS survives the first fusions;
        the scorer as timm inits linear layers (trunc_normal 0.02)."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for head in self.heads.values():
                for layer in head:
                    if isinstance(layer, nn.Linear):
                        layer.weight.normal_(0.0, 0.02, generator=g)
                        layer.bias.zero_()
            if self.has_mff:
                for pair in self.fusion:
                    pair["f"].weight.copy_(torch.eye(pair["f"].weight.shape[0]))
                    pair["g"].weight.copy_(0.5 * torch.eye(pair["g"].weight.shape[0]))
                    pair["f"].bias.zero_()
                    pair["g"].bias.zero_()

    @staticmethod
    def _embed(branch, image):
        x = branch.patch_embed(image)
        x = branch._pos_embed(x)          # timm: concat CLS, then add pos_embed
        x = branch.patch_drop(x)
        return branch.norm_pre(x)

    def features(self, rgb: torch.Tensor, seg: torch.Tensor | None = None):
        """Returns f_mm [B, feature_dim] and the modality weights [B, 2] (None for one branch)."""
        x = self._embed(self.rgb, rgb)
        if not self.has_seg:
            for block in self.rgb.blocks:
                x = block(x)
            return self.rgb.norm(x)[:, 0], None
        if seg is None:
            raise ValueError("a TransLocator model needs the segmentation map input")
        y = self._embed(self.seg, seg)
        for k in range(len(self.rgb.blocks)):
            x = self.rgb.blocks[k](x)
            y = self.seg.blocks[k](y)
            if self.has_mff:
                f, g = self.fusion[k]["f"], self.fusion[k]["g"]
                fused = g(f(x[:, 0]) + f(y[:, 0]))           # eq. 4
                x = torch.cat([fused[:, None], x[:, 1:]], dim=1)  # written back to both branches
                y = torch.cat([fused[:, None], y[:, 1:]], dim=1)
        cls_rgb = self.rgb.norm(x)[:, 0]
        cls_seg = self.seg.norm(y)[:, 0]
        if not self.has_attention:
            return torch.cat([cls_rgb, cls_seg], dim=1), None
        scores = torch.cat([self.modality_attention(cls_rgb), self.modality_attention(cls_seg)], dim=1)
        w = scores.softmax(dim=1)                                                  # eq. 5
        f_mm = torch.cat([(1 + w[:, :1]) * cls_rgb, (1 + w[:, 1:]) * cls_seg], dim=1)  # eqs. 6-7
        return f_mm, w

    def forward(self, rgb: torch.Tensor, seg: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        f_mm, _ = self.features(rgb, seg)
        return {name: head(f_mm) for name, head in self.heads.items()}


def multitask_loss(logits: dict[str, torch.Tensor], labels: dict[str, torch.Tensor], weights: dict[str, float],
                   label_smoothing: float = 0.0) -> torch.Tensor:
    """Eq. 8 with the authors' weights: (1 - a - b) L_coarse + a L_middle + b L_fine + g L_scene."""
    a, b, g = weights["middle"], weights["fine"], weights["scene"]
    ce = lambda name: F.cross_entropy(logits[name], labels[name], label_smoothing=label_smoothing)
    loss = (1 - a - b) * ce("coarse") + a * ce("middle") + b * ce("fine")
    if "scene" in logits:
        loss = loss + g * ce("scene")
    return loss
