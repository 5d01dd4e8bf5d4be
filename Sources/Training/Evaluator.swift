import Foundation
import GeoCells
import ImageCodec
import TensorEngine
import TransLocator

/// Runs a model file over a manifest and scores it (`translocator eval`): each photo resized
/// and centre-cropped (or TenCrop, logits averaged), the top fine cell (or the hierarchical
/// product p_fine · p_middle · p_coarse) answered with its mean coordinate.
public struct Evaluator {
    public let modelFile: ModelFile
    public var tenCrop = false
    public var hierarchical = false
    public var inclusive = false
    /// Skip (and count) rows whose file is missing or does not decode, instead of failing.
    public var skipInvalid = false
    /// Images per forward pass.
    public var batchSize = 16
    /// When set, the result also holds eq. 8's loss over the images these labels cover.
    public var lossLabels: LossLabels?

    public init(modelFile: ModelFile) {
        self.modelFile = modelFile
    }

    /// What an evaluation found.
    public struct Result {
        public var evaluation: GeoEvaluation
        /// Rows left out (only with `skipInvalid`), in row order.
        public var skipped: [ManifestError]
        /// Eq. 8's loss, when `lossLabels` was set (nil also when no image had every label).
        public var loss: ValidationLoss?
    }

    /// - Parameter progress: called with the number of images done.
    /// - Throws: `ManifestError` naming file:line for a missing or undecodable image (unless
    ///   `skipInvalid`), `CommandFailure`-free library errors from the model, or
    ///   `EvaluationError.nothingToScore` when no image is left.
    public func evaluate(_ manifest: Manifest, progress: (Int) -> Void = { _ in }) throws -> Result {
        let (checked, missing) = try manifest.checkingFiles(skipMissing: skipInvalid)
        var skipped = missing
        let model = modelFile.model
        model.packWeights()
        let ranker = CellRanker(partitions: modelFile.partitions)
        let size = model.config.imageSize
        let preprocessor = Preprocessor(resizeShortSide: max(size, modelFile.preprocessing.resizeShortSide), cropSize: size,
                                        augmentation: nil, seed: 0)
        let useSegmentation = model.config.segmentationBranch
        let crops = tenCrop ? 10 : 1
        var images: [String] = [], truths: [GeoCoordinate] = [], predictions: [GeoCoordinate] = []
        var lossSums = LossSums()
        var start = 0
        while start < checked.entries.count {
            let entries = Array(checked.entries[start..<min(start + batchSize, checked.entries.count)])
            start += entries.count
            var inputs: [(photos: [Image], maps: [Image]?)?] = Array(repeating: nil, count: entries.count)
            var failures: [ManifestError?] = Array(repeating: nil, count: entries.count)
            for (k, entry) in entries.enumerated() {
                do {
                    let photo = try Image(contentsOf: checked.imageURL(of: entry))
                    var map: SegmentationMap?
                    if useSegmentation {
                        guard let url = checked.segmentationURL(of: entry) else {
                            throw ManifestError.missingFile(file: checked.file, line: entry.line, column: "seg", path: "")
                        }
                        map = try SegmentationMap(pngData: Data(contentsOf: url))
                    }
                    inputs[k] = Self.crops(photo: photo, map: map, preprocessor: preprocessor, tenCrop: tenCrop)
                } catch let error as ManifestError {
                    failures[k] = error
                } catch {
                    failures[k] = .unreadableImage(file: checked.file, line: entry.line, path: entry.imagePath, reason: "\(error)")
                }
                if let failure = failures[k], !skipInvalid { throw failure }
            }
            skipped += failures.compactMap { $0 }
            let ready = entries.indices.filter { inputs[$0] != nil }
            guard !ready.isEmpty else { continue }
            let plane = 3 * size * size
            let rgb = Tensor(zeros: [ready.count * crops, 3, size, size])
            let seg = useSegmentation ? Tensor(zeros: [ready.count * crops, 3, size, size]) : nil
            for (row, k) in ready.enumerated() {
                for crop in 0..<crops {
                    inputs[k]!.photos[crop].writeNormalizedCHW(into: rgb.data + (row * crops + crop) * plane)
                    if let seg, let maps = inputs[k]!.maps { maps[crop].writeNormalizedCHW(into: seg.data + (row * crops + crop) * plane) }
                }
            }
            let logits = try model.imageLogits(rgb: rgb, seg: seg, crops: crops)
            for (row, k) in ready.enumerated() {
                guard let best = ranker.rank(logits[row], top: 1, hierarchical: hierarchical).first else { continue }
                if let lossLabels, let labels = lossLabels.labels(of: entries[k]) { lossSums.add(logits[row], labels: labels) }
                images.append(entries[k].imagePath)
                truths.append(entries[k].coordinate)
                predictions.append(GeoCoordinate(latitude: best.latitude, longitude: best.longitude))
            }
            progress(images.count)
        }
        guard !images.isEmpty else { throw EvaluationError.nothingToScore(file: manifest.file, skipped: skipped.count) }
        return Result(evaluation: GeoEvaluation(images: images, truths: truths, predictions: predictions, inclusive: inclusive),
                      skipped: skipped, loss: lossLabels.flatMap { lossSums.mean(weights: $0.weights) })
    }

