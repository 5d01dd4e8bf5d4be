import Foundation
import Parallel

// MARK: - Conv2d, channels last (NHWC), inference only (SegFormer's patch embeddings, spatial
// reductions and MixFFN depthwise convs, whose tokens stay [B, H·W, C])

/// The sizes of one convolution: torch.nn.Conv2d's arguments (dilation 1) and the input's.
/// Input [B, H, W, Cin], output [B, Ho, Wo, Cout], both NHWC.
package struct Conv2dGeometry: Sendable, Equatable, CustomStringConvertible {
    package var batch: Int, height: Int, width: Int
    package var inChannels: Int, outChannels: Int
    package var kernelHeight: Int, kernelWidth: Int
    package var strideHeight: Int, strideWidth: Int
    package var paddingHeight: Int, paddingWidth: Int
    package var groups: Int

    package init(batch: Int, height: Int, width: Int, inChannels: Int, outChannels: Int,
                 kernelHeight: Int, kernelWidth: Int, strideHeight: Int = 1, strideWidth: Int = 1,
                 paddingHeight: Int = 0, paddingWidth: Int = 0, groups: Int = 1) {
        self.batch = batch; self.height = height; self.width = width
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight; self.strideWidth = strideWidth
        self.paddingHeight = paddingHeight; self.paddingWidth = paddingWidth
        self.groups = groups
    }

    /// Ho = ⌊(H + 2p − k)/s⌋ + 1, torch's (dilation 1).
    package var outputHeight: Int { (height + 2 * paddingHeight - kernelHeight) / strideHeight + 1 }
    /// Wo = ⌊(W + 2p − k)/s⌋ + 1.
    package var outputWidth: Int { (width + 2 * paddingWidth - kernelWidth) / strideWidth + 1 }

    var groupInChannels: Int { inChannels / groups }
    var groupOutChannels: Int { outChannels / groups }
    /// One im2col row: (ky, kx, cin of the group), the GEMM's K.
    var columnCount: Int { kernelHeight * kernelWidth * groupInChannels }
    var isDepthwise: Bool { groups == inChannels && groups == outChannels }
    var isPointwise: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideHeight == 1 && strideWidth == 1 && paddingHeight == 0 && paddingWidth == 0
    }

    package var description: String {
        "[\(batch), \(height), \(width), \(inChannels)] → \(outChannels) kernel \(kernelHeight)×\(kernelWidth) "
            + "stride \(strideHeight)×\(strideWidth) padding \(paddingHeight)×\(paddingWidth) groups \(groups)"
    }

    /// Our own bugs only: the model checks its config before it builds layers.
    func check() {
        precondition(batch >= 0 && height >= 1 && width >= 1, "Conv2d: bad input size in \(self)")
        precondition(kernelHeight >= 1 && kernelWidth >= 1 && strideHeight >= 1 && strideWidth >= 1
                     && paddingHeight >= 0 && paddingWidth >= 0, "Conv2d: bad kernel, stride or padding in \(self)")
        precondition(groups >= 1 && inChannels % groups == 0 && outChannels % groups == 0 && inChannels >= 1,
                     "Conv2d: channels not divisible by groups in \(self)")
        precondition(height + 2 * paddingHeight >= kernelHeight && width + 2 * paddingWidth >= kernelWidth,
                     "Conv2d: kernel larger than the padded input in \(self)")
    }
}

