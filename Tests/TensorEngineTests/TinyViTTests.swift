import Foundation
import XCTest
@testable import TensorEngine

/// A 2-block timm VisionTransformer composed from the engine's modules, as the model's ViT is:
/// patch_embed → cls_token + pos_embed → blocks → norm → CLS → head.
final class TinyViT: Module {
    let patchEmbed: PatchEmbed
    let tokens: ClassTokenEmbedding
    let blocks: [TransformerBlock]
    let norm: LayerNorm
    let head: Linear
    private var cls: Tensor?, dCls: Tensor?, dNormed: Tensor?, dStream: Tensor?, dStream2: Tensor?, dTokens: Tensor?
    private var normed: Tensor?

    init(imageSize: Int, patch: Int, channels: Int, depth: Int, heads: Int, classes: Int) {
        patchEmbed = PatchEmbed(inChannels: 3, channels: channels, patch: patch, name: "patch_embed")
        tokens = ClassTokenEmbedding(channels: channels, patchCount: (imageSize / patch) * (imageSize / patch))
        blocks = (0..<depth).map { TransformerBlock(channels: channels, heads: heads, name: "blocks.\($0)") }
        norm = LayerNorm(channels: channels, name: "norm")
        head = Linear(inFeatures: channels, outFeatures: classes, name: "head")
    }

    var parameters: [Parameter] {
        tokens.parameters + patchEmbed.parameters + blocks.flatMap(\.parameters) + norm.parameters + head.parameters
    }

    func forward(_ image: Tensor) -> Tensor {
        var x = tokens.forward(patchEmbed.forward(image))
        for block in blocks { x = block.forward(x) }
        let y = norm.forward(x)
        normed = y
        let b = y.shape[0], n = y.shape[1], c = y.shape[2]
        let first = reuse(&cls, [b, c])
        tokenSliceForward(y.data, first.data, token: 0, batch: b, tokens: n, channels: c)   // timm: x[:, 0]
        return head.forward(first)
    }

    func backward(_ dLogits: Tensor) {
        let shape = normed!.shape
        let b = shape[0], n = shape[1], c = shape[2]
        let dFirst = reuse(&dCls, [b, c])
        dFirst.fill(0)
        head.backward(dLogits, into: dFirst)
        let dY = reuse(&dNormed, shape)
        dY.fill(0)
        tokenSliceBackward(dFirst.data, dY.data, token: 0, batch: b, tokens: n, channels: c)
        var dx = reuse(&dStream, shape), spare = reuse(&dStream2, shape)
        dx.fill(0)
        norm.backward(dY, into: dx)
        for block in blocks.reversed() {
            spare.fill(0)
            block.backward(dx, into: spare)
            swap(&dx, &spare)
        }
        let dPatches = reuse(&dTokens, [b, n - 1, c])
        dPatches.fill(0)
        tokens.backward(dx, into: dPatches)
        patchEmbed.backward(dPatches, into: nil)
    }
}

final class TinyViTTests: XCTestCase {
    /// The fixture is timm's VisionTransformer in float64 (scripts/engine/make_tiny_vit_fixture.py).
    /// Ours runs in Float32: 1e-4 relative is our bar against PyTorch, ~100× Float32 rounding over 2 blocks.
    func testTwoBlockViTMatchesPyTorchForwardAndEveryGradient() throws {
        let file = try fixture("tiny_vit")
        let model = TinyViT(imageSize: 32, patch: 8, channels: 32, depth: 2, heads: 4, classes: 10)
        let expectedNames = Set(file.names.filter { !$0.hasPrefix("grad.") && !["input", "labels", "logits", "loss"].contains($0) })
        XCTAssertEqual(Set(model.parameters.map(\.name)), expectedNames, "timm parameter names")
        for parameter in model.parameters {
            let value = try XCTUnwrap(file[parameter.name], parameter.name)
            XCTAssertEqual(value.shape, parameter.value.shape, parameter.name)
            parameter.value.assign(value)
        }
        let input = try XCTUnwrap(file["input"])
        let labels = try XCTUnwrap(file["labels"]).scalars.map { Int($0) }
        model.zeroGradients()
        let logits = model.forward(input)
        XCTAssertLessThan(relativeError(logits, try XCTUnwrap(file["logits"])), 1e-4, "logits")
        let loss = CrossEntropyLoss()
        let value = loss.forward(logits, target: .labels(labels, smoothing: 0.1))
        XCTAssertEqual(value, try XCTUnwrap(file["loss"])[0], accuracy: 1e-4 * abs(value), "loss")
        let dLogits = Tensor(zeros: logits.shape)
        loss.backward(into: dLogits)
        model.backward(dLogits)
        for parameter in model.parameters {
            let expected = try XCTUnwrap(file["grad." + parameter.name])
            XCTAssertLessThan(relativeError(parameter.gradient, expected), 1e-4, "gradient of \(parameter.name)")
        }
    }

    func testStepsAfterTheFirstReuseBuffersAndAllocateNothing() throws {
        let file = try fixture("tiny_vit")
        let model = TinyViT(imageSize: 32, patch: 8, channels: 32, depth: 2, heads: 4, classes: 10)
        for parameter in model.parameters { parameter.value.assign(file[parameter.name]!) }
        let input = file["input"]!
        var runs: [[Float]] = []
        var allocations: [Int] = []
        for _ in 0..<3 {                                   // buffers reused: stale state would show here
            let before = Engine.allocationCount
            model.zeroGradients()
            let logits = model.forward(input)
            let dLogits = Tensor(shape: logits.shape, repeating: 0.1)
            model.backward(dLogits)
            allocations.append(Engine.allocationCount - before - 1)   // - 1: this test's dLogits
            runs.append(model.parameters.flatMap { $0.gradient.scalars })
        }
        XCTAssertEqual(runs[0], runs[1])
        XCTAssertEqual(runs[1], runs[2])
        XCTAssertGreaterThan(allocations[0], 0)
        XCTAssertEqual(allocations[1], 0, "tensors or scratch allocated in the second step at the same shape")
        XCTAssertEqual(allocations[2], 0, "tensors or scratch allocated in the third step")
    }
}
