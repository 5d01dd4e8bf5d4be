import Foundation
import TensorEngine
import TransLocator

/// Inference throughput and memory of the encoders at the paper's sizes, for `translocator
/// bench forward` (scripts/bench/forward.py times timm's `vit_base_patch16_224` and the twin
/// beside it).
enum ForwardBenchmark {
    /// ViT-B/16 (timm `vit_base_patch16_224` without its classifier).
    static let vitB16 = ViTConfig(imageSize: 224, patchSize: 16, embedDimension: 768, depth: 12, headCount: 12)

    /// Paper head sizes on all of MP-16 (3298 / 7202 / 12893 cells).
    static let paperHeadSizes = HeadSizes(coarse: 3298, middle: 7202, fine: 12893)

    /// One measured configuration.
    struct Result: Sendable {
        let model: String
        let batch: Int
        let imagesPerSecond: Double
    }

    /// What a model held while it ran: its weights, the most tensor storage alive at once
    /// (weights, packed weights, activations; `TensorMemory`), and the process's peak resident
    /// set (`VmHWM`, Linux), which adds the GEMM scratch pool, the runtime and the allocator's
    /// slack: the figure we hold under 1.5x the weight bytes.
    struct Memory: Sendable {
        /// Bytes of parameter values (F32).
        let weightBytes: Int
        /// Peak bytes of tensor storage from building the model to the last timed run.
        let tensorPeakBytes: Int
        /// Peak resident bytes of the process over the same span (nil where /proc is absent).
        let residentPeakBytes: Int?
        /// Whether the resident peak was restarted before the model was built (/proc/self/clear_refs);
        /// if not, it covers the whole process so far.
        let residentPeakWasReset: Bool
    }

    /// Best-of-runs images/s of a ViT's `pre_logits` forward (inference mode, packed weights,
    /// unpacked copies freed) on random input.
    /// - Parameter seconds: keeps timing runs (after one warm-up) until this much time has passed
    ///   and at least `minimumRuns` ran.
    static func vit(_ config: ViTConfig = vitB16, batch: Int, seconds: Double = 5, minimumRuns: Int = 3) -> Result {
        let vit = VisionTransformer(config: config, prefix: "")
        var generator = SeededGenerator(seed: 1)
        for parameter in vit.parameters { parameter.value.fillUniform(low: -0.05, high: 0.05, using: &generator) }
        for block in vit.blocks {
            for norm in [block.norm1, block.norm2] { norm.weight.value.fill(1) }
        }
        for linear in vit.linears { linear.packWeight(releasingValue: true) }    // inference: packed once
        let images = Tensor(zeros: [batch, 3, config.imageSize, config.imageSize])
        images.fillUniform(low: -2, high: 2, using: &generator)
        let best = time(seconds: seconds, minimumRuns: minimumRuns) { _ = vit.infer(images) }
        return Result(model: "vit-b16", batch: batch, imagesPerSecond: Double(batch) / best)
    }

    /// Best-of-runs images/s of the full TransLocator forward (both branches, MFF, modality
    /// attention, four heads) of one model prepared for inference, at each batch size in turn,
    /// and the memory it took from being built to its last run.
    /// - Throws: `ModelConfigError` for an invalid config.
    /// - Parameter name: the results' `model` ("translocator-b16" for the paper's sizes).
    static func transLocator(_ config: ModelConfig, headSizes: HeadSizes = paperHeadSizes, batches: [Int],
                                    seconds: Double = 5, minimumRuns: Int = 3,
                                    name: String = "translocator-b16") throws -> (results: [Result], memory: Memory) {
        let wasReset = ResidentMemory.resetPeak()
        TensorMemory.resetPeak()
        let model = try TransLocatorModel(config: config, headSizes: headSizes, seed: 1)
        model.prepareForInference()
        var generator = SeededGenerator(seed: 2)
        let s = config.imageSize
        var results: [Result] = []
        for batch in batches {
            let rgb = Tensor(zeros: [batch, 3, s, s]), seg = Tensor(zeros: [batch, 3, s, s])
            rgb.fillUniform(low: -2, high: 2, using: &generator)
            seg.fillUniform(low: -2, high: 2, using: &generator)
            var failure: Error?
            let best = time(seconds: seconds, minimumRuns: minimumRuns) {
                do { _ = try model.forward(rgb: rgb, seg: config.segmentationBranch ? seg : nil) } catch { failure = error }
            }
            if let failure { throw failure }
            results.append(Result(model: name, batch: batch, imagesPerSecond: Double(batch) / best))
        }
        let memory = Memory(weightBytes: 4 * model.parameters.reduce(0) { $0 + $1.count },
                            tensorPeakBytes: TensorMemory.peakBytes, residentPeakBytes: ResidentMemory.peakBytes(),
                            residentPeakWasReset: wasReset)
        return (results, memory)
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

/// The process's resident memory, from Linux's /proc/self (nil elsewhere).
enum ResidentMemory {
    /// `VmHWM`, the peak resident set, in bytes.
    static func peakBytes() -> Int? { statusField("VmHWM:") }

    /// Restarts `VmHWM` from the current resident set (writing 5 to /proc/self/clear_refs,
    /// Linux 4.0+). Returns false where that is not possible.
    static func resetPeak() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        do { try handle.write(contentsOf: Data("5".utf8)) } catch { return false }
        return true
    }

    /// A `Name:   N kB` line of /proc/self/status, in bytes.
    static func statusField(_ name: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2, let kibibytes = Int(fields[1]) else { return nil }
            return kibibytes * 1024
        }
        return nil
    }
}
