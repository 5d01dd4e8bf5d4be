import Foundation
import XCTest
@testable import TensorEngine

final class KernelTests: XCTestCase {
    // MARK: Vector math

    func testSIMDErfAndExpMatchFoundation() {
        // erf: Juffa's fits, ≤ 6e-8 absolute in a float64 simulation; 1.5e-7 allows the last ulp.
        var worstErf = 0.0, worstExp = 0.0
        for i in 0...120_000 {
            let x = Float(-6 + 12 * Double(i) / 120_000)
            worstErf = max(worstErf, abs(Double(scalarErf(x)) - erf(Double(x))))
        }
        for i in 0...20_000 {
            let x = Float(-80 + 160 * Double(i) / 20_000)
            worstExp = max(worstExp, abs(Double(scalarExp(x)) - exp(Double(x))) / exp(Double(x)))
        }
        XCTAssertLessThan(worstErf, 1.5e-7, "erf")
        XCTAssertLessThan(worstExp, 3e-7, "exp, relative")
    }

    // MARK: GELU

    func testGELUMatchesReferenceOnOddCount() {
        let x = randomTensor([10_007], seed: 1, scale: 6)            // odd: vector tail; big: parallel path
        let fast = Tensor(zeros: x.shape), reference = Tensor(zeros: x.shape)
        geluForward(x.data, fast.data, count: x.count)
        geluForwardReference(x.data, reference.data, count: x.count)
        for i in 0..<x.count { XCTAssertEqual(fast[i], reference[i], accuracy: 1e-6, "x = \(x[i])") }
    }

    func testGELUBackwardMatchesCentralDifferences() {
        let x = randomTensor([257], seed: 7, scale: 4)
        let dx = Tensor(zeros: x.shape), y = Tensor(zeros: x.shape)
        assertGradientsMatch("gelu", [Differentiable("x", x, dx)], forward: {
            geluForward(x.data, y.data, count: x.count); return y
        }, backward: { dy in geluBackward(x.data, dy.data, dx.data, count: x.count) }, samples: 257)
    }

    // MARK: LayerNorm

    func testLayerNormMatchesReferenceAndGradients() {
        let rows = 7, c = 37
        let norm = LayerNorm(channels: c, name: "norm")
        norm.weight.value.assign(randomTensor([c], seed: 2, scale: 1.5))
        norm.bias.value.assign(randomTensor([c], seed: 3))
        let x = randomTensor([rows, c], seed: 4, scale: 3)
        for i in 0..<x.count { x[i] += 5 }                          // a large mean: two-pass variance matters
        let y = norm.forward(x)
        let reference = layerNormForwardReference(x.scalars, norm.weight.value.scalars, norm.bias.value.scalars, rows: rows, columns: c)
        for i in 0..<y.count { XCTAssertEqual(y[i], reference[i], accuracy: 2e-5) }
        let dx = Tensor(zeros: x.shape)
        assertGradientsMatch("layer norm", [Differentiable("x", x, dx), Differentiable(norm.weight), Differentiable(norm.bias)],
                             forward: { norm.forward(x) }, backward: { norm.backward($0, into: dx) })
    }

    func testLayerNormParallelPathMatchesReference() {
        let rows = 300, c = 192
        let norm = LayerNorm(channels: c, name: "norm")
        let x = randomTensor([rows, c], seed: 12, scale: 2)
        let y = norm.forward(x)
        let reference = layerNormForwardReference(x.scalars, norm.weight.value.scalars, norm.bias.value.scalars, rows: rows, columns: c)
        for i in 0..<y.count { XCTAssertEqual(y[i], reference[i], accuracy: 1e-5) }
    }

    // MARK: Softmax

    func testSoftmaxMatchesReferenceAndGradients() {
        let rows = 6, c = 19
        let x = randomTensor([rows, c], seed: 5, scale: 8)
        let y = Tensor(zeros: x.shape)
        softmaxForward(x.data, y.data, rows: rows, columns: c)
        let reference = softmaxForwardReference(x.scalars, rows: rows, columns: c)
        for i in 0..<y.count { XCTAssertEqual(y[i], reference[i], accuracy: 1e-6) }
        let dx = Tensor(zeros: x.shape)
        assertGradientsMatch("softmax", [Differentiable("x", x, dx)], forward: {
            softmaxForward(x.data, y.data, rows: rows, columns: c); return y
        }, backward: { dy in softmaxBackward(y.data, dy.data, dx.data, rows: rows, columns: c) })
    }

