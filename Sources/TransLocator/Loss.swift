import Foundation
import TensorEngine

/// The weights of eq. 8: L = (1 − a − b)·L_coarse + a·L_middle + b·L_fine + g·L_scene.
struct LossWeights: Codable, Equatable, Sendable {
    var middle: Float
    var fine: Float
    var scene: Float

    /// a = 0.3, b = 0.2, g = 1.0: the authors' code (docs/ARCHITECTURE.md "Where the paper is silent").
    init(middle: Float = 0.3, fine: Float = 0.2, scene: Float = 1.0) {
        self.middle = middle; self.fine = fine; self.scene = scene
    }

    func weight(of head: HeadName) -> Float {
        switch head {
        case .coarse: 1 - middle - fine
        case .middle: middle
        case .fine: fine
        case .scene: scene
        }
    }
}

/// Mean cross-entropy over the batch (torch `F.cross_entropy`, optional label smoothing ε:
/// targets (1 − ε)·onehot + ε/K) and its gradient with respect to the logits: the engine's
/// `crossEntropyForward`/`crossEntropyBackward`.
/// - Parameters:
///   - logits: [B, K].
///   - labels: B class indices in 0..<K.
/// - Returns: the loss and dL/dlogits [B, K] scaled by `scale`.
func crossEntropy(logits: Tensor, labels: [Int], labelSmoothing: Float = 0, scale: Float = 1) -> (loss: Float, gradient: Tensor) {
    precondition(logits.rank == 2 && logits.shape[0] == labels.count,
                 "crossEntropy: logits \(logits.shape) for \(labels.count) labels")
    let b = logits.shape[0], k = logits.shape[1]
    let target = CrossEntropyTarget.labels(labels, smoothing: labelSmoothing)
    let probabilities = Tensor(zeros: [b, k]), gradient = Tensor(zeros: [b, k])
    let loss = crossEntropyForward(logits.data, target: target, probabilities: probabilities.data, batch: b, classes: k)
    crossEntropyBackward(probabilities: probabilities.data, target: target, gradient.data, batch: b, classes: k, scale: scale)
    return (loss, gradient)
}

extension TransLocatorModel {
    /// The eq. 8 loss of the last training forward against `labels` (B class indices per head;
    /// the scene head only when the model has one) and its backward into every
    /// `Parameter.gradient` (accumulating).
    /// - Returns: the total loss and each head's cross-entropy.
    @discardableResult
    func lossAndBackward(outputs: ModelOutputs, labels: [HeadName: [Int]], weights: LossWeights = LossWeights(),
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