/// torch.nn.Conv2d's forward on NHWC maps, its weight laid out and packed once at init.
///
/// Three strategies, picked from the geometry:
/// - depthwise (groups = Cin = Cout): direct, vectorised over channels, parallel over rows;
/// - 1×1, stride 1, no padding: a Linear over the pixels, no im2col (each group reads its
///   channels at a row stride of Cin and writes its columns of y at a row stride of Cout);
/// - otherwise im2col in NHWC order (a row per output pixel, columns (ky, kx, cin of the
///   group)) into bounded chunks of rows, then the GEMM with the packed weight. With groups = 1
///   a kernel row's taps are one contiguous run of kx·Cin floats in the input, so non-overlapping
///   patches (kernel = stride, SegFormer's spatial reduction) gather as kh copies a pixel.
package final class Conv2d: @unchecked Sendable {
    package let inChannels: Int, outChannels: Int
    package let kernelHeight: Int, kernelWidth: Int
    package let strideHeight: Int, strideWidth: Int
    package let paddingHeight: Int, paddingWidth: Int
    package let groups: Int

    private enum Kernel {
        /// [kh, kw, C]: a tap's weights are contiguous over channels.
        case depthwise(weight: Tensor)
        /// One packed [K, Cout/groups] weight per group, K = Cin/groups.
        case pointwise([PackedMatrix])
        /// One packed [K, Cout/groups] weight per group, K = kh·kw·Cin/groups in (ky, kx, cin) order.
        case columns([PackedMatrix])
    }
    private let kernel: Kernel
    private let bias: Tensor?

    /// - Parameters:
    ///   - weight: [Cout, Cin/groups, kh, kw], PyTorch's layout (copied; not kept).
    ///   - bias: [Cout] or nil.
    ///   - stride, padding: (height, width), as torch's `stride=`, `padding=` (zeros).
    package init(weight: Tensor, bias: Tensor?, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), groups: Int = 1) {
        precondition(weight.rank == 4, "Conv2d: weight must be [Cout, Cin/groups, kh, kw], got \(weight.shape)")
        let cOut = weight.shape[0], cInGroup = weight.shape[1], kh = weight.shape[2], kw = weight.shape[3]
        precondition(groups >= 1 && cOut % groups == 0, "Conv2d: \(cOut) output channels in \(groups) groups")
        precondition(bias == nil || bias!.shape == [cOut], "Conv2d: bias \(bias!.shape) for \(cOut) output channels")
        inChannels = cInGroup * groups; outChannels = cOut
        kernelHeight = kh; kernelWidth = kw
        (strideHeight, strideWidth) = stride
        (paddingHeight, paddingWidth) = padding
        self.groups = groups
        self.bias = bias?.copy()
        // Checks the layer's own numbers, on an input just the kernel's size.
        let geometry = Conv2dGeometry(batch: 1, height: max(kh, 1), width: max(kw, 1), inChannels: inChannels,
                                      outChannels: cOut, kernelHeight: kh, kernelWidth: kw, strideHeight: stride.0,
                                      strideWidth: stride.1, paddingHeight: padding.0, paddingWidth: padding.1, groups: groups)
        geometry.check()
        let taps = kh * kw, source = weight.data
        if geometry.isDepthwise {
            let laid = Tensor(zeros: [kh, kw, cOut])                    // [C, 1, kh, kw] → [kh, kw, C]
            for c in 0..<cOut { for t in 0..<taps { laid.data[t * cOut + c] = source[c * taps + t] } }
            kernel = .depthwise(weight: laid)
            return
        }
        // [Cout, Cin/g, kh, kw] → [Cout, kh, kw, Cin/g]: each group's rows are then its
        // [N, K] block of a Linear weight, packed transposed like one.
        let k = geometry.columnCount, groupOut = geometry.groupOutChannels
        let laid = Tensor(zeros: [cOut, k])
        for o in 0..<cOut {
            for ci in 0..<cInGroup {
                for t in 0..<taps { laid.data[o * k + t * cInGroup + ci] = source[(o * cInGroup + ci) * taps + t] }
            }
        }
        let packed = (0..<groups).map { g in
            PackedMatrix(laid.data + g * groupOut * k, k: k, n: groupOut, transposed: true)
        }
        kernel = geometry.isPointwise ? .pointwise(packed) : .columns(packed)
    }

    /// (Ho, Wo) for an input of height × width.
    package func outputSize(height: Int, width: Int) -> (Int, Int) {
        let g = geometry(batch: 1, height: height, width: width)
        return (g.outputHeight, g.outputWidth)
    }

    package func geometry(batch: Int, height: Int, width: Int) -> Conv2dGeometry {
        Conv2dGeometry(batch: batch, height: height, width: width, inChannels: inChannels, outChannels: outChannels,
                       kernelHeight: kernelHeight, kernelWidth: kernelWidth, strideHeight: strideHeight,
                       strideWidth: strideWidth, paddingHeight: paddingHeight, paddingWidth: paddingWidth, groups: groups)
    }

    /// y = conv(x) + bias.  x: [B, H, W, Cin], y: [B, Ho, Wo, Cout] (overwritten; must not
    /// overlap x). Parallel over `Engine.threadCount` workers; the result does not depend on it.
    package func apply(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int, height: Int, width: Int) {
        let g = geometry(batch: batch, height: height, width: width)
        g.check()
        if batch == 0 { return }
        switch kernel {
        case let .depthwise(weight):
            depthwiseConv2d(x, weight: weight.data, bias: bias?.data, y, geometry: g)
        case let .pointwise(packed):
            let rows = batch * height * width
            let beta = fillBias(y, rows: 0..<rows)
            for group in 0..<groups {
                let shape = GEMMShape(m: rows, n: g.groupOutChannels, k: g.groupInChannels, transposeB: true,
                                      lda: inChannels, ldc: outChannels)
                gemm(shape, x + group * g.groupInChannels, packed: packed[group], beta: beta, y + group * g.groupOutChannels)
            }
        case let .columns(packed):
            convolveByColumns(x, y, geometry: g, packed: packed)
        }
    }

    /// Writes the bias into y's `rows` (in parallel when `parallel`) and returns the GEMM's
    /// beta: 1 over a bias, 0 without (y then need not be written first).
    private func fillBias(_ y: UnsafeMutablePointer<Float>, rows: Range<Int>, parallel: Bool = true) -> Float {
        guard let bias else { return 0 }
        let b = SharedPointer(bias.data), out = SharedPointer(y), c = outChannels
        // ~0.1 ns a float (a store stream).
        let minimum = parallel ? minimumChunk(nanosecondsPerItem: 0.1 * Double(c)) : Int.max
        parallelChunks(rows.count, minimumChunk: minimum) { chunk in
            for r in chunk { (out.base + (rows.lowerBound + r) * c).update(from: b.base, count: c) }   // chunk's rows only
        }
        return 1
    }

    /// im2col a chunk of output rows at a time, then one GEMM per group into its columns of y.
    /// Many chunks: each worker gathers a chunk and multiplies it on its own, so the columns go
    /// from its L2 to its GEMM and never to memory; a few (small maps, SegFormer's spatial
    /// reductions): chunk after chunk, the gather and the GEMM each parallel. The chunks are the
    /// same either way, so the result does not depend on the thread count.
    private func convolveByColumns(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, geometry g: Conv2dGeometry,
                                   packed: [PackedMatrix]) {
        let rows = g.batch * g.outputHeight * g.outputWidth, k = g.columnCount
        let chunkRows = conv2dColumnChunkRows(columnCount: k)
        let chunkCount = (rows + chunkRows - 1) / chunkRows
        let threads = Engine.threadCount
        let xs = SharedPointer(x), ys = SharedPointer(y)
        func shape(_ chunk: Range<Int>) -> GEMMShape {
            GEMMShape(m: chunk.count, n: g.groupOutChannels, k: k, transposeB: true, ldc: outChannels)
        }
        if threads > 1 && chunkCount >= 2 * threads {
            let lastRows = rows - (chunkCount - 1) * chunkRows
            let columnFloats = (chunkRows * k + 15) / 16 * 16                     // keeps each slab 64-byte aligned
            let aBlockFloats = max(packedGEMMScratchCount(shape(0..<chunkRows)), packedGEMMScratchCount(shape(0..<lastRows)))
            let perWorker = columnFloats + (aBlockFloats + 15) / 16 * 16
            let workers = min(threads, chunkCount)
            ScratchPool.withBuffer(workers * perWorker) { scratch in        // borrowed here, not in the workers
                let slabs = SharedPointer(scratch)
                parallelFor(tasks: chunkCount, threads: workers) { worker, index in   // chunk writes its rows of y; worker its slab
                    let chunk = index * chunkRows ..< min((index + 1) * chunkRows, rows)
                    let columns = slabs.base + worker * perWorker
                    let beta = fillBias(ys.base, rows: chunk, parallel: false)
                    for group in 0..<groups {
                        im2colRows(xs.base, geometry: g, group: group, rows: chunk, into: columns)
                        gemmPackedOnThisThread(shape(chunk), columns, packed: packed[group], beta: beta,
                                               ys.base + chunk.lowerBound * outChannels + group * g.groupOutChannels,
                                               scratch: columns + columnFloats)
                    }
                }
            }
            return
        }
        ScratchPool.withBuffer(min(chunkRows, rows) * k) { columns in
            let cs = SharedPointer(columns)
            for start in stride(from: 0, to: rows, by: chunkRows) {
                let chunk = start..<min(start + chunkRows, rows)
                let beta = fillBias(y, rows: chunk)
                for group in 0..<groups {
                    // ~30 ns a row plus 0.1 ns a float gathered (one thread: 50 ns a row at K = 147, 57 at
                    // 576, 416 at 4096).
                    let perRow = 30 + 0.1 * Double(k)
                    parallelChunks(chunk.count, minimumChunk: minimumChunk(nanosecondsPerItem: perRow)) { part in
                        let partRows = (chunk.lowerBound + part.lowerBound)..<(chunk.lowerBound + part.upperBound)
                        im2colRows(xs.base, geometry: g, group: group, rows: partRows, into: cs.base + part.lowerBound * k)
                    }
                    gemm(shape(chunk), columns, packed: packed[group], beta: beta,
                         y + chunk.lowerBound * outChannels + group * g.groupOutChannels)
                }
            }
        }
    }
}

