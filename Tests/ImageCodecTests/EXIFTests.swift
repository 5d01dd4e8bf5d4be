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

    func testTruncatedTIFFNeverCrashes() {
        let bytes = Self.tiff(bigEndian: false, latitudeRef: "N", latitude: [(1, 1), (2, 1), (3, 1)], longitudeRef: "E", longitudeText: nil)
        for length in 0..<bytes.count {
            _ = Array(bytes.prefix(length)).withUnsafeBufferPointer { EXIFMetadata(tiff: $0) }
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
