import XCTest
import ImageCodec
@testable import Training

final class ColorRuleSegmentationTests: XCTestCase {
    func testPixelRules() {
        let cases: [(rgb: (UInt8, UInt8, UInt8), upper: Bool, expected: UInt8, what: String)] = [
            ((216, 215, 212), true, ADE20KClass.sky, "cloud"),
            ((157, 190, 235), true, ADE20KClass.sky, "pale blue sky"),
            ((157, 190, 235), false, ADE20KClass.water, "pale blue low down"),
            ((104, 143, 205), true, ADE20KClass.water, "saturated blue sea (Kauai's ocean)"),
            ((69, 80, 104), true, ADE20KClass.rock, "cliff in shadow"),
            ((120, 120, 120), false, ADE20KClass.rock, "gray"),
            ((40, 90, 30), false, ADE20KClass.tree, "dark green"),
            ((120, 200, 60), false, ADE20KClass.grass, "light green"),
            ((144, 77, 74), false, ADE20KClass.earth, "red soil"),
            ((0, 0, 0), true, ADE20KClass.rock, "black"),
        ]
        for c in cases {
            XCTAssertEqual(ColorRuleSegmentation.label(red: c.rgb.0, green: c.rgb.1, blue: c.rgb.2, upperHalf: c.upper), c.expected, c.what)
            XCTAssertTrue(ColorRuleSegmentation.classesUsed.contains(c.expected), c.what)
        }
    }

    func testMapHasTheImageSizeAndSplitsAtHalfHeight() {
        // Pale blue everywhere: sky above the middle (rows 0-1 of 5), water from the middle row down.
        let pale: [UInt8] = [157, 190, 235]
        let image = Image(width: 3, height: 5, pixels: Array([[UInt8]](repeating: pale, count: 15).joined()))
        let map = ColorRuleSegmentation.map(of: image)
        XCTAssertEqual([map.width, map.height], [3, 5])
        XCTAssertEqual(map.classes, [UInt8](repeating: ADE20KClass.sky, count: 6) + [UInt8](repeating: ADE20KClass.water, count: 9))
    }
}