/// Rows of im2col per chunk: about 64 Ki floats (256 KiB, beside the GEMM's packed A in a
/// core's L2), at least 8 microkernel rows. Fixed by K alone, so the GEMM shapes (and results)
/// do not depend on the thread count. Measured on one thread (the chunks run one after another):
/// 8-128 Ki floats all within 2%; the whole im2col at once 2-10% slower (7×7 s4 from 3 channels
/// to 64, 3×3 s2 64 → 128 at 128², 8×8 s8 64 → 64). On two, per-worker chunks of 32-128 Ki
/// were the fastest on the first conv (7×7 → 64: 2.2 ms against 3.2 ms for the whole at once).
func conv2dColumnChunkRows(columnCount k: Int) -> Int {
    max(8 * gemmMR, (64 << 10) / max(k, 1) / gemmMR * gemmMR)
}

/// im2col for output pixels `rows` (flat over [B, Ho, Wo]) and one group: row r of `columns`
/// holds the pixel's taps in (ky, kx, cin) order, zeros where the kernel hangs over the padding.
func im2colRows(_ x: UnsafePointer<Float>, geometry g: Conv2dGeometry, group: Int, rows: Range<Int>,
                into columns: UnsafeMutablePointer<Float>) {
    let cIn = g.inChannels, cInGroup = g.groupInChannels, kw = g.kernelWidth
    let k = g.columnCount, tapRow = kw * cInGroup
    let ho = g.outputHeight, wo = g.outputWidth
    for (i, r) in rows.enumerated() {
        let b = r / (ho * wo), oy = r / wo % ho, ox = r % wo
        let out = columns + i * k
        let ixBase = ox * g.strideWidth - g.paddingWidth
        let kxStart = min(kw, max(0, -ixBase)), kxEnd = max(kxStart, min(kw, g.width - ixBase))
        for ky in 0..<g.kernelHeight {
            let iy = oy * g.strideHeight - g.paddingHeight + ky
            let row = out + ky * tapRow
            if iy < 0 || iy >= g.height || kxStart == kxEnd {
                row.update(repeating: 0, count: tapRow)
                continue
            }
            row.update(repeating: 0, count: kxStart * cInGroup)
            let source = x + ((b * g.height + iy) * g.width + ixBase) * cIn + group * cInGroup
            if g.groups == 1 {
                (row + kxStart * cIn).update(from: source + kxStart * cIn, count: (kxEnd - kxStart) * cIn)   // one run
            } else {
                for kx in kxStart..<kxEnd { (row + kx * cInGroup).update(from: source + kx * cIn, count: cInGroup) }
            }
            (row + kxEnd * cInGroup).update(repeating: 0, count: (kw - kxEnd) * cInGroup)
        }
    }
}

