import Foundation
import XCTest
@testable import TensorEngine
@testable import TransLocator

/// Inference holds one copy of the weights. Gradients are allocated by the first
/// backward only, and `prepareForInference()` frees the unpacked copies of packed weights.
/// Byte counts come from `TensorMemory` (every tensor storage the engine allocates).
final class InferenceMemoryTests: XCTestCase {
    func input(batch: Int, seed: UInt64) -> (rgb: Tensor, seg: Tensor) {
        var generator = SeededGenerator(seed: seed)
        let rgb = Tensor(zeros: [batch, 3, 64, 64]), seg = Tensor(zeros: [batch, 3, 64, 64])
        rgb.fillNormal(std: 1, using: &generator)
        seg.fillNormal(std: 1, using: &generator)
        return (rgb, seg)
    }

    func testBuildingAndInferringAllocateNoGradients() throws {
        let before = TensorMemory.liveBytes
        let model = try TransLocatorModel(config: tinyConfig(), headSizes: samplePartitions.headSizes, seed: 3)
        let weightBytes = 4 * model.parameters.reduce(0) { $0 + $1.count }
        XCTAssertEqual(TensorMemory.liveBytes - before, weightBytes, "a new model holds its values and nothing else")
        let (rgb, seg) = input(batch: 2, seed: 4)
        _ = try model.forward(rgb: rgb, seg: seg)
        model.zeroGradients()
        XCTAssertEqual(model.parameters.filter(\.hasGradient).map(\.name), [], "inference allocated gradients")
        // A training forward and backward allocate them, all of them.
        let outputs = try model.forward(rgb: rgb, seg: seg, training: true)
        model.backward(logitGradients: outputs.logits.mapValues { Tensor(shape: $0.shape, repeating: 0.01) })
        XCTAssertEqual(model.parameters.filter { !$0.hasGradient }.map(\.name), [])
        XCTAssertTrue(model.parameters.contains { $0.gradient.scalars.contains { $0 != 0 } })
        model.zeroGradients()
        XCTAssertTrue(model.parameters.allSatisfy { $0.gradient.scalars.allSatisfy { $0 == 0 } })
    }

    func testPreparedForInferenceHoldsOneCopyAndComputesTheSame() throws {
        let model = try TransLocatorModel(config: tinyConfig(), headSizes: samplePartitions.headSizes, seed: 3)
        let weightBytes = 4 * model.parameters.reduce(0) { $0 + $1.count }
        let (rgb, seg) = input(batch: 3, seed: 5)
        let reference = try model.forward(rgb: rgb, seg: seg, training: true)      // unpacked, gradients' memory aside
        model.backward(logitGradients: reference.logits.mapValues { Tensor(shape: $0.shape, repeating: 0.01) })
        let before = TensorMemory.liveBytes
        model.prepareForInference()
        XCTAssertTrue(model.isInferenceOnly)
        XCTAssertEqual(model.parameters.filter(\.hasGradient).map(\.name), [])
        let released = model.parameters.filter { !$0.hasValue }
        XCTAssertEqual(released.count, model.linears.count, "every linear weight released")
        XCTAssertTrue(released.allSatisfy { $0.name.hasSuffix(".weight") })
        // Freed: the gradients (1x) and the unpacked linear weights; added: their packed copies.
        XCTAssertLessThan(TensorMemory.liveBytes, before - weightBytes / 2)
        let outputs = try model.forward(rgb: rgb, seg: seg)
        for (head, logits) in outputs.logits {
            let expected = reference.logits[head]!
            for i in 0..<logits.count {                              // packed GEMM: same products, maybe another order
                XCTAssertEqual(logits[i], expected[i], accuracy: 1e-5 * max(1, abs(expected[i])), "\(head)[\(i)]")
            }
        }
    }
}
