import Foundation
import Segmenter
import GeoCells
import TensorEngine
import TransLocator

/// The wiring of a training run, written once for `translocator train` and the demo:
/// partitions (built from the training coordinates with the config's settings, or given) written
/// to a folder, every image labelled, the accumulation plan and schedule, the trainer (fresh,
/// from a timm-named backbone, or resumed from a checkpoint), the batch source on the model's
/// `InputPipeline`, and the epoch loop with its checkpoints.
public final class TrainingRun {
    /// What a run may change beyond its config.
    public struct Options {
        /// Seed of initialisation, data order and augmentation (a resumed run keeps its own).
        public var seed: UInt64 = 0
        /// Partitions to train on; nil builds them from the training manifest.
        public var partitions: GeoPartitions?
        /// Places365 hierarchy for 3- or 16-way scene heads.
        public var hierarchy: SceneHierarchy?
        /// A timm-named ViT to start both branches from (a fresh run only).
        public var backbone: URL?
        /// Continue from the checkpoint (or the previous one if it is damaged).
        public var resume = false
        /// Stop at the first missing or undecodable image instead of skipping it.
        public var strict = false
        /// Stop after this many optimizer steps in all, with a checkpoint.
        public var maxSteps: Int?
        /// Also checkpoint every this many optimizer steps; nil for epoch ends only.
        public var checkpointEverySteps: Int?
        /// The schedule for a plan; nil: the config's epochs, warm-up epochs and final scale.
        public var schedule: ((AccumulationPlan) -> LearningRateSchedule)?

        /// The defaults: seed 0, partitions from the manifest, a fresh start, images skipped not fatal.
        public init() {}
    }

    /// The model and training settings.
    public let config: ConfigFile
    /// The partitions the heads classify into (given, or built and written to the partition folder).
    public let partitions: GeoPartitions
    /// The training images with their labels.
    public let labelled: LabelledManifest
    /// How each epoch splits into optimizer steps and micro-batches.
    public let plan: AccumulationPlan
    /// The learning rate of each optimizer step.
    public let schedule: LearningRateSchedule
    /// The trainer: fresh, from the backbone, or resumed.
    public let trainer: Trainer
    /// The training batches, on the model's input pipeline.
    public let source: ManifestBatchSource
    /// The epoch loop and its checkpoints.
    public let loop: TrainingLoop
    /// Checkpoints `resume` found damaged and passed over (to report: never used silently).
    public let rejectedCheckpoints: [CheckpointError]