    // MARK: Linear

    func testLinearGradients() {
        let linear = Linear(inFeatures: 13, outFeatures: 7, name: "fc")
        var rng = SeededGenerator(seed: 8)
        linear.weight.value.fillNormal(std: 0.5, using: &rng)
        linear.bias!.value.fillNormal(std: 0.5, using: &rng)
        let x = randomTensor([2, 5, 13], seed: 9)
        let dx = Tensor(zeros: x.shape)
        assertGradientsMatch("linear", [Differentiable("x", x, dx), Differentiable(linear.weight), Differentiable(linear.bias!)],
                             forward: { linear.forward(x) }, backward: { linear.backward($0, into: dx) })
    }

    func testLinearPackedWeightGivesTheSameOutput() {
        let linear = Linear(inFeatures: 33, outFeatures: 20, name: "fc")
        var rng = SeededGenerator(seed: 10)
        linear.resetParameters(using: &rng)
        let x = randomTensor([9, 33], seed: 11)
        let plain = linear.forward(x).copy()
        linear.packWeight()
        XCTAssertEqual(linear.forward(x).scalars, plain.scalars)
    }

    // MARK: Attention

    func testAttentionKernelGradients() {
        let b = 2, n = 5, h = 2, d = 3, c = h * d
        let qkv = randomTensor([b, n, 3 * c], seed: 13, scale: 1.5)
        let out = Tensor(zeros: [b, n, c]), p = Tensor(zeros: [b, h, n, n])
        let dqkv = Tensor(zeros: qkv.shape)
        assertGradientsMatch("attention", [Differentiable("qkv", qkv, dqkv)], forward: {
            attentionForward(qkv.data, out.data, probabilities: p.data, batch: b, tokens: n, heads: h, headSize: d)
            return out
        }, backward: { dy in
            attentionBackward(qkv.data, probabilities: p.data, dy.data, dqkv.data, batch: b, tokens: n, heads: h, headSize: d)
        }, samples: 90)
    }

    func testAttentionForwardMatchesNaiveFormula() {
        let b = 1, n = 4, h = 2, d = 3, c = h * d
        let qkv = randomTensor([b, n, 3 * c], seed: 14)
        let out = Tensor(zeros: [b, n, c]), p = Tensor(zeros: [b, h, n, n])
        attentionForward(qkv.data, out.data, probabilities: p.data, batch: b, tokens: n, heads: h, headSize: d)
        for head in 0..<h {
            for i in 0..<n {
                var scores = [Double](repeating: 0, count: n)
                for j in 0..<n {
                    for e in 0..<d { scores[j] += Double(qkv[i * 3 * c + head * d + e]) * Double(qkv[j * 3 * c + c + head * d + e]) }
                    scores[j] /= Double(d).squareRoot()
                }
                let m = scores.max()!, weights = scores.map { exp($0 - m) }, total = weights.reduce(0, +)
                for e in 0..<d {
                    var value = 0.0
                    for j in 0..<n { value += weights[j] / total * Double(qkv[j * 3 * c + 2 * c + head * d + e]) }
                    XCTAssertEqual(Double(out[i * c + head * d + e]), value, accuracy: 1e-5)
                }
            }
        }
    }

    // MARK: Patch embedding, tokens

    func testPatchEmbedGradients() {
        let embed = PatchEmbed(inChannels: 2, channels: 5, patch: 3, name: "patch_embed")
        embed.weight.value.assign(randomTensor(embed.weight.value.shape, seed: 15))
        embed.bias.value.assign(randomTensor([5], seed: 16))
        let image = randomTensor([2, 2, 6, 9], seed: 17)
        let dImage = Tensor(zeros: image.shape)
        assertGradientsMatch("patch embed", [Differentiable("image", image, dImage), Differentiable(embed.weight),
                                             Differentiable(embed.bias)],
                             forward: { embed.forward(image) }, backward: { embed.backward($0, into: dImage) })
    }

