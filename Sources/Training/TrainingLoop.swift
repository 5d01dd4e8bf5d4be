import Foundation
import GeoCells
import TransLocator

/// Where training batches come from: the data pipeline (decode, augment, tensors) for a manifest,
/// or an in-memory source in tests.
///
/// With prefetch (`TrainingLoop.prefetch`), `batch` runs on a background thread while the model
/// trains, one call at a time, and `recycle` on the loop's thread.
public protocol BatchSource {
    /// How many labelled images an epoch visits.
    var exampleCount: Int { get }
    /// The micro-batch of labelled images `indices` in `epoch`: every random draw (augmentation)
    /// must be a function of (seed, epoch, index) only, so a resumed run sees the same inputs.
    /// - Returns: the batch of the images that loaded (nil if none did), and the indices of
    ///   those that did not (a missing file, an undecodable image), to count and report.
    /// - Throws: to stop training (`train --strict`); the loop rethrows it.
    func batch(indices: [Int], epoch: Int) throws -> (batch: TrainingBatch?, skipped: [Int])
    /// Hands back a batch the loop is done with, so its tensors can hold a later batch.
    func recycle(_ batch: TrainingBatch)
}

extension BatchSource {
    /// Does nothing: a source without pooled tensors lets a finished batch go.
    public func recycle(_ batch: TrainingBatch) {}
}

/// The epoch loop: visits every epoch's images in `epochOrder`, one optimizer step per
/// `AccumulationPlan` step, checkpoints every `checkpointEverySteps` steps and at each epoch's
/// end, and continues a resumed trainer from the step after its checkpoint. With `prefetch`,
/// the next step's micro-batches load on a background thread while this one trains
/// (`BatchPrefetcher`); the thread ends before `run` returns or throws.
///
/// Exact resume: the order, the micro-batches and their augmentation are functions of (seed,
/// epoch, position), and a checkpoint is taken only at step boundaries, so stopping after k
/// steps, resuming and running k more gives the weights of 2k uninterrupted steps bit for bit.
public struct TrainingLoop {
    /// How each epoch splits into steps and micro-batches.
    public var plan: AccumulationPlan
    /// Epochs to train in all (counting those before a resume).
    public var epochs: Int
    /// Stop after this many optimizer steps in all (counting those before a resume), with a
    /// checkpoint; nil to run every epoch.
    public var maxSteps: Int?
    /// Also checkpoint every this many optimizer steps within an epoch; nil for epoch ends only.
    public var checkpointEverySteps: Int?
    /// Where checkpoints go (the previous good one is kept beside it).
    public var checkpointURL: URL
    /// The partitions checkpoints carry (the model's heads).
    public var partitions: GeoPartitions
    /// The resize checkpoints record; nil for the paper's 256/224 of `img_size`.
    public var preprocessing: Preprocessing?
    /// Load the next step's micro-batches while this one trains (same results either way).
    public var prefetch = true

    /// A loop over `epochs` epochs of `plan`, checkpointing to `checkpointURL` with `partitions`
    /// and `preprocessing`; `maxSteps` and `checkpointEverySteps` as the properties say.
    public init(plan: AccumulationPlan, epochs: Int, checkpointURL: URL, partitions: GeoPartitions,
                preprocessing: Preprocessing? = nil, maxSteps: Int? = nil, checkpointEverySteps: Int? = nil) {
        self.plan = plan
        self.epochs = epochs
        self.checkpointURL = checkpointURL
        self.partitions = partitions
        self.preprocessing = preprocessing
        self.maxSteps = maxSteps
        self.checkpointEverySteps = checkpointEverySteps
    }

    /// What a finished epoch reports (to the validation hook and the log).
    public struct EpochSummary: Sendable {
        /// The epoch, 0-based.
        public var epoch: Int
        /// Mean of the epoch's step losses.
        public var meanLoss: Double
        /// Optimizer steps taken in the epoch.
        public var steps: Int
        /// Images skipped in the epoch (missing or undecodable).
        public var skipped: Int
    }

    /// Runs from the trainer's progress to the end (or to `maxSteps`).
    /// - Parameters:
    ///   - onStep: called after every optimizer step (progress line, metrics log).
    ///   - onEpoch: called after every epoch, before its checkpoint (validation, best model).
    /// - Returns: whether every epoch finished (false when stopped by `maxSteps`).
    /// - Throws: what the source, the model or a checkpoint write throws.
    @discardableResult
    public func run(_ trainer: Trainer, source: BatchSource, onStep: (StepResult) throws -> Void = { _ in },
                    onEpoch: (EpochSummary) throws -> Void = { _ in }) throws -> Bool {
        precondition(source.exampleCount == plan.imageCount, "source of \(source.exampleCount) images, plan of \(plan.imageCount)")
        let seed = trainer.progress.seed
        var epoch = trainer.progress.epoch
        var stepInEpoch = trainer.progress.stepInEpoch
        var skipped = trainer.progress.skippedInEpoch
        var requests = BatchRequestSequence(plan: plan, epochs: epochs, seed: seed, epoch: epoch, stepInEpoch: stepInEpoch)
        let microBatchesPerStep = (plan.batchSize + plan.microBatchSize - 1) / plan.microBatchSize
        let prefetcher = prefetch && epoch < epochs && plan.stepsPerEpoch > 0
            ? BatchPrefetcher(source: source, requests: requests, depth: microBatchesPerStep) : nil
        defer { prefetcher?.stop() }
        while epoch < epochs {
            var lossSum = 0.0, steps = 0
            while stepInEpoch < plan.stepsPerEpoch {
                if let maxSteps, trainer.progress.step >= maxSteps {
                    trainer.setPosition(epoch: epoch, stepInEpoch: stepInEpoch, skippedInEpoch: skipped)
                    try trainer.saveCheckpoint(to: checkpointURL, partitions: partitions, preprocessing: preprocessing)
                    return false
                }
                var loaded: [TrainingBatch] = []
                for _ in plan.microBatches(ofStep: stepInEpoch) {
                    guard let request = requests.next() else { preconditionFailure("no request for step \(stepInEpoch) of epoch \(epoch)") }
                    let (batch, missing) = try prefetcher?.next(expected: request)
                        ?? source.batch(indices: request.indices, epoch: request.epoch)
                    skipped += missing.count
                    if let batch { loaded.append(batch) }
                }
                // Shares over the images that loaded, so the step still sees its mean loss.
                let total = loaded.reduce(0) { $0 + $1.count }
                if total > 0 {
                    let result = try trainer.step(loaded.map { ($0, Double($0.count) / Double(total)) })
                    for batch in loaded { source.recycle(batch) }
                    lossSum += result.loss
                    steps += 1
                    try onStep(result)
                }
                stepInEpoch += 1
                trainer.setPosition(epoch: epoch, stepInEpoch: stepInEpoch, skippedInEpoch: skipped)
                if let every = checkpointEverySteps, every > 0, trainer.progress.step % every == 0, stepInEpoch < plan.stepsPerEpoch {
                    try trainer.saveCheckpoint(to: checkpointURL, partitions: partitions, preprocessing: preprocessing)
                }
            }
            try onEpoch(EpochSummary(epoch: epoch, meanLoss: steps > 0 ? lossSum / Double(steps) : .nan, steps: steps, skipped: skipped))
            epoch += 1
            stepInEpoch = 0
            skipped = 0
            trainer.setPosition(epoch: epoch, stepInEpoch: 0, skippedInEpoch: 0)
            try trainer.saveCheckpoint(to: checkpointURL, partitions: partitions, preprocessing: preprocessing)
        }
        return true
    }
}
