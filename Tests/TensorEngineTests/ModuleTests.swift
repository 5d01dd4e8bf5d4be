import XCTest
@testable import TensorEngine

/// The modules TransLocator is built from, beyond the kernels: ReLU, `LinearStack`, and the
/// inference paths (`inferInPlace`, packed weights with their values freed, shared workspaces).
final class ModuleTests: XCTestCase {
    func testReLUForwardAndGradients() {
        let x = randomTensor([37], seed: 40, scale: 2)                      // odd count: the scalar tail
        let y = Tensor(zeros: x.shape)
        reluForward(x.data, y.data, count: x.count)
        XCTAssertEqual(y.scalars, x.scalars.map { max($0, 0) })
        let dx = Tensor(zeros: x.shape)
        assertGradientsMatch("relu", [Differentiable("x", x, dx)], forward: {
            reluForward(x.data, y.data, count: x.count); return y
        }, backward: { reluBackward(x.data, $0.data, dx.data, count: x.count) }, samples: 37)
    }

    func testLinearStackNamesLikeSequentialAndGradients() {
        for activation in [LinearStack.Activation.gelu, .relu] {
            let stack = LinearStack(widths: [6, 5, 7, 3], activation: activation, name: "heads.fine")
            XCTAssertEqual(stack.parameters.map(\.name), ["heads.fine.0.weight", "heads.fine.0.bias", "heads.fine.2.weight",
                                                          "heads.fine.2.bias", "heads.fine.4.weight", "heads.fine.4.bias"])
            // Central differences are invalid across ReLU's kink: moving one value by h moves a
            // pre-activation by about h here, so weights and inputs are drawn (seeds from 41 on)
            // until no ReLU input lies within 10h of 0.
            let h: Float = activation == .relu ? 1e-3 : 1e-2
            var x = Tensor(zeros: [4, 6]), seed: UInt64 = 41
            while true {
                var rng = SeededGenerator(seed: seed)
                for parameter in stack.parameters { parameter.value.fillNormal(mean: 0, std: 0.5, using: &rng) }
                x = randomTensor([4, 6], seed: seed + 1000)
                _ = stack.forward(x)
                let nearest = stack.layers.dropLast().flatMap { $0.output!.scalars.map(abs) }.min()!
                if activation == .gelu || nearest > 10 * h || seed > 1041 { break }
                seed += 1
            }
            let dx = Tensor(zeros: x.shape)
            assertGradientsMatch("stack \(activation), seed \(seed)",
                                 [Differentiable("x", x, dx)] + stack.parameters.map(Differentiable.init),
                                 forward: { stack.forward(x) }, backward: { stack.backward($0, into: dx) }, h: h, samples: 8)
        }
    }

    /// Inference in place, with packed weights whose values are freed and a workspace shared by
    /// two blocks, computes what the training forward computes.
    func testInferInPlaceMatchesForwardWithPackedReleasedWeights() {
        let workspace = BlockWorkspace()
        let blocks = (0..<2).map { TransformerBlock(channels: 16, heads: 4, mlpRatio: 3, name: "blocks.\($0)", workspace: workspace) }
        var rng = SeededGenerator(seed: 43)
        for parameter in blocks.flatMap(\.parameters) { parameter.value.fillNormal(mean: 0, std: 0.3, using: &rng) }
        let x = randomTensor([3, 5, 16], seed: 44)
        var expected = x
        for block in blocks { expected = block.forward(expected) }
        let reference = expected.scalars
        for linear in blocks.flatMap(\.linears) { linear.packWeight(releasingValue: true) }
        XCTAssertTrue(blocks.flatMap(\.linears).allSatisfy { !$0.weight.hasValue })
        let stream = x.copy()
        for block in blocks { block.inferInPlace(stream) }
        for i in 0..<stream.count { XCTAssertEqual(stream[i], reference[i], accuracy: 1e-5 * max(1, abs(reference[i])), "[\(i)]") }
        XCTAssertFalse(blocks.flatMap(\.parameters).contains(where: \.hasGradient), "inference allocated gradients")
    }

    func testGradientsAreAllocatedOnFirstUseAndZeroedInPlace() {
        let linear = Linear(inFeatures: 3, outFeatures: 2, name: "fc")
        let before = TensorMemory.liveBytes
        linear.zeroGradients()
        XCTAssertFalse(linear.weight.hasGradient)
        XCTAssertEqual(TensorMemory.liveBytes, before)
        let x = randomTensor([4, 3], seed: 45)
        _ = linear.forward(x)
        linear.backward(Tensor(shape: [4, 2], repeating: 1), into: nil)
        XCTAssertTrue(linear.weight.hasGradient && linear.bias!.hasGradient)
        XCTAssertEqual(linear.bias!.gradient.scalars, [4, 4])
        linear.zeroGradients()
        XCTAssertEqual(linear.bias!.gradient.scalars, [0, 0])
    }
}