    /// Prepares a run over `manifest`.
    /// - Parameters:
    ///   - partitionFolder: where `coarse.csv`, `middle.csv`, `fine.csv` are written (it must exist).
    ///   - checkpointURL: the loop's checkpoint (the previous good one is kept beside it).
    /// - Throws: `TrainingRunError` (no cells, nothing labelled, a checkpoint of other
    ///   partitions), and what reading, labelling, importing or resuming throws.
    public init(config: ConfigFile, manifest: Manifest, partitionFolder: URL, checkpointURL: URL, options: Options) throws {
        let training = config.training
        let partitions = try options.partitions ?? GeoPartitions.build(manifest.coordinates, minImages: training.partitionMin,
                                                                        maxImages: training.partitionMax)
        for (name, partition) in zip(["coarse", "middle", "fine"], partitions.all) where partition.count == 0 {
            throw TrainingRunError.noCells(file: manifest.file, images: manifest.entries.count, level: name,
                                           minImages: training.partitionMin)
        }
        try partitions.write(to: partitionFolder)
        let labelled = try LabelledManifest(manifest: manifest, partitions: partitions, hierarchy: options.hierarchy,
                                            sceneClasses: config.model.sceneClasses)
        guard labelled.count > 0 else { throw TrainingRunError.nothingLabelled(file: manifest.file, outside: labelled.outsideCount) }
        let plan = AccumulationPlan(imageCount: labelled.count, batchSize: training.batchSize, microBatchSize: training.microBatchSize)
        let schedule = options.schedule?(plan) ?? LearningRateSchedule(training, stepsPerEpoch: plan.stepsPerEpoch)
        let trainer: Trainer
        var rejected: [CheckpointError] = []
        if options.resume {
            let resumed = try Trainer.resume(from: checkpointURL, config: training, schedule: schedule)
            guard resumed.modelFile.partitions == partitions else {
                throw TrainingRunError.otherPartitions(checkpoint: checkpointURL.path, manifest: manifest.file)
            }
            trainer = resumed.trainer
            rejected = resumed.rejected
            // The checkpoint's segmenter goes on into the files this run writes (`train --segmenter` may replace it).
            let file = resumed.modelFile
            if let bundled = file.bundledSegmenter {
                trainer.segmenter = (bundled, true)
            } else if let record = file.segmenterRecord {
                trainer.segmenter = (SegmenterFiles(weights: [:], config: record.config, preprocessing: record.preprocessing,
                                                    identity: record.identity, source: checkpointURL.path), false)
            }
        } else {
            let model = try TransLocatorModel(config: config.model, headSizes: partitions.headSizes, seed: options.seed)
            if let backbone = options.backbone { try model.importBackbone(contentsOf: backbone) }
            trainer = Trainer(model: model, config: training, schedule: schedule, progress: TrainingProgress(seed: options.seed))
        }
        let pipeline = InputPipeline(model: config.model, preprocessing: config.preprocessing)
        source = ManifestBatchSource(labelled: labelled, pipeline: pipeline, augmentation: training.augmentation,
                                     seed: trainer.progress.seed, strict: options.strict)
        let epochs = plan.stepsPerEpoch > 0 ? (schedule.totalSteps + plan.stepsPerEpoch - 1) / plan.stepsPerEpoch : 0
        loop = TrainingLoop(plan: plan, epochs: max(1, epochs), checkpointURL: checkpointURL, partitions: partitions,
                            preprocessing: config.preprocessing, maxSteps: options.maxSteps,
                            checkpointEverySteps: options.checkpointEverySteps)
        self.config = config
        self.partitions = partitions
        self.labelled = labelled
        self.plan = plan
        self.schedule = schedule
        self.trainer = trainer
        rejectedCheckpoints = rejected
    }

    /// Trains from the trainer's progress to the end of the schedule (or `maxSteps`).
    /// - Returns: whether every epoch finished.
    /// - Throws: what `TrainingLoop.run` throws.
    @discardableResult
    public func run(onStep: (StepResult) throws -> Void = { _ in },
                    onEpoch: (TrainingLoop.EpochSummary) throws -> Void = { _ in }) throws -> Bool {
        try loop.run(trainer, source: source, onStep: onStep, onEpoch: onEpoch)
    }

    /// The model as trained so far, with its partitions and preprocessing: what `best.safetensors`
    /// and the demo's `model.safetensors` hold.
    public var modelFile: ModelFile {
        ModelFile(model: trainer.model, partitions: partitions, preprocessing: config.preprocessing)
    }
}

/// A training run that cannot start.
public enum TrainingRunError: Error, CustomStringConvertible, Equatable {
    case noCells(file: String, images: Int, level: String, minImages: Int)
    case nothingLabelled(file: String, outside: Int)
    case otherPartitions(checkpoint: String, manifest: String)

    /// A one-line message naming the manifest or checkpoint and what to do.
    public var description: String {
        switch self {
        case let .noCells(file, images, level, minImages):
            "\(file): its \(images) images leave no \(level) geo-cell of more than \(minImages) images "
                + "(training.partition.min): add images or lower the minimum"
        case let .nothingLabelled(file, outside):
            "\(file): no image lies in a cell of the partitions (\(outside) outside): nothing to train on"
        case let .otherPartitions(checkpoint, manifest):
            "\(checkpoint) was trained on other partitions than \(manifest) gives"
        }
    }
}
