import Foundation
import TensorEngine

/// The weights of eq. 8: L = (1 − a − b)·L_coarse + a·L_middle + b·L_fine + g·L_scene.
public struct LossWeights: Codable, Equatable, Sendable {
    public var middle: Float
    public var fine: Float
    public var scene: Float

    /// a = 0.3, b = 0.2, g = 1.0: the authors' code (DESIGN.md).
    public init(middle: Float = 0.3, fine: Float = 0.2, scene: Float = 1.0) {
        self.middle = middle; self.fine = fine; self.scene = scene
    }

    public func weight(of head: HeadName) -> Float {
        switch head {
        case .coarse: 1 - middle - fine
        case .middle: middle
        case .fine: fine
        case .scene: scene
        }
    }
}

/// Mean cross-entropy over the batch (torch `F.cross_entropy`, optional label smoothing ε:
/// targets (1 − ε)·onehot + ε/K) and its gradient with respect to the logits.
/// - Parameters:
///   - logits: [B, K].
///   - labels: B class indices in 0..<K.
/// - Returns: the loss and dL/dlogits [B, K] scaled by `scale`.
public func crossEntropy(logits: Tensor, labels: [Int], labelSmoothing: Float = 0, scale: Float = 1) -> (loss: Float, gradient: Tensor) {
    precondition(logits.rank == 2 && logits.shape[0] == labels.count,  // invariant: configs, weights and partitions are validated when loaded (ModelConfig, import, ModelFile)
                 "crossEntropy: logits \(logits.shape) for \(labels.count) labels")
    let b = logits.shape[0], k = logits.shape[1]
    let gradient = Tensor(zeros: [b, k])
    var total: Double = 0
    for item in 0..<b {
        let label = labels[item]
        precondition(label >= 0 && label < k, "crossEntropy: label \(label) of item \(item) outside 0..<\(k)")  // invariant: configs, weights and partitions are validated when loaded (ModelConfig, import, ModelFile)
        let row = logits.data + item * k, g = gradient.data + item * k
        var top = -Float.infinity
        for j in 0..<k { top = max(top, row[j]) }
        var sum: Double = 0
        for j in 0..<k { sum += Double(exp(row[j] - top)) }
        let logSum = Double(top) + log(sum)
        var itemLoss = (1 - Double(labelSmoothing)) * (logSum - Double(row[label]))
        if labelSmoothing > 0 {
            var meanNegativeLog: Double = 0
            for j in 0..<k { meanNegativeLog += logSum - Double(row[j]) }
            itemLoss += Double(labelSmoothing) * meanNegativeLog / Double(k)
        }
        total += itemLoss
        for j in 0..<k {
            let probability = Float(exp(Double(row[j]) - logSum))
            let target = (j == label ? 1 - labelSmoothing : 0) + labelSmoothing / Float(k)
            g[j] = (probability - target) * scale / Float(b)
        }
    }
    return (Float(total / Double(b)), gradient)
}

extension TransLocatorModel {
    /// The eq. 8 loss of the last training forward against `labels` (B class indices per head;
    /// the scene head only when the model has one) and its backward into every
    /// `Parameter.gradient` (accumulating).
    /// - Returns: the total loss and each head's cross-entropy.
    @discardableResult
    public func lossAndBackward(outputs: ModelOutputs, labels: [HeadName: [Int]], weights: LossWeights = LossWeights(),
                                labelSmoothing: Float = 0) -> (total: Float, perHead: [HeadName: Float]) {
        var total: Float = 0
        var perHead: [HeadName: Float] = [:]
        var gradients: [HeadName: Tensor] = [:]
        for (name, logits) in outputs.logits {
            guard let headLabels = labels[name] else { preconditionFailure("lossAndBackward: no labels for the \(name) head") }
            let weight = self.weightForLoss(name, weights)
            let (loss, gradient) = crossEntropy(logits: logits, labels: headLabels, labelSmoothing: labelSmoothing, scale: weight)
            perHead[name] = loss
            total += weight * loss
            gradients[name] = gradient
        }
        backward(logitGradients: gradients)
        return (total, perHead)
    }

    private func weightForLoss(_ name: HeadName, _ weights: LossWeights) -> Float { weights.weight(of: name) }
}
