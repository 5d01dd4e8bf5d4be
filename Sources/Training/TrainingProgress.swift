import Foundation
import TensorEngine

// The epoch's image order and where a run stands. Both rest on `CounterRandom`
// (TensorEngine/Random.swift): every draw is a function of (seed, epoch, index).

/// The order in which epoch `epoch` visits `count` images: a Fisher–Yates shuffle driven by the
/// (seed, epoch) stream. Every epoch is a permutation; the same arguments give the same order.
/// - Complexity: O(count).
func epochOrder(count: Int, seed: UInt64, epoch: Int) -> [Int] {
    var order = Array(0..<count)
    var random = CounterRandom(seed: seed, stream: RandomStream.epochOrder.rawValue, epoch: epoch, index: 0)
    if count > 1 {
        for i in stride(from: count - 1, to: 0, by: -1) {
            order.swapAt(i, random.index(below: i + 1))
        }
    }
    return order
}

/// Where a training run stands: all a checkpoint needs besides weights and optimizer state to
/// continue exactly. The data order and augmentation draws are recomputed from `seed` and the
/// position (`epochOrder`, `CounterRandom`), so no generator state is stored for them.
public struct TrainingProgress: Sendable, Equatable {
    /// The run's seed (data order, augmentation, initialisation).
    public var seed: UInt64
    /// Optimizer steps taken since the start of training (the schedule's step).
    public var step: Int
    /// The epoch in progress (0-based) and the optimizer steps already taken in it.
    public var epoch: Int
    /// Optimizer steps already taken in the epoch in progress.
    public var stepInEpoch: Int
    /// Images skipped so far in this epoch (missing or undecodable), reported at its end.
    public var skippedInEpoch: Int
    /// The best validation score so far, for "best model kept": `EpochValidator.score`, the mean
    /// of the five accuracies (%, 1 / 25 / 200 / 750 / 2500 km).
    public var bestValidationScore: Double?

    /// A position; `TrainingProgress(seed:)` is the start of a fresh run.
    public init(seed: UInt64, step: Int = 0, epoch: Int = 0, stepInEpoch: Int = 0, skippedInEpoch: Int = 0,
                bestValidationScore: Double? = nil) {
        self.seed = seed
        self.step = step
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
        self.skippedInEpoch = skippedInEpoch
        self.bestValidationScore = bestValidationScore
    }

    /// String key/value pairs for a safetensors `__metadata__` (integers in decimal, the seed in
    /// hex so that no JSON reader rounds it through a double).
    var metadata: [String: String] {
        var entries = [
            "training.seed": String(seed, radix: 16),
            "training.step": String(step),
            "training.epoch": String(epoch),
            "training.step_in_epoch": String(stepInEpoch),
            "training.skipped_in_epoch": String(skippedInEpoch),
        ]
        if let bestValidationScore { entries["training.best_validation_score"] = "\(bestValidationScore)" }
        return entries
    }

    /// Reads what `metadata` wrote.
    /// - Throws: `CheckpointError.malformed` naming the key.
    init(metadata: [String: String], file: String) throws {
        func value<T>(_ key: String, _ parse: (String) -> T?) throws -> T {
            guard let text = metadata[key], let parsed = parse(text) else {
                throw CheckpointError.malformed(file: file, reason: "metadata '\(key)' is \(metadata[key].map { "'\($0)'" } ?? "missing")")
            }
            return parsed
        }
        seed = try value("training.seed") { UInt64($0, radix: 16) }
        step = try value("training.step") { Int($0).flatMap { $0 >= 0 ? $0 : nil } }
        epoch = try value("training.epoch") { Int($0).flatMap { $0 >= 0 ? $0 : nil } }
        stepInEpoch = try value("training.step_in_epoch") { Int($0).flatMap { $0 >= 0 ? $0 : nil } }
        skippedInEpoch = try value("training.skipped_in_epoch") { Int($0).flatMap { $0 >= 0 ? $0 : nil } }
        bestValidationScore = metadata["training.best_validation_score"] == nil ? nil
            : try value("training.best_validation_score") { Double($0) }
    }
}
