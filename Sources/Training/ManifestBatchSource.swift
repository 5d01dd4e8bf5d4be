import Foundation
import Parallel
import ImageCodec
import TensorEngine
import TransLocator

/// Micro-batches of a labelled manifest: photos (and maps) decoded in parallel, augmented by the
/// model's `InputPipeline` (`trainingView`), written straight into the batch tensors. An image whose file is missing or
/// does not decode is skipped and reported (`problems(inEpoch:)`), never fatal, unless `strict`.
///
/// Batch tensors come from a pool and go back to it through `recycle(_:)` (the loop does after
/// each step), so a run with prefetch holds a fixed set of buffers (two steps' worth) and, after
/// its first steps, allocates no tensor storage for its inputs on the prefetch thread either.
///
/// Thread safety: `batch` runs on the prefetch thread while `recycle` and `problems` run on the
/// loop's; the pool and the problem list are behind a lock.
public final class ManifestBatchSource: BatchSource, @unchecked Sendable {
    /// The images and their labels.
    public let labelled: LabelledManifest
    /// Prepares each photo and map (the model's resize and crop size).
    public let pipeline: InputPipeline
    /// The training augmentation drawn for each image.
    public let augmentation: Augmentation
    /// The run's seed: with the epoch and the image's index, it fixes every augmentation draw.
    public let seed: UInt64
    /// Throw the first problem (a missing file, an image that does not decode), naming
    /// file:line, instead of skipping the image (`train --strict`).
    public let strict: Bool
    /// The most problems kept per epoch for the report (all are counted by the loop).
    static let problemsKeptPerEpoch = 20

    private let lock = NSLock()
    /// Guarded by `lock`: idle batch tensors by row count; problems by epoch.
    private var idle: [Int: [(rgb: Tensor, seg: Tensor?)]] = [:]
    private var problemsByEpoch: [Int: [ManifestError]] = [:]
    /// Guarded by `lock`: batch tensor pairs made so far.
    private var made = 0

    /// A source over `labelled`'s images, prepared by `pipeline` with `augmentation` drawn from
    /// `seed`; `strict` throws on the first unreadable image instead of skipping it.
    public init(labelled: LabelledManifest, pipeline: InputPipeline, augmentation: Augmentation, seed: UInt64, strict: Bool = false) {
        self.labelled = labelled
        self.pipeline = pipeline
        self.augmentation = augmentation
        self.seed = seed
        self.strict = strict
    }

    /// Whether batches carry the rendered maps (the model has the segmentation branch).
    public var useSegmentation: Bool { pipeline.usesSegmentation }

    /// Labelled images an epoch visits.
    public var exampleCount: Int { labelled.count }

    /// The first problems met in `epoch` (at most `problemsKeptPerEpoch`), in the order found.
    package func problems(inEpoch epoch: Int) -> [ManifestError] {
        lock.lock(); defer { lock.unlock() }
        return problemsByEpoch[epoch] ?? []
    }

    /// Decodes, augments and writes images `indices` of `epoch` into a pooled batch; images that
    /// fail are skipped and reported (`problems(inEpoch:)`).
    /// - Throws: with `strict`, the `ManifestError` (file:line) of the batch's first image that failed.
    public func batch(indices: [Int], epoch: Int) throws -> (batch: TrainingBatch?, skipped: [Int]) {
        let plane = pipeline.planeCount
        let (rgb, seg) = buffers(rows: indices.count)
        var failures = [ManifestError?](repeating: nil, count: indices.count)
        let rgbOut = SharedPointer(base: rgb.data), segOut = seg.map { SharedPointer(base: $0.data) }
        let labelled = self.labelled, pipeline = self.pipeline, augmentation = self.augmentation, seed = self.seed
        let manifest = labelled.manifest
        failures.withUnsafeMutableBufferPointer { failureBuffer in
            let failureOut = SharedPointer(base: failureBuffer.baseAddress!)
            // Worker k writes only row k of the tensors and slot k of `failures`.
            parallelFor(tasks: indices.count) { _, k in
                let entry = manifest.entries[labelled.entryIndices[indices[k]]]
                do {
                    let input = try manifest.photoInput(of: entry, for: pipeline)
                    let view = try pipeline.trainingView(of: input, augmentation: augmentation, seed: seed, epoch: epoch, index: indices[k])
                    pipeline.write(view, rgb: rgbOut.base + k * plane, seg: segOut.map { $0.base + k * plane })
                } catch let error as ManifestError {
                    failureOut.base[k] = error
                } catch {                                 // photoInput checked the input: trainingView cannot throw here
                    preconditionFailure("\(manifest.file):\(entry.line): \(error)")
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
        let c = pipeline.cropSize
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
        let c = pipeline.cropSize
        return (Tensor(zeros: [rows, 3, c, c]), useSegmentation ? Tensor(zeros: [rows, 3, c, c]) : nil)
    }
}