    func testPatchEmbedMatchesConvolutionByHand() {
        let embed = PatchEmbed(inChannels: 1, channels: 1, patch: 2, name: "patch_embed")
        embed.weight.value.assign(Tensor(shape: [1, 1, 2, 2], values: [1, 2, 3, 4]))
        embed.bias.value.fill(0.5)
        let image = Tensor(shape: [1, 1, 2, 4], values: [1, 0, 0, 1, 0, 1, 1, 0])
        // Patch (0,0): [[1,0],[0,1]] → 1 + 4 = 5; patch (0,1): [[0,1],[1,0]] → 2 + 3 = 5; + bias.
        XCTAssertEqual(embed.forward(image).scalars, [5.5, 5.5])
    }

    func testClassTokenEmbeddingGradients() {
        let tokens = ClassTokenEmbedding(channels: 4, patchCount: 3)
        tokens.classToken.value.assign(randomTensor([1, 1, 4], seed: 18))
        tokens.positionEmbedding.value.assign(randomTensor([1, 4, 4], seed: 19))
        let patches = randomTensor([2, 3, 4], seed: 20)
        let dPatches = Tensor(zeros: patches.shape)
        assertGradientsMatch("cls + pos", [Differentiable("patches", patches, dPatches), Differentiable(tokens.classToken),
                                          Differentiable(tokens.positionEmbedding)],
                             forward: { tokens.forward(patches) }, backward: { tokens.backward($0, into: dPatches) })
    }

    func testSliceConcatAndGroupMeanGradients() {
        let x = randomTensor([3, 4, 5], seed: 21), dx = Tensor(zeros: x.shape)
        let slice = Tensor(zeros: [3, 5])
        assertGradientsMatch("token slice", [Differentiable("x", x, dx)], forward: {
            tokenSliceForward(x.data, slice.data, token: 0, batch: 3, tokens: 4, channels: 5); return slice
        }, backward: { tokenSliceBackward($0.data, dx.data, token: 0, batch: 3, tokens: 4, channels: 5) })

        let a = randomTensor([3, 2], seed: 22), b = randomTensor([3, 5], seed: 23)
        let da = Tensor(zeros: a.shape), db = Tensor(zeros: b.shape), joined = Tensor(zeros: [3, 7])
        assertGradientsMatch("concat", [Differentiable("a", a, da), Differentiable("b", b, db)], forward: {
            concatForward(a.data, b.data, joined.data, rows: 3, columnsA: 2, columnsB: 5); return joined
        }, backward: { concatBackward($0.data, da.data, db.data, rows: 3, columnsA: 2, columnsB: 5) })

        let crops = randomTensor([2, 10, 3], seed: 24), dCrops = Tensor(zeros: crops.shape), mean = Tensor(zeros: [2, 3])
        assertGradientsMatch("group mean", [Differentiable("crops", crops, dCrops)], forward: {
            groupMeanForward(crops.data, mean.data, batch: 2, groupSize: 10, channels: 3); return mean
        }, backward: { groupMeanBackward($0.data, dCrops.data, batch: 2, groupSize: 10, channels: 3) })
    }

    func testResidualAddAccumulates() {
        let dy = Tensor(shape: [3], values: [1, 2, 3])
        let da = Tensor(shape: [3], values: [10, 10, 10]), db = Tensor(zeros: [3])
        addBackward(dy.data, da.data, db.data, count: 3)
        XCTAssertEqual(da.scalars, [11, 12, 13])
        XCTAssertEqual(db.scalars, [1, 2, 3])
    }

    // MARK: Cross-entropy, dropout

