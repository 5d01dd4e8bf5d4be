import XCTest
import TensorEngine
@testable import ImageCodec

/// `ColorJitterParameters.random` maps the generator's raw 64-bit outputs to a draw with our own
/// arithmetic (not the standard library's), so a seeded augmentation is the same on every Swift
/// version: the exact values for a scripted generator pin that arithmetic down.
final class ColorJitterDrawTests: XCTestCase {
    /// Returns the scripted values in turn and counts the calls.
    struct ScriptedGenerator: RandomNumberGenerator {
        var values: [UInt64]
        var calls = 0
        mutating func next() -> UInt64 { defer { calls += 1 }; return values[calls] }
    }

    func testDrawIsFixedArithmeticOnTheGeneratorsOutputs() {
        // Order (Fisher–Yates from the back, j = high word of next·(i+1)): next 0 swaps 3 with 0,
        // next max keeps 2 (j = 2), next 2^63 keeps 1 (j = 1). Then the non-zero strengths in
        // order: brightness from 2^63 (unit 0.5), saturation from 0, hue from max.
        var generator = ScriptedGenerator(values: [0, .max, 1 << 63, 1 << 63, 0, .max, 42])
        let drawn = ColorJitterParameters.random(brightness: 0.4, contrast: 0, saturation: 0.5, hue: 0.1, using: &generator)
        XCTAssertEqual(drawn.order, [3, 1, 2, 0])
        XCTAssertEqual(drawn.brightness, 0.6 + 0.8 * 0.5)
        XCTAssertNil(drawn.contrast)
        XCTAssertEqual(drawn.saturation, 0.5)
        XCTAssertEqual(drawn.hue, -0.1 + 0.2 * (Double((UInt64(1) << 53) - 1) * 0x1.0p-53))
        XCTAssertEqual(generator.calls, 6, "3 for the order, one per non-zero strength")
    }

    func testDrawsCoverTheRangesAndEveryOrder() {
        var generator = SeededGenerator(seed: 11)
        var orders = Set<[Int]>()
        var brightnessSum = 0.0
        let draws = 4000
        for _ in 0..<draws {
            let p = ColorJitterParameters.random(brightness: 0.4, contrast: 1.5, saturation: 0.4, hue: 0.1, using: &generator)
            orders.insert(p.order)
            brightnessSum += p.brightness!
            XCTAssertTrue((0.6..<1.4).contains(p.brightness!), "\(p), seed 11")
            XCTAssertTrue((0..<2.5).contains(p.contrast!), "contrast clamps its low end at 0: \(p), seed 11")
            XCTAssertTrue((-0.1..<0.1).contains(p.hue!), "\(p), seed 11")
        }
        XCTAssertEqual(orders.count, 24, "every permutation of the four adjustments, seed 11")
        XCTAssertEqual(brightnessSum / Double(draws), 1, accuracy: 0.02, "uniform around 1, seed 11")
    }
}
