import Foundation
import ImageCodec

/// `translocator bench decode`: milliseconds to decode one image (best of N).
struct BenchDecodeCommand: Command {
    static let name = "bench decode"
    static let summary = "Milliseconds to decode an image to RGB (best of N)."
    static let operandsUsage = "<image>"
    static let discussion = """
        Reads IMAGE once, then times Image(decoding:) on the bytes in memory (file reading not \
        included; EXIF orientation included), best of --repeats after one warm-up. With --scale, \
        a JPEG is decoded in the DCT domain at 1/n (Pillow's draft()); --resize then also resizes \
        the result to that short side (area average), the training fast path. \
        scripts/bench/decode.py times Pillow on the same files and prints the ratios.
        """
    static let options: [OptionSpec] = [
        .flag("json", "Print {\"file\", \"width\", \"height\", \"milliseconds\"} as one JSON object."),
        .option("scale", value: "n", default: "1", "JPEG DCT-domain downscale 1, 2, 4 or 8."),
        .option("resize", value: "px", default: "0", "Also resize to this short side after decoding (0: no resize)."),
        .option("repeats", value: "n", default: "10", "Timed runs; the best is reported."),
    ]
    static let examples = [
        "translocator bench decode photo.jpg",
        "translocator bench decode photo.jpg --scale 4 --resize 256 --json",
        "python3 scripts/bench/decode.py",
    ]

    static func run(_ arguments: ParsedArguments) throws {
        guard arguments.operands.count == 1 else { throw UsageError("bench decode wants one image, got \(arguments.operands.count)") }
        let scale = try arguments.int("scale", in: 1...8)
        guard [1, 2, 4, 8].contains(scale) else { throw UsageError("--scale wants 1, 2, 4 or 8, got \(scale)") }
        let resize = try arguments.int("resize", in: 0...100_000)
        let repeats = try arguments.int("repeats", in: 1...10_000)
        let path = arguments.operands[0]
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw CommandFailure("cannot read \(path): \(error.localizedDescription)")
        }
        var best = Double.infinity
        var size = (0, 0)
        for run in 0...repeats {                                     // run 0 is the warm-up
            let start = DispatchTime.now().uptimeNanoseconds
            var image: Image
            do { image = try Image(decoding: data, jpegScale: scale) } catch let error as ImageCodecError {
                throw error.attaching(path: path)
            }
            if resize > 0 { image = image.areaResized(shortSide: resize) }
            let milliseconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            if run > 0 { best = min(best, milliseconds) }
            size = (image.width, image.height)
        }
        if arguments.flag("json") {
            let file = path.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            print("{\"file\": \"\(file)\", \"width\": \(size.0), \"height\": \(size.1), \"milliseconds\": \(String(format: "%.3f", best))}")
        } else {
            print(String(format: "%@: %dx%d in %.2f ms (best of %d)", path, size.0, size.1, best, repeats))
        }
    }
}

extension Image {
    /// Box-average resize to `shortSide` (each output pixel averages the source pixels whose
    /// integer box it covers): a plain stand-in for the preprocessing resize, for timing only.
    fileprivate func areaResized(shortSide: Int) -> Image {
        let factor = Double(shortSide) / Double(min(width, height))
        let outWidth = max(1, Int((Double(width) * factor).rounded())), outHeight = max(1, Int((Double(height) * factor).rounded()))
        var out = [UInt8](repeating: 0, count: outWidth * outHeight * 3)
        let xStarts = (0...outWidth).map { $0 * width / outWidth }, yStarts = (0...outHeight).map { $0 * height / outHeight }
        pixels.withUnsafeBufferPointer { source in
            var sums = [Int](repeating: 0, count: outWidth * 3)
            for oy in 0..<outHeight {
                for i in sums.indices { sums[i] = 0 }
                let y0 = yStarts[oy], y1 = max(yStarts[oy + 1], y0 + 1)
                for y in y0..<y1 {
                    let row = y * width * 3
                    for ox in 0..<outWidth {
                        let x0 = xStarts[ox], x1 = max(xStarts[ox + 1], x0 + 1)
                        var r = 0, g = 0, b = 0
                        for x in x0..<x1 { let p = row + x * 3; r += Int(source[p]); g += Int(source[p + 1]); b += Int(source[p + 2]) }
                        sums[ox * 3] += r; sums[ox * 3 + 1] += g; sums[ox * 3 + 2] += b
                    }
                }
                for ox in 0..<outWidth {
                    let n = (y1 - y0) * (max(xStarts[ox + 1], xStarts[ox] + 1) - xStarts[ox])
                    for c in 0..<3 { out[(oy * outWidth + ox) * 3 + c] = UInt8((sums[ox * 3 + c] + n / 2) / n) }
                }
            }
        }
        return Image(width: outWidth, height: outHeight, pixels: out)
    }
}
