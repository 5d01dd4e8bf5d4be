import XCTest
import ImageCodec
@testable import Training

final class ManifestEXIFTests: XCTestCase {
    typealias Position = (degrees: UInt32, minutes: UInt32, centiseconds: UInt32, reference: String)

    /// A little-endian TIFF block: IFD0 with a GPS pointer, then a GPS IFD with latitude/longitude
    /// references and degrees-minutes-seconds rationals.
    static func tiffWithGPS(latitude: Position, longitude: Position) -> [UInt8] {
        var tiff: [UInt8] = Array("II".utf8) + [0x2A, 0, 8, 0, 0, 0]
        func u16(_ v: Int) { tiff += [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func u32(_ v: UInt32) { tiff += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)] }
        u16(1); u16(0x8825); u16(4); u32(1); u32(26); u32(0)                     // IFD0 at 8: GPS IFD at 26
        u16(4)
        u16(1); u16(2); u32(2); tiff += Array(latitude.reference.utf8) + [0, 0, 0]   // GPSLatitudeRef
        u16(2); u16(5); u32(3); u32(80)                                           // GPSLatitude at 80
        u16(3); u16(2); u32(2); tiff += Array(longitude.reference.utf8) + [0, 0, 0]  // GPSLongitudeRef
        u16(4); u16(5); u32(3); u32(104)                                          // GPSLongitude at 104
        u32(0)
        for position in [latitude, longitude] {
            for value in [position.degrees, 1, position.minutes, 1, position.centiseconds, 100] { u32(value) }
        }
        return tiff
    }

