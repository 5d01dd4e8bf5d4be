import Foundation
import XCTest
@testable import ImageCodec

final class PNGDecoderTests: XCTestCase {
    struct Manifest: Decodable {
        struct Entry: Decodable { let name: String; let width: Int; let height: Int; let indices: Bool? }
        let pillow: String
        let files: [Entry]
    }

    func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: try pngFixture("manifest", "json"))
    }

    /// Every colour type x bit depth, interlaced or not, all filters, palette + tRNS, 16-bit,
    /// odd sizes and 1x1 against Pillow's convert("RGB") (16-bit gray: the high byte, the `decode` contract).
    /// Tolerance: none; PNG decoding is lossless and the conversions are exact.
    func testCorpusMatchesPillowExactly() throws {
        let m = try manifest()
        XCTAssertGreaterThan(m.files.count, 100)
        for entry in m.files {
            let image = try PNGDecoder.decode(try pngFixture(entry.name, "png"))
            XCTAssertEqual(image.width, entry.width, entry.name)
            XCTAssertEqual(image.height, entry.height, entry.name)
            let expected = [UInt8](try pngFixture(entry.name, "rgb"))
            if image.pixels != expected {
                let first = zip(image.pixels, expected).enumerated().first { $0.element.0 != $0.element.1 }!
                XCTFail("\(entry.name): byte \(first.offset) is \(first.element.0), Pillow \(first.element.1) (Pillow \(m.pillow))")
            }
        }
    }

    /// eXIf orientation (each of 2-8, after IDAT, with JPEG's "Exif\0\0" prefix, either byte
    /// order; damaged or out of range: as stored) against Pillow's `exif_transpose`
    /// (scripts/codec/png_exif_fixtures.py).
    func testEXIFOrientationMatchesPillowExifTranspose() throws {
        struct Cases: Decodable { struct Case: Decodable { let name: String; let width: Int; let height: Int }; let cases: [Case] }
        let directory = "Fixtures/png-exif"
        let cases = try JSONDecoder().decode(Cases.self, from: try pngFixture("manifest", "json", subdirectory: directory)).cases
        XCTAssertEqual(cases.count, 12)
        for entry in cases {
            let data = try pngFixture(entry.name, "png", subdirectory: directory)
            let image = try Image(decoding: data)
            XCTAssertEqual([image.width, image.height], [entry.width, entry.height], entry.name)
            XCTAssertEqual(image.pixels, [UInt8](try pngFixture(entry.name, "rgb", subdirectory: directory)), entry.name)
            let asStored = try PNGDecoder.decode(data)
            XCTAssertEqual([asStored.width, asStored.height], [7, 5], "\(entry.name): PNGDecoder.decode gives the pixels as stored")
        }
    }

    func testIndicesOfGrayAndPaletteImages() throws {
        for entry in try manifest().files where entry.indices == true {
            let map = try PNGDecoder.decodeIndices(try pngFixture(entry.name, "png"))
            XCTAssertEqual(map.indices, [UInt8](try pngFixture(entry.name, "idx")), entry.name)
        }
        XCTAssertThrowsError(try PNGDecoder.decodeIndices(try pngFixture("c2_d8_3x5_z1", "png")))
    }

    /// Every prefix of a valid file throws: none decodes to garbage.
    func testEveryTruncationThrows() throws {
        for name in ["truncation_subject", "c6_d16_3x5_i_z1", "c0_d8_13x7_z0"] {
            let data = try pngFixture(name, "png")
            XCTAssertNoThrow(try PNGDecoder.decode(data), name)
            for cut in 0..<data.count {
                XCTAssertThrowsError(try PNGDecoder.decode(data.prefix(cut)), "\(name) cut at \(cut)") { error in
                    guard let e = error as? ImageCodecError else { return XCTFail("\(name) cut at \(cut): \(error)") }
                    if case .unknownFormat = e, cut >= 8 { XCTFail("\(name) cut at \(cut): \(e)") }
                }
            }
        }
    }

    /// A flipped bit anywhere past the signature is caught (CRC-32 covers type and data; the
    /// length field's damage shows as a bad CRC or truncation).
    func testEveryFlippedByteThrows() throws {
        let data = [UInt8](try pngFixture("truncation_subject", "png"))
        for i in 8..<data.count {
            var damaged = data
            damaged[i] ^= 0x10
            XCTAssertThrowsError(try PNGDecoder.decode(Data(damaged)), "byte \(i)")
        }
    }

    func testErrorsCarryOffsets() throws {
        var data = [UInt8](try pngFixture("c2_d8_3x5_z1", "png"))
        data[20] ^= 1                                              // inside IHDR's data
        XCTAssertThrowsError(try PNGDecoder.decode(Data(data))) { error in
            guard let e = error as? ImageCodecError, case .checksumMismatch(let offset, _, _, _) = e else { return XCTFail("\(error)") }
            XCTAssertEqual(offset, 29)                             // IHDR's CRC: 8 + 8 + 13
        }
        data[20] ^= 1
        XCTAssertThrowsError(try PNGDecoder.decode(Data(data.prefix(40)))) { error in
            guard let e = error as? ImageCodecError, case .truncated(let offset, _) = e else { return XCTFail("\(error)") }
            XCTAssertEqual(offset, 40)
        }
    }

    /// A header claiming more pixels than the limit is refused before anything is allocated.
    func testDecompressionBombIsRefused() throws {
        let data = try pngFixture("c2_d8_37x29_z9", "png")
        XCTAssertThrowsError(try PNGDecoder.decode(data, limits: DecodingLimits(maxPixels: 37 * 29 - 1))) { error in
            XCTAssertEqual(error as? ImageCodecError, .tooLarge(width: 37, height: 29, limit: 37 * 29 - 1))
        }
        XCTAssertNoThrow(try PNGDecoder.decode(data, limits: DecodingLimits(maxPixels: 37 * 29)))
    }

    /// A zlib stream that inflates to far more than the header implies stops at the header's size.
    func testZipBombStopsAtExpectedSize() throws {
        // 1x1 gray: 2 bytes expected; the stream holds 1 MiB of zeros.
        let stream = try pngFixture("runs_z9", "zlib", subdirectory: "Fixtures/png/zlib")
        let png = pngFile(width: 1, height: 1, bitDepth: 8, colorType: 0, idat: [UInt8](stream))
        XCTAssertThrowsError(try PNGDecoder.decode(png)) { error in
            guard let e = error as? ImageCodecError, case .corrupt(_, let reason) = e, reason.contains("more than") else {
                return XCTFail("\(error)")
            }
        }
    }

    func testChunkOrderingRules() throws {
        let good = [UInt8](try pngFixture("c3_d8_13x7_z0", "png"))
        let chunks = splitChunks(good)
        let names = chunks.map(\.type)
        XCTAssertEqual(names.first, "IHDR")
        let plte = chunks.first { $0.type == "PLTE" }!
        // PLTE moved after IDAT; IDAT removed; IHDR not first.
        var reordered = chunks.filter { $0.type != "PLTE" }
        reordered.insert(plte, at: reordered.count - 1)
        XCTAssertThrowsError(try PNGDecoder.decode(joinChunks(reordered)))
        XCTAssertThrowsError(try PNGDecoder.decode(joinChunks(chunks.filter { $0.type != "IDAT" })))
        XCTAssertThrowsError(try PNGDecoder.decode(joinChunks(Array(chunks.dropFirst()))))
        XCTAssertNoThrow(try PNGDecoder.decode(joinChunks(chunks)))
    }

    // MARK: helpers

    func splitChunks(_ bytes: [UInt8]) -> [(type: String, bytes: [UInt8])] {
        var result: [(String, [UInt8])] = []
        var i = 8
        while i + 12 <= bytes.count {
            let length = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            result.append((String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self), Array(bytes[i..<(i + 12 + length)])))
            i += 12 + length
        }
        return result
    }

    func joinChunks(_ chunks: [(type: String, bytes: [UInt8])]) -> Data {
        Data(PNGDecoder.signature + chunks.flatMap(\.bytes))
    }
}

/// A PNG with the given IHDR fields and one IDAT holding `idat`.
func pngFile(width: Int, height: Int, bitDepth: Int, colorType: Int, idat: [UInt8]) -> Data {
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        let crc = crc32(body)
        return be32(data.count) + body + be32(Int(crc))
    }
    func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    let ihdr = be32(width) + be32(height) + [UInt8(bitDepth), UInt8(colorType), 0, 0, 0]
    return Data(PNGDecoder.signature + chunk("IHDR", ihdr) + chunk("IDAT", idat) + chunk("IEND", []))
}
