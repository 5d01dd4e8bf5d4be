import Foundation
import TensorEngine
import TransLocator
import Training

/// Training-step throughput for `translocator bench train` (scripts/bench/train.py times the same
/// step in PyTorch beside it): one `Trainer.step` — forward, eq. 8's cross-entropies, backward,
/// AdamW — on random inputs and labels, best of the timed steps after the warm-up.
enum TrainBenchmark {
    /// ViT-S/16 as timm's `vit_small_patch16_224` (224 px, width 384, depth 12, 6 heads) with a
    /// 1000-way classifier: a ViT-MT whose coarse head has 1000 classes. Its middle and fine heads
    /// have 2 classes each (our model always has three geo heads; these two cost under 0.01% of
    /// the step) and there is no scene head.
    static let vitS16 = ModelConfig(
        architecture: "vit-mt", imageSize: 224, patchSize: 16, embedDimension: 384, depth: 12, headCount: 6,
        segmentationBranch: false, multimodalFeatureFusion: false, modalityAttention: false, sceneClasses: 0)
    static let vitS16HeadSizes = HeadSizes(coarse: 1000, middle: 2, fine: 2)

    /// The tiny TransLocator's head sizes when no partition gives them (train.py's defaults).
    static let tinyHeadSizes = HeadSizes(coarse: 100, middle: 200, fine: 400)

    /// One measured configuration.
    struct Result: Sendable {
        let model: String
        let batch: Int
        let headSizes: HeadSizes
        /// batch / (fastest step's seconds).
        let imagesPerSecond: Double
        /// The most `Engine.allocationCount` grew in one step after the first: 0 is the
        /// "no allocation in a step after the first" guarantee.
        let allocationsPerStepAfterFirst: Int
        /// How many timed steps there were (the allocation figure covers them all).
        let steps: Int
    }

    /// Times `Trainer.step` on one fixed micro-batch of `batch` random images.
    /// - Parameters:
    ///   - warmupSteps: untimed steps first (at least 1: the first step at a shape allocates).
    ///   - steps: timed steps (at least 1); the fastest counts, as train.py's best of.
    /// - Throws: `ModelConfigError` for an invalid config.
    static func run(model name: String, config: ModelConfig, headSizes: HeadSizes, batch: Int,
                           warmupSteps: Int = 1, steps: Int = 3) throws -> Result {
        precondition(batch >= 1 && warmupSteps >= 1 && steps >= 1, "bench train: batch \(batch), warm-up \(warmupSteps), steps \(steps)")
        let model = try TransLocatorModel(config: config, headSizes: headSizes, seed: 1)
        var training = TrainingConfig()
        training.optimizer = .adamw                                    // train.py: torch AdamW(lr 1e-4, weight_decay 1e-4)
        training.learningRate = 1e-4
        training.weightDecay = 1e-4
        let schedule = LearningRateSchedule(baseLearningRate: 1e-4, warmupSteps: 0, totalSteps: warmupSteps + steps, finalScale: 1)
        let trainer = Trainer(model: model, config: training, schedule: schedule, progress: TrainingProgress(seed: 1))
        let input = randomBatch(config: config, headSizes: headSizes, batch: batch)
        for _ in 0..<warmupSteps { try trainer.step([(input, 1)]) }
        var best = Double.infinity, allocations = 0
        for _ in 0..<steps {
            let before = Engine.allocationCount
            let start = DispatchTime.now().uptimeNanoseconds
            try trainer.step([(input, 1)])
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            allocations = max(allocations, Engine.allocationCount - before)
            best = min(best, seconds)
        }
        return Result(model: name, batch: batch, headSizes: headSizes, imagesPerSecond: Double(batch) / best,
                      allocationsPerStepAfterFirst: allocations, steps: steps)
    }

    /// Normal inputs (as torch.randn) and uniform labels over each head.
    static func randomBatch(config: ModelConfig, headSizes: HeadSizes, batch: Int) -> TrainingBatch {
        var generator = SeededGenerator(seed: 2)
        let s = config.imageSize
        let rgb = Tensor(zeros: [batch, 3, s, s])
        rgb.fillNormal(std: 1, using: &generator)
        var seg: Tensor?
        if config.segmentationBranch {
            seg = Tensor(zeros: [batch, 3, s, s])
            seg?.fillNormal(std: 1, using: &generator)
        }
        var random = CounterRandom(seed: 2, stream: 0, epoch: 0, index: 0)
        var labels: [HeadName: [Int]] = [
            .coarse: (0..<batch).map { _ in random.index(below: headSizes.coarse) },
            .middle: (0..<batch).map { _ in random.index(below: headSizes.middle) },
            .fine: (0..<batch).map { _ in random.index(below: headSizes.fine) },
        ]
        if config.sceneClasses > 0 { labels[.scene] = (0..<batch).map { _ in random.index(below: config.sceneClasses) } }
        return TrainingBatch(rgb: rgb, seg: seg, labels: labels)
    }
}
