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

    public init(modelFile: ModelFile) {
        self.modelFile = modelFile
    }

    /// What an evaluation found.
    public struct Result {
        public var evaluation: GeoEvaluation
        /// Rows left out (only with `skipInvalid`), in row order.
        public var skipped: [ManifestError]
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
                images.append(entries[k].imagePath)
                truths.append(entries[k].coordinate)
                predictions.append(GeoCoordinate(latitude: best.latitude, longitude: best.longitude))
            }
            progress(images.count)
        }
        guard !images.isEmpty else { throw EvaluationError.nothingToScore(file: manifest.file, skipped: skipped.count) }
        return Result(evaluation: GeoEvaluation(images: images, truths: truths, predictions: predictions, inclusive: inclusive),
                      skipped: skipped)
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

/// An evaluation with nothing left to score.
public enum EvaluationError: Error, CustomStringConvertible, Equatable {
    case nothingToScore(file: String, skipped: Int)

    public var description: String {
        switch self {
        case let .nothingToScore(file, skipped): "\(file): no image could be scored (\(skipped) skipped)"
        }
    }
}
