import XCTest
@testable import ImageCodec

final class EXIFTests: XCTestCase {
    func testCameraFileGivesBeijingGPS() throws {
        let data = try JPEGDecoderTests.fixture("goexif_sample1", "jpg")
        let exif = try XCTUnwrap(EXIFMetadata(jpegData: data))
        let gps = try XCTUnwrap(exif.gpsCoordinate)
        // 39° 54' 56" N, 116° 23' 27" E (Pillow's getexif() reads the same rationals)
        XCTAssertEqual(gps.latitude, 39 + 54 / 60 + 56 / 3600, accuracy: 1e-9)
        XCTAssertEqual(gps.longitude, 116 + 23 / 60 + 27 / 3600, accuracy: 1e-9)
        XCTAssertEqual(exif.orientation, 1)
        XCTAssertEqual(try JPEGDecoder.decodeWithMetadata(data).metadata, exif)
    }

    func testOrientationIsReadFromEachFixture() throws {
        for o in 1...8 {
            let exif = EXIFMetadata(jpegData: try JPEGDecoderTests.fixture("pil_orientation\(o)", "jpg"))
            XCTAssertEqual(exif?.orientation, o)
        }
        XCTAssertNil(EXIFMetadata(jpegData: try JPEGDecoderTests.fixture("pil_420_8x8", "jpg")))
    }

    /// A TIFF block written by hand in either byte order: IFD0 with orientation and a GPS
    /// pointer; GPS refs and values in the forms cameras use.
    static func tiff(bigEndian: Bool, latitudeRef: String, latitude: [(UInt32, UInt32)],
                     longitudeRef: String, longitudeText: String?) -> [UInt8] {
        func u16(_ v: Int) -> [UInt8] { bigEndian ? [UInt8(v >> 8), UInt8(v & 255)] : [UInt8(v & 255), UInt8(v >> 8)] }
        func u32(_ v: UInt32) -> [UInt8] {
            let b = [UInt8(v >> 24), UInt8(v >> 16 & 255), UInt8(v >> 8 & 255), UInt8(v & 255)]
            return bigEndian ? b : b.reversed()
        }
        func ascii(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }
        var out: [UInt8] = bigEndian ? [0x4D, 0x4D, 0, 42] : [0x49, 0x49, 42, 0]
        out += u32(8)
        // IFD0 at 8: 2 entries, next IFD 0.  GPS IFD at 8 + 2 + 24 + 4 = 38: 4 entries (2 + 48 + 4).
        out += u16(2)
        out += u16(0x0112) + u16(3) + u32(1) + u16(6) + u16(0)
        out += u16(0x8825) + u16(4) + u32(1) + u32(38)
        out += u32(0)
        let dataStart = 38 + 2 + 4 * 12 + 4
        var blob: [UInt8] = []
        func place(_ bytes: [UInt8]) -> UInt32 { let at = dataStart + blob.count; blob += bytes; return UInt32(at) }
        var gps: [UInt8] = u16(4)
        func entry(_ tag: Int, _ type: Int, _ count: Int, _ payload: [UInt8]) {
            gps += u16(tag) + u16(type) + u32(UInt32(count))
            gps += payload.count <= 4 ? payload + [UInt8](repeating: 0, count: 4 - payload.count) : u32(place(payload))
        }
        entry(1, 2, latitudeRef.utf8.count + 1, ascii(latitudeRef))
        entry(2, 5, latitude.count, latitude.flatMap { u32($0.0) + u32($0.1) })
        entry(3, 2, longitudeRef.utf8.count + 1, ascii(longitudeRef))
        if let longitudeText { entry(4, 2, longitudeText.utf8.count + 1, ascii(longitudeText)) }
        else { entry(4, 5, 3, u32(73) + u32(1) + u32(30) + u32(1) + u32(0) + u32(1)) }
        gps += u32(0)
        return out + gps + blob
    }

    func testBothByteOrdersAndStringVariants() {
        for bigEndian in [false, true] {
            let bytes = Self.tiff(bigEndian: bigEndian, latitudeRef: "S", latitude: [(33, 1), (5160, 100), (0, 1)],
                                  longitudeRef: "w", longitudeText: nil)
            let exif = bytes.withUnsafeBufferPointer { EXIFMetadata(tiff: $0) }
            XCTAssertEqual(exif.orientation, 6, "bigEndian \(bigEndian)")
            XCTAssertEqual(exif.gpsCoordinate?.latitude ?? 0, -(33 + 51.6 / 60), accuracy: 1e-9)
            XCTAssertEqual(exif.gpsCoordinate?.longitude ?? 0, -73.5, accuracy: 1e-9)
        }
        // "North" spelled out, degrees only, longitude as an ASCII string.
        let bytes = Self.tiff(bigEndian: true, latitudeRef: "North", latitude: [(4852, 100)],
                              longitudeRef: "E", longitudeText: "2 17 40.2")
        let exif = bytes.withUnsafeBufferPointer { EXIFMetadata(tiff: $0) }
        XCTAssertEqual(exif.gpsCoordinate?.latitude ?? 0, 48.52, accuracy: 1e-9)
        XCTAssertEqual(exif.gpsCoordinate?.longitude ?? 0, 2 + 17 / 60 + 40.2 / 3600, accuracy: 1e-9)
        // A zero denominator in the degrees: no coordinate, no crash.
        let broken = Self.tiff(bigEndian: false, latitudeRef: "N", latitude: [(1, 0)], longitudeRef: "E", longitudeText: nil)
        XCTAssertNil(broken.withUnsafeBufferPointer { EXIFMetadata(tiff: $0) }.gpsCoordinate)
    }