    /// The centre crop, or torchvision's TenCrop: the five crops (top-left, top-right,
    /// bottom-left, bottom-right, centre) of the image and then of its mirror image; maps
    /// rendered with the ADE20K palette.
    static func crops(photo: Image, map: SegmentationMap?, preprocessor: Preprocessor, tenCrop: Bool) -> (photos: [Image], maps: [Image]?) {
        guard tenCrop else {
            let prepared = preprocessor.prepare(photo: photo, map: map, epoch: 0, index: 0)
            return ([prepared.photo], prepared.map.map { [$0.renderedADE20K()] })
        }
        let resized = photo.resized(shortSide: preprocessor.resizeShortSide)
        let resizedMap = map?.resized(width: resized.width, height: resized.height)
        let c = preprocessor.cropSize, w = resized.width, h = resized.height
        let corners = [(0, 0), (w - c, 0), (0, h - c), (w - c, h - c)]
        var photos: [Image] = [], maps: [Image] = []
        for mirrored in [false, true] {
            let source = mirrored ? resized.flippedHorizontally() : resized
            let sourceMap = mirrored ? resizedMap?.flippedHorizontally() : resizedMap
            for (left, top) in corners {
                photos.append(source.cropped(left: left, top: top, width: c, height: c))
                if let sourceMap { maps.append(sourceMap.cropped(left: left, top: top, width: c, height: c).renderedADE20K()) }
            }
            photos.append(source.centerCropped(width: c, height: c))
            if let sourceMap { maps.append(sourceMap.centerCropped(width: c, height: c).renderedADE20K()) }
        }
        return (photos, map == nil ? nil : maps)
    }
}

// MARK: - Validation loss

/// Eq. 8 over validation images, beside the accuracy table (DESIGN.md: validation every epoch
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
    public var json: String {
        let heads = HeadName.allCases.compactMap { head in perHead[head].map { ", \"\(head.rawValue)\": \(JSONLiteral.number($0))" } }
        return "{\"total\": \(JSONLiteral.number(total))" + heads.joined() + ", \"images\": \(images)}"
    }
}

/// What labels a validation image for the loss: the training partitions (an image's class is
/// the cell that contains it, as for training), the scene mapping, eq. 8's weights.
public struct LossLabels: Sendable {
    public var partitions: GeoPartitions
    public var hierarchy: SceneHierarchy?
    /// The model's scene head size; 0 for none.
    public var sceneClasses: Int
    /// Eq. 8's weight of each head.
    public var weights: [HeadName: Double]

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
                  let scene = LabelledManifest.sceneLabel(category: category, hierarchy: hierarchy, sceneClasses: sceneClasses) else { return nil }
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

/// Validation after every epoch (DESIGN.md "Training": validation every epoch, best model kept):
/// the model scored on a validation manifest as `eval` would (centre crop, fine cells), with
/// eq. 8's loss, and the score that picks the best model.
public struct EpochValidator {
    public let manifest: Manifest
    public let partitions: GeoPartitions
    public let preprocessing: Preprocessing
    public let lossLabels: LossLabels
    /// Leave out (and count) images that are missing or do not decode, instead of failing.
    public var skipInvalid: Bool

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

    public var description: String {
        switch self {
        case let .nothingToScore(file, skipped): "\(file): no image could be scored (\(skipped) skipped)"
        }
    }
}
