import Foundation
import TensorEngine

/// Inference throughput of the encoders at the paper's sizes, for `translocator bench forward`
/// (scripts/bench/forward.py times timm's `vit_base_patch16_224` and the twin beside it).
public enum ForwardBenchmark {
    /// ViT-B/16 (timm `vit_base_patch16_224` without its classifier).
    public static let vitB16 = ViTConfig(imageSize: 224, patchSize: 16, embedDimension: 768, depth: 12, headCount: 12)

    /// Paper head sizes on all of MP-16 (DESIGN.md).
    public static let paperHeadSizes = HeadSizes(coarse: 3298, middle: 7202, fine: 12893)

    /// One measured configuration.
    public struct Result: Sendable {
        public let model: String
        public let batch: Int
        public let imagesPerSecond: Double
        /// Bytes of parameter values (F32).
        public let weightBytes: Int
    }

    /// Best-of-runs images/s of a ViT's `pre_logits` forward (inference mode) on random input.
    /// - Parameter seconds: keeps timing runs (after one warm-up) until this much time has passed
    ///   and at least `minimumRuns` ran.
    public static func vit(_ config: ViTConfig = vitB16, batch: Int, seconds: Double = 5, minimumRuns: Int = 3) -> Result {
        let vit = VisionTransformer(config: config, prefix: "")
        var generator = SeededGenerator(seed: 1)
        for parameter in vit.parameters { parameter.value.fillUniform(low: -0.05, high: 0.05, using: &generator) }
        for block in vit.blocks {
            for norm in [block.norm1, block.norm2] { norm.weight.value.fill(1) }
            for linear in block.linears { linear.pack() }                         // inference: packed once
        }
        let state = ViTActivations(config: config, batch: batch, training: false)
        let images = Tensor(zeros: [batch, 3, config.imageSize, config.imageSize])
        images.fillUniform(low: -2, high: 2, using: &generator)
        let best = time(seconds: seconds, minimumRuns: minimumRuns) {
            vit.embed(images.data, into: state)
            for (k, block) in vit.blocks.enumerated() { block.forward(state.x.data, batch: batch, cache: state.cache(forBlock: k)) }
            vit.finalCLS(state)
        }
        return Result(model: "vit-b16", batch: batch, imagesPerSecond: Double(batch) / best,
                      weightBytes: 4 * vit.parameters.reduce(0) { $0 + $1.value.count })
    }

    /// Best-of-runs images/s of the full TransLocator forward (both branches, MFF, modality
    /// attention, four heads) in inference mode.
    /// - Throws: `ModelConfigError` for an invalid config.
    public static func transLocator(_ config: ModelConfig, headSizes: HeadSizes = paperHeadSizes, batch: Int,
                                    seconds: Double = 5, minimumRuns: Int = 3) throws -> Result {
        let model = try TransLocatorModel(config: config, headSizes: headSizes, seed: 1)
        model.packWeights()
        var generator = SeededGenerator(seed: 2)
        let s = config.imageSize
        let rgb = Tensor(zeros: [batch, 3, s, s]), seg = Tensor(zeros: [batch, 3, s, s])
        rgb.fillUniform(low: -2, high: 2, using: &generator)
        seg.fillUniform(low: -2, high: 2, using: &generator)
        var failure: Error?
        let best = time(seconds: seconds, minimumRuns: minimumRuns) {
            do { _ = try model.forward(rgb: rgb, seg: config.segmentationBranch ? seg : nil) } catch { failure = error }
        }
        if let failure { throw failure }
        return Result(model: "translocator-b16", batch: batch, imagesPerSecond: Double(batch) / best,
                      weightBytes: 4 * model.parameters.reduce(0) { $0 + $1.value.count })
    }

    /// The fastest of the timed runs, in seconds, after one warm-up run.
    static func time(seconds: Double, minimumRuns: Int, _ body: () -> Void) -> Double {
        body()
        var best = Double.infinity, runs = 0
        let start = Date()
        while runs < minimumRuns || Date().timeIntervalSince(start) < seconds {
            let t = Date()
            body()
            best = min(best, Date().timeIntervalSince(t))
            runs += 1
        }
        return best
    }
}
