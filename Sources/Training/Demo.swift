import Foundation
import GeoCells
import ImageCodec
import TransLocator

/// The built-in demo (`translocator demo`), one stage a method so the CLI can report between
/// them: synthesize a data set at real MP-16 coordinates, partition its training coordinates,
/// train the tiny TransLocator for a fixed number of steps, score it on the test split beside the
/// most-populous-cell baseline, and locate a real photo with a colour-rule segmentation map.
///
/// The data are synthetic (`SyntheticWorld`): the demo tests the machinery end to end, not
/// geolocation. Everything it writes goes under `directory`:
///
///     data/                 the synthetic data set (`Synthesizer`'s layout)
///     partitions/*.csv      coarse, middle, fine cells of data/train.csv
///     model.safetensors     the trained model (`translocator predict` / `eval` read it)
///     <photo>-seg.png       the photo's colour-rule map, ADE20K palette (`predict --seg` reads it)
///     demo.json             the results (the CLI's `--json` document); marks the folder as a demo's
public final class Demo {
    /// What the demo does, and how much of it.
    public struct Settings: Sendable, Equatable {
        /// Synthetic photos in all (80 / 10 / 10 train / val / test, `Synthesizer`'s split).
        public var imageCount = 3000
        /// Optimizer steps of `trainingConfig.batchSize` images.
        public var steps = 200
        /// Seed of the synthetic data, the initialization and the training order.
        public var seed: UInt64 = 0
        /// Side of the synthetic photos, pixels; nil: the config's `resize_short_side`, so
        /// training never resamples them (and drawing is cheaper than `synthesize`'s 96).
        public var imageSize: Int?
        /// Peak learning rate of the warm-up + cosine schedule (the config's when nil).
        public var learningRate: Double?
        /// Share of the steps spent warming up.
        public var warmupShare = 0.1

        /// The defaults: 3000 photos, 200 steps, seed 0, the config's image size and learning rate.
        public init() {}
    }

    /// The folder everything is written to.
    public let directory: URL
    /// What the demo does, and how much of it.
    public let settings: Settings
    /// The model and training settings.
    public let config: ConfigFile
    /// The model's architecture (`config.model`).
    public var modelConfig: ModelConfig { config.model }
    /// The training settings (`config.training`).
    public var trainingConfig: TrainingConfig { config.training }

    /// `data/`: the synthetic data set.
    public var dataDirectory: URL { directory.appendingPathComponent("data") }
    /// `partitions/`: the coarse, middle and fine cells of the training split.
    public var partitionDirectory: URL { directory.appendingPathComponent("partitions") }
    /// The training loop's checkpoints go here; the demo cannot resume, so `train` removes them.
    var checkpointURL: URL { directory.appendingPathComponent("checkpoint.safetensors") }
    /// `model.safetensors`: the trained model file.
    public var modelURL: URL { directory.appendingPathComponent("model.safetensors") }
    /// The file that marks a folder as a demo's, so a rerun may clear it (`prepareDirectory`).
    public var markerURL: URL { directory.appendingPathComponent("demo.json") }

    /// Set by `partition`: the training run (partitions, labels, trainer, loop).
    private var run: TrainingRun?
    /// Set by `train`: the trained model with its partitions.
    public private(set) var modelFile: ModelFile?

    /// A demo writing into `directory`; nothing is written until `prepareDirectory()`.
    /// - Parameter config: the model and its training settings (configs/tiny.json); the demo
    ///   takes batch size, optimizer, augmentation and partition settings from it, and its own
    ///   step count and schedule.
    public init(directory: URL, settings: Settings, config: ConfigFile) {
        self.directory = directory
        self.settings = settings
        self.config = config
    }

    // MARK: - The output folder

