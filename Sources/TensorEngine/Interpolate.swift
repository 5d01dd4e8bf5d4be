import Foundation
import Parallel

// MARK: - Bilinear resize, channels last (torch F.interpolate(mode="bilinear", align_corners=False))

/// Where output index `d` samples the input along one axis, as torch computes it for an output
/// size given (no scale factor): scale = in/out in Float; src = max(scale·(d + ½) − ½, 0);
/// i0 = ⌊src⌋ (at most in − 1), i1 = i0 + 1 but at the edge, λ1 = src − i0, λ0 = 1 − λ1. The
/// same size maps d to itself with λ = (1, 0). (aten/src/ATen/native/UpSample.h:
/// `area_pixel_compute_scale`, `area_pixel_compute_source_index`, `compute_source_index_and_lambda`.)
struct BilinearTap {
    let i0: Int, i1: Int
    let lambda0: Float, lambda1: Float

    @inline(__always)
    init(_ d: Int, inputSize: Int, outputSize: Int) {
        if inputSize == outputSize {
            i0 = d; i1 = d; lambda0 = 1; lambda1 = 0
            return
        }
        let scale = Float(inputSize) / Float(outputSize)
        let product = scale * (Float(d) + 0.5)       // two roundings, as torch's kernel without FMA
        let source = max(product - 0.5, 0)
        i0 = min(Int(source.rounded(.down)), inputSize - 1)
        i1 = i0 + (i0 < inputSize - 1 ? 1 : 0)
        lambda1 = min(max(source - Float(i0), 0), 1)
        lambda0 = 1 - lambda1
    }
}

/// y = bilinear resize of x to outputHeight × outputWidth, or with `accumulating` y += it (the
/// decode head sums several upsampled maps). x: [B, H, W, C], y: [B, Ho, Wo, C], NHWC; with
/// `rows`, only those output rows of the B·Ho (batch-major), written from y's first row (a
/// caller working through the output a band at a time holds one band, not the whole map).
///
/// Matches torch's CPU kernel bit for bit where torch runs without FMA (ATEN_CPU_CAPABILITY=
/// default): weights w00 = λh0·λw0 … w11 = λh1·λw1; channels eight at a time sum
/// ((w11·d + w10·c) + w01·b) + w00·a (its vectorised loop), the last C mod 8 sum
/// ((w00·a + w01·b) + w10·c) + w11·d (its scalar tail); orders found by matching torch 2.13's
/// outputs, NCHW and channels last alike. torch's AVX2/AVX-512 builds fuse these into FMAs and
/// differ from both by a few ulp (up to 1.1e-6 on values of order 1).
package func bilinearResize(_ x: UnsafePointer<Float>, batch: Int, height: Int, width: Int, channels: Int,
                            into y: UnsafeMutablePointer<Float>, outputHeight: Int, outputWidth: Int, accumulating: Bool = false,
                            rows band: Range<Int>? = nil) {
    precondition(batch >= 0 && height >= 1 && width >= 1 && channels >= 0 && outputHeight >= 1 && outputWidth >= 1,
                 "bilinearResize: [\(batch), \(height), \(width), \(channels)] to \(outputHeight)×\(outputWidth)")
    let band = band ?? 0..<(batch * outputHeight)
    precondition(band.lowerBound >= 0 && band.upperBound <= batch * outputHeight, "bilinearResize: rows \(band) of \(batch * outputHeight)")
    let xs = SharedPointer(x), ys = SharedPointer(y)
    let c = channels
    // ~0.13 ns an output float on one thread (measured: [1, 128, 128, 256] from 32×32, 0.55 ms).
    let perRow = 0.13 * Double(outputWidth * max(c, 1))
    parallelChunks(band.count, minimumChunk: minimumChunk(nanosecondsPerItem: perRow)) { rows in   // chunk writes its rows
        for bandRow in rows {
            let row = band.lowerBound + bandRow
            let b = row / outputHeight, oy = row % outputHeight
            let vertical = BilinearTap(oy, inputSize: height, outputSize: outputHeight)
            let image = xs.base + b * height * width * c
            let top = image + vertical.i0 * width * c, bottom = image + vertical.i1 * width * c
            let out = ys.base + bandRow * outputWidth * c
            for ox in 0..<outputWidth {
                let horizontal = BilinearTap(ox, inputSize: width, outputSize: outputWidth)
                let w00 = vertical.lambda0 * horizontal.lambda0, w01 = vertical.lambda0 * horizontal.lambda1
                let w10 = vertical.lambda1 * horizontal.lambda0, w11 = vertical.lambda1 * horizontal.lambda1
                let a = top + horizontal.i0 * c, b = top + horizontal.i1 * c
                let cc = bottom + horizontal.i0 * c, d = bottom + horizontal.i1 * c
                let o = out + ox * c
                var j = 0
                while j + 8 <= c {
                    let value = ((w11 * vector(d, j) + w10 * vector(cc, j)) + w01 * vector(b, j)) + w00 * vector(a, j)
                    let target = UnsafeMutableRawPointer(o + j)
                    if accumulating { target.storeBytes(of: target.loadUnaligned(as: SIMD8<Float>.self) + value, as: SIMD8<Float>.self) }
                    else { target.storeBytes(of: value, as: SIMD8<Float>.self) }
                    j += 8
                }
                while j < c {
                    let value = ((w00 * a[j] + w01 * b[j]) + w10 * cc[j]) + w11 * d[j]
                    if accumulating { o[j] += value } else { o[j] = value }
                    j += 1
                }
            }
        }
    }
}

