import Foundation
import XCTest
@testable import TensorEngine

final class ConvolutionTests: XCTestCase {
    // MARK: Conv2d

    struct ConvCase: CustomStringConvertible {
        var batch: Int, height: Int, width: Int, inChannels: Int, outChannels: Int
        var kernel: Int, stride: Int, padding: Int, groups: Int
        var bias = true
        var description: String {
            "[\(batch), \(height), \(width), \(inChannels)] → \(outChannels) k\(kernel) s\(stride) p\(padding) g\(groups)"
                + (bias ? "" : " no bias")
        }
        var geometry: Conv2dGeometry {
            Conv2dGeometry(batch: batch, height: height, width: width, inChannels: inChannels, outChannels: outChannels,
                           kernelHeight: kernel, kernelWidth: kernel, strideHeight: stride, strideWidth: stride,
                           paddingHeight: padding, paddingWidth: padding, groups: groups)
        }
    }

    /// The fast path and the reference on random input; returns (fast, reference).
    func convolve(_ c: ConvCase, seed: UInt64) -> (Tensor, Tensor) {
        let g = c.geometry
        let x = randomTensor([c.batch, c.height, c.width, c.inChannels], seed: seed)
        let weight = randomTensor([c.outChannels, c.inChannels / c.groups, c.kernel, c.kernel], seed: seed + 1)
        let bias = c.bias ? randomTensor([c.outChannels], seed: seed + 2) : nil
        let layer = Conv2d(weight: weight, bias: bias, stride: (c.stride, c.stride), padding: (c.padding, c.padding), groups: c.groups)
        let (ho, wo) = layer.outputSize(height: c.height, width: c.width)
        XCTAssertEqual(ho, g.outputHeight, "\(c)"); XCTAssertEqual(wo, g.outputWidth, "\(c)")
        let fast = Tensor(shape: [c.batch, ho, wo, c.outChannels], repeating: .nan)   // every output must be written
        let reference = Tensor(zeros: fast.shape)
        layer.apply(x.data, fast.data, batch: c.batch, height: c.height, width: c.width)
        conv2dReference(x.data, weight: weight.data, bias: bias?.data, reference.data, geometry: g)
        return (fast, reference)
    }

    static let awkwardCases = [
        ConvCase(batch: 1, height: 19, width: 21, inChannels: 3, outChannels: 8, kernel: 7, stride: 4, padding: 3, groups: 1),
        // 43×44 output pixels: enough im2col chunks for the per-worker path
        ConvCase(batch: 1, height: 171, width: 173, inChannels: 3, outChannels: 7, kernel: 7, stride: 4, padding: 3, groups: 1),
        ConvCase(batch: 2, height: 13, width: 15, inChannels: 5, outChannels: 7, kernel: 3, stride: 2, padding: 1, groups: 1),
        ConvCase(batch: 1, height: 17, width: 29, inChannels: 6, outChannels: 5, kernel: 8, stride: 8, padding: 0, groups: 1),
        ConvCase(batch: 2, height: 9, width: 7, inChannels: 4, outChannels: 3, kernel: 2, stride: 2, padding: 0, groups: 1,
                 bias: false),
        ConvCase(batch: 2, height: 5, width: 7, inChannels: 12, outChannels: 9, kernel: 1, stride: 1, padding: 0, groups: 1),
        ConvCase(batch: 1, height: 5, width: 3, inChannels: 12, outChannels: 10, kernel: 1, stride: 1, padding: 0, groups: 2),
        ConvCase(batch: 1, height: 6, width: 5, inChannels: 4, outChannels: 6, kernel: 1, stride: 2, padding: 0, groups: 1),
        ConvCase(batch: 1, height: 9, width: 11, inChannels: 13, outChannels: 13, kernel: 3, stride: 1, padding: 1, groups: 13),
        ConvCase(batch: 2, height: 20, width: 23, inChannels: 20, outChannels: 20, kernel: 3, stride: 1, padding: 1, groups: 20),
        ConvCase(batch: 1, height: 3, width: 2, inChannels: 8, outChannels: 8, kernel: 3, stride: 1, padding: 1, groups: 8,
                 bias: false),
        ConvCase(batch: 1, height: 11, width: 10, inChannels: 9, outChannels: 9, kernel: 3, stride: 2, padding: 1, groups: 9),
        ConvCase(batch: 1, height: 8, width: 9, inChannels: 16, outChannels: 16, kernel: 5, stride: 1, padding: 2, groups: 16),
        ConvCase(batch: 1, height: 7, width: 8, inChannels: 6, outChannels: 4, kernel: 3, stride: 1, padding: 1, groups: 2),
        ConvCase(batch: 2, height: 9, width: 10, inChannels: 6, outChannels: 9, kernel: 3, stride: 2, padding: 1, groups: 3),
        ConvCase(batch: 1, height: 5, width: 4, inChannels: 2, outChannels: 3, kernel: 3, stride: 1, padding: 2, groups: 1),
        // K = 288, 226-row chunks, 961 rows: the per-worker path with groups
        ConvCase(batch: 1, height: 31, width: 31, inChannels: 64, outChannels: 8, kernel: 3, stride: 1, padding: 1, groups: 2),
    ]

