import Foundation

// MARK: - From coefficients to RGB: IDCT into component planes, then upsample and convert

/// A pointer shared with parallel workers. Sound only while they read it or write disjoint
/// ranges of it; each use says which.
struct SharedPointer<Element>: @unchecked Sendable { let base: UnsafeMutablePointer<Element> }

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

enum JPEGOutput {
    /// Renders the decoded frame as RGB at 1/`scale` (1, 2, 4, 8).
    static func render(frame: JPEGFrame, colorSpace: JPEGColorSpace, scale: Int) throws -> Image {
        // jdmaster.c jpeg_core_output_dimensions / jpeg_calc_output_dimensions.
        let minBlockSize = 8 / scale
        let outputWidth = (frame.width * minBlockSize + 7) / 8
        let outputHeight = (frame.height * minBlockSize + 7) / 8
        let hmax = frame.maxHorizontalSampling, vmax = frame.maxVerticalSampling
        let fancy = minBlockSize > 1                                          // jdsample.c do_fancy

        var planes: [JPEGPlane] = []
        defer { for plane in planes { plane.samples.deallocate() } }
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
                throw ImageCodecError.unsupported("sampling factors \(h)x\(v) against \(hmax)x\(vmax) (not an integral ratio)")
            }
            let stride = component.widthInBlocks * blockSize
            let rows = component.heightInBlocks * blockSize
            let samples = UnsafeMutablePointer<UInt8>.allocate(capacity: stride * rows)
            planes.append(JPEGPlane(blockSize: blockSize, width: width, height: height, stride: stride, rows: rows,
                                    upsampling: upsampling, samples: samples))
        }

        // IDCT, in parallel over block rows (each worker writes only its rows of the plane).
        for (component, plane) in zip(frame.components, planes) {
            let quant = component.quantization
            let out = SharedPointer(base: plane.samples)
            let coefficients = SharedPointer(base: component.coefficients!)
            let blocksPerLine = component.blocksPerLine, widthInBlocks = component.widthInBlocks
            let size = plane.blockSize, stride = plane.stride, heightInBlocks = component.heightInBlocks
            let tasks = min(component.heightInBlocks, 64)
            quant.withUnsafeBufferPointer { quantBuffer in
                let q = SharedPointer(base: UnsafeMutablePointer(mutating: quantBuffer.baseAddress!))
                parallelFor(tasks, work: heightInBlocks * widthInBlocks * size * size) { task in
                    let rowsPerTask = (heightInBlocks + tasks - 1) / tasks
                    let first = task * rowsPerTask, last = min(first + rowsPerTask, heightInBlocks)
                    guard first < last else { return }
                    for blockRow in first..<last {
                        var block = coefficients.base + blockRow * blocksPerLine * 64
                        var target = out.base + blockRow * size * stride
                        for _ in 0..<widthInBlocks {
                            switch size {
                            case 8: idctISlow(block, q.base, target, stride: stride)
                            case 4: idct4x4(block, q.base, target, stride: stride)
                            case 2: idct2x2(block, q.base, target, stride: stride)
                            default: idct1x1(block, q.base, target, stride: stride)
                            }
                            block += 64
                            target += size
                        }
                    }
                }
            }
        }

        // Upsample and convert, in parallel over bands of output rows.
        var pixels = [UInt8](repeating: 0, count: outputWidth * outputHeight * 3)
        pixels.withUnsafeMutableBufferPointer { buffer in
            let rgb = SharedPointer(base: buffer.baseAddress!)
            let bands = min(outputHeight, 64)
            let planesCopy = planes
            parallelFor(bands, work: outputWidth * outputHeight) { band in
                let rowsPerBand = (outputHeight + bands - 1) / bands
                let first = band * rowsPerBand, last = min(first + rowsPerBand, outputHeight)
                guard first < last else { return }
                let scratchWidth = outputWidth * 2 + 64
                let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: scratchWidth * planesCopy.count)
                defer { scratch.deallocate() }
                var rows = [UnsafePointer<UInt8>](repeating: UnsafePointer(scratch), count: 4)
                for y in first..<last {
                    for (c, plane) in planesCopy.enumerated() {
                        rows[c] = upsampledRow(plane, outputRow: y, outputWidth: outputWidth,
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

/// Runs `body(0..<count)` on all cores when the job is big enough to pay for the threads
/// (`work`: roughly the samples touched), else on this thread.
func parallelFor(_ count: Int, work: Int, _ body: @Sendable (Int) -> Void) {
    if work < 1 << 16 || count < 2 {
        for i in 0..<count { body(i) }
    } else {
        DispatchQueue.concurrentPerform(iterations: count, execute: body)
    }
}
