import Foundation
import XCTest
import TensorEngine
@testable import ImageCodec

final class PNGEncoderTests: XCTestCase {
    /// A seeded test image: smooth gradients (long matches, all filters useful) plus noise.
    func randomPixels(width: Int, height: Int, channels: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededGenerator(seed: seed)
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<channels {
                    let smooth = (x * (c + 1) * 3 + y * 5) & 0xFF
                    pixels[(y * width + x) * channels + c] = UInt8(truncatingIfNeeded: smooth + Int.random(in: -3...3, using: &rng))
                }
            }
        }
        return pixels
    }

    /// The law: decode(encode(x)) == x, for every colour type the encoder writes and awkward sizes.
    func testDecodeOfEncodeIsIdentity() throws {
        for (width, height) in [(1, 1), (2, 3), (31, 17), (200, 3), (97, 61)] {
            for colorType in [PNGColorType.gray, .rgb, .rgba] {
                let seed = UInt64(width * 1000 + height * 10) + UInt64(colorType.rawValue)
                let pixels = randomPixels(width: width, height: height, channels: colorType.channels, seed: seed)
                let data = PNGEncoder.encode(pixels: pixels, width: width, height: height, colorType: colorType)
                let raw = try PNGDecoder.decodeRaw(data, limits: .default)
                XCTAssertEqual(raw.header, PNGHeader(width: width, height: height, bitDepth: 8, colorType: colorType, interlaced: false))
                var samples: [UInt8] = []
                raw.forEachRow { row, count, _, _, _ in samples += UnsafeBufferPointer(start: row, count: count * colorType.channels) }
                XCTAssertEqual(samples, pixels, "\(width)x\(height) colour type \(colorType), seed \(seed)")
            }
        }
        let image = Image(width: 5, height: 4, pixels: randomPixels(width: 5, height: 4, channels: 3, seed: 9))
        XCTAssertEqual(try PNGDecoder.decode(PNGEncoder.encode(image)), image)
    }

    /// The compressor's zlib streams inflate back (stored fallback for noise, matches for text).
    func testCompressorRoundTripsAndCompresses() throws {
        for name in ["text", "runs", "noise", "mixed", "empty"] {
            let payload = [UInt8](try pngFixture(name, "bin", subdirectory: "Fixtures/png/zlib"))
            let stream = zlibCompress(payload)
            var output = [UInt8](repeating: 0, count: payload.count)
            let n = try stream.withUnsafeBufferPointer { input in
                try output.withUnsafeMutableBufferPointer {
                    try zlibDecompress(input, into: $0.baseAddress ?? UnsafeMutablePointer(bitPattern: 1)!, capacity: payload.count)
                }
            }
            XCTAssertEqual(n, payload.count, name)
            XCTAssertEqual(output, payload, name)
            if name == "text" { XCTAssertLessThan(stream.count, payload.count / 2, "text should compress") }
            if name == "noise" { XCTAssertLessThan(stream.count, payload.count + 64, "noise falls back to stored blocks") }
        }
    }
}