// MARK: - Depthwise

/// y[b, oy, ox, c] = bias[c] + Σ_{ky,kx} w[ky, kx, c]·x[b, oy·s − p + ky, ox·s − p + kx, c].
/// x: [B, H, W, C], weight: [kh, kw, C], bias: [C] or nil, y: [B, Ho, Wo, C]. Parallel over
/// output rows; each row sums its taps in (ky, kx) order whatever the path.
func depthwiseConv2d(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                     _ y: UnsafeMutablePointer<Float>, geometry g: Conv2dGeometry) {
    precondition(g.isDepthwise, "depthwiseConv2d: not depthwise: \(g)")
    let rows = g.batch * g.outputHeight
    let xs = SharedPointer(x), ws = SharedPointer(weight), ys = SharedPointer(y)
    let bs = bias.map { SharedPointer($0) }
    // 0.04-0.1 ns a tap·channel on one thread (3×3: 0.5 ms at [1, 32, 32, 1280], 3.7 ms at
    // [1, 128, 128, 256], where it waits on memory); the lower, so that chunks are never too few.
    let perRow = 0.04 * Double(g.outputWidth * g.inChannels * g.kernelHeight * g.kernelWidth)
    parallelChunks(rows, minimumChunk: minimumChunk(nanosecondsPerItem: perRow)) { chunk in   // each chunk writes its rows of y
        for row in chunk {
            depthwiseRow(xs.base, weight: ws.base, bias: bs?.base, ys.base, geometry: g, batch: row / g.outputHeight,
                         outputRow: row % g.outputHeight)
        }
    }
}

