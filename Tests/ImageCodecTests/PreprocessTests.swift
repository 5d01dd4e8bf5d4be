import Foundation
import XCTest
@testable import ImageCodec

/// Preprocessing against torchvision 0.28 / Pillow on a 37x29 image (scripts/codec/preprocess_fixtures.py).
/// Tolerance: every op is exact (0 levels; normalize bit-identical): resize reproduces Pillow's
/// fixed-point weights, rotation its 16.16 nearest sampling, jitter its float/double mix.
final class PreprocessTests: XCTestCase {
    struct Cases: Decodable {
        struct Case: Decodable {
            let name: String
            let op: String
            let params: [String: Param]
            let shape: [Int]
        }
        let pillow: String
        let torchvision: String
        let width: Int
        let height: Int
        let cases: [Case]
    }

    enum Param: Decodable {
        case number(Double), text(String), list([Double])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let d = try? c.decode(Double.self) { self = .number(d) }
            else if let l = try? c.decode([Double].self) { self = .list(l) }
            else { self = .text(try c.decode(String.self)) }
        }
        var number: Double { if case .number(let d) = self { return d }; return .nan }
        var int: Int { Int(number) }
        var list: [Double] { if case .list(let l) = self { return l }; return [] }
        var text: String { if case .text(let s) = self { return s }; return "" }
    }

    func load() throws -> (Cases, Image, SegmentationMap) {
        let cases = try JSONDecoder().decode(Cases.self, from: try pngFixture("cases", "json", subdirectory: "Fixtures/preprocess"))
        let source = Image(width: cases.width, height: cases.height,
                           pixels: [UInt8](try pngFixture("source", "rgb", subdirectory: "Fixtures/preprocess")))
        let seg = SegmentationMap(width: cases.width, height: cases.height,
                                  classes: [UInt8](try pngFixture("seg", "idx", subdirectory: "Fixtures/preprocess")))
        return (cases, source, seg)
    }

    func expected(_ name: String) throws -> [UInt8] {
        [UInt8](try pngFixture(name, "raw", subdirectory: "Fixtures/preprocess"))
    }

    /// Largest absolute difference and how many bytes differ.
    func compare(_ got: [UInt8], _ want: [UInt8], _ label: String, tolerance: Int = 0) {
        guard got.count == want.count else { return XCTFail("\(label): \(got.count) bytes, torchvision \(want.count)") }
        let diffs = zip(got, want).map { abs(Int($0) - Int($1)) }
        let worst = diffs.max() ?? 0
        XCTAssertLessThanOrEqual(worst, tolerance, "\(label): max |diff| \(worst), \(diffs.filter { $0 > 0 }.count) bytes differ")
    }

    func testImageOpsMatchTorchvision() throws {
        let (cases, source, _) = try load()
        var checked = 0
        for c in cases.cases {
            let p = c.params
            let filter: ResizeFilter = p["filter"]?.text == "bicubic" ? .bicubic : .bilinear
            let result: Image
            switch c.op {
            case "resizeShort": result = source.resized(shortSide: p["shortSide"]!.int, filter: filter)
            case "resize": result = source.resized(width: p["width"]!.int, height: p["height"]!.int, filter: filter)
            case "resizeNearest": result = source.resizedNearest(width: p["width"]!.int, height: p["height"]!.int)
            case "centerCrop": result = source.centerCropped(width: p["width"]!.int, height: p["height"]!.int)
            case "tenCrop": result = source.tenCrops(width: p["width"]!.int, height: p["height"]!.int)[p["index"]!.int]
            case "hflip": result = source.flippedHorizontally()
            case "rotate":
                let fill = p["fill"]!.list.map { UInt8($0) }
                result = source.rotated(degrees: p["degrees"]!.number, fill: (fill[0], fill[1], fill[2]))
            case "brightness": result = source.adjustedBrightness(p["factor"]!.number)
            case "contrast": result = source.adjustedContrast(p["factor"]!.number)
            case "saturation": result = source.adjustedSaturation(p["factor"]!.number)
            case "hue": result = source.adjustedHue(p["factor"]!.number)
            case "colorJitter":
                result = source.colorJittered(ColorJitterParameters(
                    order: p["order"]!.list.map { Int($0) }, brightness: p["brightness"]!.number, contrast: p["contrast"]!.number,
                    saturation: p["saturation"]!.number, hue: p["hue"]!.number))
            default: continue
            }
            XCTAssertEqual([result.height, result.width, 3], c.shape, c.name)
            compare(result.pixels, try expected(c.name), "\(c.name) (torchvision \(cases.torchvision), Pillow \(cases.pillow))")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 60)
    }

    func testSegmentationOpsMatchTorchvision() throws {
        let (cases, _, seg) = try load()
        var checked = 0
        for c in cases.cases {
            let p = c.params
            let result: SegmentationMap
            switch c.op {
            case "segResize": result = seg.resized(width: p["width"]!.int, height: p["height"]!.int)
            case "segResizeShort": result = seg.resized(shortSide: p["shortSide"]!.int)
            case "segHflip": result = seg.flippedHorizontally()
            case "segRotate": result = seg.rotated(degrees: p["degrees"]!.number, fill: UInt8(p["fill"]!.int))
            default: continue
            }
            XCTAssertEqual([result.height, result.width], c.shape, c.name)
            compare(result.classes, try expected(c.name), c.name)
            checked += 1
        }
        XCTAssertEqual(checked, 7)
    }

    /// ToTensor + Normalize: bit-identical float32 (same single-precision operations in order).
    func testNormalizeIsBitIdentical() throws {
        let (_, source, _) = try load()
        let want = try pngFixture("normalize", "raw", subdirectory: "Fixtures/preprocess").withUnsafeBytes {
            Array($0.bindMemory(to: Float.self))
        }
        let got = source.normalizedCHW()
        XCTAssertEqual(got.count, want.count)
        XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern))
    }

    func testADE20KPaletteRendering() {
        XCTAssertEqual(ADE20K.classNames.count, 150)
        XCTAssertEqual(ADE20K.palette.count, 450)
        XCTAssertEqual(ADE20K.classNames[2], "sky")
        let map = SegmentationMap(width: 4, height: 1, classes: [0, 2, 149, 255])
        // mmseg ade.py: wall (120,120,120), sky (6,230,230), flag (92,0,255); 255 ("ignore") black.
        XCTAssertEqual(map.renderedADE20K().pixels, [120, 120, 120, 6, 230, 230, 92, 0, 255, 0, 0, 0])
    }

    /// The same draw moves photo and map together: render-then-transform == transform-then-render
    /// for every nearest-neighbour geometric op.
    func testGeometryCommutesWithRendering() throws {
        let (_, _, seg) = try load()
        let rendered = seg.renderedADE20K()
        XCTAssertEqual(seg.flippedHorizontally().renderedADE20K(), rendered.flippedHorizontally())
        XCTAssertEqual(seg.resized(width: 50, height: 20).renderedADE20K(), rendered.resizedNearest(width: 50, height: 20))
        XCTAssertEqual(seg.centerCropped(width: 20, height: 20).renderedADE20K(), rendered.centerCropped(width: 20, height: 20))
        let fillColor = (ADE20K.palette[0], ADE20K.palette[1], ADE20K.palette[2])
        XCTAssertEqual(seg.rotated(degrees: 9.5).renderedADE20K(), rendered.rotated(degrees: 9.5, fill: fillColor))
    }

    func testResizeFastPathsAgreeWithIdentityAndShapes() {
        let image = Image(width: 1, height: 1, fill: (9, 8, 7))
        XCTAssertEqual(image.resized(width: 3, height: 2).pixels,
                       [UInt8](repeating: 0, count: 0) + [9, 8, 7, 9, 8, 7, 9, 8, 7, 9, 8, 7, 9, 8, 7, 9, 8, 7])
        XCTAssertEqual(resizedSize(width: 640, height: 480, shortSide: 256).width, 341)   // int(256·640/480)
        XCTAssertEqual(resizedSize(width: 480, height: 640, shortSide: 256).height, 341)
    }
}
