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
        let rows = batch * config.tokenCount
        let keep = cache.training
        norm1.forward(x, rows: rows, cache.h1.data, xhat: keep ? cache.xhat1.data : nil, rstd: keep ? cache.rstd1.data : nil)
        qkv.forward(cache.h1.data, rows: rows, cache.qkv.data)
        attentionForward(qkv: cache.qkv.data, batch: batch, tokens: config.tokenCount, heads: config.headCount,
                         headDimension: config.headDimension, probabilities: cache.probabilities.data,
                         output: cache.attention.data)
        proj.forward(cache.attention.data, rows: rows, x, accumulate: true)             // residual
        norm2.forward(x, rows: rows, cache.h2.data, xhat: keep ? cache.xhat2.data : nil, rstd: keep ? cache.rstd2.data : nil)
        fc1.forward(cache.h2.data, rows: rows, cache.hidden.data)
        geluForward(cache.hidden.data, cache.activated.data, count: rows * config.mlpDimension)
        fc2.forward(cache.activated.data, rows: rows, x, accumulate: true)              // residual
    }

    /// dx: gradient of the block's output in, of its input out (in place). Parameter gradients
    /// accumulate. Reads the forward's cache.
    func backward(_ dx: UnsafeMutablePointer<Float>, batch: Int, cache: BlockCache, scratch: BackwardScratch) {
        let rows = batch * config.tokenCount
        fc2.backward(cache.activated.data, rows: rows, dx, dx: scratch.dHidden.data)
        geluBackward(cache.hidden.data, scratch.dHidden.data, scratch.dHidden.data, count: rows * config.mlpDimension,
                     accumulate: false)
        fc1.backward(cache.h2.data, rows: rows, scratch.dHidden.data, dx: scratch.dNormed.data)
        norm2.backward(xhat: cache.xhat2.data, rstd: cache.rstd2.data, rows: rows, scratch.dNormed.data, dx)
        proj.backward(cache.attention.data, rows: rows, dx, dx: scratch.dAttention.data)
        attentionBackward(qkv: cache.qkv.data, probabilities: cache.probabilities.data, batch: batch,
                          tokens: config.tokenCount, heads: config.headCount, headDimension: config.headDimension,
                          dOutput: scratch.dAttention.data, dqkv: scratch.dqkv.data, scratch: scratch.dScores.data)
        qkv.backward(cache.h1.data, rows: rows, scratch.dqkv.data, dx: scratch.dNormed.data)
        norm1.backward(xhat: cache.xhat1.data, rstd: cache.rstd1.data, rows: rows, scratch.dNormed.data, dx)
    }
}

/// What one block's forward keeps (training) or uses as scratch (inference).
final class BlockCache {
    let training: Bool
    let xhat1, rstd1, h1, qkv, probabilities, attention, xhat2, rstd2, h2, hidden, activated: Tensor

    init(config: ViTConfig, batch: Int, training: Bool) {
        self.training = training
        let rows = batch * config.tokenCount, c = config.embedDimension, n = config.tokenCount
        let keep = { (shape: [Int]) in Tensor(zeros: training ? shape : [0]) }
        xhat1 = keep([rows, c]); rstd1 = keep([rows])
        xhat2 = keep([rows, c]); rstd2 = keep([rows])
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
    let dHidden, dNormed, dAttention, dqkv, dScores: Tensor

    init(config: ViTConfig, batch: Int) {
        let rows = batch * config.tokenCount, c = config.embedDimension, n = config.tokenCount
        dHidden = Tensor(zeros: [rows, config.mlpDimension])
        dNormed = Tensor(zeros: [rows, c])
        dAttention = Tensor(zeros: [rows, c])
        dqkv = Tensor(zeros: [rows, 3 * c])
        dScores = Tensor(zeros: [batch * config.headCount * n * n])
    }
}
