import Foundation
import Parallel

// MARK: - From coefficients to RGB: IDCT into component planes, then upsample and convert

/// One component's decoded samples at its (possibly DCT-scaled) resolution.
/// Workers read planes and write disjoint rows of them (`@unchecked`: holds a pointer).
struct JPEGPlane: @unchecked Sendable {
    /// IDCT output size of one block: 8 at full scale, 4, 2 or 1 scaled (libjpeg's DCT_scaled_size).
    let blockSize: Int
    /// Real samples: libjpeg's `downsampled_width` / `downsampled_height`.
    let width: Int
    let height: Int
    let stride: Int
    let rows: Int
    let upsampling: JPEGUpsampling
    let samples: UnsafeMutablePointer<UInt8>
}

/// Turns coefficients into RGB: owns the component planes, runs the IDCT into them (all at once,
/// or block row by block row while a sequential scan is decoded), then upsamples and converts.
final class JPEGRenderer: @unchecked Sendable {   // workers write disjoint rows of the planes
    let outputWidth: Int
    let outputHeight: Int
    let planes: [JPEGPlane]
    /// Each component's 64 dequantization factors.
    let quantization: [UnsafeMutablePointer<Int32>]

    /// Plans the output at 1/`scale` (1, 2, 4, 8) as jdmaster.c does
    /// (jpeg_core_output_dimensions, jpeg_calc_output_dimensions) and allocates the planes.
    /// - Throws: `.unsupported` for sampling ratios libjpeg cannot upsample (not integral).
    init(frame: JPEGFrame, scale: Int) throws {
        let minBlockSize = 8 / scale
        outputWidth = (frame.width * minBlockSize + 7) / 8
        outputHeight = (frame.height * minBlockSize + 7) / 8
        let hmax = frame.maxHorizontalSampling, vmax = frame.maxVerticalSampling
        let fancy = minBlockSize > 1                                          // jdsample.c do_fancy
        var planes: [JPEGPlane] = []
        for component in frame.components {
            let h = component.horizontalSampling, v = component.verticalSampling
            // Chroma is scaled up through the IDCT where the ratio allows, sparing upsampling.
            var blockSize = minBlockSize
            while blockSize < 8 && (hmax * minBlockSize) % (h * blockSize * 2) == 0
                && (vmax * minBlockSize) % (v * blockSize * 2) == 0 {
                blockSize *= 2
            }
            let width = (frame.width * h * blockSize + hmax * 8 - 1) / (hmax * 8)
            let height = (frame.height * v * blockSize + vmax * 8 - 1) / (vmax * 8)
            guard let upsampling = JPEGUpsampling(inH: h * blockSize / minBlockSize, inV: v * blockSize / minBlockSize,
                                                  outH: hmax, outV: vmax, fancy: fancy, componentWidth: width) else {
                for plane in planes { plane.samples.deallocate() }
                throw ImageCodecError.unsupported("sampling factors \(h)x\(v) against \(hmax)x\(vmax) (not an integral ratio)")
            }
            let stride = component.widthInBlocks * blockSize
            let rows = component.heightInBlocks * blockSize
            planes.append(JPEGPlane(blockSize: blockSize, width: width, height: height, stride: stride, rows: rows,
                                    upsampling: upsampling, samples: .allocate(capacity: stride * rows)))
        }
        self.planes = planes
        quantization = frame.components.map { component in
            let q = UnsafeMutablePointer<Int32>.allocate(capacity: 64)
            for i in 0..<64 { q[i] = component.quantization[i] }
            return q
        }
    }

    deinit {
        for plane in planes { plane.samples.deallocate() }
        for q in quantization { q.deallocate() }
    }

    /// IDCT of one row of `count` blocks (64 coefficients each, consecutive) into block row
    /// `blockRow` of component `index`'s plane.
    @inline(__always)
    func idctRow(component index: Int, blockRow: Int, blocks: UnsafePointer<Int16>, count: Int) {
        let plane = planes[index], q = UnsafePointer(quantization[index])
        let size = plane.blockSize, stride = plane.stride
        var block = blocks
        var target = plane.samples + blockRow * size * stride
        switch size {
        case 8: for _ in 0..<count { idctISlow(block, q, target, stride: stride); block += 64; target += 8 }
        case 4: for _ in 0..<count { idct4x4(block, q, target, stride: stride); block += 64; target += 4 }
        case 2: for _ in 0..<count { idct2x2(block, q, target, stride: stride); block += 64; target += 2 }
        default: for _ in 0..<count { idct1x1(block, q, target, stride: stride); block += 64; target += 1 }
        }
    }

