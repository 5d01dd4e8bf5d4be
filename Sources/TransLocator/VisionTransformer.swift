import TensorEngine

/// One ViT branch, as timm's `VisionTransformer` for `vit_*_patch16_*` (pre-norm blocks, qkv
/// bias, CLS token, learned position embedding, final norm, no layer scale), built from the
/// engine's modules with timm's parameter names under `prefix` (`rgb.`, `seg.`, or none for a
/// plain imported ViT).
///
/// The forward runs in stages (`embed`, then each block, then `finalCLS`) so that TransLocator
/// can fuse the branches' CLS tokens between blocks (eq. 4). Training runs each block's
/// `forward` (which keeps what its backward needs); inference runs `inferInPlace` on one
/// residual stream, with temporaries from a `BlockWorkspace` that every block shares (and
/// that TransLocator's two branches share too).
package final class VisionTransformer {
    let config: ViTConfig
    let prefix: String
    let patchEmbed: PatchEmbed
    let tokens: ClassTokenEmbedding
    package let blocks: [TransformerBlock]
    let norm: LayerNorm
    /// The CLS rows gathered for the final norm, and their gradient.
    private var clsRows: Tensor?, dNormInput: Tensor?, dPatches: Tensor?

    package init(config: ViTConfig, prefix: String, workspace: BlockWorkspace = BlockWorkspace()) {
        self.config = config
        self.prefix = prefix
        let c = config.embedDimension
        patchEmbed = PatchEmbed(inChannels: 3, channels: c, patch: config.patchSize, name: prefix + "patch_embed")
        tokens = ClassTokenEmbedding(channels: c, patchCount: config.gridSize * config.gridSize,
                                     classTokenName: prefix + "cls_token", positionEmbeddingName: prefix + "pos_embed")
        blocks = (0..<config.depth).map {
            TransformerBlock(channels: c, heads: config.headCount, mlpRatio: config.mlpRatio, name: prefix + "blocks.\($0)",
                             workspace: workspace)
        }
        norm = LayerNorm(channels: c, name: prefix + "norm")
    }

    /// timm's `state_dict()` order.
    package var parameters: [Parameter] { tokens.parameters + patchEmbed.parameters + blocks.flatMap(\.parameters) + norm.parameters }

    package var linears: [Linear] { blocks.flatMap(\.linears) }

    /// timm's init for a fresh ViT: trunc_normal(0.02) for pos_embed and linear weights,
    /// normal(1e-6) for the CLS token, zero biases, unit norms (`init_weights`, mode '').
    /// timm truncates at ±2 absolute, 100 standard deviations: a plain normal draw is the same
    /// distribution, and ~10x faster than the inverse-CDF draw (ViT-B has 86M weights).
    func initialize(using generator: inout SeededGenerator) {
        tokens.positionEmbedding.value.fillNormal(std: 0.02, using: &generator)
        tokens.classToken.value.fillNormal(std: 1e-6, using: &generator)
        patchEmbed.weight.value.fillNormal(std: 0.02, using: &generator)     // timm: as a linear layer
        for linear in linears { linear.weight.value.fillNormal(std: 0.02, using: &generator) }
    }

    /// tokens [B, N, C] = [CLS ‖ patches·Wᵀ + b] + pos_embed (timm: concat CLS, then add
    /// pos_embed), in the embedding module's buffer. images [B, 3, S, S] (normalized).
    func embed(_ images: Tensor) -> Tensor { tokens.forward(patchEmbed.forward(images)) }

    /// Gradients of the CLS token, position embedding and patch projection from dTokens [B, N, C].
    func embedBackward(_ dTokens: Tensor) {
        let d = reuse(&dPatches, [dTokens.shape[0], tokens.patchCount, config.embedDimension])
        d.fill(0)
        tokens.backward(dTokens, into: d)
        patchEmbed.backward(d, into: nil)                  // pixels need no gradient
    }

    /// The CLS token after the final norm [B, C] (timm `pre_logits` with global_pool 'token':
    /// norm is per token, so only the CLS rows are normalized). x: [B, N, C].
    func finalCLS(_ x: Tensor) -> Tensor {
        let b = x.shape[0], n = x.shape[1], c = x.shape[2]
        let rows = reuse(&clsRows, [b, c])
        tokenSliceForward(x.data, rows.data, token: 0, batch: b, tokens: n, channels: c)   // timm: x[:, 0]
        return norm.forward(rows)
    }

    /// dx [B, N, C] = 0 except the CLS rows, which get the final norm's backward of dCLS [B, C].
    func finalCLSBackward(_ dCLS: Tensor, into dx: Tensor) {
        let b = dx.shape[0], n = dx.shape[1], c = dx.shape[2]
        let dRows = reuse(&dNormInput, [b, c])
        dRows.fill(0)
        norm.backward(dCLS, into: dRows)
        dx.fill(0)
        tokenSliceBackward(dRows.data, dx.data, token: 0, batch: b, tokens: n, channels: c)
    }

    /// timm's `forward_head(forward_features(x), pre_logits=True)` for `global_pool='token'`:
    /// the CLS token after the final norm. images [B, 3, S, S] -> [B, C]. Inference mode.
    func preLogits(_ images: Tensor) -> Tensor { infer(images).copy() }

    /// `preLogits` in the final norm's buffer (valid until the next forward).
    package func infer(_ images: Tensor) -> Tensor {
        let x = embed(images)
        for block in blocks { block.inferInPlace(x) }
        return finalCLS(x)
    }
}
