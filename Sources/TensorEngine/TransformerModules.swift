// MARK: - The pieces of a timm VisionTransformer, as modules (see Module.swift for the contract)

/// Temporaries of transformer blocks that do not outlive one call: a backward's gradient
/// buffers, and every activation of an inference forward (`TransformerBlock.inferInPlace`).
/// Blocks that run one at a time (the blocks of a ViT, or two ViTs run block by block) may
/// share one workspace, so that a deep model holds one block's worth of them; each buffer is
/// sized on first use at a shape and reused after.
package final class BlockWorkspace {
    // Backward: the block's and its attention's and MLP's gradient buffers.
    var dMiddle: Tensor?, dNormalized: Tensor?, dAttended: Tensor?, dQKV: Tensor?, dActivated: Tensor?, dHidden: Tensor?
    // Inference: a norm's output, its statistics, the fused qkv, P, attention output, MLP hidden.
    var normalized: Tensor?, mean: Tensor?, rstd: Tensor?, qkv: Tensor?, probabilities: Tensor?, attended: Tensor?
    var hidden: Tensor?

    package init() {}
}

/// timm `Attention`: qkv projection, multi-head scaled dot-product attention, output projection.
/// Parameters `NAME.qkv.weight` [3C, C], `NAME.qkv.bias` [3C], `NAME.proj.weight` [C, C],
/// `NAME.proj.bias` [C]. Input and output [B, N, C].
package final class MultiHeadAttention: Module {
    let qkv: Linear, proj: Linear
    let channels: Int, heads: Int
    /// Gradient buffers and inference temporaries (shareable between blocks).
    let workspace: BlockWorkspace
    private var attended: Tensor?, probabilities: Tensor?
    private var shape: (b: Int, n: Int) = (0, 0)

    init(channels: Int, heads: Int, name: String, workspace: BlockWorkspace = BlockWorkspace()) {
        precondition(heads > 0 && channels % heads == 0, "attention: \(channels) channels do not split into \(heads) heads")
        self.channels = channels
        self.heads = heads
        self.workspace = workspace
        qkv = Linear(inFeatures: channels, outFeatures: 3 * channels, name: qualified(name, "qkv"))
        proj = Linear(inFeatures: channels, outFeatures: channels, name: qualified(name, "proj"))
    }

    package var parameters: [Parameter] { qkv.parameters + proj.parameters }

    /// x: [B, N, C] → [B, N, C]. Saves the attention probabilities [B, H, N, N].
    func forward(_ x: Tensor) -> Tensor {
        precondition(x.rank == 3 && x.shape[2] == channels, "\(qkv.weight.name): input \(x.shape), expected [B, N, \(channels)]")
        let b = x.shape[0], n = x.shape[1]
        shape = (b, n)
        let fused = qkv.forward(x)
        let out = reuse(&attended, [b, n, channels])
        let p = reuse(&probabilities, [b, heads, n, n])
        attentionForward(fused.data, out.data, probabilities: p.data, batch: b, tokens: n, heads: heads,
                         headSize: channels / heads)
        return proj.forward(out)
    }

    /// y += attention(x) (`accumulating`: the residual add folded into proj's GEMM) or
    /// y = attention(x), saving nothing (inference). x, y: [B, N, C], distinct. Temporaries
    /// from the workspace.
    func infer(_ x: Tensor, into y: Tensor, accumulating: Bool) {
        precondition(x.rank == 3 && x.shape[2] == channels && y.shape == x.shape,
                     "\(qkv.weight.name): input \(x.shape), output \(y.shape), expected [B, N, \(channels)] both")
        let b = x.shape[0], n = x.shape[1]
        let fused = reuse(&workspace.qkv, [b, n, 3 * channels])
        qkv.apply(x, into: fused)
        let out = reuse(&workspace.attended, [b, n, channels])
        let p = reuse(&workspace.probabilities, [b, heads, n, n])
        attentionForward(fused.data, out.data, probabilities: p.data, batch: b, tokens: n, heads: heads,
                         headSize: channels / heads)
        proj.apply(out, into: y, accumulating: accumulating)
    }

    func backward(_ dy: Tensor, into dx: Tensor?) {
        let (b, n) = shape
        let dOut = reuse(&workspace.dAttended, [b, n, channels])
        dOut.fill(0)
        proj.backward(dy, into: dOut)
        let dFused = reuse(&workspace.dQKV, [b, n, 3 * channels])
        dFused.fill(0)
        attentionBackward(qkv.output!.data, probabilities: probabilities!.data, dOut.data, dFused.data,
                          batch: b, tokens: n, heads: heads, headSize: channels / heads)
        qkv.backward(dFused, into: dx)
    }
}

