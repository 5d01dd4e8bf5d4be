import Foundation
import XCTest
@testable import ImageCodec

/// `SegmentationMap(contentsOf:)`, the one map reader of predict, eval and training: class
/// indices or palette colours, every class checked.
final class SegmentationMapTests: XCTestCase {
    /// Sky over tree over sea, by rows.
    func stripes(width: Int, height: Int) -> SegmentationMap {
        SegmentationMap(width: width, height: height,
                        classes: (0..<(width * height)).map { i in [2, 4, 26][3 * (i / width) / height] })
    }

    func testSegmentationMapsReadAsIndicesOrPaletteColours() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("translocator-seg-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let map = stripes(width: 7, height: 6)
        let gray = directory.appendingPathComponent("indices.png")
        try PNGEncoder.encode(pixels: map.classes, width: 7, height: 6, colorType: .gray).write(to: gray)
        XCTAssertEqual(try SegmentationMap(contentsOf: gray), map)
        let colours = directory.appendingPathComponent("colours.png")
        try PNGEncoder.encode(map.renderedADE20K()).write(to: colours)
        XCTAssertEqual(try SegmentationMap(contentsOf: colours), map)
        let outside = directory.appendingPathComponent("outside.png")
        try PNGEncoder.encode(pixels: [3, 200, 5, 6], width: 2, height: 2, colorType: .gray).write(to: outside)
        XCTAssertThrowsError(try SegmentationMap(contentsOf: outside)) { error in
            XCTAssertTrue("\(error)".contains("outside.png: pixel (1, 0) is class 200"), "\(error)")
        }
    }

    func testAColourOutsideThePaletteIsAnErrorNamingThePixel() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("translocator-palette-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let rendered = stripes(width: 5, height: 3).renderedADE20K()
        var pixels = rendered.pixels
        pixels[3 * 7 + 1] &+= 1                                   // pixel (2, 1): one green step off the palette
        let url = directory.appendingPathComponent("off.png")
        try PNGEncoder.encode(Image(width: 5, height: 3, pixels: pixels)).write(to: url)
        XCTAssertThrowsError(try SegmentationMap(contentsOf: url)) { error in
            guard case let .colorNotInPalette(file, x, y, _, _, _)? = error as? SegmentationMapError else { return XCTFail("\(error)") }
            XCTAssertEqual([x, y], [2, 1])
            XCTAssertEqual(file, url.path)
        }
    }
}
