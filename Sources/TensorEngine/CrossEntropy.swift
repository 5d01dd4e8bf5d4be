import Foundation

// MARK: - Cross-entropy on logits (torch.nn.functional.cross_entropy, reduction "mean")

/// The target distribution of each row.
package enum CrossEntropyTarget {
    /// Class indices [B], each in 0..<K, with label smoothing ε (torch's `label_smoothing`:
    /// target = (1 - ε)·onehot + ε/K).
    case labels([Int], smoothing: Float)
    /// Probabilities [B, K], each row summing to 1 (torch's soft targets).
    case probabilities(UnsafePointer<Float>)

    @inline(__always)
    func target(row b: Int, column k: Int, classes: Int) -> Float {
        switch self {
        case let .labels(labels, smoothing):
            return (k == labels[b] ? 1 - smoothing : 0) + smoothing / Float(classes)
        case let .probabilities(targets):
            return targets[b * classes + k]
        }
    }
}

/// loss = (1/B) Σ_b Σ_k -t[b, k]·log softmax(logits[b])[k].
/// logits: [B, K]. Saves the softmax in `probabilities` ([B, K]) for backward. Returns the loss
/// (log-sum-exp in Double).
package func crossEntropyForward(_ logits: UnsafePointer<Float>, target: CrossEntropyTarget,
                                probabilities: UnsafeMutablePointer<Float>, batch b: Int, classes k: Int) -> Float {
    if case let .labels(labels, _) = target {
        precondition(labels.count == b, "cross-entropy: \(labels.count) labels for batch \(b)")
        for (row, label) in labels.enumerated() {
            precondition(label >= 0 && label < k, "cross-entropy: label \(label) of row \(row) outside 0..<\(k)")
        }
    }
    softmaxForward(logits, probabilities, rows: b, columns: k)
    var total = 0.0
    for bi in 0..<b {
        let row = logits + bi * k
        var maximum = -Double.infinity
        for j in 0..<k { maximum = max(maximum, Double(row[j])) }
        var sum = 0.0
        for j in 0..<k { sum += exp(Double(row[j]) - maximum) }
        let logSumExp = maximum + log(sum)
        for j in 0..<k {
            let t = target.target(row: bi, column: j, classes: k)
            if t != 0 { total -= Double(t) * (Double(row[j]) - logSumExp) }
        }
    }
    return Float(total / Double(b))
}

/// dLogits += scale·(p - t)/B (scale: the loss weight, e.g. eq. 8's 0.3 for the middle head).
/// Reads the forward's probabilities; accumulates.
package func crossEntropyBackward(probabilities: UnsafePointer<Float>, target: CrossEntropyTarget,
                                 _ dLogits: UnsafeMutablePointer<Float>, batch b: Int, classes k: Int, scale: Float = 1) {
    let factor = scale / Float(b)
    for bi in 0..<b {
        for j in 0..<k {
            dLogits[bi * k + j] += factor * (probabilities[bi * k + j] - target.target(row: bi, column: j, classes: k))
        }
    }
}

/// Cross-entropy on logits with its saved softmax (see `crossEntropyForward`).
final class CrossEntropyLoss {
    private var probabilities: Tensor?
    private var target: CrossEntropyTarget?

    init() {}

    /// logits [B, K] → mean loss.
    func forward(_ logits: Tensor, target: CrossEntropyTarget) -> Float {
        precondition(logits.rank == 2, "cross-entropy: logits \(logits.shape), expected [B, K]")
        let p = reuse(&probabilities, logits.shape)
        self.target = target
        return crossEntropyForward(logits.data, target: target, probabilities: p.data,
                                   batch: logits.shape[0], classes: logits.shape[1])
    }

    /// dLogits += scale·dL/dlogits.
    func backward(scale: Float = 1, into dLogits: Tensor) {
        guard let p = probabilities, let target else { preconditionFailure("cross-entropy: backward before forward") }
        requireSame(dLogits.shape, p.shape, "cross-entropy dLogits")
        crossEntropyBackward(probabilities: p.data, target: target, dLogits.data, batch: p.shape[0],
                             classes: p.shape[1], scale: scale)
    }
}