/// timm `Mlp`: fc1, GELU, fc2. Parameters `NAME.fc1.*` [hidden, C], `NAME.fc2.*` [C, hidden].
package final class MLP: Module {
    let fc1: Linear, fc2: Linear
    let activation = GELU()
    /// Gradient buffers and inference temporaries (shareable between blocks).
    let workspace: BlockWorkspace

    init(channels: Int, hidden: Int, name: String, workspace: BlockWorkspace = BlockWorkspace()) {
        self.workspace = workspace
        fc1 = Linear(inFeatures: channels, outFeatures: hidden, name: qualified(name, "fc1"))
        fc2 = Linear(inFeatures: hidden, outFeatures: channels, name: qualified(name, "fc2"))
    }

    package var parameters: [Parameter] { fc1.parameters + fc2.parameters }

    func forward(_ x: Tensor) -> Tensor {
        fc2.forward(activation.forward(fc1.forward(x)))
    }

    /// y += mlp(x) (`accumulating`: the residual add folded into fc2's GEMM) or y = mlp(x),
    /// saving nothing (inference; GELU in place on the hidden buffer). x, y: [..., C], distinct.
    func infer(_ x: Tensor, into y: Tensor, accumulating: Bool) {
        let hidden = reuse(&workspace.hidden, Array(x.shape.dropLast()) + [fc1.outFeatures])
        fc1.apply(x, into: hidden)
        geluForward(hidden.data, hidden.data, count: hidden.count)
        fc2.apply(hidden, into: y, accumulating: accumulating)
    }

    func backward(_ dy: Tensor, into dx: Tensor?) {
        let hiddenShape = Array(dy.shape.dropLast()) + [fc1.outFeatures]
        let dA = reuse(&workspace.dActivated, hiddenShape), dH = reuse(&workspace.dHidden, hiddenShape)
        dA.fill(0)
        fc2.backward(dy, into: dA)
        dH.fill(0)
        activation.backward(dA, into: dH)
        fc1.backward(dH, into: dx)
    }
}

/// timm `Block` (pre-norm): x = x + attn(norm1(x)); x = x + mlp(norm2(x)). No dropout or drop
/// path (timm's defaults for ViT-B fine-tuning are 0). Parameters under `NAME.norm1`, `NAME.attn`,
/// `NAME.norm2`, `NAME.mlp`.
package final class TransformerBlock: Module {
    package let norm1: LayerNorm, attention: MultiHeadAttention, norm2: LayerNorm, mlp: MLP
    /// Gradient buffers and inference temporaries; blocks run one at a time may share one.
    let workspace: BlockWorkspace
    private var afterAttention: Tensor?, output: Tensor?

    package init(channels: Int, heads: Int, mlpRatio: Double = 4, eps: Float = 1e-6, name: String,
                workspace: BlockWorkspace = BlockWorkspace()) {
        self.workspace = workspace
        norm1 = LayerNorm(channels: channels, eps: eps, name: qualified(name, "norm1"))
        attention = MultiHeadAttention(channels: channels, heads: heads, name: qualified(name, "attn"), workspace: workspace)
        norm2 = LayerNorm(channels: channels, eps: eps, name: qualified(name, "norm2"))
        mlp = MLP(channels: channels, hidden: Int(Double(channels) * mlpRatio), name: qualified(name, "mlp"), workspace: workspace)
    }

    /// The block's `Linear` layers (qkv, proj, fc1, fc2), e.g. to pack their weights.
    package var linears: [Linear] { [attention.qkv, attention.proj, mlp.fc1, mlp.fc2] }

    package var parameters: [Parameter] { norm1.parameters + attention.parameters + norm2.parameters + mlp.parameters }

    /// x: [B, N, C] → [B, N, C] (the block's own buffer; the caller may edit it, e.g. MFF).
    package func forward(_ x: Tensor) -> Tensor {
        let middle = reuse(&afterAttention, x.shape)
        addForward(x.data, attention.forward(norm1.forward(x)).data, middle.data, count: x.count)
        let y = reuse(&output, x.shape)
        addForward(middle.data, mlp.forward(norm2.forward(middle)).data, y.data, count: x.count)
        return y
    }

    /// x ← block(x) in place, saving nothing (inference): x += attn(norm1(x)); x += mlp(norm2(x)),
    /// each residual add folded into its projection's GEMM. Temporaries from the workspace, so
    /// blocks sharing one hold a single block's activations.
    package func inferInPlace(_ x: Tensor) {
        precondition(x.rank == 3, "\(norm1.weight.name): input \(x.shape), expected [B, N, C]")
        let rows = x.shape[0] * x.shape[1]
        let h = reuse(&workspace.normalized, x.shape)
        let mean = reuse(&workspace.mean, [rows]), rstd = reuse(&workspace.rstd, [rows])
        norm1.apply(x, into: h, mean: mean, rstd: rstd)
        attention.infer(h, into: x, accumulating: true)
        norm2.apply(x, into: h, mean: mean, rstd: rstd)
        mlp.infer(h, into: x, accumulating: true)
    }

    package func backward(_ dy: Tensor, into dx: Tensor?) {
        let dMid = reuse(&workspace.dMiddle, dy.shape), dNorm = reuse(&workspace.dNormalized, dy.shape)
        dMid.assign(dy)                                       // residual path of the second add
        dNorm.fill(0)
        mlp.backward(dy, into: dNorm)
        norm2.backward(dNorm, into: dMid)
        if let dx { accumulate(dMid.data, into: dx.data, count: dx.count) }   // residual of the first add
        dNorm.fill(0)
        attention.backward(dMid, into: dNorm)
        norm1.backward(dNorm, into: dx)
    }
}