    func testCrossEntropyWithSmoothingMatchesFormulaAndGradients() {
        let logits = randomTensor([3, 5], seed: 25, scale: 3)
        let labels = [4, 0, 2], smoothing: Float = 0.1
        let loss = CrossEntropyLoss()
        let value = loss.forward(logits, target: .labels(labels, smoothing: smoothing))
        var expected = 0.0
        for b in 0..<3 {
            let row = (0..<5).map { Double(logits[b * 5 + $0]) }
            let lse = log(row.map { exp($0) }.reduce(0, +))
            for k in 0..<5 {
                let t = (k == labels[b] ? 0.9 : 0) + 0.1 / 5
                expected -= t * (row[k] - lse) / 3
            }
        }
        XCTAssertEqual(Double(value), expected, accuracy: 1e-6)
        let dLogits = Tensor(zeros: logits.shape), scalar = Tensor(zeros: [1])
        assertGradientsMatch("cross-entropy, labels", [Differentiable("logits", logits, dLogits)], forward: {
            scalar[0] = loss.forward(logits, target: .labels(labels, smoothing: smoothing)); return scalar
        }, backward: { dy in loss.backward(scale: dy[0], into: dLogits) })
    }

    func testCrossEntropySoftTargetsGradients() {
        let logits = randomTensor([2, 4], seed: 26, scale: 2)
        let targets = Tensor(shape: [2, 4], values: [0.1, 0.2, 0.3, 0.4, 0.7, 0, 0, 0.3])
        let loss = CrossEntropyLoss()
        let dLogits = Tensor(zeros: logits.shape), scalar = Tensor(zeros: [1])
        assertGradientsMatch("cross-entropy, soft", [Differentiable("logits", logits, dLogits)], forward: {
            scalar[0] = loss.forward(logits, target: .probabilities(targets.data)); return scalar
        }, backward: { dy in loss.backward(scale: dy[0], into: dLogits) })
    }

    func testDropoutKeepsExpectationAndBackwardUsesMask() {
        let count = 20_000, p: Float = 0.25
        let x = Tensor(shape: [count], repeating: 1), y = Tensor(zeros: [count]), mask = Tensor(zeros: [count])
        var rng = SeededGenerator(seed: 27)
        dropoutForward(x.data, y.data, mask: mask.data, count: count, probability: p, using: &rng)
        let kept = y.scalars.filter { $0 != 0 }
        XCTAssertEqual(Double(kept.count) / Double(count), 0.75, accuracy: 0.02, "seed 27")
        XCTAssertTrue(kept.allSatisfy { abs($0 - 1 / 0.75) < 1e-6 })
        let dy = Tensor(shape: [count], repeating: 2), dx = Tensor(zeros: [count])
        dropoutBackward(dy.data, mask: mask.data, dx.data, count: count)
        for i in stride(from: 0, to: count, by: 997) { XCTAssertEqual(dx[i], 2 * y[i]) }
    }

    // MARK: Composite

    func testTransformerBlockGradients() {
        let block = TransformerBlock(channels: 8, heads: 2, mlpRatio: 2, name: "blocks.0")
        var rng = SeededGenerator(seed: 28)
        for parameter in block.parameters { parameter.value.fillNormal(mean: 0, std: 0.4, using: &rng) }
        for norm in [block.norm1, block.norm2] { for i in 0..<8 { norm.weight.value[i] += 1 } }
        let x = randomTensor([2, 3, 8], seed: 29)
        let dx = Tensor(zeros: x.shape)
        assertGradientsMatch("block", [Differentiable("x", x, dx)] + block.parameters.map(Differentiable.init),
                             forward: { block.forward(x) }, backward: { block.backward($0, into: dx) }, samples: 8)
    }

    func testTruncatedNormalFollowsTimm() {
        var rng = SeededGenerator(seed: 30)
        let t = Tensor(zeros: [20_000])
        t.fillTruncatedNormal(std: 1, a: -2, b: 2, using: &rng)
        let values = t.scalars.map(Double.init)
        XCTAssertTrue(values.allSatisfy { abs($0) <= 2 })
        let mean = values.reduce(0, +) / Double(values.count)
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)
        XCTAssertEqual(mean, 0, accuracy: 0.03, "seed 30")
        XCTAssertEqual(variance, 0.774, accuracy: 0.03, "variance of N(0,1) truncated to ±2 is 0.774; seed 30")
        var again = SeededGenerator(seed: 30)
        let u = Tensor(zeros: [20_000])
        u.fillTruncatedNormal(std: 1, using: &again)
        XCTAssertEqual(t.scalars, u.scalars, "same seed, same values")
    }
}
