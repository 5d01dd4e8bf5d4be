import Foundation
import TransLocator

/// A config's `training` object (configs/*.json; the `model` object is TransLocator's).
/// Field names are the JSON's, in snake_case there; docs/ARCHITECTURE.md gives the paper's and the authors'
/// values.
public struct TrainingConfig: Sendable, Equatable {
    /// The optimizer: `sgd` (with momentum) or `adamw` (config `optimizer`).
    public enum Optimizer: String, Sendable, Equatable { case sgd, adamw }

    /// Which optimizer updates the weights.
    public var optimizer: Optimizer = .adamw
    /// Peak learning rate (after warm-up).
    public var learningRate: Double = 0.001
    /// SGD only.
    public var momentum: Double = 0.9
    /// Weight decay (L2 for SGD, decoupled for AdamW).
    public var weightDecay: Double = 1e-4
    /// AdamW only: (β1, β2) and ε (torch defaults).
    public var betas: [Double] = [0.9, 0.999]
    /// AdamW's ε.
    public var epsilon: Double = 1e-8
    /// The authors' SGD parameter groups (1 and 1 for AdamW unless the config says otherwise).
    public var groupScales = ParameterGroupScales()
    /// Epochs of training.
    public var epochs: Int = 40
    /// Epochs of linear warm-up before the cosine decay.
    public var warmupEpochs: Int = 2
    /// Final learning rate over peak (`LearningRateSchedule.finalScale`).
    public var finalLearningRateScale: Double = 1e-3
    /// Images per optimizer step, and per forward/backward pass (gradient accumulation between).
    public var batchSize: Int = 256
    /// Most images per forward/backward pass; gradients of a step's passes are summed.
    public var microBatchSize: Int = 32
    /// Eq. 8's a, b, g (the coarse weight is 1 - a - b).
    public var middleLossWeight: Double = 0.3
    /// Eq. 8's b, the fine head's weight.
    public var fineLossWeight: Double = 0.2
    /// Eq. 8's g, the scene head's weight.
    public var sceneLossWeight: Double = 1.0
    /// Label smoothing of every head's cross-entropy (0 for none).
    public var labelSmoothing: Double = 0
    /// Short side photos are resized to before cropping (at least the model's `img_size`:
    /// `ConfigFile` checks).
    public var resizeShortSide: Int = 256
    /// `crop_size` as the file gives it, or nil. The crop is always the model's `img_size`; a
    /// config that says otherwise is refused (`ConfigFile`), never silently overridden.
    var statedCropSize: Int?
    /// The training augmentation (rotation, colour jitter, flip).
    public var augmentation = Augmentation()
    /// Partition settings used when `train` partitions the training manifest itself.
    public var partitionMin: Int = 50
    /// Most images in a coarse, middle and fine cell (GeoEstimation's tau_max).
    public var partitionMax: [Int] = [5000, 2000, 1000]

    /// The defaults: AdamW at 1e-3, 40 epochs with 2 of warm-up, batch 256 in micro-batches of 32.
    public init() {}

