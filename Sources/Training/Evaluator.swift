import Foundation
import GeoCells
import ImageCodec
import TensorEngine
import TransLocator

/// Runs a model file over a manifest and scores it (`translocator eval`): each photo resized
/// and centre-cropped (or TenCrop, logits averaged), the top fine cell (or the hierarchical
/// product p_fine · p_middle · p_coarse) answered with its mean coordinate.
public struct Evaluator {
    /// The model and the partitions and preprocessing it was trained with.
    public let modelFile: ModelFile
    /// Average the logits of torchvision's TenCrop instead of one centre crop.
    public var tenCrop = false
    /// Rank by p_fine · p_middle(parent) · p_coarse(parent) instead of p_fine.
    public var hierarchical = false
    /// Count an error equal to a threshold as within it (GeoEstimation's `<=`; the paper's is `<`).
    public var inclusive = false
    /// Skip (and count) rows whose file is missing or does not decode, instead of failing.
    public var skipInvalid = false
    /// Images per forward pass.
    public var batchSize = 16
    /// When set, the result also holds eq. 8's loss over the images these labels cover.
    public var lossLabels: LossLabels?

    /// An evaluator with the defaults: centre crop, fine cells, strict thresholds, 16 images a batch.
    public init(modelFile: ModelFile) {
        self.modelFile = modelFile
    }

    /// What an evaluation found.
    public struct Result {
        /// The accuracy table and per-image predictions of the scored images.
        public var evaluation: GeoEvaluation
        /// Rows left out (only with `skipInvalid`), in row order.
        public var skipped: [ManifestError]
        /// Eq. 8's loss, when `lossLabels` was set (nil also when no image had every label).
        public var loss: ValidationLoss?
    }

    /// Predicts every image of `manifest` and scores the predictions against its coordinates.
    /// - Parameter progress: called with the number of images done.
    /// - Throws: `ManifestError` naming file:line for a missing or undecodable image or map
    ///   (unless `skipInvalid`), the model's `ModelInputError`, or `EvaluationError.nothingToScore`
    ///   when no image is left.
    public func evaluate(_ manifest: Manifest, progress: (Int) -> Void = { _ in }) throws -> Result {
        let (checked, missing) = try manifest.checkingFiles(skipMissing: skipInvalid)
        var skipped = missing
        let model = modelFile.model
        model.packWeights()
        let ranker = CellRanker(partitions: modelFile.partitions)
        var images: [String] = [], truths: [GeoCoordinate] = [], predictions: [GeoCoordinate] = []
        var lossSums = LossSums()
        var start = 0
        while start < checked.entries.count {
            let entries = Array(checked.entries[start..<min(start + batchSize, checked.entries.count)])
            start += entries.count
            let batch = try inputTensors(entries, of: checked)
            skipped += batch.failures
            guard !batch.entries.isEmpty else { continue }
            let logits = try model.imageLogits(rgb: batch.rgb, seg: batch.seg, crops: tenCrop ? 10 : 1)
            for (row, entry) in batch.entries.enumerated() {
                guard let best = ranker.rank(logits[row], top: 1, hierarchical: hierarchical).first else { continue }
                if let lossLabels, let labels = lossLabels.labels(of: entry) { lossSums.add(logits[row], labels: labels) }
                images.append(entry.imagePath)
                truths.append(entry.coordinate)
                predictions.append(GeoCoordinate(latitude: best.latitude, longitude: best.longitude))
            }
            progress(images.count)
        }
        guard !images.isEmpty else { throw EvaluationError.nothingToScore(file: manifest.file, skipped: skipped.count) }
        return Result(evaluation: GeoEvaluation(images: images, truths: truths, predictions: predictions, inclusive: inclusive),
                      skipped: skipped, loss: lossLabels.flatMap { lossSums.mean(weights: $0.weights) })
    }

    /// The model's inputs for the rows `entries` of `manifest`, prepared by the model file's
    /// `InputPipeline` exactly as `predict` prepares a photo: the rows that load, in order, and
    /// the errors of those that do not (with `skipInvalid`; otherwise the first is thrown).
    func inputTensors(_ entries: [ManifestEntry], of manifest: Manifest) throws
        -> (rgb: Tensor, seg: Tensor?, entries: [ManifestEntry], failures: [ManifestError]) {
        let pipeline = InputPipeline(modelFile)
        var inputs: [PhotoInput] = [], kept: [ManifestEntry] = [], failures: [ManifestError] = []
        for entry in entries {
            do {
                let input = try manifest.photoInput(of: entry, for: pipeline)
                inputs.append(input)
                kept.append(entry)
            } catch let error as ManifestError {
                if !skipInvalid { throw error }
                failures.append(error)
            }
        }
        let (rgb, seg) = try pipeline.tensors(inputs, tenCrop: tenCrop)
        return (rgb, seg, kept, failures)
    }
}

// MARK: - Validation loss

/// Eq. 8 over validation images, beside the accuracy table (validation every epoch
/// reports the loss and the five-scale table).
public struct ValidationLoss: Sendable, Equatable {
    /// Eq. 8's weighted sum of the heads' cross-entropies, averaged over `images`.
    public var total: Double
    /// Each head's cross-entropy (no label smoothing), averaged over `images`.
    public var perHead: [HeadName: Double]
    /// Images with every head's label (inside the partitions; a scene label when the model has
    /// that head): the others are scored in the table but left out of the loss.
    public var images: Int

    /// `{"total": x, "coarse": x, ...}` in `HeadName` order.
    package var json: String {
        let heads = HeadName.allCases.compactMap { head in perHead[head].map { ", \"\(head.rawValue)\": \(JSONLiteral.number($0))" } }
        return "{\"total\": \(JSONLiteral.number(total))" + heads.joined() + ", \"images\": \(images)}"
    }
}

