import Foundation
import TensorEngine

/// The optimizer of a training run over a model's parameters: per-parameter state (SGD momentum,
/// or AdamW's two moments), the authors' parameter-group scales, and the step count, all of
/// which a checkpoint saves (`stateTensors`) so a resumed run continues bit for bit.
///
/// Weight decay applies to every parameter, as a single torch param group does (the groups
/// differ only in learning rate: docs/ARCHITECTURE.md "Where the paper is silent").
final class ParameterOptimizer {
    let kind: TrainingConfig.Optimizer
    let parameters: [Parameter]
    let config: TrainingConfig
    /// Optimizer steps taken (AdamW's t after the next step is `stepCount + 1`).
    private(set) var stepCount = 0
    /// SGD: the momentum buffers. AdamW: the first moments (torch `exp_avg`).
    private let firstState: [Tensor]
    /// AdamW: the second moments (torch `exp_avg_sq`); empty for SGD.
    private let secondState: [Tensor]
    private let learningRateScales: [Double]

    init(parameters: [Parameter], config: TrainingConfig) {
        kind = config.optimizer
        self.parameters = parameters
        self.config = config
        firstState = parameters.map { Tensor(zeros: $0.value.shape) }
        secondState = config.optimizer == .adamw ? parameters.map { Tensor(zeros: $0.value.shape) } : []
        learningRateScales = parameters.map { config.groupScales.scale(forParameterNamed: $0.name) }
    }

    /// Updates every parameter from its accumulated gradient with the schedule's `learningRate`
    /// (times the parameter's group scale). Gradients are left as they are.
    func step(learningRate: Double) {
        stepCount += 1
        for (k, parameter) in parameters.enumerated() {
            let rate = learningRate * learningRateScales[k]
            switch kind {
            case .sgd:
                sgdStep(parameters: parameter.value.data, gradients: parameter.gradient.data, momentumBuffer: firstState[k].data,
                        count: parameter.value.count, learningRate: rate, momentum: config.momentum,
                        weightDecay: config.weightDecay)
            case .adamw:
                adamWStep(parameters: parameter.value.data, gradients: parameter.gradient.data, firstMoment: firstState[k].data,
                          secondMoment: secondState[k].data, count: parameter.value.count, learningRate: rate,
                          beta1: config.betas[0], beta2: config.betas[1], epsilon: config.epsilon,
                          weightDecay: config.weightDecay, step: stepCount)
            }
        }
    }

    /// The state as named tensors for a checkpoint: `optimizer.momentum.<name>` (SGD) or
    /// `optimizer.exp_avg.<name>` and `optimizer.exp_avg_sq.<name>` (AdamW, torch's names).
    var stateTensors: [(name: String, tensor: Tensor)] {
        switch kind {
        case .sgd:
            return zip(parameters, firstState).map { ("optimizer.momentum.\($0.name)", $1) }
        case .adamw:
            return zip(parameters, firstState).map { ("optimizer.exp_avg.\($0.name)", $1) }
                + zip(parameters, secondState).map { ("optimizer.exp_avg_sq.\($0.name)", $1) }
        }
    }

    /// `optimizer.kind` and `optimizer.step` for the checkpoint's metadata.
    var metadata: [String: String] {
        ["optimizer.kind": kind.rawValue, "optimizer.step": String(stepCount)]
    }

    /// Restores what `stateTensors` and `metadata` saved.
    /// - Parameter tensor: looks a checkpoint tensor up by name (nil if absent).
    /// - Throws: `CheckpointError.malformed` naming the missing or misshaped tensor or key.
    func restore(metadata: [String: String], file: String, tensor: (String) -> Tensor?) throws {
        guard metadata["optimizer.kind"] == kind.rawValue else {
            throw CheckpointError.malformed(file: file, reason: "optimizer is '\(metadata["optimizer.kind"] ?? "missing")', "
                                            + "the config says '\(kind.rawValue)'")
        }
        guard let text = metadata["optimizer.step"], let steps = Int(text), steps >= 0 else {
            throw CheckpointError.malformed(file: file, reason: "metadata 'optimizer.step' is "
                                            + "\(metadata["optimizer.step"].map { "'\($0)'" } ?? "missing")")
        }
        let targets = firstState + secondState
        for ((name, _), target) in zip(stateTensors, targets) {
            guard let source = tensor(name) else { throw CheckpointError.malformed(file: file, reason: "no tensor '\(name)'") }
            guard source.shape == target.shape else {
                throw CheckpointError.malformed(file: file, reason: "tensor '\(name)' is \(source.shape), expected \(target.shape)")
            }
            target.assign(source)
        }
        stepCount = steps
    }
}