    /// Reads the `training` object of a config's JSON text (or a bare training object). Keys not
    /// given keep their defaults; unknown keys are ignored (the `model` object is not ours). A
    /// config file is read with `ConfigFile`, which checks this object against the model's.
    /// - Throws: `TrainingConfigError` naming `file` and the key.
    public init(json data: Data, file: String) throws {
        let raw: RawTrainingConfig
        do {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            if root?["training"] != nil, let training = try decoder.decode(RawConfigFile.self, from: data).training {
                raw = training
            } else {
                raw = try decoder.decode(RawTrainingConfig.self, from: data)
            }
        } catch let DecodingError.typeMismatch(type, context) {
            throw TrainingConfigError.badValue(file: file, key: Self.keyPath(context.codingPath), value: "of another type",
                                               expected: "\(type)")
        } catch {
            throw TrainingConfigError.unreadable(file: file, reason: "\(error)")
        }
        func check<T: Comparable>(_ value: T?, _ key: String, _ range: ClosedRange<T>, _ fallback: T) throws -> T {
            guard let value else { return fallback }
            guard range.contains(value) else {
                throw TrainingConfigError.badValue(file: file, key: "training." + key, value: "\(value)",
                                                   expected: "a value in \(range.lowerBound)...\(range.upperBound)")
            }
            return value
        }
        var config = TrainingConfig()
        if let name = raw.optimizer {
            guard let optimizer = Optimizer(rawValue: name.lowercased()) else {
                throw TrainingConfigError.badValue(file: file, key: "training.optimizer", value: name, expected: "\"sgd\" or \"adamw\"")
            }
            config.optimizer = optimizer
        }
        config.learningRate = try check(raw.learningRate, "learning_rate", 0...10, config.learningRate)
        config.momentum = try check(raw.momentum, "momentum", 0...1, config.momentum)
        config.weightDecay = try check(raw.weightDecay, "weight_decay", 0...1, config.weightDecay)
        if let betas = raw.betas {
            guard betas.count == 2, betas.allSatisfy({ (0..<1).contains($0) }) else {
                throw TrainingConfigError.badValue(file: file, key: "training.betas", value: "\(betas)", expected: "two numbers in [0, 1)")
            }
            config.betas = betas
        }
        config.epsilon = try check(raw.epsilon, "epsilon", 0...1, config.epsilon)
        config.groupScales.weights = try check(raw.weightLearningRateScale, "weight_learning_rate_scale", 0...1000, 1)
        config.groupScales.biases = try check(raw.biasLearningRateScale, "bias_learning_rate_scale", 0...1000, 1)
        config.epochs = try check(raw.epochs, "epochs", 1...100_000, config.epochs)
        config.warmupEpochs = try check(raw.warmupEpochs, "warmup_epochs", 0...config.epochs, min(config.warmupEpochs, config.epochs))
        config.finalLearningRateScale = try check(raw.finalLearningRateScale, "final_learning_rate_scale", 0...1,
                                                  config.finalLearningRateScale)
        config.batchSize = try check(raw.batchSize, "batch_size", 1...1_000_000, config.batchSize)
        config.microBatchSize = try check(raw.microBatchSize, "micro_batch_size", 1...config.batchSize,
                                          min(config.microBatchSize, config.batchSize))
        if let weights = raw.lossWeights {
            config.middleLossWeight = try check(weights.middle, "loss_weights.middle", 0...1, config.middleLossWeight)
            config.fineLossWeight = try check(weights.fine, "loss_weights.fine", 0...1, config.fineLossWeight)
            config.sceneLossWeight = try check(weights.scene, "loss_weights.scene", 0...100, config.sceneLossWeight)
            guard config.middleLossWeight + config.fineLossWeight <= 1 else {
                throw TrainingConfigError.badValue(file: file, key: "training.loss_weights",
                                                   value: "middle \(config.middleLossWeight) + fine \(config.fineLossWeight)",
                                                   expected: "a sum <= 1 (the coarse weight is 1 - middle - fine)")
            }
        }
        config.labelSmoothing = try check(raw.labelSmoothing, "label_smoothing", 0...1, config.labelSmoothing)
        config.resizeShortSide = try check(raw.resizeShortSide, "resize_short_side", 1...100_000, config.resizeShortSide)
        config.statedCropSize = raw.cropSize
        if let augmentation = raw.augmentation {
            config.augmentation.rotationDegrees = try check(augmentation.rotationDegrees, "augmentation.rotation_degrees", 0...180,
                                                            config.augmentation.rotationDegrees)
            if let jitter = augmentation.colorJitter {
                guard jitter.count == 4, jitter.allSatisfy({ $0 >= 0 }), jitter[3] <= 0.5 else {
                    throw TrainingConfigError.badValue(file: file, key: "training.augmentation.color_jitter", value: "\(jitter)",
                                                       expected: "[brightness, contrast, saturation, hue], all >= 0, hue <= 0.5")
                }
                config.augmentation.colorJitter = jitter
            }
            config.augmentation.colorJitterProbability = try check(augmentation.colorJitterProbability,
                                                                   "augmentation.color_jitter_probability", 0...1,
                                                                   config.augmentation.colorJitterProbability)
            config.augmentation.horizontalFlip = augmentation.horizontalFlip ?? config.augmentation.horizontalFlip
        }
        if let partition = raw.partition {
            config.partitionMin = try check(partition.min, "partition.min", 0...100_000_000, config.partitionMin)
            if let max = partition.max {
                guard max.count == 3, max.allSatisfy({ $0 > config.partitionMin }) else {
                    throw TrainingConfigError.badValue(file: file, key: "training.partition.max", value: "\(max)",
                                                       expected: "three integers above min")
                }
                config.partitionMax = max
            }
        }
        self = config
    }

    private static func keyPath(_ path: [any CodingKey]) -> String {
        path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    /// (1 - a - b, a, b, g): the weights of eq. 8 for coarse, middle, fine and scene.
    var lossWeights: (coarse: Double, middle: Double, fine: Double, scene: Double) {
        (1 - middleLossWeight - fineLossWeight, middleLossWeight, fineLossWeight, sceneLossWeight)
    }
}

/// A config that cannot be used: unreadable, or a key with a wrong value.
public enum TrainingConfigError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case badValue(file: String, key: String, value: String, expected: String)

    /// A one-line message naming the file, the key and what was expected.
    public var description: String {
        switch self {
        case let .unreadable(file, reason): "\(file): cannot read config (\(reason))"
        case let .badValue(file, key, value, expected): "\(file): \(key) is \(value), expected \(expected)"
        }
    }
}

/// The config file as JSON gives it; every field optional (defaults live in `TrainingConfig`).
private struct RawConfigFile: Decodable {
    var training: RawTrainingConfig?
}

private struct RawTrainingConfig: Decodable {
    struct LossWeights: Decodable { var middle: Double?, fine: Double?, scene: Double? }
    struct Augmentation: Decodable {
        var rotationDegrees: Double?
        var colorJitter: [Double]?
        var colorJitterProbability: Double?
        var horizontalFlip: Bool?
    }
    struct PartitionSettings: Decodable { var min: Int?, max: [Int]? }

    var optimizer: String?
    var learningRate: Double?
    var momentum: Double?
    var weightDecay: Double?
    var betas: [Double]?
    var epsilon: Double?
    var weightLearningRateScale: Double?
    var biasLearningRateScale: Double?
    var epochs: Int?
    var warmupEpochs: Int?
    var finalLearningRateScale: Double?
    var batchSize: Int?
    var microBatchSize: Int?
    var lossWeights: LossWeights?
    var labelSmoothing: Double?
    var resizeShortSide: Int?
    var cropSize: Int?
    var augmentation: Augmentation?
    var partition: PartitionSettings?
}