/// One output row: the border pixels tap by tap, the interior of a 3×3 stride-1 conv with its
/// nine weight vectors held in registers.
private func depthwiseRow(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                          _ y: UnsafeMutablePointer<Float>, geometry g: Conv2dGeometry, batch b: Int, outputRow oy: Int) {
    let c = g.inChannels, kh = g.kernelHeight, kw = g.kernelWidth, sw = g.strideWidth, pw = g.paddingWidth
    let wo = g.outputWidth
    let iyBase = oy * g.strideHeight - g.paddingHeight
    let kyStart = max(0, -iyBase), kyEnd = min(kh, g.height - iyBase)
    let image = x + b * g.height * g.width * c
    let out = y + (b * g.outputHeight + oy) * wo * c
    // Interior: every kx lands inside, ox·s − p ≥ 0 and ox·s − p + kw ≤ W.
    let interiorStart = min(wo, (pw + sw - 1) / sw)
    let interiorEnd = g.width + pw - kw >= 0 ? max(interiorStart, min(wo, (g.width + pw - kw) / sw + 1)) : interiorStart
    func border(_ ox: Int) {
        let ixBase = ox * sw - pw
        depthwisePixel(image, weight: weight, bias: bias, out + ox * c, channels: c, width: g.width, kernelWidth: kw,
                       iyBase: iyBase, ky: kyStart..<max(kyStart, kyEnd), ixBase: ixBase,
                       kx: max(0, -ixBase)..<max(max(0, -ixBase), min(kw, g.width - ixBase)))
    }
    for ox in 0..<interiorStart { border(ox) }
    if kh == 3 && kw == 3 && sw == 1 && kyStart == 0 && kyEnd == 3 {
        depthwise3x3Interior(image + (iyBase * g.width + interiorStart - pw) * c, rowStride: g.width * c, weight: weight,
                             bias: bias, out + interiorStart * c, pixels: interiorEnd - interiorStart, channels: c)
    } else {
        for ox in interiorStart..<interiorEnd { border(ox) }
    }
    for ox in interiorEnd..<wo { border(ox) }
}

/// One output pixel over the taps ky × kx (those inside the image).
@inline(__always)
private func depthwisePixel(_ image: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                            _ out: UnsafeMutablePointer<Float>, channels c: Int, width: Int, kernelWidth kw: Int,
                            iyBase: Int, ky: Range<Int>, ixBase: Int, kx: Range<Int>) {
    var c0 = 0
    while c0 + 8 <= c {
        var sum = bias.map { UnsafeRawPointer($0 + c0).loadUnaligned(as: SIMD8<Float>.self) } ?? .zero
        for tapRow in ky {
            let source = image + ((iyBase + tapRow) * width + ixBase) * c + c0, taps = weight + tapRow * kw * c + c0
            for tap in kx {
                sum.addProduct(UnsafeRawPointer(source + tap * c).loadUnaligned(as: SIMD8<Float>.self),
                               UnsafeRawPointer(taps + tap * c).loadUnaligned(as: SIMD8<Float>.self))
            }
        }
        UnsafeMutableRawPointer(out + c0).storeBytes(of: sum, as: SIMD8<Float>.self)
        c0 += 8
    }
    while c0 < c {
        var sum = bias?[c0] ?? 0
        for tapRow in ky {
            for tap in kx {
                sum.addProduct(image[((iyBase + tapRow) * width + ixBase + tap) * c + c0], weight[(tapRow * kw + tap) * c + c0])
            }
        }
        out[c0] = sum
        c0 += 1
    }
}