/// The class of every pixel of one image's logits resized bilinearly to outputHeight ×
/// outputWidth: argmax over K of torch's resize (ties: the lowest class, as torch.argmax),
/// without materialising the [Ho, Wo, K] tensor (a 12-megapixel photo × 150 classes would be
/// 7 GB). Each output row blends its two source rows once (λh0·top + λh1·bottom over W × K);
/// each pixel then blends two columns of that and keeps the best class. The blend order differs
/// from `bilinearResize`'s, so a pixel whose top two classes are within a few ulp may pick the
/// other one. NaN logits are never chosen (torch would pick them).
/// - Parameters:
///   - logits: [H, W, K], K ≤ 256.
///   - labels: [Ho, Wo] class indices.
/// - Complexity: Ho·W·K for the rows plus Ho·Wo·K for the pixels; (W + 1)·K floats of scratch a worker.
package func bilinearArgmax(_ logits: UnsafePointer<Float>, height: Int, width: Int, classes: Int,
                            outputHeight: Int, outputWidth: Int, into labels: UnsafeMutablePointer<UInt8>) {
    precondition(height >= 1 && width >= 1 && outputHeight >= 1 && outputWidth >= 1 && classes >= 1 && classes <= 256,
                 "bilinearArgmax: [\(height), \(width), \(classes)] to \(outputHeight)×\(outputWidth) (K must be 1...256)")
    let k = classes, rowCount = width * k
    // ~0.4 ns a class·pixel on one thread, the row blend's W·K included (512² from 128² × 150: 16 ms).
    let perRow = 0.4 * Double(outputWidth * k)
    let chunks = min(max(1, outputHeight / minimumChunk(nanosecondsPerItem: perRow)), 4 * max(Engine.threadCount, 1))
    let workers = max(1, min(Engine.threadCount, chunks))
    let perWorker = (rowCount + k + 15) / 16 * 16                   // a blended row, then one pixel's K values
    ScratchPool.withBuffer(workers * perWorker) { scratch in         // borrowed here, not in the workers
        let source = SharedPointer(logits), out = SharedPointer(labels), rows = SharedPointer(scratch)
        parallelFor(tasks: chunks, threads: workers) { worker, chunk in   // chunk writes its rows of labels; worker its row buffer
            let blended = rows.base + worker * perWorker, values = blended + rowCount
            for oy in chunk * outputHeight / chunks ..< (chunk + 1) * outputHeight / chunks {
                let vertical = BilinearTap(oy, inputSize: height, outputSize: outputHeight)
                blendRows(source.base + vertical.i0 * rowCount, vertical.lambda0, source.base + vertical.i1 * rowCount,
                          vertical.lambda1, into: blended, count: rowCount)
                for ox in 0..<outputWidth {
                    let horizontal = BilinearTap(ox, inputSize: width, outputSize: outputWidth)
                    let best = blendedArgmax(blended + horizontal.i0 * k, horizontal.lambda0, blended + horizontal.i1 * k,
                                             horizontal.lambda1, classes: k, values: values)
                    out.base[oy * outputWidth + ox] = UInt8(truncatingIfNeeded: best)
                }
            }
        }
    }
}

@inline(__always)
private func vector(_ p: UnsafePointer<Float>, _ offset: Int) -> SIMD8<Float> {
    UnsafeRawPointer(p + offset).loadUnaligned(as: SIMD8<Float>.self)
}

/// The largest of eight lanes (NaN-free input). A halving tree: the standard library's `max()`
/// on SIMD8 ran lane by lane with branches, a quarter of `bilinearArgmax`'s time at K = 150.
@inline(__always)
private func largestLane(_ v: SIMD8<Float>) -> Float {
    let four = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
    let two = four.lowHalf.replacing(with: four.highHalf, where: four.highHalf .> four.lowHalf)
    return max(two[0], two[1])
}

/// out = λ0·a + λ1·b over `count` floats.
@inline(__always)
private func blendRows(_ a: UnsafePointer<Float>, _ lambda0: Float, _ b: UnsafePointer<Float>, _ lambda1: Float,
                       into out: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 8 <= count {
        let va = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
        let vb = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(out + i).storeBytes(of: lambda0 * va + lambda1 * vb, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { out[i] = lambda0 * a[i] + lambda1 * b[i]; i += 1 }
}

/// argmax over k of λ0·a[k] + λ1·b[k], the first of equal maxima. Two passes: the blends go
/// to `values` (K floats, in L1) under a running lane-wise maximum, then the first value equal
/// to the maximum is found, so the hot pass carries no class indices.
@inline(__always)
private func blendedArgmax(_ a: UnsafePointer<Float>, _ lambda0: Float, _ b: UnsafePointer<Float>, _ lambda1: Float,
                           classes: Int, values: UnsafeMutablePointer<Float>) -> Int {
    var maxima = SIMD8<Float>(repeating: -.infinity)
    var j = 0
    while j + 8 <= classes {
        let v = lambda0 * vector(a, j) + lambda1 * vector(b, j)
        UnsafeMutableRawPointer(values + j).storeBytes(of: v, as: SIMD8<Float>.self)
        maxima.replace(with: v, where: v .> maxima)
        j += 8
    }
    var best = largestLane(maxima)
    while j < classes {
        values[j] = lambda0 * a[j] + lambda1 * b[j]
        best = max(best, values[j])
        j += 1
    }
    j = 0
    while j + 8 <= classes {
        if any(vector(values, j) .== best) { break }
        j += 8
    }
    while j < classes {
        if values[j] == best { return j }
        j += 1
    }
    return 0                                              // NaN everywhere: no class equals the maximum
}