    func testConv2dMatchesReferenceOnAwkwardShapes() {
        // Float sums of up to 384 products of values in [-1, 1] against Double ones: ~1e-6 of the
        // largest output; 1e-5 leaves room without hiding a wrong tap (an error of order 1).
        for (i, c) in Self.awkwardCases.enumerated() {
            let (fast, reference) = convolve(c, seed: UInt64(10 * i + 1))
            XCTAssertLessThan(relativeError(fast, reference), 1e-5, "\(c), seed \(10 * i + 1)")
        }
    }

    func testConv2dResultDoesNotDependOnThreadCount() {
        // One thread: chunks in turn. Two: enough chunks (4) for a chunk a worker. Three: too few
        // for that, chunks in turn with the gather and the GEMM parallel. The same chunks, the
        // same sums: equal bit for bit.
        let saved = Engine.threadCount
        defer { Engine.threadCount = saved }
        for c in [Self.awkwardCases[1], Self.awkwardCases[9], Self.awkwardCases[16]] {
            var results: [[Float]] = []
            for threads in [1, 2, 3] {
                Engine.threadCount = threads
                let (fast, reference) = convolve(c, seed: 5)
                XCTAssertLessThan(relativeError(fast, reference), 1e-5, "\(c), \(threads) threads")
                results.append(fast.scalars)
            }
            for threads in [2, 3] {
                let differing = zip(results[0], results[threads - 1]).filter { $0 != $1 }.count
                XCTAssertEqual(differing, 0, "\(c): outputs that differ between 1 and \(threads) threads")
            }
        }
    }