/// `pixels` consecutive output pixels of a 3×3 stride-1 conv whose taps all lie inside.
/// `source`: the top-left tap of the first pixel. Four pixels at a time, all channels of them
/// before the next four, eight channels a step: per kernel row 3 weight and 6 input vectors
/// feed 12 FMAs (neighbours share columns). Channels innermost consume each cache line whole:
/// a pass of eight channels over the row at a pixel stride of C·4 bytes (2 KiB at C = 512)
/// met its own lines in two L1 sets (two threads, [1, 64, 64, 512]: 2.25 ms against 1.04 ms).
/// C a multiple of 1024 still puts a group's 18 input lines in one set: 1.6x slower a channel
/// (one thread, 16² × 2048: 0.42 ms against 0.26 ms at 2056); taking 16 channels a step
/// gained 12% there and nothing elsewhere.
private func depthwise3x3Interior(_ source: UnsafePointer<Float>, rowStride: Int, weight: UnsafePointer<Float>,
                                  bias: UnsafePointer<Float>?, _ out: UnsafeMutablePointer<Float>, pixels: Int, channels c: Int) {
    @inline(__always) func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
    @inline(__always) func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }
    let vectorChannels = c / 8 * 8
    var p = 0
    while p + 4 <= pixels {
        let first = source + p * c, output = out + p * c
        var c0 = 0
        while c0 < vectorChannels {
            let start = bias.map { load($0 + c0) } ?? .zero
            var s0 = start, s1 = start, s2 = start, s3 = start
            for ky in 0..<3 {
                let row = first + ky * rowStride + c0, taps = weight + ky * 3 * c + c0
                let w0 = load(taps), w1 = load(taps + c), w2 = load(taps + 2 * c)
                let x0 = load(row), x1 = load(row + c), x2 = load(row + 2 * c)
                let x3 = load(row + 3 * c), x4 = load(row + 4 * c), x5 = load(row + 5 * c)
                s0.addProduct(x0, w0); s1.addProduct(x1, w0); s2.addProduct(x2, w0); s3.addProduct(x3, w0)
                s0.addProduct(x1, w1); s1.addProduct(x2, w1); s2.addProduct(x3, w1); s3.addProduct(x4, w1)
                s0.addProduct(x2, w2); s1.addProduct(x3, w2); s2.addProduct(x4, w2); s3.addProduct(x5, w2)
            }
            store(s0, output + c0); store(s1, output + c + c0); store(s2, output + 2 * c + c0); store(s3, output + 3 * c + c0)
            c0 += 8
        }
        p += 4
    }
    while p < pixels {
        let first = source + p * c, output = out + p * c
        var c0 = 0
        while c0 < vectorChannels {
            var sum = bias.map { load($0 + c0) } ?? .zero
            for tap in 0..<9 { sum.addProduct(load(first + (tap / 3) * rowStride + (tap % 3) * c + c0), load(weight + tap * c + c0)) }
            store(sum, output + c0)
            c0 += 8
        }
        p += 1
    }
    for channel in vectorChannels..<c {                         // C mod 8 channels
        for p in 0..<pixels {
            var sum = bias?[channel] ?? 0
            for tap in 0..<9 {
                sum.addProduct(source[(tap / 3) * rowStride + (p + tap % 3) * c + channel], weight[tap * c + channel])
            }
            out[p * c + channel] = sum
        }
    }
}

// MARK: - Reference

/// Plain loops, the contract the fast paths are tested against: NHWC like them, the weight in
/// PyTorch's layout [Cout, Cin/groups, kh, kw], sums in Double. x: [B, H, W, Cin], bias: [Cout]
/// or nil, y: [B, Ho, Wo, Cout].
func conv2dReference(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                     _ y: UnsafeMutablePointer<Float>, geometry g: Conv2dGeometry) {
    g.check()
    let cInGroup = g.groupInChannels, cOutGroup = g.groupOutChannels
    for b in 0..<g.batch {
        for oy in 0..<g.outputHeight {
            for ox in 0..<g.outputWidth {
                for o in 0..<g.outChannels {
                    let group = o / cOutGroup
                    var sum = Double(bias?[o] ?? 0)
                    for ci in 0..<cInGroup {
                        for ky in 0..<g.kernelHeight {
                            for kx in 0..<g.kernelWidth {
                                let iy = oy * g.strideHeight - g.paddingHeight + ky, ix = ox * g.strideWidth - g.paddingWidth + kx
                                guard iy >= 0 && iy < g.height && ix >= 0 && ix < g.width else { continue }
                                let input = x[((b * g.height + iy) * g.width + ix) * g.inChannels + group * cInGroup + ci]
                                let w = weight[((o * cInGroup + ci) * g.kernelHeight + ky) * g.kernelWidth + kx]
                                sum += Double(input) * Double(w)
                            }
                        }
                    }
                    y[((b * g.outputHeight + oy) * g.outputWidth + ox) * g.outChannels + o] = Float(sum)
                }
            }
        }
    }
}