    /// Makes `directory` ready for a fresh run. A folder from an earlier demo (it holds
    /// `demo.json`) is overwritten: what the demo writes is removed first, so no file of the old
    /// run survives beside the new one. Any other non-empty folder is refused, never cleared.
    /// - Returns: whether an earlier demo's files were removed.
    /// - Throws: `DemoError.foreignDirectory` or `.cannotWrite`.
    @discardableResult
    public func prepareDirectory() throws -> Bool {
        let fileManager = FileManager.default
        var isFolder: ObjCBool = false
        var cleared = false
        if fileManager.fileExists(atPath: directory.path, isDirectory: &isFolder) {
            guard isFolder.boolValue else { throw DemoError.foreignDirectory(directory.path, reason: "it is a file") }
            let contents: [String]
            do { contents = try fileManager.contentsOfDirectory(atPath: directory.path) } catch {
                throw DemoError.foreignDirectory(directory.path, reason: "it cannot be listed: \(error.localizedDescription)")
            }
            if !contents.isEmpty {
                guard fileManager.fileExists(atPath: markerURL.path) else {
                    throw DemoError.foreignDirectory(directory.path, reason: "it is not empty and holds no demo.json")
                }
                for name in contents {
                    do { try fileManager.removeItem(at: directory.appendingPathComponent(name)) } catch {
                        throw DemoError.cannotWrite(file: directory.appendingPathComponent(name).path, reason: error.localizedDescription)
                    }
                }
                cleared = true
            }
        }
        do { try fileManager.createDirectory(at: partitionDirectory, withIntermediateDirectories: true) } catch {
            throw DemoError.cannotWrite(file: partitionDirectory.path, reason: error.localizedDescription)
        }
        // Marks the folder as the demo's before anything else lands in it, so an interrupted run
        // can be overwritten too; `writeResult` replaces it with the finished run's document.
        try write("{\"finished\": false}\n", to: markerURL)
        return cleared
    }

    // MARK: - Stages

    /// Writes the synthetic data set to `data/`.
    /// - Parameter progress: images done so far (from any thread).
    /// - Throws: `SynthesisError`.
    public func synthesize(from coordinates: Coordinates, progress: (@Sendable (Int) -> Void)? = nil) throws -> Synthesizer.Summary {
        let synthesizer = Synthesizer(imageCount: settings.imageCount, seed: settings.seed,
                                      imageSize: settings.imageSize ?? trainingConfig.resizeShortSide)
        return try synthesizer.synthesize(from: coordinates, to: dataDirectory, progress: progress)
    }

    /// Partitions the training manifest's coordinates with the config's settings, writes
    /// `partitions/*.csv` and labels the training images: the `TrainingRun` that `train` runs.
    /// - Throws: `DemoError.noCells` when the training set is too small for one cell of the
    ///   config's minimum size, and manifest or label errors.
    public func partition() throws -> (labelled: LabelledManifest, partitions: GeoPartitions) {
        let manifest = try Manifest(contentsOf: dataDirectory.appendingPathComponent("train.csv"))
        var options = TrainingRun.Options()
        options.seed = settings.seed
        options.hierarchy = try SceneHierarchy(contentsOf: dataDirectory.appendingPathComponent("scene_hierarchy.csv"))
        options.maxSteps = settings.steps
        let schedule = self.schedule
        options.schedule = { _ in schedule }
        let run: TrainingRun
        do {
            run = try TrainingRun(config: config, manifest: manifest, partitionFolder: partitionDirectory, checkpointURL: checkpointURL,
                                  options: options)
        } catch TrainingRunError.noCells {
            throw DemoError.noCells(trainImages: manifest.entries.count, minImages: trainingConfig.partitionMin)
        }
        self.run = run
        return (run.labelled, run.partitions)
    }

    /// The schedule of `settings.steps` steps: linear warm-up over `warmupShare` of them, then
    /// cosine to the config's final scale.
    public var schedule: LearningRateSchedule {
        LearningRateSchedule(baseLearningRate: settings.learningRate ?? trainingConfig.learningRate,
                             warmupSteps: Int((Double(settings.steps) * settings.warmupShare).rounded()),
                             totalSteps: settings.steps, finalScale: trainingConfig.finalLearningRateScale)
    }

