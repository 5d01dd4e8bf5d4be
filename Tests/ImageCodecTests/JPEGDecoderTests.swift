import XCTest
@testable import ImageCodec

/// The JPEG corpus of scripts/codec/jpeg_fixtures.py: every case must equal Pillow's pixels
/// exactly. Tolerance 0: we run libjpeg-turbo's own integer arithmetic (ISLOW IDCT, fancy
/// upsampling, jdcolor tables), so any difference is a bug, not rounding.
final class JPEGDecoderTests: XCTestCase {
    struct Case: Decodable { let name: String; let scale: Int; let width: Int; let height: Int; let note: String }
    struct Manifest: Decodable { let cases: [Case] }

    static func fixture(_ name: String, _ ext: String) throws -> Data {
        let url = try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures/jpeg"),
                                "missing fixture \(name).\(ext): run scripts/codec/jpeg_fixtures.py")
        return try Data(contentsOf: url)
    }

    func testEveryFixtureEqualsPillow() throws {
        let manifest = try JSONDecoder().decode(Manifest.self, from: Self.fixture("manifest", "json"))
        XCTAssertGreaterThan(manifest.cases.count, 100)
        var report: [String] = []
        for c in manifest.cases {
            let data = try Self.fixture(c.name, "jpg")
            let expected = try Self.fixture(c.scale == 1 ? c.name : "\(c.name).s\(c.scale)", "rgb")
            let image: Image
            do { image = try Image(decoding: data, jpegScale: c.scale) } catch {
                XCTFail("\(c.name) 1/\(c.scale) (\(c.note)): \(error)"); continue
            }
            guard image.width == c.width && image.height == c.height else {
                XCTFail("\(c.name) 1/\(c.scale): \(image.width)x\(image.height), Pillow \(c.width)x\(c.height)"); continue
            }
            let maxDifference = zip(image.pixels, expected).map { abs(Int($0) - Int($1)) }.max() ?? 0
            report.append("\(c.name) 1/\(c.scale): max |diff| \(maxDifference)")
            XCTAssertEqual(maxDifference, 0, "\(c.name) 1/\(c.scale) (\(c.note))")
        }
        print(report.joined(separator: "\n"))
    }

    func testEveryTruncationThrowsWithOffset() throws {
        for name in ["pil_420_16x16", "pil_422_17x3_prog", "cjpeg_restart1", "pil_gray_prog"] {
            let data = try Self.fixture(name, "jpg")
            XCTAssertNoThrow(try JPEGDecoder.decode(data), name)
            for length in 0..<data.count {
                XCTAssertThrowsError(try JPEGDecoder.decode(data.prefix(length)), "\(name) cut at \(length)") { error in
                    guard let error = error as? ImageCodecError else { return XCTFail("\(name) cut at \(length): \(error)") }
                    switch error {
                    case let .truncated(offset, _): XCTAssertLessThanOrEqual(offset, length, name)
                    case let .corrupt(offset, _): XCTAssertLessThanOrEqual(offset, length, name)
                    default: XCTFail("\(name) cut at \(length): \(error)")
                    }
                }
            }
        }
    }

    /// Random byte damage must give an image or an `ImageCodecError`, never a trap or a hang.
    func testDamagedFilesNeverCrash() throws {
        var seed: UInt64 = 17
        func next() -> UInt64 { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return seed >> 33 }
        for name in ["pil_420_q90", "pil_420_q50_prog", "cjpeg_restart2_prog", "cjpeg_2x1_1x2", "pil_cmyk"] {
            let original = try Self.fixture(name, "jpg")
            for trial in 0..<150 {
                var data = original
                for _ in 0..<(1 + Int(next() % 4)) {
                    let at = Int(next() % UInt64(data.count))
                    data[at] = trial % 3 == 0 ? 0xFF : UInt8(truncatingIfNeeded: next())
                }
                do { _ = try JPEGDecoder.decode(data) } catch is ImageCodecError {} catch {
                    XCTFail("\(name) trial \(trial) (seed 17): \(error)")
                }
            }
        }
    }

    func testUnsupportedKindsSayWhy() throws {
        let baseline = try Self.fixture("pil_420_8x8", "jpg")
        guard let sof = baseline.firstRange(of: Data([0xFF, 0xC0])) else { return XCTFail("no SOF0") }
        var twelveBit = baseline
        twelveBit[sof.lowerBound + 4] = 12
        var lossless = baseline
        lossless[sof.lowerBound + 1] = 0xC3
        for (data, word) in [(try Self.fixture("unsupported_arithmetic", "jpg"), "arithmetic"), (twelveBit, "12-bit"),
                             (lossless, "lossless")] {
            XCTAssertThrowsError(try JPEGDecoder.decode(data)) { error in
                guard case let .unsupported(message)? = error as? ImageCodecError else { return XCTFail("\(word): \(error)") }
                XCTAssertTrue(message.contains(word), message)
            }
        }
    }

    func testDecompressionBombIsRefusedBeforeDecoding() throws {
        let data = try Self.fixture("pil_420_64x64", "jpg")
        XCTAssertThrowsError(try Image(decoding: data, limits: DecodingLimits(maxPixels: 64 * 64 - 1))) { error in
            XCTAssertEqual(error as? ImageCodecError, .tooLarge(width: 64, height: 64, limit: 4095))
        }
        XCTAssertNoThrow(try Image(decoding: data, limits: DecodingLimits(maxPixels: 64 * 64)))
        // A header claiming 65535 x 65535 with no data behind it.
        var huge = data
        let sof = try XCTUnwrap(huge.firstRange(of: Data([0xFF, 0xC0])))
        for i in 5...8 { huge[sof.lowerBound + i] = 0xFF }
        XCTAssertThrowsError(try Image(decoding: huge)) { error in
            guard case .tooLarge? = error as? ImageCodecError else { return XCTFail("\(error)") }
        }
    }

    func testFastIDCTEqualsReferenceOnRandomBlocks() {
        var seed: UInt64 = 99
        func next() -> Int { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Int(seed >> 33) }
        var coefficients = [Int16](repeating: 0, count: 64)
        var quant = [Int32](repeating: 1, count: 64)
        var fast = [UInt8](repeating: 0, count: 64), reference = fast
        for trial in 0..<2000 {
            // Dequantized values within +-2047, the range of a valid 8-bit stream's DCT outputs
            // (libjpeg-turbo's SIMD IDCT assumes it too); DC-only and sparse blocks included.
            for i in 0..<64 {
                quant[i] = Int32(1 + next() % (trial % 2 == 0 ? 4 : 40))
                let bound = 2047 / Int(quant[i])
                let sparse = trial % 4 == 0 && i > 0
                coefficients[i] = sparse && next() % 3 != 0 ? 0 : Int16((next() % (2 * bound + 1) - bound) >> (next() % 4))
            }
            idctISlow(coefficients, quant, &fast, stride: 8)
            idctISlowReference(coefficients, quant, &reference, stride: 8)
            XCTAssertEqual(fast, reference, "trial \(trial), seed 99")
            if fast != reference { return }
        }
    }

    func testFileErrorsNameTheFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("translocator-truncated-\(getpid()).jpg")
        try Self.fixture("pil_420_8x8", "jpg").prefix(100).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        XCTAssertThrowsError(try Image(contentsOf: url)) { error in
            guard case let .inFile(path, underlying)? = error as? ImageCodecError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, url.path)
            guard case .truncated = underlying else { return XCTFail("\(underlying)") }
        }
    }
}
