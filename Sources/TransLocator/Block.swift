import TensorEngine

/// A pre-norm transformer block (paper eqs. 2-3; timm `Block`):
/// y = x + proj(attention(qkv(LN1(x)))), x' = y + fc2(GELU(fc1(LN2(y)))).
/// Works in place on the residual stream x [B·N, C].
final class Block {
    let config: ViTConfig
    let norm1: LayerNorm
    let qkv: Linear
    let proj: Linear
    let norm2: LayerNorm
    let fc1: Linear
    let fc2: Linear

    init(_ name: String, config: ViTConfig) {
        self.config = config
        let c = config.embedDimension
        norm1 = LayerNorm(name + ".norm1", channels: c)
        qkv = Linear(name + ".attn.qkv", inputs: c, outputs: 3 * c)
        proj = Linear(name + ".attn.proj", inputs: c, outputs: c)
        norm2 = LayerNorm(name + ".norm2", channels: c)
        fc1 = Linear(name + ".mlp.fc1", inputs: c, outputs: config.mlpDimension)
        fc2 = Linear(name + ".mlp.fc2", inputs: config.mlpDimension, outputs: c)
    }

    /// timm's `state_dict()` order within a block.
    var parameters: [Parameter] {
        norm1.parameters + qkv.parameters + proj.parameters + norm2.parameters + fc1.parameters + fc2.parameters
    }
    var linears: [Linear] { [qkv, proj, fc1, fc2] }

    func forward(_ x: UnsafeMutablePointer<Float>, batch: Int, cache: BlockCache) {
        let rows = batch * config.tokenCount, c = config.embedDimension
        // Training keeps each norm's input for backward (x itself is updated in place).
        if cache.training { cache.input1.data.update(from: x, count: rows * c) }
        norm1.forward(x, rows: rows, cache.h1.data, mean: cache.mean1.data, rstd: cache.rstd1.data)
        qkv.forward(cache.h1.data, rows: rows, cache.qkv.data)
        attentionForward(cache.qkv.data, cache.attention.data, probabilities: cache.probabilities.data, batch: batch,
                         tokens: config.tokenCount, heads: config.headCount, headSize: config.headDimension)
        proj.forward(cache.attention.data, rows: rows, x, accumulate: true)             // residual
        if cache.training { cache.input2.data.update(from: x, count: rows * c) }
        norm2.forward(x, rows: rows, cache.h2.data, mean: cache.mean2.data, rstd: cache.rstd2.data)
        fc1.forward(cache.h2.data, rows: rows, cache.hidden.data)
        geluForward(cache.hidden.data, cache.activated.data, count: rows * config.mlpDimension)
        fc2.forward(cache.activated.data, rows: rows, x, accumulate: true)              // residual
    }

    /// dx: gradient of the block's output in, of its input out (in place). Parameter gradients
    /// accumulate. Reads the forward's cache.
    func backward(_ dx: UnsafeMutablePointer<Float>, batch: Int, cache: BlockCache, scratch: BackwardScratch) {
        let rows = batch * config.tokenCount, hiddenCount = rows * config.mlpDimension
        fc2.backward(cache.activated.data, rows: rows, dx, dx: scratch.dActivated.data)
        scratch.dHidden.fill(0)
        geluBackward(cache.hidden.data, scratch.dActivated.data, scratch.dHidden.data, count: hiddenCount)
        fc1.backward(cache.h2.data, rows: rows, scratch.dHidden.data, dx: scratch.dNormed.data)
        norm2.backward(cache.input2.data, mean: cache.mean2.data, rstd: cache.rstd2.data, rows: rows,
                       scratch.dNormed.data, dx)
        proj.backward(cache.attention.data, rows: rows, dx, dx: scratch.dAttention.data)
        scratch.dqkv.fill(0)
        attentionBackward(cache.qkv.data, probabilities: cache.probabilities.data, scratch.dAttention.data,
                          scratch.dqkv.data, batch: batch, tokens: config.tokenCount, heads: config.headCount,
                          headSize: config.headDimension)
        qkv.backward(cache.h1.data, rows: rows, scratch.dqkv.data, dx: scratch.dNormed.data)
        norm1.backward(cache.input1.data, mean: cache.mean1.data, rstd: cache.rstd1.data, rows: rows,
                       scratch.dNormed.data, dx)
    }
}

/// What one block's forward keeps (training) or uses as scratch (inference).
final class BlockCache {
    let training: Bool
    let input1, mean1, rstd1, h1, qkv, probabilities, attention, input2, mean2, rstd2, h2, hidden, activated: Tensor

    init(config: ViTConfig, batch: Int, training: Bool) {
        self.training = training
        let rows = batch * config.tokenCount, c = config.embedDimension, n = config.tokenCount
        input1 = Tensor(zeros: training ? [rows, c] : [0])
        input2 = Tensor(zeros: training ? [rows, c] : [0])
        mean1 = Tensor(zeros: [rows]); rstd1 = Tensor(zeros: [rows])
        mean2 = Tensor(zeros: [rows]); rstd2 = Tensor(zeros: [rows])
        h1 = Tensor(zeros: [rows, c])
        qkv = Tensor(zeros: [rows, 3 * c])
        probabilities = Tensor(zeros: [batch * config.headCount * n * n])
        attention = Tensor(zeros: [rows, c])
        h2 = Tensor(zeros: [rows, c])
        hidden = Tensor(zeros: [rows, config.mlpDimension])
        activated = Tensor(zeros: [rows, config.mlpDimension])
    }
}

/// Gradient scratch shared by all blocks of all branches (backward runs one block at a time).
final class BackwardScratch {
    let dActivated, dHidden, dNormed, dAttention, dqkv: Tensor

    init(config: ViTConfig, batch: Int) {
        let rows = batch * config.tokenCount, c = config.embedDimension
        dActivated = Tensor(zeros: [rows, config.mlpDimension])
        dHidden = Tensor(zeros: [rows, config.mlpDimension])
        dNormed = Tensor(zeros: [rows, c])
        dAttention = Tensor(zeros: [rows, c])
        dqkv = Tensor(zeros: [rows, 3 * c])
    }
}
