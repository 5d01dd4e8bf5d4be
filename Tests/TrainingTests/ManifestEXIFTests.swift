import XCTest
@testable import Training

final class ManifestEXIFTests: XCTestCase {
    /// A JPEG's markers only (SOI, APP1 Exif, EOI): enough for the EXIF reader, which stops at
    /// the image data. The TIFF block is little-endian: IFD0 with a GPS pointer, then a GPS IFD
    /// with latitude/longitude references and degrees-minutes-seconds rationals.
    static func jpegWithGPS(latitude: (UInt32, UInt32, UInt32, String), longitude: (UInt32, UInt32, UInt32, String)) -> Data {
        var tiff: [UInt8] = Array("II".utf8) + [0x2A, 0, 8, 0, 0, 0]
        func u16(_ v: Int) { tiff += [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func u32(_ v: UInt32) { tiff += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)] }
        u16(1); u16(0x8825); u16(4); u32(1); u32(26); u32(0)                     // IFD0 at 8: GPS IFD at 26
        u16(4)
        u16(1); u16(2); u32(2); tiff += Array(latitude.3.utf8) + [0, 0, 0]       // GPSLatitudeRef
        u16(2); u16(5); u32(3); u32(80)                                           // GPSLatitude at 80
        u16(3); u16(2); u32(2); tiff += Array(longitude.3.utf8) + [0, 0, 0]      // GPSLongitudeRef
        u16(4); u16(5); u32(3); u32(104)                                          // GPSLongitude at 104
        u32(0)
        for value in [latitude.0, 1, latitude.1, 1, latitude.2, 100, longitude.0, 1, longitude.1, 1, longitude.2, 100] { u32(value) }
        let payload = Array("Exif\0\0".utf8) + tiff
        let length = payload.count + 2
        return Data([0xFF, 0xD8, 0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload + [0xFF, 0xD9])
    }

    func testScanKeepsPhotosWithGPSAndCountsTheRest() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("exif-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("sub"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.jpegWithGPS(latitude: (21, 18, 3600, "N"), longitude: (157, 51, 0, "W")).write(to: folder.appendingPathComponent("a.jpg"))
        try Self.jpegWithGPS(latitude: (33, 52, 1200, "S"), longitude: (151, 12, 3000, "E")).write(to: folder.appendingPathComponent("sub/b.JPG"))
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
}
