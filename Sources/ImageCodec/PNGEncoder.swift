import Foundation

// MARK: - PNG encoding: 8-bit gray, RGB and RGBA

/// Writes 8-bit, non-interlaced PNGs that Pillow and libpng read.
public enum PNGEncoder {
    /// Encodes an RGB image (colour type 2).
    public static func encode(_ image: Image) -> Data {
        encode(pixels: image.pixels, width: image.width, height: image.height, colorType: .rgb)
    }

    /// Encodes `width x height` pixels of 8-bit samples, row-major and interleaved.
    /// - Parameter colorType: `.gray` (1 byte a pixel), `.rgb` (3) or `.rgba` (4).
    /// - Precondition: `pixels.count == width * height * colorType.channels`, and `width`,
    ///   `height` in 1...2^31-1 (our caller's invariants, not outside data).
    package static func encode(pixels: [UInt8], width: Int, height: Int, colorType: PNGColorType) -> Data {
        precondition([.gray, .rgb, .rgba].contains(colorType), "PNGEncoder writes gray, RGB or RGBA, not \(colorType)")
        precondition(width > 0 && height > 0 && width <= 0x7FFF_FFFF && height <= 0x7FFF_FFFF, "PNG size \(width)x\(height)")
        let channels = colorType.channels
        precondition(pixels.count == width * height * channels,
                     "\(width)x\(height)x\(channels) needs \(width * height * channels) bytes, got \(pixels.count)")
        let filtered = filterRows(pixels, width: width, height: height, bytesPerPixel: channels)
        var file = [UInt8](PNGDecoder.signature)
        var ihdr = bigEndian32(width) + bigEndian32(height)
        ihdr += [8, colorType.rawValue, 0, 0, 0]
        appendChunk("IHDR", ihdr, to: &file)
        appendChunk("IDAT", zlibCompress(filtered), to: &file)
        appendChunk("IEND", [], to: &file)
        return Data(file)
    }

    /// Filters every row with the filter whose output has the smallest sum of |signed bytes|:
    /// libpng's "minimum sum of absolute differences" heuristic (PNG spec §12.8).
    static func filterRows(_ pixels: [UInt8], width: Int, height: Int, bytesPerPixel bpp: Int) -> [UInt8] {
        let rowBytes = width * bpp
        var out = [UInt8](repeating: 0, count: height * (rowBytes + 1))
        var candidate = [UInt8](repeating: 0, count: rowBytes)
        let zeros = [UInt8](repeating: 0, count: rowBytes)
        pixels.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { destination in
                candidate.withUnsafeMutableBufferPointer { scratch in
                    zeros.withUnsafeBufferPointer { zeroRow in
                        for y in 0..<height {
                            let row = source.baseAddress! + y * rowBytes
                            let prior = y == 0 ? zeroRow.baseAddress! : row - rowBytes
                            let target = destination.baseAddress! + y * (rowBytes + 1)
                            var bestFilter: UInt8 = 0, bestSum = Int.max
                            for filter in UInt8(0)...4 {
                                let sum = filterRow(row, prior: prior, count: rowBytes, bytesPerPixel: bpp, filter: filter,
                                                    into: scratch.baseAddress!)
                                if sum < bestSum {
                                    bestSum = sum
                                    bestFilter = filter
                                    (target + 1).update(from: scratch.baseAddress!, count: rowBytes)
                                }
                            }
                            target[0] = bestFilter
                        }
                    }
                }
            }
        }
        return out
    }

    /// Applies one filter to a row; returns the sum of the outputs read as signed bytes.
    static func filterRow(_ row: UnsafePointer<UInt8>, prior: UnsafePointer<UInt8>, count: Int, bytesPerPixel bpp: Int,
                          filter: UInt8, into out: UnsafeMutablePointer<UInt8>) -> Int {
        var sum = 0
        for i in 0..<count {
            let a = i >= bpp ? Int(row[i - bpp]) : 0, b = Int(prior[i]), c = i >= bpp ? Int(prior[i - bpp]) : 0
            let predictor: Int
            switch filter {
            case 1: predictor = a
            case 2: predictor = b
            case 3: predictor = (a + b) >> 1
            case 4:
                let pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c)
                predictor = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c)
            default: predictor = 0
            }
            let v = UInt8(truncatingIfNeeded: Int(row[i]) - predictor)
            out[i] = v
            sum += v < 128 ? Int(v) : 256 - Int(v)
        }
        return sum
    }

    static func bigEndian32(_ v: Int) -> [UInt8] {
        [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
    }

    static func appendChunk(_ type: String, _ data: [UInt8], to file: inout [UInt8]) {
        let body = Array(type.utf8) + data
        file += bigEndian32(data.count) + body + bigEndian32(Int(crc32(body)))
    }
}