/// What labels a validation image for the loss: the training partitions (an image's class is
/// the cell that contains it, as for training), the scene mapping, eq. 8's weights.
public struct LossLabels: Sendable {
    /// The training partitions: an image's class in each is the cell that contains it.
    public var partitions: GeoPartitions
    /// Maps Places365 categories to 3 or 16 scene classes; nil for the 365 classes themselves.
    public var hierarchy: SceneHierarchy?
    /// The model's scene head size; 0 for none.
    public var sceneClasses: Int
    /// Eq. 8's weight of each head.
    public var weights: [HeadName: Double]

    /// Labels from the training partitions and scene mapping; `config` gives eq. 8's weights.
    public init(partitions: GeoPartitions, hierarchy: SceneHierarchy?, sceneClasses: Int, config: TrainingConfig) {
        self.partitions = partitions
        self.hierarchy = hierarchy
        self.sceneClasses = sceneClasses
        let w = config.lossWeights
        weights = [.coarse: w.coarse, .middle: w.middle, .fine: w.fine]
        if sceneClasses > 0 { weights[.scene] = w.scene }
    }

    /// Every head's class of `entry`, or nil if it lacks one (outside a cell, no scene label).
    func labels(of entry: ManifestEntry) -> [HeadName: Int]? {
        guard let coarse = partitions.coarse.classLabel(latitude: entry.latitude, longitude: entry.longitude),
              let middle = partitions.middle.classLabel(latitude: entry.latitude, longitude: entry.longitude),
              let fine = partitions.fine.classLabel(latitude: entry.latitude, longitude: entry.longitude) else { return nil }
        var labels: [HeadName: Int] = [.coarse: coarse, .middle: middle, .fine: fine]
        if sceneClasses > 0 {
            guard let category = entry.scene,
                  let scene = LabelledManifest.sceneLabel(category: category, hierarchy: hierarchy,
                                                          sceneClasses: sceneClasses) else { return nil }
            labels[.scene] = scene
        }
        return labels
    }
}

/// Running sums of each head's cross-entropy over images.
private struct LossSums {
    var perHead: [HeadName: Double] = [:]
    var images = 0

    /// Adds one image: -log softmax(logits)[label] per head, log-sum-exp in Double.
    mutating func add(_ logits: [HeadName: [Float]], labels: [HeadName: Int]) {
        for (head, label) in labels {
            guard let row = logits[head] else { continue }
            let top = Double(row.max() ?? 0)
            let logSumExp = top + log(row.reduce(0.0) { $0 + exp(Double($1) - top) })
            perHead[head, default: 0] += logSumExp - Double(row[label])
        }
        images += 1
    }

    func mean(weights: [HeadName: Double]) -> ValidationLoss? {
        guard images > 0 else { return nil }
        let means = perHead.mapValues { $0 / Double(images) }
        let total = means.reduce(0.0) { $0 + (weights[$1.key] ?? 0) * $1.value }
        return ValidationLoss(total: total, perHead: means, images: images)
    }
}

// MARK: - Validation every epoch

/// Validation after every epoch (the paper: validation every epoch, best model kept):
/// the model scored on a validation manifest as `eval` would (centre crop, fine cells), with
/// eq. 8's loss, and the score that picks the best model.
public struct EpochValidator {
    /// The validation images.
    public let manifest: Manifest
    /// The training partitions (the model's heads).
    public let partitions: GeoPartitions
    /// How validation photos are resized (the model file's).
    public let preprocessing: Preprocessing
    /// What labels a validation image for eq. 8's loss.
    public let lossLabels: LossLabels
    /// Leave out (and count) images that are missing or do not decode, instead of failing.
    public var skipInvalid: Bool

    /// A validator for `manifest`; `hierarchy`, `sceneClasses` and `config` give the loss labels
    /// and weights (`LossLabels`).
    public init(manifest: Manifest, partitions: GeoPartitions, preprocessing: Preprocessing, hierarchy: SceneHierarchy?,
                sceneClasses: Int, config: TrainingConfig, skipInvalid: Bool = true) {
        self.manifest = manifest
        self.partitions = partitions
        self.preprocessing = preprocessing
        lossLabels = LossLabels(partitions: partitions, hierarchy: hierarchy, sceneClasses: sceneClasses, config: config)
        self.skipInvalid = skipInvalid
    }

    /// Scores `model` (inference mode; its training activations are rebuilt by the next step).
    /// - Throws: what `Evaluator.evaluate` throws.
    public func validate(_ model: TransLocatorModel) throws -> Evaluator.Result {
        var evaluator = Evaluator(modelFile: ModelFile(model: model, partitions: partitions, preprocessing: preprocessing))
        evaluator.skipInvalid = skipInvalid
        evaluator.lossLabels = lossLabels
        return try evaluator.evaluate(manifest)
    }

    /// The best-model criterion: the mean of the five accuracies (%, 1 to 2500 km), so that no
    /// single scale decides and a gain at street level counts as much as one at continent level.
    /// Higher is better.
    public static func score(_ evaluation: GeoEvaluation) -> Double {
        evaluation.table.percentWithin.reduce(0, +) / Double(evaluation.table.percentWithin.count)
    }
}

/// An evaluation with nothing left to score.
public enum EvaluationError: Error, CustomStringConvertible, Equatable {
    case nothingToScore(file: String, skipped: Int)

    /// A one-line message naming the manifest and how many images were skipped.
    public var description: String {
        switch self {
        case let .nothingToScore(file, skipped): "\(file): no image could be scored (\(skipped) skipped)"
        }
    }
}
