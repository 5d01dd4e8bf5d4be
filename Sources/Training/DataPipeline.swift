import Foundation
import ImageCodec
import TensorEngine
import TransLocator

/// Turns a decoded photo and its segmentation map into the model's two inputs (DESIGN.md
/// "Training": RandomAffine(±15°), ColorJitter(0.4, 0.4, 0.4, 0.1) with p = 0.8 on the photo
/// only, RandomHorizontalFlip, Resize(short side), crop, Normalize with ImageNet statistics).
///
/// Training order: resize the short side (the map to the photo's resized size, nearest), rotate
/// both by one drawn angle, crop both at one drawn corner, flip both on one draw, jitter the
/// photo. Evaluation: resize and centre crop. Every draw comes from the counter-based stream of
/// (seed, epoch, image index) in a fixed order, so an image's augmentation does not depend on
/// threads, batch composition or whether the run was resumed. The map is filled with 255
/// ("ignore", rendered black) where rotation uncovers it, as the photo is filled with black.
public struct Preprocessor: Sendable {
    public var resizeShortSide: Int
    public var cropSize: Int
    /// nil: evaluation (no random draws, centre crop).
    public var augmentation: TrainingConfig.Augmentation?
    public var seed: UInt64

    public init(resizeShortSide: Int, cropSize: Int, augmentation: TrainingConfig.Augmentation?, seed: UInt64) {
        precondition(cropSize >= 1 && resizeShortSide >= cropSize, "crop \(cropSize) from a short side of \(resizeShortSide)")  // invariant: config values and flags are range-checked in TrainingConfig and the CLI before they get here
        self.resizeShortSide = resizeShortSide
        self.cropSize = cropSize
        self.augmentation = augmentation
        self.seed = seed
    }

    /// The crop-sized photo and map of image `index` in `epoch`.
    public func prepare(photo: Image, map: SegmentationMap?, epoch: Int, index: Int) -> (photo: Image, map: SegmentationMap?) {
        var photo = photo.resized(shortSide: resizeShortSide)
        var map = map?.resized(width: photo.width, height: photo.height)
        let c = cropSize
        guard let augmentation else {
            return (photo.centerCropped(width: c, height: c), map?.centerCropped(width: c, height: c))
        }
        var random = CounterRandom(seed: seed, stream: TrainingRandomStream.augmentation.rawValue, epoch: epoch, index: index)
        let angle = random.uniform(-augmentation.rotationDegrees, augmentation.rotationDegrees)
        let left = random.index(below: photo.width - c + 1), top = random.index(below: photo.height - c + 1)
        let flip = augmentation.horizontalFlip && random.nextUnit() < 0.5
        let jitter = random.nextUnit() < augmentation.colorJitterProbability
        if angle != 0 {
            photo = photo.rotated(degrees: angle)
            map = map?.rotated(degrees: angle, fill: 255)
        }
        photo = photo.cropped(left: left, top: top, width: c, height: c)
        map = map?.cropped(left: left, top: top, width: c, height: c)
        if flip {
            photo = photo.flippedHorizontally()
            map = map?.flippedHorizontally()
        }
        if jitter {
            let strengths = augmentation.colorJitter
            let parameters = ColorJitterParameters.random(brightness: strengths[0], contrast: strengths[1], saturation: strengths[2],
                                                          hue: strengths[3], using: &random)
            photo = photo.colorJittered(parameters)
        }
        return (photo, map)
    }
}

/// Micro-batches of a labelled manifest: photos (and maps) decoded in parallel, prepared by a
/// `Preprocessor`, written straight into the batch tensors. An image whose file is missing or
/// does not decode is skipped and reported, never fatal (the loop counts it).
///
/// TODO: prefetch (prepare the next micro-batch while the model runs this one) is not here yet.
public final class ManifestBatchSource: BatchSource {
    public let labelled: LabelledManifest
    public let preprocessor: Preprocessor
    /// Whether batches carry the rendered maps (the model has the segmentation branch).
    public let useSegmentation: Bool
    /// The first problems met, for the end-of-epoch report.
    public private(set) var problems: [ManifestError] = []

    public init(labelled: LabelledManifest, preprocessor: Preprocessor, useSegmentation: Bool) {
        self.labelled = labelled
        self.preprocessor = preprocessor
        self.useSegmentation = useSegmentation
    }

    public var exampleCount: Int { labelled.count }

    public func batch(indices: [Int], epoch: Int) throws -> (batch: TrainingBatch?, skipped: [Int]) {
        let c = preprocessor.cropSize, plane = 3 * c * c
        let rgb = Tensor(zeros: [indices.count, 3, c, c])
        let seg = useSegmentation ? Tensor(zeros: [indices.count, 3, c, c]) : nil
        var failures = [ManifestError?](repeating: nil, count: indices.count)
        let rgbOut = SharedPointer(base: rgb.data), segOut = seg.map { SharedPointer(base: $0.data) }
        let labelled = self.labelled, preprocessor = self.preprocessor, useSegmentation = self.useSegmentation
        let manifest = labelled.manifest
        failures.withUnsafeMutableBufferPointer { failureBuffer in
            let failureOut = SharedPointer(base: failureBuffer.baseAddress!)
            // Worker k writes only row k of the tensors and slot k of `failures`.
            DispatchQueue.concurrentPerform(iterations: indices.count) { k in
                let entry = manifest.entries[labelled.entryIndices[indices[k]]]
                do {
                    let photo = try Image(contentsOf: manifest.imageURL(of: entry))
                    var map: SegmentationMap?
                    if useSegmentation {
                        guard let url = manifest.segmentationURL(of: entry) else {
                            throw ManifestError.missingFile(file: manifest.file, line: entry.line, column: "seg", path: "")
                        }
                        map = try SegmentationMap(pngData: Data(contentsOf: url))
                    }
                    let prepared = preprocessor.prepare(photo: photo, map: map, epoch: epoch, index: indices[k])
                    prepared.photo.writeNormalizedCHW(into: rgbOut.base + k * plane)
                    if let segOut, let map = prepared.map { map.renderedADE20K().writeNormalizedCHW(into: segOut.base + k * plane) }
                } catch let error as ManifestError {
                    failureOut.base[k] = error
                } catch {
                    failureOut.base[k] = .unreadableImage(file: manifest.file, line: entry.line, path: entry.imagePath, reason: "\(error)")
                }
            }
        }
        let kept = indices.indices.filter { failures[$0] == nil }
        let skipped = indices.indices.filter { failures[$0] != nil }.map { indices[$0] }
        if problems.count < 20 { problems += failures.compactMap { $0 }.prefix(20 - problems.count) }
        guard !kept.isEmpty else { return (nil, skipped) }
        let keptIndices = kept.map { indices[$0] }
        guard kept.count < indices.count else {
            return (TrainingBatch(rgb: rgb, seg: seg, labels: labelled.labels(of: keptIndices)), skipped)
        }
        let compactRGB = Tensor(zeros: [kept.count, 3, c, c])
        let compactSeg = seg.map { _ in Tensor(zeros: [kept.count, 3, c, c]) }
        for (row, k) in kept.enumerated() {
            (compactRGB.data + row * plane).update(from: rgb.data + k * plane, count: plane)
            if let compactSeg, let seg { (compactSeg.data + row * plane).update(from: seg.data + k * plane, count: plane) }
        }
        return (TrainingBatch(rgb: compactRGB, seg: compactSeg, labels: labelled.labels(of: keptIndices)), skipped)
    }
}