    /// Trains the fresh model of `partition()` for `settings.steps` optimizer steps (as many
    /// epochs as that takes) and writes `model.safetensors`. The loop's checkpoints are removed
    /// at the end: the demo always starts afresh, so they would only take room.
    /// - Parameter onStep: after every step, with the trainer's step count (1-based) and result.
    /// - Throws: `DemoError.stageOrder` before `partition()`; what the model, the data or a
    ///   checkpoint write throws.
    public func train(onStep: (Int, StepResult) throws -> Void = { _, _ in }) throws -> ModelFile {
        guard let run else { throw DemoError.stageOrder("train", before: "partition") }
        try run.run(onStep: { try onStep(run.trainer.progress.step, $0) })
        let file = run.modelFile
        try file.write(to: modelURL)
        for url in [checkpointURL, CheckpointContainer.previousURL(of: checkpointURL)]
            where FileManager.default.fileExists(atPath: url.path) {
            do { try FileManager.default.removeItem(at: url) } catch {
                throw DemoError.cannotWrite(file: url.path,
                                            reason: "cannot remove the finished run's checkpoint: \(error.localizedDescription)")
            }
        }
        modelFile = file
        return file
    }

    /// Scores the trained model on `data/test.csv`, and the baseline that always answers the
    /// most populous fine cell on the same images.
    /// - Parameter progress: images scored so far.
    public func evaluate(progress: (Int) -> Void = { _ in }) throws -> (model: GeoEvaluation, baseline: GeoEvaluation) {
        guard let modelFile else { throw DemoError.stageOrder("evaluate", before: "train") }
        let test = try Manifest(contentsOf: dataDirectory.appendingPathComponent("test.csv"))
        let evaluation = try Evaluator(modelFile: modelFile).evaluate(test, progress: progress).evaluation
        let baseline = GeoEvaluation.baseline(images: evaluation.images, truths: evaluation.truths,
                                              partition: modelFile.partitions.fine)
        return (evaluation, baseline)
    }

    /// The trained model's `top` cells for a real photo, with the colour-rule map it was given
    /// (written beside the model as `<name>-seg.png` in the ADE20K palette).
    /// - Throws: `ImageCodecError` for a photo that does not decode, `DemoError.cannotWrite`.
    public func locate(photoAt url: URL, top: Int) throws -> (predictions: [CellPrediction], map: SegmentationMap, mapURL: URL) {
        guard let modelFile else { throw DemoError.stageOrder("locate", before: "train") }
        let photo = try Image(contentsOf: url)
        let map = ColorRuleSegmentation.map(of: photo)
        let mapURL = directory.appendingPathComponent(url.deletingPathExtension().lastPathComponent + "-seg.png")
        do { try PNGEncoder.encode(map.renderedADE20K()).write(to: mapURL, options: .atomic) } catch {
            throw DemoError.cannotWrite(file: mapURL.path, reason: error.localizedDescription)
        }
        let input = PhotoInput(image: photo, segmentation: modelConfig.segmentationBranch ? map : nil, name: url.path,
                               segmentationName: mapURL.path)
        let predictions = try Predictor(modelFile).predict([input], top: top)[0]
        return (predictions, map, mapURL)
    }

    /// Replaces the marker `demo.json` with the finished run's document.
    /// - Throws: `DemoError.cannotWrite`.
    public func writeResult(_ json: String) throws {
        try write(json + "\n", to: markerURL)
    }

    private func write(_ text: String, to url: URL) throws {
        do { try Data(text.utf8).write(to: url, options: .atomic) } catch {
            throw DemoError.cannotWrite(file: url.path, reason: error.localizedDescription)
        }
    }
}

/// Why the demo could not run.
public enum DemoError: Error, CustomStringConvertible, Equatable {
    case foreignDirectory(String, reason: String)
    case noCells(trainImages: Int, minImages: Int)
    case cannotWrite(file: String, reason: String)
    case stageOrder(String, before: String)

    /// A one-line message saying what went wrong and what to do.
    public var description: String {
        switch self {
        case let .foreignDirectory(path, reason):
            "\(path): will not write the demo there (\(reason)); pick a new folder with --out, or an earlier demo's"
        case let .noCells(trainImages, minImages):
            "\(trainImages) training images leave no geo-cell of more than \(minImages) images: use more --images"
        case let .cannotWrite(file, reason): "\(file): cannot write (\(reason))"
        case let .stageOrder(stage, before): "the demo's \(stage) stage runs after its \(before) stage"
        }
    }
}