    func testConv2dMatchesTorch() throws {
        let file = try fixture("conv2d")
        let data = try XCTUnwrap(file.metadata["arguments"]?.data(using: .utf8))
        let arguments = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: Int]])
        XCTAssertEqual(arguments.count, 4)
        for (i, argument) in arguments.enumerated() {
            let x = try XCTUnwrap(file["conv\(i).input"]), weight = try XCTUnwrap(file["conv\(i).weight"])
            let bias = try XCTUnwrap(file["conv\(i).bias"]), expected = try XCTUnwrap(file["conv\(i).output"])
            let stride = try XCTUnwrap(argument["stride"]), padding = try XCTUnwrap(argument["padding"])
            let groups = try XCTUnwrap(argument["groups"])
            let layer = Conv2d(weight: weight, bias: bias, stride: (stride, stride), padding: (padding, padding), groups: groups)
            let (b, h, w) = (x.shape[0], x.shape[1], x.shape[2])
            let fast = Tensor(zeros: expected.shape), reference = Tensor(zeros: expected.shape)
            layer.apply(x.data, fast.data, batch: b, height: h, width: w)
            conv2dReference(x.data, weight: weight.data, bias: bias.data, reference.data,
                            geometry: layer.geometry(batch: b, height: h, width: w))
            // torch sums in another order (oneDNN); 1e-5 of the largest output, as above.
            XCTAssertLessThan(relativeError(fast, expected), 1e-5, "conv\(i) \(argument)")
            XCTAssertLessThan(relativeError(reference, expected), 1e-5, "conv\(i) reference \(argument)")
        }
    }

    // MARK: Bilinear resize

    func testBilinearResizeMatchesTorch() throws {
        let file = try fixture("interpolate")
        var cases = 0
        while let x = file["case\(cases).input"] {
            let expected = try XCTUnwrap(file["case\(cases).output"])
            let (b, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            let (ho, wo) = (expected.shape[1], expected.shape[2])
            let y = Tensor(shape: expected.shape, repeating: .nan)
            bilinearResize(x.data, batch: b, height: h, width: w, channels: c, into: y.data, outputHeight: ho, outputWidth: wo)
            var worst: Float = 0, differing = 0
            for i in 0..<y.count {
                worst = max(worst, abs(y[i] - expected[i]))
                if y[i] != expected[i] { differing += 1 }
            }
            // The fixture pins torch's no-FMA kernel, whose weights and sum order ours follows:
            // equal bit for bit (1e-6 would still pass torch's FMA builds, a few ulp away).
            XCTAssertLessThanOrEqual(worst, 1e-6, "case\(cases) \(x.shape) → \(expected.shape)")
            XCTAssertEqual(differing, 0, "case\(cases) \(x.shape) → \(expected.shape)")
            // accumulating: y += resize(x) over what y held
            let base = randomTensor(expected.shape, seed: UInt64(cases)), sum = base.copy()
            bilinearResize(x.data, batch: b, height: h, width: w, channels: c, into: sum.data, outputHeight: ho, outputWidth: wo,
                           accumulating: true)
            for i in 0..<sum.count { XCTAssertEqual(sum[i], base[i] + expected[i], accuracy: 1e-6, "case\(cases) accumulating") }
            cases += 1
        }
        XCTAssertEqual(cases, 6, "cases in interpolate.safetensors")
    }

    func testBilinearArgmaxMatchesTorch() throws {
        let file = try fixture("interpolate")
        let logits = try XCTUnwrap(file["argmax.logits"]), expected = try XCTUnwrap(file["argmax.labels"])
        let margin = try XCTUnwrap(file["argmax.margin"])
        let (h, w, k) = (logits.shape[0], logits.shape[1], logits.shape[2])
        let (ho, wo) = (expected.shape[0], expected.shape[1])
        var labels = [UInt8](repeating: 255, count: ho * wo)
        labels.withUnsafeMutableBufferPointer {
            bilinearArgmax(logits.data, height: h, width: w, classes: k, outputHeight: ho, outputWidth: wo, into: $0.baseAddress!)
        }
        // Rows are blended before columns here, so a pixel whose top two are within rounding
        // (1e-5 of logits ~3) may go either way; none of this fixture's are.
        var compared = 0
        for i in 0..<labels.count where margin[i] >= 1e-5 {
            XCTAssertEqual(Int(labels[i]), Int(expected[i]), "pixel \(i / wo), \(i % wo), margin \(margin[i])")
            compared += 1
        }
        XCTAssertGreaterThan(compared, labels.count * 99 / 100)
    }

    func testBilinearArgmaxMatchesArgmaxOfResize() {
        for (k, seed) in [(3, UInt64(21)), (8, 22), (21, 23), (150, 24)] {
            let (h, w, ho, wo) = (5, 7, 17, 11)
            let logits = randomTensor([h, w, k], seed: seed, scale: 4)
            let resized = Tensor(zeros: [ho, wo, k])
            bilinearResize(logits.data, batch: 1, height: h, width: w, channels: k, into: resized.data, outputHeight: ho, outputWidth: wo)
            var labels = [UInt8](repeating: 255, count: ho * wo)
            labels.withUnsafeMutableBufferPointer {
                bilinearArgmax(logits.data, height: h, width: w, classes: k, outputHeight: ho, outputWidth: wo, into: $0.baseAddress!)
            }
            for p in 0..<ho * wo {
                let values = (0..<k).map { resized[p * k + $0] }
                let best = values.indices.max { values[$0] < values[$1] || (values[$0] == values[$1] && $0 > $1) }!
                let runnerUp = values.enumerated().filter { $0.offset != best }.map(\.element).max() ?? -.infinity
                if values[best] - runnerUp < 1e-5 { continue }     // within rounding of the other blend order
                XCTAssertEqual(Int(labels[p]), best, "K \(k), pixel \(p), seed \(seed)")
            }
        }
    }

    func testBilinearArgmaxBreaksTiesTowardTheLowestClass() {
        // Equal maxima everywhere: in the vector lanes (5 and 13), across a lane and the tail
        // (13 and 17), within the tail (17 and 19); and K below one vector.
        for (k, tied, expected) in [(21, [5, 13, 17], 5), (21, [13, 17], 13), (21, [17, 19], 17), (21, [19], 19), (5, [1, 3], 1)] {
            let (h, w) = (3, 4)
            let logits = randomTensor([h, w, k], seed: 31)
            for p in 0..<h * w { for c in tied { logits[p * k + c] = 2 + Float(p % 3) } }
            var labels = [UInt8](repeating: 255, count: 7 * 9)
            labels.withUnsafeMutableBufferPointer {
                bilinearArgmax(logits.data, height: h, width: w, classes: k, outputHeight: 7, outputWidth: 9, into: $0.baseAddress!)
            }
            XCTAssertEqual(Set(labels), [UInt8(expected)], "K \(k), tied classes \(tied)")
        }
    }
}
