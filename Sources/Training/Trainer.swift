import Foundation
import Segmenter
import GeoCells
import TensorEngine
import TransLocator

/// A micro-batch ready for the model: normalized photos, their rendered maps, and labels.
public struct TrainingBatch {
    /// Normalized photos [B, 3, S, S].
    public var rgb: Tensor
    /// Their segmentation maps rendered with the ADE20K palette and normalized, [B, 3, S, S];
    /// nil for a model without the segmentation branch.
    public var seg: Tensor?
    /// B class indices per head (coarse, middle, fine, and scene when the model has that head).
    public var labels: [HeadName: [Int]]

    /// A batch of `rgb` photos, their `seg` maps (nil without the segmentation branch) and per-head labels.
    public init(rgb: Tensor, seg: Tensor?, labels: [HeadName: [Int]]) {
        self.rgb = rgb
        self.seg = seg
        self.labels = labels
    }

    /// Images in the batch, B.
    public var count: Int { rgb.shape[0] }
}

/// What one optimizer step did.
public struct StepResult: Sendable {
    /// Eq. 8's loss, averaged over the step's images.
    public var loss: Double
    /// Each head's cross-entropy, averaged over the step's images.
    public var headLosses: [HeadName: Double]
    /// The learning rate the step used.
    public var learningRate: Double
    /// Images in the step.
    public var images: Int
}

/// The training step (docs/ARCHITECTURE.md "The data path of a training step"): eq. 8's weighted cross-entropies over the heads,
/// gradients accumulated over micro-batches (each weighted by its share of the step, so the
/// step sees its batch's mean loss: `AccumulationPlan`), one optimizer update at the schedule's
/// rate, and checkpoints holding weights, optimizer state and progress. The epoch loop around
/// it is `TrainingLoop`; validation and the best model, `EpochValidator` and `keepIfBest`.
public final class Trainer {
    /// The model being trained.
    public let model: TransLocatorModel
    /// The optimizer, loss and batch settings.
    public let config: TrainingConfig
    let optimizer: ParameterOptimizer
    /// The learning rate of each optimizer step.
    public let schedule: LearningRateSchedule
    /// The step, the epoch and the position in it, the seed and the best validation score so far.
    public private(set) var progress: TrainingProgress
    /// Per head: the softmax and the logit gradient of the last micro-batch, reused while the
    /// shape stays (a step allocates nothing of its own after the first).
    /// Keyed by head, then micro-batch size (a step's micro-batches may differ in size).
    private var lossBuffers: [HeadName: [Int: (probabilities: Tensor, gradient: Tensor)]] = [:]

    /// A trainer starting at `progress` (a fresh run: `TrainingProgress(seed:)`), with an optimizer
    /// of `config`'s kind over every parameter of `model`.
    public init(model: TransLocatorModel, config: TrainingConfig, schedule: LearningRateSchedule,
                progress: TrainingProgress) {
        self.model = model
        self.config = config
        self.schedule = schedule
        self.progress = progress
        optimizer = ParameterOptimizer(parameters: model.parameters, config: config)
    }

    /// One optimizer step over `microBatches`, each with the weight of its mean-loss gradient
    /// (`AccumulationPlan.microBatches(ofStep:)`; the weights sum to 1).
    /// - Throws: `ModelInputError` for inputs that do not fit the model.
    @discardableResult
    public func step(_ microBatches: [(batch: TrainingBatch, weight: Double)]) throws -> StepResult {
        precondition(!microBatches.isEmpty, "a training step needs at least one micro-batch")
        model.zeroGradients()
        let weights = config.lossWeights
        let headWeight: [HeadName: Double] = [.coarse: weights.coarse, .middle: weights.middle, .fine: weights.fine,
                                              .scene: weights.scene]
        var loss = 0.0
        var headLosses: [HeadName: Double] = [:]
        var images = 0
        for (batch, share) in microBatches {
            let outputs = try model.forwardIntoOwnBuffers(rgb: batch.rgb, seg: batch.seg, training: true)
            var gradients: [HeadName: Tensor] = [:]
            for (head, logits) in outputs.logits {
                guard let labels = batch.labels[head] else { preconditionFailure("training step: no labels for the \(head) head") }
                let weight = headWeight[head] ?? 0
                let (b, k) = (logits.shape[0], logits.shape[1])
                let buffers = lossBuffers(head: head, batch: b, classes: k)
                let target = CrossEntropyTarget.labels(labels, smoothing: Float(config.labelSmoothing))
                let headLoss = crossEntropyForward(logits.data, target: target, probabilities: buffers.probabilities.data,
                                                   batch: b, classes: k)
                buffers.gradient.fill(0)
                crossEntropyBackward(probabilities: buffers.probabilities.data, target: target, buffers.gradient.data, batch: b, classes: k,
                                     scale: Float(weight * share))
                gradients[head] = buffers.gradient
                headLosses[head, default: 0] += share * Double(headLoss)
                loss += share * weight * Double(headLoss)
            }
            model.backward(logitGradients: gradients)
            images += batch.count
        }
        let learningRate = schedule.learningRate(atStep: progress.step)
        optimizer.step(learningRate: learningRate)
        model.weightsDidChange()
        progress.step += 1
        return StepResult(loss: loss, headLosses: headLosses, learningRate: learningRate, images: images)
    }

