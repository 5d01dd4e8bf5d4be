import TensorEngine

/// One ViT branch, as timm's `VisionTransformer` for `vit_*_patch16_*` (pre-norm blocks, qkv
/// bias, CLS token, learned position embedding, final norm, no layer scale), with timm's
/// parameter names under `prefix` (`rgb.`, `seg.`, or none for a plain imported ViT).
///
/// The forward runs in stages (`embed`, `block`, `finalCLS`) so that TransLocator can fuse the
/// branches' CLS tokens between blocks (eq. 4). Activations live in a `ViTActivations` made for
/// one batch size.
final class VisionTransformer {
    let config: ViTConfig
    let prefix: String
    let clsToken: Parameter       // [1, 1, C]
    let positionEmbedding: Parameter  // [1, N, C]
    let patchWeight: Parameter    // [C, 3, P, P]
    let patchBias: Parameter      // [C]
    let blocks: [Block]
    let norm: LayerNorm

    init(config: ViTConfig, prefix: String) {
        self.config = config
        self.prefix = prefix
        let c = config.embedDimension, p = config.patchSize
        clsToken = Parameter(name: prefix + "cls_token", shape: [1, 1, c])
        positionEmbedding = Parameter(name: prefix + "pos_embed", shape: [1, config.tokenCount, c])
        patchWeight = Parameter(name: prefix + "patch_embed.proj.weight", shape: [c, 3, p, p])
        patchBias = Parameter(name: prefix + "patch_embed.proj.bias", shape: [c])
        blocks = (0..<config.depth).map { Block(prefix + "blocks.\($0)", config: config) }
        norm = LayerNorm(prefix + "norm", channels: c)
    }

    /// timm's `state_dict()` order.
    var parameters: [Parameter] {
        [clsToken, positionEmbedding, patchWeight, patchBias] + blocks.flatMap(\.parameters) + norm.parameters
    }

    /// timm's init for a fresh ViT: trunc_normal(0.02) for pos_embed and linear weights,
    /// normal(1e-6) for the CLS token, zero biases, unit norms (`init_weights`, mode '').
    /// timm truncates at ±2 absolute, 100 standard deviations: a plain normal draw is the same
    /// distribution, and ~10x faster than the inverse-CDF draw (ViT-B has 86M weights).
    func initialize(using generator: inout SeededGenerator) {
        positionEmbedding.value.fillNormal(std: 0.02, using: &generator)
        clsToken.value.fillNormal(std: 1e-6, using: &generator)
        patchWeight.value.fillNormal(std: 0.02, using: &generator)     // timm: as a linear layer
        for block in blocks {
            for linear in [block.qkv, block.proj, block.fc1, block.fc2] {
                linear.weight.value.fillNormal(std: 0.02, using: &generator)
            }
        }
    }

    // MARK: Embedding

    /// x [B, N, C] = [CLS ‖ patches·Wᵀ + b] + pos_embed (timm: concat CLS, then add pos_embed).
    /// images [B, 3, S, S] (normalized); saves the unfolded patches for backward.
    func embed(_ images: UnsafePointer<Float>, into state: ViTActivations) {
        let b = state.batch, c = config.embedDimension, n = config.tokenCount
        let p = config.patchSize, g = config.gridSize, s = config.imageSize, k = 3 * p * p
        let patches = state.patches.data, x = state.x.data
        // Unfold: row (b, gy, gx), column (channel, ky, kx): the conv weight's flattening.
        for item in 0..<b {
            for gy in 0..<g {
                for gx in 0..<g {
                    let patchIndex = (item &* g &+ gy) &* g &+ gx
                    let row = patches + patchIndex &* k
                    for channel in 0..<3 {
                        for ky in 0..<p {
                            let sourceRow = (item &* 3 &+ channel) &* s &+ gy &* p &+ ky
                            let source = images + (sourceRow &* s &+ gx &* p)
                            let destination = row + (channel &* p &+ ky) &* p
                            destination.update(from: source, count: p)
                        }
                    }
                }
            }
        }
        let cls = clsToken.value.data, pos = positionEmbedding.value.data, bias = patchBias.value.data
        for item in 0..<b {
            let tokens = x + item &* n &* c
            gemm(GEMMShape(m: g * g, n: c, k: k, transposeB: true), patches + item &* g &* g &* k,
                 patchWeight.value.data, tokens + c)
            for j in 0..<c { tokens[j] = cls[j] + pos[j] }
            for t in 1..<n {
                let row = tokens + t &* c, positions = pos + t &* c
                for j in 0..<c { row[j] += bias[j] + positions[j] }
            }
        }
    }

