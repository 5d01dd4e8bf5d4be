import Foundation
import XCTest
import GeoCells
import TensorEngine
import TransLocator
@testable import CLI

/// What the benchmarks behind `translocator bench forward` and `bench train` measure, on small
/// models: the figures scripts/bench/*.py compare with their anchors.
final class ForwardBenchmarkTests: XCTestCase {
    static let tiny: ModelConfig = {
        // Part of the repository; a failure here is a broken checkout.
        try! ModelConfig(configJSON: Data(BuiltIn.tinyConfigJSON.utf8), file: BuiltIn.tinyConfigName)
    }()
    static let headSizes = HeadSizes(coarse: 23, middle: 31, fine: 47)

    /// `bench forward`'s figures on the tiny config: one row per batch, the weights' bytes, a
    /// tensor peak above the weights (packing transients and activations) but below two copies,
    /// and a resident peak that holds at least the tensors.
    func testBenchmarkReportsWeightsAndPeaks() throws {
        let (results, memory) = try ForwardBenchmark.transLocator(Self.tiny, headSizes: Self.headSizes,
                                                                  batches: [1, 2], seconds: 0, minimumRuns: 1, name: "tiny")
        XCTAssertEqual(results.map(\.batch), [1, 2])
        XCTAssertEqual(results.map(\.model), ["tiny", "tiny"])
        XCTAssertTrue(results.allSatisfy { $0.imagesPerSecond > 0 })
        let model = try TransLocatorModel(config: Self.tiny, headSizes: Self.headSizes)
        XCTAssertEqual(memory.weightBytes, 4 * model.parameters.reduce(0) { $0 + $1.count })
        XCTAssertGreaterThan(memory.tensorPeakBytes, memory.weightBytes)
        XCTAssertLessThan(memory.tensorPeakBytes, 2 * memory.weightBytes, "two copies of the weights at once")
        if let resident = memory.residentPeakBytes { XCTAssertGreaterThanOrEqual(resident, memory.tensorPeakBytes) }
    }
}

final class TrainingStepAllocationTests: XCTestCase {
    /// A training step after the first allocates nothing (the engine's counter covers
    /// tensor storage and scratch), for the full TransLocator and for ViT-MT.
    func testStepsAfterTheFirstAllocateNothing() throws {
        let translocator = ModelConfig(
            architecture: "translocator", imageSize: 32, patchSize: 16, embedDimension: 32, depth: 2, headCount: 2,
            segmentationBranch: true, multimodalFeatureFusion: true, modalityAttention: true, sceneClasses: 16)
        let vitMT = ModelConfig(
            architecture: "vit-mt", imageSize: 32, patchSize: 16, embedDimension: 32, depth: 2, headCount: 2,
            segmentationBranch: false, multimodalFeatureFusion: false, modalityAttention: false, sceneClasses: 3)
        for (name, config) in [("translocator", translocator), ("vit-mt", vitMT)] {
            let result = try TrainBenchmark.run(model: name, config: config, headSizes: HeadSizes(coarse: 5, middle: 7, fine: 11),
                                                batch: 3, warmupSteps: 1, steps: 3)
            XCTAssertEqual(result.allocationsPerStepAfterFirst, 0, name)
        }
    }
}
