import Foundation

/// How an epoch of `imageCount` images splits into optimizer steps of `batchSize` images, each run
/// as forward/backward passes of at most `microBatchSize` images whose gradients are summed.
///
/// The last step of an epoch may be short (PyTorch's DataLoader with `drop_last=False`). A step's
/// gradient must be the gradient of the mean loss over *its* images, so a micro-batch of m images
/// whose loss is the mean over those m contributes with weight m / (images in the step):
///
///     ∇L_step = Σ_micro (m / n_step) · ∇L_micro
///
/// which equals one big batch's gradient exactly in real arithmetic (test: `weights sum to 1`).
public struct AccumulationPlan: Sendable, Equatable {
    /// Images in an epoch.
    public let imageCount: Int
    /// Images per optimizer step (the last step of an epoch may have fewer).
    public let batchSize: Int
    /// Most images per forward/backward pass (at most `batchSize`).
    public let microBatchSize: Int

    /// The plan for an epoch of `imageCount` images; `microBatchSize` is capped at `batchSize`.
    public init(imageCount: Int, batchSize: Int, microBatchSize: Int) {
        precondition(imageCount >= 0 && batchSize >= 1 && microBatchSize >= 1,
                     "accumulation of \(imageCount) images, batch \(batchSize), micro-batch \(microBatchSize)")
        self.imageCount = imageCount
        self.batchSize = batchSize
        self.microBatchSize = min(microBatchSize, batchSize)
    }

    /// Optimizer steps per epoch: ⌈images / batch⌉.
    public var stepsPerEpoch: Int { (imageCount + batchSize - 1) / batchSize }

    /// Positions in the epoch's order of step `step`'s images.
    func images(ofStep step: Int) -> Range<Int> {
        precondition((0..<stepsPerEpoch).contains(step), "step \(step) of \(stepsPerEpoch)")
        return step * batchSize ..< min(imageCount, (step + 1) * batchSize)
    }

    /// Step `step`'s micro-batches: positions in the epoch's order, and the weight of each one's
    /// mean-loss gradient (its share of the step's images).
    func microBatches(ofStep step: Int) -> [(positions: Range<Int>, weight: Double)] {
        let range = images(ofStep: step)
        return stride(from: range.lowerBound, to: range.upperBound, by: microBatchSize).map { start in
            let positions = start ..< min(range.upperBound, start + microBatchSize)
            return (positions, Double(positions.count) / Double(range.count))
        }
    }

    /// The (step, micro-batch) an epoch position falls in: resume restarts at a step boundary,
    /// so a checkpoint records `step`, never a position inside one.
    func step(containingPosition position: Int) -> Int { position / batchSize }
}
