import Foundation

// Deterministic randomness for training: the epoch's image order and every augmentation draw are
// functions of (seed, epoch, index) alone, never of what ran before. A resumed run therefore
// needs only the seed and the optimizer step to continue bit for bit, and the decoders may draw
// in any thread order.

/// A counter-based generator: SplitMix64's finaliser applied to (key + counter·γ), where the key
/// hashes the stream's coordinates. Each `next()` is a pure function of (key, counter), so a
/// stream can be recreated anywhere from its coordinates (Salmon et al.'s counter-based idea,
/// with SplitMix64 as the bijection: Steele, Lea & Flood, OOPSLA 2014).
public struct CounterRandom: RandomNumberGenerator, Sendable, Equatable {
    public let key: UInt64
    public var counter: UInt64

    /// The stream of `(seed, purpose, epoch, index)`: e.g. purpose 1 the epoch's order, 2 an
    /// image's augmentation draws (see `TrainingRandomStream`).
    public init(seed: UInt64, stream: UInt64, epoch: Int, index: Int) {
        var key = Self.mix(seed ^ 0x6A09_E667_F3BC_C908)
        key = Self.mix(key ^ stream)
        key = Self.mix(key ^ UInt64(bitPattern: Int64(epoch)))
        key = Self.mix(key ^ UInt64(bitPattern: Int64(index)))
        self.key = key
        counter = 0
    }

    public mutating func next() -> UInt64 {
        counter &+= 1
        return Self.mix(key &+ counter &* 0x9E37_79B9_7F4A_7C15)
    }

    /// A uniform double in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A uniform double in [low, high).
    public mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * nextUnit() }

    /// An integer in 0..<n from the high word of a 64x64 product (Lemire's map without the
    /// rejection step: bias below n / 2^64), spelled out so the order never depends on the
    /// standard library's `next(upperBound:)` version.
    public mutating func index(below n: Int) -> Int {
        precondition(n > 0, "index below \(n)")  // invariant: config values and flags are range-checked in TrainingConfig and the CLI before they get here
        return Int(next().multipliedFullWidth(by: UInt64(n)).high)
    }

    /// SplitMix64's finaliser (a bijection of UInt64 with full avalanche).
    @inlinable
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The purposes of the training streams, so no two draw the same numbers.
public enum TrainingRandomStream: UInt64, Sendable {
    case epochOrder = 1
    case augmentation = 2
    case initialization = 3
    case synthesis = 4
}

/// The order in which epoch `epoch` visits `count` images: a Fisher–Yates shuffle driven by the
/// (seed, epoch) stream. Every epoch is a permutation; the same arguments give the same order.
/// - Complexity: O(count).
public func epochOrder(count: Int, seed: UInt64, epoch: Int) -> [Int] {
    var order = Array(0..<count)
    var random = CounterRandom(seed: seed, stream: TrainingRandomStream.epochOrder.rawValue, epoch: epoch, index: 0)
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
    public var stepInEpoch: Int
    /// Images skipped so far in this epoch (missing or undecodable), reported at its end.
    public var skippedInEpoch: Int
    /// The best validation score so far, for "best model kept": `EpochValidator.score`, the mean
    /// of the five accuracies (%, 1 / 25 / 200 / 750 / 2500 km).
    public var bestValidationScore: Double?

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
    public var metadata: [String: String] {
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
    public init(metadata: [String: String], file: String) throws {
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