    /// A JPEG's markers only (SOI, APP1 Exif, EOI): enough for the EXIF reader, which stops at
    /// the image data.
    static func jpegWithGPS(latitude: Position, longitude: Position) -> Data {
        let payload = Array("Exif\0\0".utf8) + tiffWithGPS(latitude: latitude, longitude: longitude)
        let length = payload.count + 2
        return Data([0xFF, 0xD8, 0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload + [0xFF, 0xD9])
    }

    /// A 2x2 PNG from our encoder with an eXIf chunk (the bare TIFF block, PNG 3rd edition)
    /// after IHDR: the 8-byte signature and IHDR's 25 bytes come first.
    static func pngWithGPS(latitude: Position, longitude: Position) -> Data {
        let plain = [UInt8](PNGEncoder.encode(Image(width: 2, height: 2, pixels: [UInt8](repeating: 90, count: 12))))
        let tiff = tiffWithGPS(latitude: latitude, longitude: longitude)
        func bigEndian(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        let body = Array("eXIf".utf8) + tiff
        let crc = body.withUnsafeBufferPointer { crc32($0.baseAddress!, count: $0.count) }   // PNG spec §5.3: type and data
        return Data(plain[..<33] + bigEndian(tiff.count) + body + bigEndian(Int(crc)) + plain[33...])
    }

    func testScanKeepsPhotosWithGPSAndCountsTheRest() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("exif-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("sub"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.jpegWithGPS(latitude: (21, 18, 3600, "N"), longitude: (157, 51, 0, "W")).write(to: folder.appendingPathComponent("a.jpg"))
        try Self.jpegWithGPS(latitude: (33, 52, 1200, "S"), longitude: (151, 12, 3000, "E"))
            .write(to: folder.appendingPathComponent("sub/b.JPG"))
        try Data([0xFF, 0xD8, 0xFF, 0xD9]).write(to: folder.appendingPathComponent("c.jpeg"))
        try Data("notes".utf8).write(to: folder.appendingPathComponent("notes.txt"))

        let scan = try Manifest.scanningEXIF(in: folder, manifestDirectory: folder)
        XCTAssertEqual(scan.manifest.entries.map(\.imagePath), ["a.jpg", "sub/b.JPG"])
        XCTAssertEqual(scan.manifest.entries[0].latitude, 21 + 18.0 / 60 + 36.0 / 3600, accuracy: 1e-12)
        XCTAssertEqual(scan.manifest.entries[0].longitude, -(157 + 51.0 / 60), accuracy: 1e-12)
        XCTAssertEqual(scan.manifest.entries[1].latitude, -(33 + 52.0 / 60 + 12.0 / 3600), accuracy: 1e-12)
        XCTAssertEqual(scan.manifest.entries[1].longitude, 151 + 12.0 / 60 + 30.0 / 3600, accuracy: 1e-12)
        XCTAssertEqual(scan.withoutGPS, ["c.jpeg"])

        // Written and read back, the manifest finds the photos from its own folder.
        let url = folder.appendingPathComponent("manifest.csv")
        try scan.manifest.csvText.write(to: url, atomically: true, encoding: .utf8)
        let (checked, missing) = try Manifest(contentsOf: url).checkingFiles(skipMissing: false)
        XCTAssertEqual(checked.count, 2)
        XCTAssertTrue(missing.isEmpty)

        // A manifest elsewhere gets absolute paths.
        let elsewhere = try Manifest.scanningEXIF(in: folder, manifestDirectory: folder.appendingPathComponent("sub"))
        XCTAssertTrue(elsewhere.manifest.entries[0].imagePath.hasPrefix("/"), elsewhere.manifest.entries[0].imagePath)
        XCTAssertEqual(elsewhere.manifest.entries[1].imagePath, "b.JPG")
    }

    /// PNGs are scanned beside JPEGs: GPS from a PNG's eXIf chunk, a PNG without one counted like a
    /// JPEG without. A file is read as its signature says: a JPEG named .png still gives its GPS.
    func testScanReadsPNGEXIfBesideJPEG() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("exif-png-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let honolulu: (Position, Position) = ((21, 18, 3600, "N"), (157, 51, 0, "W"))
        let sydney: (Position, Position) = ((33, 52, 1200, "S"), (151, 12, 3000, "E"))
        try Self.jpegWithGPS(latitude: honolulu.0, longitude: honolulu.1).write(to: folder.appendingPathComponent("a.jpg"))
        try Self.pngWithGPS(latitude: sydney.0, longitude: sydney.1).write(to: folder.appendingPathComponent("b.png"))
        try PNGEncoder.encode(Image(width: 2, height: 1, pixels: [1, 2, 3, 4, 5, 6])).write(to: folder.appendingPathComponent("c.PNG"))
        try Self.jpegWithGPS(latitude: sydney.0, longitude: honolulu.1).write(to: folder.appendingPathComponent("d.png"))

        let scan = try Manifest.scanningEXIF(in: folder, manifestDirectory: folder)
        XCTAssertEqual(scan.manifest.entries.map(\.imagePath), ["a.jpg", "b.png", "d.png"])
        XCTAssertEqual(scan.withoutGPS, ["c.PNG"])
        guard scan.manifest.entries.count == 3 else { return }   // failed above; the rest would index past the end
        let sydneyLatitude = -(33 + 52.0 / 60 + 12.0 / 3600), honoluluLongitude = -(157 + 51.0 / 60)
        XCTAssertEqual(scan.manifest.entries[0].latitude, 21 + 18.0 / 60 + 36.0 / 3600, accuracy: 1e-12)
        XCTAssertEqual(scan.manifest.entries[0].longitude, honoluluLongitude, accuracy: 1e-12)
        XCTAssertEqual(scan.manifest.entries[1].latitude, sydneyLatitude, accuracy: 1e-12)
        XCTAssertEqual(scan.manifest.entries[1].longitude, 151 + 12.0 / 60 + 30.0 / 3600, accuracy: 1e-12)
        XCTAssertEqual(scan.manifest.entries[2].latitude, sydneyLatitude, accuracy: 1e-12)
        XCTAssertEqual(scan.manifest.entries[2].longitude, honoluluLongitude, accuracy: 1e-12)
    }
}