    /// Gradients of the CLS token, position embedding and patch projection from dx [B, N, C].
    func embedBackward(_ state: ViTActivations) {
        let b = state.batch, c = config.embedDimension, n = config.tokenCount
        let p = config.patchSize, g = config.gridSize, k = 3 * p * p
        let dx = state.dx.data
        let dCls = clsToken.gradient.data, dPos = positionEmbedding.gradient.data, dBias = patchBias.gradient.data
        for item in 0..<b {
            let tokens = dx + item &* n &* c
            for j in 0..<c { dCls[j] += tokens[j] }
            for t in 0..<n {
                let row = tokens + t &* c, positions = dPos + t &* c
                for j in 0..<c { positions[j] += row[j] }
                if t > 0 { for j in 0..<c { dBias[j] += row[j] } }
            }
            gemm(GEMMShape(m: c, n: k, k: g * g, transposeA: true), tokens + c,
                 state.patches.data + item &* g &* g &* k, beta: 1, patchWeight.gradient.data)
        }
    }

    // MARK: Final norm

    /// The CLS token after the final norm [B, C] (timm `pre_logits` with global_pool 'token':
    /// norm is per token, so only the CLS rows are normalized).
    func finalCLS(_ state: ViTActivations) {
        let b = state.batch, c = config.embedDimension, n = config.tokenCount
        for item in 0..<b {
            state.clsInput.data.advanced(by: item * c).update(from: state.x.data + item &* n &* c, count: c)
        }
        norm.forward(state.clsInput.data, rows: b, state.cls.data, mean: state.clsMean.data, rstd: state.clsRstd.data)
    }

    /// dx = 0 except the CLS rows, which get the final norm's backward of dCLS [B, C].
    func finalCLSBackward(_ state: ViTActivations, dCLS: UnsafePointer<Float>) {
        let b = state.batch, c = config.embedDimension, n = config.tokenCount
        state.dx.fill(0)
        let dIn = Tensor(zeros: [b, c])
        norm.backward(state.clsInput.data, mean: state.clsMean.data, rstd: state.clsRstd.data, rows: b, dCLS, dIn.data)
        for item in 0..<b {
            (state.dx.data + item &* n &* c).update(from: dIn.data + item &* c, count: c)
        }
    }
}

/// One branch's activations for one batch size. In training every block keeps its own cache
/// for backward; in inference one cache serves all blocks (nothing kept for backward).
final class ViTActivations {
    let batch: Int
    let training: Bool
    let patches: Tensor      // [B·G², 3P²]
    let x: Tensor            // [B·N, C], the residual stream
    let caches: [BlockCache]
    let clsInput: Tensor     // [B, C]
    let clsMean: Tensor      // [B]
    let clsRstd: Tensor      // [B]
    let cls: Tensor          // [B, C]: CLS after the final norm
    let dx: Tensor           // [B·N, C] (training only)

    /// `sharingCachesWith`: in inference, use that branch's block cache (branches run one
    /// block at a time, so two branches need one cache).
    init(config: ViTConfig, batch: Int, training: Bool, sharingCachesWith other: ViTActivations? = nil) {
        self.batch = batch
        self.training = training
        let c = config.embedDimension, rows = batch * config.tokenCount
        patches = Tensor(zeros: [batch * config.gridSize * config.gridSize, 3 * config.patchSize * config.patchSize])
        x = Tensor(zeros: [rows, c])
        if !training, let other, other.batch == batch, !other.training {
            caches = other.caches
        } else {
            caches = (0..<(training ? config.depth : 1)).map { _ in BlockCache(config: config, batch: batch, training: training) }
        }
        clsInput = Tensor(zeros: [batch, c])
        clsMean = Tensor(zeros: [batch])
        clsRstd = Tensor(zeros: [batch])
        cls = Tensor(zeros: [batch, c])
        dx = Tensor(zeros: training ? [rows, c] : [0])
    }

    func cache(forBlock k: Int) -> BlockCache { caches[training ? k : 0] }
}
