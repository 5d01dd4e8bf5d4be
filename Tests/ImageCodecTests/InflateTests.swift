import Foundation
import XCTest
import TensorEngine
@testable import ImageCodec

final class InflateTests: XCTestCase {
    func inflate(_ stream: [UInt8], capacity: Int) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: capacity)
        let n = try stream.withUnsafeBufferPointer { input in
            try output.withUnsafeMutableBufferPointer { try zlibDecompress(input, into: $0.baseAddress!, capacity: capacity) }
        }
        return Array(output.prefix(n))
    }

    /// zlib's own streams (levels 0, 1, 6, 9 and Z_FIXED: stored, fixed and dynamic blocks) inflate
    /// to their payload exactly.
    func testInflatesZlibStreamsExactly() throws {
        for name in ["text", "runs", "noise", "mixed", "empty"] {
            let expected = [UInt8](try pngFixture(name, "bin", subdirectory: "Fixtures/png/zlib"))
            let variants = ["z0", "z1", "z6", "z9"] + (["text", "runs"].contains(name) ? ["fixed"] : [])
            for variant in variants {
                let stream = [UInt8](try pngFixture("\(name)_\(variant)", "zlib", subdirectory: "Fixtures/png/zlib"))
                XCTAssertEqual(try inflate(stream, capacity: expected.count), expected, "\(name)_\(variant)")
                // Exactly sized output: one byte less must be refused, not overrun.
                if !expected.isEmpty {
                    XCTAssertThrowsError(try inflate(stream, capacity: expected.count - 1), "\(name)_\(variant)") { error in
                        guard case InflateError.tooMuchData = error else { return XCTFail("\(name)_\(variant): \(error)") }
                    }
                }
            }
        }
    }

    func testEveryTruncationThrows() throws {
        let expected = [UInt8](try pngFixture("mixed", "bin", subdirectory: "Fixtures/png/zlib"))
        for variant in ["z0", "z9"] {
            let stream = [UInt8](try pngFixture("mixed_\(variant)", "zlib", subdirectory: "Fixtures/png/zlib"))
            for cut in stride(from: 0, to: stream.count, by: max(1, stream.count / 400)) + [stream.count - 1] {
                XCTAssertThrowsError(try inflate(Array(stream.prefix(cut)), capacity: expected.count), "\(variant) cut at \(cut)")
            }
        }
    }

    func testChecksumAndHeaderAreChecked() throws {
        var stream = [UInt8](try pngFixture("text_z6", "zlib", subdirectory: "Fixtures/png/zlib"))
        let count = try pngFixture("text", "bin", subdirectory: "Fixtures/png/zlib").count
        stream[stream.count - 1] ^= 1
        XCTAssertThrowsError(try inflate(stream, capacity: count)) { error in
            guard case InflateError.corrupt(let reason, _) = error, reason.contains("Adler") else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try inflate([0x78, 0x9D, 0x03, 0x00], capacity: 10))   // FCHECK wrong
        XCTAssertThrowsError(try inflate([0x79, 0x9C, 0x03, 0x00], capacity: 10))   // CM 9
        XCTAssertThrowsError(try inflate([0x78, 0xBB, 0x03, 0x00], capacity: 10))   // FDICT
    }

    func testRejectsMalformedBlocks() {
        // BFINAL=1, BTYPE=3 (reserved).
        XCTAssertThrowsError(try inflate([0x78, 0x9C, 0x07, 0, 0, 0, 0, 1], capacity: 10))
        // Stored block whose NLEN is not LEN's complement.
        XCTAssertThrowsError(try inflate([0x78, 0x9C, 0x01, 0x05, 0x00, 0x00, 0x00], capacity: 10))
        // Fixed block: a match at distance 1 before any output (literal/length 257, distance 0).
        // Bits LSB-first: 1 (final), 10 (fixed) | 0000001 (257) | 00000 (dist 0) | 0000000 (256)
        XCTAssertThrowsError(try inflate([0x78, 0x9C, 0x03, 0x02, 0x00, 0x00, 0, 0, 0, 1], capacity: 10)) { error in
            guard case InflateError.corrupt = error else { return XCTFail("\(error)") }
        }
    }

    /// Random corruptions of valid streams followed by random bytes, which the decoder must ignore
    /// (input after the trailer is not read). Corrupting only those bytes gives the payload; corrupting
    /// the stream ends in an `InflateError`, or in the payload itself where the new byte changes
    /// nothing decoded (the same value, or padding bits): any other output fails the Adler-32.
    func testMutatedStreamsThrowOrGiveThePayload() throws {
        let payload = [UInt8](try pngFixture("text", "bin", subdirectory: "Fixtures/png/zlib"))
        var rng = SeededGenerator(seed: 61)
        var outcomes: [String: Int] = [:]
        for variant in ["z1", "z9", "fixed"] {
            let original = [UInt8](try pngFixture("text_\(variant)", "zlib", subdirectory: "Fixtures/png/zlib"))
            for trial in 0..<300 {
                var stream = original + (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
                let afterTrailerOnly = trial % 4 == 0
                let positions = afterTrailerOnly ? original.count..<stream.count : 2..<original.count
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    stream[Int.random(in: positions, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                let context = "text_\(variant) trial \(trial), seed 61"
                do {
                    let output = try inflate(stream, capacity: payload.count)
                    XCTAssertEqual(output.count, payload.count, context)
                    XCTAssertTrue(output == payload, context)
                    outcomes[afterTrailerOnly ? "after trailer" : "unchanged", default: 0] += 1
                } catch let error as InflateError {
                    XCTAssertFalse(afterTrailerOnly, "\(context): \(error)")
                    switch error {
                    case .truncated: outcomes["truncated", default: 0] += 1
                    case .corrupt: outcomes["corrupt", default: 0] += 1
                    case .tooMuchData: outcomes["tooMuchData", default: 0] += 1
                    }
                } catch {
                    XCTFail("\(context): \(error)")
                }
            }
        }
        // Both outcomes, and both kinds of damage a corrupted stream can do (truncation has its own
        // test: here the random bytes after the trailer stand in for any input the stream runs into).
        XCTAssertEqual(outcomes["after trailer"], 3 * 75, "\(outcomes)")
        for kind in ["corrupt", "tooMuchData"] {
            XCTAssertGreaterThan(outcomes[kind] ?? 0, 0, "no mutation ended in \(kind): \(outcomes)")
        }
    }
}
