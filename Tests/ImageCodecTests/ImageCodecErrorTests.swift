import XCTest
@testable import ImageCodec

final class ImageCodecErrorTests: XCTestCase {
    func testFileAttachesOnceAndDescribesOffset() {
        let error = ImageCodecError.truncated(offset: 1043, expected: "Huffman data")
        let inFile = error.attaching(path: "a.jpg").attaching(path: "b.jpg")
        XCTAssertEqual(inFile, .inFile(path: "b.jpg", underlying: error))
        XCTAssertEqual(inFile.withoutFile, error)
        XCTAssertEqual(inFile.description, "b.jpg: truncated at byte 1043: expected Huffman data")
    }

    func testLimitsRefuseOverflowAndBombs() {
        let limits = DecodingLimits()
        XCTAssertNoThrow(try limits.check(width: 9459, height: 9459))       // 89,472,681 px: under
        XCTAssertThrowsError(try limits.check(width: 9460, height: 9460))   // 89,491,600 px: over
        XCTAssertThrowsError(try limits.check(width: Int.max, height: 2))   // overflow counts as over
    }
}