    /// Every prefix of a TIFF block gives only what it holds: the orientation once its SHORT is in
    /// (IFD0 at 8, its first entry at 10, the value inline at 18-19), the GPS position never,
    /// since the longitude's rationals are the block's last 24 bytes.
    func testTruncatedTIFFGivesOnlyWhatItHolds() {
        let bytes = Self.tiff(bigEndian: false, latitudeRef: "N", latitude: [(1, 1), (2, 1), (3, 1)],
                              longitudeRef: "E", longitudeText: nil)
        let full = bytes.withUnsafeBufferPointer { EXIFMetadata(tiff: $0) }
        XCTAssertEqual(full.orientation, 6)
        XCTAssertEqual(full.gpsCoordinate?.latitude ?? 0, 1 + 2 / 60 + 3 / 3600, accuracy: 1e-12)
        XCTAssertEqual(full.gpsCoordinate?.longitude ?? 0, 73.5, accuracy: 1e-12)
        for length in 0..<bytes.count {
            let exif = Array(bytes.prefix(length)).withUnsafeBufferPointer { EXIFMetadata(tiff: $0) }
            XCTAssertEqual(exif.orientation, length >= 20 ? 6 : nil, "\(length) of \(bytes.count) bytes")
            XCTAssertNil(exif.gpsCoordinate, "\(length) of \(bytes.count) bytes")
        }
    }

    /// A 3x2 PNG from our encoder with an eXIf chunk holding `payload` (CRC over type and data,
    /// PNG spec §5.3) spliced in after IHDR, where the spec puts it, or before IEND, where Pillow
    /// and our decoder also find it. Returns the file and the offset just past the eXIf's CRC.
    static func png(eXIf payload: [UInt8], beforeIDAT: Bool = true) -> (file: [UInt8], eXIfEnd: Int) {
        let plain = [UInt8](PNGEncoder.encode(Image(width: 3, height: 2, pixels: (0..<18).map { UInt8($0 * 13) })))
        var chunk: [UInt8] = []
        PNGEncoder.appendChunk("eXIf", payload, to: &chunk)
        let at = beforeIDAT ? 8 + 25 : plain.count - 12          // signature, IHDR (8 + 13 + 4) | IEND (12)
        return (Array(plain[..<at]) + chunk + plain[at...], at + chunk.count)
    }

    func testPNGEXIfChunkGivesGPS() throws {
        for bigEndian in [false, true] {
            let tiff = Self.tiff(bigEndian: bigEndian, latitudeRef: "S", latitude: [(33, 1), (5160, 100), (0, 1)],
                                 longitudeRef: "W", longitudeText: nil)
            for beforeIDAT in [true, false] {
                let context = "bigEndian \(bigEndian), eXIf before IDAT \(beforeIDAT)"
                let png = Data(Self.png(eXIf: tiff, beforeIDAT: beforeIDAT).file)
                let exif = try XCTUnwrap(EXIFMetadata(pngData: png), context)
                XCTAssertEqual(exif.orientation, 6, context)
                XCTAssertEqual(exif.gpsCoordinate?.latitude ?? 0, -(33 + 51.6 / 60), accuracy: 1e-9, context)
                XCTAssertEqual(exif.gpsCoordinate?.longitude ?? 0, -73.5, accuracy: 1e-9, context)
                XCTAssertEqual(try PNGDecoder.decodeWithMetadata(png).metadata, exif, context)
            }
        }
        // JPEG's "Exif\0\0" kept in front by some writers: read past, as Pillow and our decoder do.
        let tiff = Self.tiff(bigEndian: false, latitudeRef: "N", latitude: [(4852, 100)], longitudeRef: "E", longitudeText: "2.35")
        let prefixed = Data(Self.png(eXIf: Array("Exif\0\0".utf8) + tiff).file)
        XCTAssertEqual(EXIFMetadata(pngData: prefixed)?.gpsCoordinate?.latitude ?? 0, 48.52, accuracy: 1e-9)
        XCTAssertEqual(EXIFMetadata(pngData: prefixed)?.gpsCoordinate?.longitude ?? 0, 2.35, accuracy: 1e-9)
        XCTAssertEqual(try PNGDecoder.decodeWithMetadata(prefixed).metadata, EXIFMetadata(pngData: prefixed))
    }