    /// The loss buffers of `head` for a [batch, classes] micro-batch.
    private func lossBuffers(head: HeadName, batch: Int, classes: Int) -> (probabilities: Tensor, gradient: Tensor) {
        if let buffers = lossBuffers[head]?[batch], buffers.gradient.shape == [batch, classes] { return buffers }
        let buffers = (Tensor(zeros: [batch, classes]), Tensor(zeros: [batch, classes]))
        lossBuffers[head, default: [:]][batch] = buffers
        return buffers
    }

    /// Records where the data order stands (the epoch loop calls it at step boundaries).
    func setPosition(epoch: Int, stepInEpoch: Int, skippedInEpoch: Int) {
        progress.epoch = epoch
        progress.stepInEpoch = stepInEpoch
        progress.skippedInEpoch = skippedInEpoch
    }

    func setBestValidationScore(_ score: Double) { progress.bestValidationScore = score }

    /// The segmenter that made the training maps (`train --segmenter`): every model file and
    /// checkpoint this trainer writes records it, and carries its weights when `bundled`.
    public var segmenter: (files: SegmenterFiles, bundled: Bool)?

    /// Keeps the model as the best so far when `score` (`EpochValidator.score`, higher is
    /// better) beats the best recorded: writes it to `url` atomically (temporary file, then
    /// rename: never a half-written best model) and records the score for the checkpoint.
    /// - Returns: whether the model was kept.
    /// - Throws: `CheckpointError.cannotWrite`, or the model file's write error.
    @discardableResult
    public func keepIfBest(score: Double, at url: URL, partitions: GeoPartitions, preprocessing: Preprocessing?) throws -> Bool {
        guard score > (progress.bestValidationScore ?? -.infinity) else { return false }
        let staging = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp")
        try ModelFile(model: model, partitions: partitions, preprocessing: preprocessing, segmenter: segmenter?.files,
                      bundlingSegmenter: segmenter?.bundled ?? false).write(to: staging)
        guard rename(staging.path, url.path) == 0 else {
            throw CheckpointError.cannotWrite(file: url.path, reason: String(cString: strerror(errno)))
        }
        progress.bestValidationScore = score
        return true
    }

    // MARK: Checkpoints

    /// Metadata key naming the checkpoint layout.
    static let checkpointFormat = "translocator-checkpoint/1"

    /// Writes a checkpoint: the model file (weights, config, partitions) plus the optimizer
    /// state tensors and the progress, sealed and written atomically (`CheckpointContainer`).
    /// - Throws: `CheckpointError` or the model file's write error.
    public func saveCheckpoint(to url: URL, partitions: GeoPartitions, preprocessing: Preprocessing? = nil) throws {
        var metadata = progress.metadata.merging(optimizer.metadata) { a, _ in a }
        metadata["checkpoint"] = Self.checkpointFormat
        let staging = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).staging")
        defer { try? FileManager.default.removeItem(at: staging) }
        try ModelFile(model: model, partitions: partitions, preprocessing: preprocessing, metadata: metadata,
                      segmenter: segmenter?.files, bundlingSegmenter: segmenter?.bundled ?? false)
            .write(to: staging, extraTensors: optimizer.stateTensors)
        let bytes: Data
        do { bytes = try Data(contentsOf: staging) } catch {
            throw CheckpointError.cannotWrite(file: staging.path, reason: error.localizedDescription)
        }
        try CheckpointContainer.write(bytes, to: url)
    }

    /// A trainer continuing from the newest good checkpoint at `url` (or the previous one):
    /// weights, optimizer state, step and data position as saved.
    /// - Returns: the trainer, the model file (partitions, preprocessing), and the problems of
    ///   any rejected checkpoint (to report: a corrupt latest checkpoint is never used silently).
    /// - Throws: `CheckpointError` when none verifies or one lacks the training state.
    public static func resume(from url: URL, config: TrainingConfig, schedule: LearningRateSchedule) throws
        -> (trainer: Trainer, modelFile: ModelFile, rejected: [CheckpointError]) {
        let loaded = try CheckpointContainer.loadLatestGood(at: url)
        let file = loaded.url.path
        let modelFile = try ModelFile(contentsOf: loaded.url)
        let progress = try TrainingProgress(metadata: modelFile.metadata, file: file)
        let trainer = Trainer(model: modelFile.model, config: config, schedule: schedule, progress: progress)
        let tensors = try SafeTensors(data: loaded.bytes, file: file)
        try trainer.optimizer.restore(metadata: modelFile.metadata, file: file) { tensors[$0] }
        return (trainer, modelFile, loaded.rejected)
    }
}
