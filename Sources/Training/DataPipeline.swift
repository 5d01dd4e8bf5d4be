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
/// does not decode is skipped and reported (`problems(inEpoch:)`), never fatal, unless `strict`.
///
/// Batch tensors come from a pool and go back to it through `recycle(_:)` (the loop does after
/// each step), so a run with prefetch holds a fixed set of buffers (two steps' worth) and, after
/// its first steps, allocates no tensor storage for its inputs on the prefetch thread either.
///
/// Thread safety: `batch` runs on the prefetch thread while `recycle` and `problems` run on the
/// loop's; the pool and the problem list are behind a lock.
public final class ManifestBatchSource: BatchSource, @unchecked Sendable {
    public let labelled: LabelledManifest
    public let preprocessor: Preprocessor
    /// Whether batches carry the rendered maps (the model has the segmentation branch).
    public let useSegmentation: Bool
    /// Throw the first problem (a missing file, an image that does not decode), naming
    /// file:line, instead of skipping the image (`train --strict`).
    public let strict: Bool
    /// The most problems kept per epoch for the report (all are counted by the loop).
    public static let problemsKeptPerEpoch = 20

    private let lock = NSLock()
    /// Guarded by `lock`: idle batch tensors by row count; problems by epoch.
    private var idle: [Int: [(rgb: Tensor, seg: Tensor?)]] = [:]
    private var problemsByEpoch: [Int: [ManifestError]] = [:]
    /// Guarded by `lock`: batch tensor pairs made so far.
    private var made = 0

    public init(labelled: LabelledManifest, preprocessor: Preprocessor, useSegmentation: Bool, strict: Bool = false) {
        self.labelled = labelled
        self.preprocessor = preprocessor
        self.useSegmentation = useSegmentation
        self.strict = strict
    }

    public var exampleCount: Int { labelled.count }

    /// The first problems met in `epoch` (at most `problemsKeptPerEpoch`), in the order found.
    public func problems(inEpoch epoch: Int) -> [ManifestError] {
        lock.lock(); defer { lock.unlock() }
        return problemsByEpoch[epoch] ?? []
    }

    /// - Throws: with `strict`, the `ManifestError` (file:line) of the batch's first image that failed.
    public func batch(indices: [Int], epoch: Int) throws -> (batch: TrainingBatch?, skipped: [Int]) {
        let c = preprocessor.cropSize, plane = 3 * c * c
        let (rgb, seg) = buffers(rows: indices.count)
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
                    let url = manifest.imageURL(of: entry)
                    guard FileManager.default.fileExists(atPath: url.path) else {
                        throw ManifestError.missingFile(file: manifest.file, line: entry.line, column: "image", path: entry.imagePath)
                    }
                    let photo = try Image(contentsOf: url)
                    var map: SegmentationMap?
                    if useSegmentation {
                        guard let path = entry.segmentationPath, let url = manifest.segmentationURL(of: entry),
                              FileManager.default.fileExists(atPath: url.path) else {
                            throw ManifestError.missingFile(file: manifest.file, line: entry.line, column: "seg",
                                                            path: entry.segmentationPath ?? "")
                        }
                        do { map = try SegmentationMap(pngData: Data(contentsOf: url)) } catch {
                            throw ManifestError.unreadableImage(file: manifest.file, line: entry.line, path: path, reason: "\(error)")
                        }
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
        let found = failures.compactMap { $0 }
        if !found.isEmpty {
            if strict {
                recycle(rgb: rgb, seg: seg)
                throw found[0]
            }
            lock.lock()
            let kept = problemsByEpoch[epoch, default: []].count
            problemsByEpoch[epoch, default: []] += found.prefix(max(0, Self.problemsKeptPerEpoch - kept))
            lock.unlock()
        }
        let kept = indices.indices.filter { failures[$0] == nil }
        let skipped = indices.indices.filter { failures[$0] != nil }.map { indices[$0] }
        let keptIndices = kept.map { indices[$0] }
        guard kept.count < indices.count else {
            return (TrainingBatch(rgb: rgb, seg: seg, labels: labelled.labels(of: keptIndices)), skipped)
        }
        defer { recycle(rgb: rgb, seg: seg) }
        guard !kept.isEmpty else { return (nil, skipped) }
        let (compactRGB, compactSeg) = buffers(rows: kept.count)
        for (row, k) in kept.enumerated() {
            (compactRGB.data + row * plane).update(from: rgb.data + k * plane, count: plane)
            if let compactSeg, let seg { (compactSeg.data + row * plane).update(from: seg.data + k * plane, count: plane) }
        }
        return (TrainingBatch(rgb: compactRGB, seg: compactSeg, labels: labelled.labels(of: keptIndices)), skipped)
    }

    /// Batch tensor pairs made so far: bounded when the consumer recycles its batches.
    var buffersMade: Int {
        lock.lock(); defer { lock.unlock() }
        return made
    }

    /// Takes back a batch's tensors for later batches (the caller no longer reads them).
    public func recycle(_ batch: TrainingBatch) {
        recycle(rgb: batch.rgb, seg: batch.seg)
    }

    private func recycle(rgb: Tensor, seg: Tensor?) {
        let c = preprocessor.cropSize
        let rows = rgb.shape[0]
        guard rgb.shape == [rows, 3, c, c], seg.map({ $0.shape == rgb.shape }) ?? !useSegmentation else { return }  // not ours
        lock.lock()
        idle[rows, default: []].append((rgb, seg))
        lock.unlock()
    }

    /// Idle tensors for a batch of `rows` images, or new ones.
    private func buffers(rows: Int) -> (rgb: Tensor, seg: Tensor?) {
        lock.lock()
        if let pair = idle[rows]?.popLast() {
            lock.unlock()
            return pair
        }
        made += 1
        lock.unlock()
        let c = preprocessor.cropSize
        return (Tensor(zeros: [rows, 3, c, c]), useSegmentation ? Tensor(zeros: [rows, 3, c, c]) : nil)
    }
}