    /// The Pillow-side files of scripts/codec/png_exif_fixtures.py (Python's zlib CRCs, eXIf before
    /// or after IDAT, "Exif\0\0" kept, either byte order) read as the decoder reads them.
    func testPNGFixturesReadAsTheDecoderReadsThem() throws {
        struct Cases: Decodable { struct Case: Decodable { let name: String }; let cases: [Case] }
        let directory = "Fixtures/png-exif"
        let cases = try JSONDecoder().decode(Cases.self, from: try pngFixture("manifest", "json", subdirectory: directory)).cases
        XCTAssertEqual(cases.count, 12)
        for entry in cases {
            let data = try pngFixture(entry.name, "png", subdirectory: directory)
            let exif = try XCTUnwrap(EXIFMetadata(pngData: data), "\(entry.name) has an eXIf chunk")
            XCTAssertEqual(exif, try PNGDecoder.decodeWithMetadata(data).metadata, entry.name)
            // The name ends in its orientation, 2-8; the damaged payload and orientation 9 give none.
            XCTAssertEqual(exif.orientation, (2...8).first { entry.name.hasSuffix("orientation\($0)") }, entry.name)
            XCTAssertNil(exif.gpsCoordinate, entry.name)
        }
    }

    func testPNGWithoutReadableEXIfGivesNil() throws {
        let plain = [UInt8](PNGEncoder.encode(Image(width: 3, height: 2, pixels: [UInt8](repeating: 7, count: 18))))
        XCTAssertNil(EXIFMetadata(pngData: Data(plain)))
        XCTAssertNil(EXIFMetadata(pngData: try JPEGDecoderTests.fixture("goexif_sample1", "jpg")), "a JPEG is not a PNG")
        let tiff = Self.tiff(bigEndian: true, latitudeRef: "N", latitude: [(10, 1)], longitudeRef: "E", longitudeText: nil)
        let (file, eXIfEnd) = Self.png(eXIf: tiff)
        XCTAssertNotNil(EXIFMetadata(pngData: Data(file))?.gpsCoordinate)
        // A wrong CRC: the decoder refuses the file, and nothing is read from the chunk.
        var badCRC = file
        badCRC[eXIfEnd - 1] ^= 1
        XCTAssertNil(EXIFMetadata(pngData: Data(badCRC)))
        XCTAssertThrowsError(try PNGDecoder.decode(Data(badCRC)))
        // After IEND a chunk is not part of the file.
        var chunk: [UInt8] = []
        PNGEncoder.appendChunk("eXIf", tiff, to: &chunk)
        XCTAssertNil(EXIFMetadata(pngData: Data(plain + chunk)))
        // IHDR's length field claiming 2^32 - 1 bytes, 2^31 - 1, or one byte more than it holds.
        for length: [UInt8] in [[0xFF, 0xFF, 0xFF, 0xFF], [0x7F, 0xFF, 0xFF, 0xFF], [0, 0, 0, 14]] {
            var damaged = file
            damaged.replaceSubrange(8..<12, with: length)
            XCTAssertNil(EXIFMetadata(pngData: Data(damaged)), "IHDR length \(length)")
        }
    }

    /// Every prefix of a PNG with an eXIf chunk: nil until the chunk and its CRC are all in,
    /// the whole file's value from there on (the IDAT and IEND after it are not needed).
    func testEveryTruncationOfPNGGivesNilOrTheWholeValue() throws {
        let tiff = Self.tiff(bigEndian: false, latitudeRef: "N", latitude: [(1, 1), (2, 1), (3, 1)], longitudeRef: "E", longitudeText: nil)
        for beforeIDAT in [true, false] {
            let (file, eXIfEnd) = Self.png(eXIf: tiff, beforeIDAT: beforeIDAT)
            let whole = try XCTUnwrap(EXIFMetadata(pngData: Data(file)))
            XCTAssertEqual(whole.gpsCoordinate?.latitude ?? 0, 1 + 2 / 60 + 3 / 3600, accuracy: 1e-12)
            XCTAssertEqual(whole.orientation, 6)
            for length in 0..<file.count {
                let exif = EXIFMetadata(pngData: Data(file.prefix(length)))
                let context = "\(length) of \(file.count) bytes, eXIf ends at \(eXIfEnd), before IDAT \(beforeIDAT)"
                if length < eXIfEnd { XCTAssertNil(exif, context) } else { XCTAssertEqual(exif, whole, context) }
            }
        }
    }

    func testOrientationMatchesPillowOnAllEight() throws {
        // Covered pixel for pixel by the fixtures pil_orientation1...8; here the geometry law:
        // 6 then 8 is the identity, 3 twice is the identity.
        let image = Image(width: 3, height: 2, pixels: (0..<18).map { UInt8($0) })
        XCTAssertEqual(image.oriented(6).oriented(8), image)
        XCTAssertEqual(image.oriented(3).oriented(3), image)
        XCTAssertEqual(image.oriented(6).width, 2)
        XCTAssertEqual(image.oriented(1), image)
    }
}
