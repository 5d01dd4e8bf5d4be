import Foundation

/// Linear warm-up, then cosine decay to `finalScale` x base, evaluated per optimizer step
/// (the paper: 2 warm-up epochs then cosine, to 1e-3 x base in the authors' code).
///
/// With base rate η, W warm-up steps, T steps in all and final rate η_f = finalScale·η, the rate
/// of step s (0-based, the step about to be taken) is
///
///     s < W:       η · (s + 1) / W                       (the first step is not wasted at 0)
///     W <= s < T:  η_f + (η - η_f) · (1 + cos(π · (s - W) / (T - W))) / 2
///     s >= T:      η_f
///
/// so warm-up ends exactly at η, and the cosine starts there and reaches η_f after the last step.
public struct LearningRateSchedule: Sendable, Equatable {
    /// Peak rate η, reached at the end of warm-up.
    public var baseLearningRate: Double
    /// Warm-up steps W.
    public var warmupSteps: Int
    /// Steps T in all, warm-up included; the rate stays at η_f after them.
    public var totalSteps: Int
    /// Final rate over base rate, η_f / η.
    public var finalScale: Double

    /// A schedule from its parameters (steps are optimizer steps); needs W <= T and non-negative rates.
    public init(baseLearningRate: Double, warmupSteps: Int, totalSteps: Int, finalScale: Double) {
        precondition(warmupSteps >= 0 && totalSteps >= warmupSteps && baseLearningRate >= 0 && finalScale >= 0,
                     "schedule base \(baseLearningRate), warm-up \(warmupSteps), total \(totalSteps), final x\(finalScale)")
        self.baseLearningRate = baseLearningRate
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.finalScale = finalScale
    }

    /// The schedule of a configuration: epochs and warm-up epochs counted in optimizer steps.
    public init(_ config: TrainingConfig, stepsPerEpoch: Int) {
        self.init(baseLearningRate: config.learningRate, warmupSteps: config.warmupEpochs * stepsPerEpoch,
                  totalSteps: config.epochs * stepsPerEpoch, finalScale: config.finalLearningRateScale)
    }

    /// The learning rate of 0-based optimizer step `step`.
    public func learningRate(atStep step: Int) -> Double {
        precondition(step >= 0, "negative step \(step)")
        if step < warmupSteps { return baseLearningRate * Double(step + 1) / Double(warmupSteps) }
        let finalRate = finalScale * baseLearningRate
        guard step < totalSteps else { return finalRate }
        let progress = Double(step - warmupSteps) / Double(totalSteps - warmupSteps)
        return finalRate + (baseLearningRate - finalRate) * (1 + cos(Double.pi * progress)) / 2
    }
}