    /// The IDCT of every block of a fully stored frame, in parallel over block rows (each
    /// worker writes only its rows of the plane).
    func idctAll(_ frame: JPEGFrame) {
        for (index, component) in frame.components.enumerated() {
            let coefficients = SharedPointer(base: component.coefficients!)
            let blocksPerLine = component.blocksPerLine, widthInBlocks = component.widthInBlocks
            let heightInBlocks = component.heightInBlocks
            let tasks = min(heightInBlocks, 64)
            let size = planes[index].blockSize
            parallelFor(tasks, work: heightInBlocks * widthInBlocks * size * size) { [self] task in
                let rowsPerTask = (heightInBlocks + tasks - 1) / tasks
                let first = task * rowsPerTask, last = min(first + rowsPerTask, heightInBlocks)
                guard first < last else { return }
                for blockRow in first..<last {
                    idctRow(component: index, blockRow: blockRow, blocks: coefficients.base + blockRow * blocksPerLine * 64,
                            count: widthInBlocks)
                }
            }
        }
    }

    /// Upsamples and converts to RGB, in parallel over bands of output rows.
    func convert(_ colorSpace: JPEGColorSpace) -> Image {
        let outputWidth = outputWidth, outputHeight = outputHeight, planes = planes
        let count = outputWidth * outputHeight * 3
        let pixels = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            let rgb = SharedPointer(base: buffer.baseAddress!)
            let bands = min(outputHeight, 64)
            parallelFor(bands, work: outputWidth * outputHeight) { band in
                let rowsPerBand = (outputHeight + bands - 1) / bands
                let first = band * rowsPerBand, last = min(first + rowsPerBand, outputHeight)
                guard first < last else { return }
                let scratchWidth = outputWidth * 2 + 64
                let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: scratchWidth * planes.count)
                defer { scratch.deallocate() }
                var rows = [UnsafePointer<UInt8>](repeating: UnsafePointer(scratch), count: 4)
                for y in first..<last {
                    for (c, plane) in planes.enumerated() {
                        rows[c] = JPEGRenderer.upsampledRow(plane, outputRow: y, outputWidth: outputWidth,
                                                            scratch: scratch + c * scratchWidth)
                    }
                    let target = rgb.base + y * outputWidth * 3
                    switch colorSpace {
                    case .grayscale: grayToRGBRow(rows[0], count: outputWidth, target)
                    case .yCbCr: yccToRGBRow(rows[0], rows[1], rows[2], count: outputWidth, target)
                    case .rgb: planarToRGBRow(rows[0], rows[1], rows[2], count: outputWidth, target)
                    case .cmyk, .ycck:
                        cmykToRGBRow(rows[0], rows[1], rows[2], rows[3], isYCCK: colorSpace == .ycck,
                                     count: outputWidth, target)
                    }
                }
            }
            initialized = count
        }
        return Image(width: outputWidth, height: outputHeight, pixels: pixels)
    }

    /// One row of a component at output resolution: a pointer into the plane when no
    /// upsampling is needed, else into `scratch` (at least 2 x outputWidth + 64 bytes).
    @inline(__always)
    static func upsampledRow(_ plane: JPEGPlane, outputRow y: Int, outputWidth: Int,
                             scratch: UnsafeMutablePointer<UInt8>) -> UnsafePointer<UInt8> {
        let (near, far) = plane.upsampling.sourceRows(outputRow: y, componentHeight: plane.height)
        let nearRow = plane.samples + near * plane.stride
        let farRow = plane.samples + far * plane.stride
        switch plane.upsampling {
        case .fullSize:
            return UnsafePointer(nearRow)
        case .h2v1Fancy:
            upsampleH2V1Fancy(nearRow, width: plane.width, scratch)
        case .h2v2Fancy:
            upsampleH2V2Fancy(near: nearRow, far: farRow, width: plane.width, scratch)
        case .h1v2Fancy:
            upsampleH1V2Fancy(near: nearRow, far: farRow, width: plane.width, bias: y & 1 == 0 ? 1 : 2, scratch)
        case .h2v1Box, .h2v2Box:
            upsampleBox(nearRow, factor: 2, count: outputWidth, scratch)
        case let .integral(horizontal, _):
            upsampleBox(nearRow, factor: horizontal, count: outputWidth, scratch)
        }
        return UnsafePointer(scratch)
    }
}

/// Runs `body(i)` for i in 0..<count on the workers when the job is big enough to pay for
/// the threads (`work`: roughly the samples touched; 64 Ki samples take tens of microseconds,
/// several Dispatch hops), else on this thread.
func parallelFor(_ count: Int, work: Int, _ body: (Int) -> Void) {
    parallelFor(tasks: count, threads: work < 1 << 16 ? 1 : Parallelism.threadCount) { _, task in body(task) }
}