/// timm `PatchEmbed`: Conv2d(Cin, C, kernel = stride = P) as im2col + GEMM, flattened to tokens.
/// Parameters `NAME.proj.weight` [C, Cin, P, P] and `NAME.proj.bias` [C].
/// Input [B, Cin, H, W] (NCHW, normalized), output [B, (H/P)·(W/P), C].
package final class PatchEmbed: Module {
    package let weight: Parameter, bias: Parameter
    let inChannels: Int, channels: Int, patch: Int
    private var input: Tensor?, columns: Tensor?, output: Tensor?, dColumns: Tensor?

    package init(inChannels: Int = 3, channels: Int, patch: Int, name: String) {
        self.inChannels = inChannels
        self.channels = channels
        self.patch = patch
        weight = Parameter(name: qualified(name, "proj.weight"), shape: [channels, inChannels, patch, patch])
        bias = Parameter(name: qualified(name, "proj.bias"), shape: [channels])
    }

    package var parameters: [Parameter] { [weight, bias] }

    package func forward(_ image: Tensor) -> Tensor {
        precondition(image.rank == 4 && image.shape[1] == inChannels && image.shape[2] % patch == 0
                     && image.shape[3] % patch == 0,
                     "\(weight.name): image \(image.shape), expected [B, \(inChannels), H, W] with H, W multiples of \(patch)")
        let b = image.shape[0], h = image.shape[2], w = image.shape[3]
        let patches = (h / patch) * (w / patch), rowLength = inChannels * patch * patch
        let cols = reuse(&columns, [b * patches, rowLength])
        patchColumnsForward(image.data, cols.data, batch: b, channels: inChannels, height: h, width: w, patch: patch)
        let y = reuse(&output, [b, patches, channels])
        linearForward(cols.data, weight.value.data, bias.value.data, y.data, rows: b * patches,
                      inFeatures: rowLength, outFeatures: channels)
        input = image
        return y
    }

    /// dx: the image gradient (usually nil: pixels need none).
    package func backward(_ dy: Tensor, into dx: Tensor?) {
        guard let image = input, let cols = columns else { preconditionFailure("\(weight.name): backward before forward") }
        let b = image.shape[0], h = image.shape[2], w = image.shape[3]
        let rows = cols.shape[0], rowLength = cols.shape[1]
        var dCols: Tensor?
        if dx != nil {
            dCols = reuse(&dColumns, cols.shape)
            dCols!.fill(0)
        }
        linearBackward(cols.data, weight.value.data, dy.data, dCols?.data, weight.gradient.data, bias.gradient.data,
                       rows: rows, inFeatures: rowLength, outFeatures: channels)
        if let dx, let dCols {
            patchColumnsBackward(dCols.data, dx.data, batch: b, channels: inChannels, height: h, width: w, patch: patch)
        }
    }
}

/// timm's `cls_token` [1, 1, C] and `pos_embed` [1, Np + 1, C]: prepends the CLS token to the
/// patch tokens and adds the position embedding (timm `_pos_embed`, no registers).
package final class ClassTokenEmbedding: Module {
    package let classToken: Parameter, positionEmbedding: Parameter
    package let channels: Int, patchCount: Int
    private var output: Tensor?

    package init(channels: Int, patchCount: Int, classTokenName: String = "cls_token",
                positionEmbeddingName: String = "pos_embed") {
        self.channels = channels
        self.patchCount = patchCount
        classToken = Parameter(name: classTokenName, shape: [1, 1, channels])
        positionEmbedding = Parameter(name: positionEmbeddingName, shape: [1, patchCount + 1, channels])
    }

    package var parameters: [Parameter] { [classToken, positionEmbedding] }

    /// patches [B, Np, C] → tokens [B, Np + 1, C].
    package func forward(_ patches: Tensor) -> Tensor {
        requireSame(Array(patches.shape.dropFirst()), [patchCount, channels], "\(positionEmbedding.name) input")
        let b = patches.shape[0]
        let y = reuse(&output, [b, patchCount + 1, channels])
        classTokenForward(patches.data, cls: classToken.value.data, position: positionEmbedding.value.data, y.data,
                          batch: b, patchCount: patchCount, channels: channels)
        return y
    }

    package func backward(_ dy: Tensor, into dx: Tensor?) {
        classTokenBackward(dy.data, dPatches: dx?.data, dCls: classToken.gradient.data,
                           dPosition: positionEmbedding.gradient.data, batch: dy.shape[0], patchCount: patchCount,
                           channels: channels)
    }
}
