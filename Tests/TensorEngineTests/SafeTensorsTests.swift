import Foundation
import XCTest
@testable import TensorEngine

final class SafeTensorsTests: XCTestCase {
    /// Written by Python's safetensors (scripts/engine/make_safetensors_fixtures.py).
    func testReadsPythonWrittenF32F16BF16AndMetadata() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "mixed_dtypes", withExtension: "safetensors", subdirectory: "Fixtures"))
        let file = try SafeTensors(contentsOf: url)
        let values: [Float] = [0, 1, -2.5, 0.15625, 65504, -0.0009765625, 3, 1024]
        XCTAssertEqual(file["f32"]?.shape, [2, 4])
        XCTAssertEqual(file["f32"]?.scalars, values)
        XCTAssertEqual(file["f16"]?.scalars, values)
        var bf16 = values
        bf16[4] = 65536                                    // BF16 keeps 8 mantissa bits: 65504 rounds up
        XCTAssertEqual(file["bf16"]?.scalars, bf16)
        XCTAssertEqual(file.dtypes["f16"], "F16")
        XCTAssertEqual(file.dtypes["bf16"], "BF16")
        XCTAssertEqual(file["scalar"]?.shape, [])
        XCTAssertEqual(file["scalar"]?.scalars, [42.5])
        XCTAssertEqual(file["empty"]?.shape, [0, 3])
        XCTAssertEqual(file["blocks.0.attn.qkv.weight"]?.scalars, (0..<12).map { Float($0) / 8 })
        XCTAssertEqual(file.metadata["config"], "{\"embed_dim\": 32, \"num_heads\": 4}")
        XCTAssertEqual(file.metadata["note"], "Kauaʻi été")
    }

    func testWriteReadRoundTrip() throws {
        var file = SafeTensors()
        file.set("b.weight", randomTensor([3, 5], seed: 1))
        file.set("a", Tensor(shape: [1], values: [-0.0]))
        file.set("nan", Tensor(shape: [2], values: [.nan, .infinity]))
        file.metadata = ["config": "{\"depth\": 2}", "quote\"key": "line\nbreak"]
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("roundtrip-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try file.write(to: url)
        // For checking by hand that Python's safetensors loads our files:
        // SAFETENSORS_KEEP=/tmp/ours.safetensors swift test --filter testWriteReadRoundTrip
        if let keep = ProcessInfo.processInfo.environment["SAFETENSORS_KEEP"] { try file.write(to: URL(fileURLWithPath: keep)) }
        let again = try SafeTensors(contentsOf: url)
        XCTAssertEqual(again.names, ["b.weight", "a", "nan"])
        XCTAssertEqual(again["b.weight"]?.scalars, file["b.weight"]?.scalars)
        XCTAssertEqual(again["a"]?.scalars.first?.bitPattern, (-0.0 as Float).bitPattern)
        XCTAssertTrue(again["nan"]![0].isNaN)
        XCTAssertEqual(again.metadata, file.metadata)
        let bytes = try Data(contentsOf: url)
        let headerLength = bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual(headerLength % 8, 0, "header padded to 8 bytes, as Python's writer does")
    }

    func testFloat16Conversion() {
        XCTAssertEqual(floatFromHalf(0x3C00), 1)
        XCTAssertEqual(floatFromHalf(0xC000), -2)
        XCTAssertEqual(floatFromHalf(0x0001), 0x1p-24)        // smallest subnormal
        XCTAssertEqual(floatFromHalf(0x7BFF), 65504)
        XCTAssertEqual(floatFromHalf(0x7C00), .infinity)
        XCTAssertTrue(floatFromHalf(0x7E00).isNaN)
    }

    // MARK: Bad files: a typed error each, never a crash

    /// A file from a header string and a data section.
    func file(header: String, data: [UInt8] = [], headerLength: UInt64? = nil) -> Data {
        var bytes = Data()
        let headerBytes = Array(header.utf8)
        withUnsafeBytes(of: (headerLength ?? UInt64(headerBytes.count)).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: headerBytes)
        bytes.append(contentsOf: data)
        return bytes
    }

    func assertThrows(_ data: Data, _ check: (SafeTensorsError) -> Bool, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try SafeTensors(data: data, file: "bad.safetensors")
            XCTFail("no error", file: file, line: line)
        } catch let error as SafeTensorsError {
            XCTAssertTrue(check(error), "unexpected error: \(error)", file: file, line: line)
            XCTAssertTrue(error.description.hasPrefix("bad.safetensors"), file: file, line: line)
        } catch {
            XCTFail("untyped error \(error)", file: file, line: line)
        }
    }

    func testMalformedFilesAreTypedErrors() {
        let entry = #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        assertThrows(Data([1, 2, 3])) { if case .truncated = $0 { true } else { false } }
        assertThrows(file(header: entry, data: Array(repeating: 0, count: 8), headerLength: 1 << 40)) {
            if case .headerTooLarge(_, 1 << 40, SafeTensorsHeader.maximumBytes) = $0 { true } else { false }   // refused before reading on
        }
        assertThrows(file(header: entry, data: Array(repeating: 0, count: 8), headerLength: 4096)) {
            if case .headerPastEnd = $0 { true } else { false }
        }
        assertThrows(file(header: "{not json", data: [])) { if case .headerNotJSON = $0 { true } else { false } }
        assertThrows(file(header: "[1, 2]", data: [])) { if case .headerNotJSON = $0 { true } else { false } }
        assertThrows(file(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0])) {
            if case .offsetsOutOfRange = $0 { true } else { false }
        }
        assertThrows(file(header: #"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8))) {
            if case .sizeMismatch = $0 { true } else { false }
        }
        assertThrows(file(header: #"{"t":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8))) {
            if case .unknownDType(_, "t", "Q4") = $0 { true } else { false }
        }
        assertThrows(file(header: #"{"t":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8))) {
            if case .unsupportedDType = $0 { true } else { false }
        }
        assertThrows(file(header: #"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
                                  + #""u":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                          data: Array(repeating: 0, count: 12))) {
            if case .overlapping = $0 { true } else { false }
        }
        assertThrows(file(header: #"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"#
                                  + #""t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
                          data: Array(repeating: 0, count: 8))) {
            if case .duplicateName(_, "t") = $0 { true } else { false }
        }
        assertThrows(file(header: #"{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: Array(repeating: 0, count: 4))) {
            if case .badEntry = $0 { true } else { false }
        }
        assertThrows(file(header: #"{"t":{"dtype":"F32","shape":[4503599627370496,4503599627370496],"data_offsets":[0,4]}}"#,
                          data: Array(repeating: 0, count: 4))) {
            if case .sizeMismatch = $0 { true } else { false }       // shape × size overflows Int
        }
        assertThrows(file(header: #"{"__metadata__":{"k":1}}"#)) { if case .badEntry = $0 { true } else { false } }
    }

    func testEveryTruncationOfAValidFileThrows() throws {
        var good = SafeTensors()
        good.set("w", randomTensor([3, 2], seed: 3))
        good.metadata = ["config": "{}"]
        let bytes = good.serialized()
        XCTAssertNoThrow(try SafeTensors(data: bytes, file: "good"))
        for length in 0..<bytes.count {
            XCTAssertThrowsError(try SafeTensors(data: bytes.prefix(length), file: "cut"), "truncated to \(length) bytes")
        }
    }
}

final class JSONLiteralTests: XCTestCase {
    /// Escapes what JSON requires, and our own header parser reads every literal back unchanged.
    func testStringsAreEscapedAndReadBack() throws {
        XCTAssertEqual(JSONLiteral.string("a\"b\\c\n"), #""a\"b\\c\n""#)
        XCTAssertEqual(JSONLiteral.string("\u{1}"), #""\u0001""#)
        for text in ["", "plain", "quote \" backslash \\ tab \t cr \r", "\u{0}\u{1f}", "naïve 東京 🌋", "../a b.png"] {
            XCTAssertEqual(try HeaderJSON.parse(Array(JSONLiteral.string(text).utf8)), .string(text), text)
        }
    }

    func testNumbersWithoutAJSONFormAreNull() {
        XCTAssertEqual(JSONLiteral.number(1.5), "1.5")
        XCTAssertEqual(JSONLiteral.number(.nan), "null")
        XCTAssertEqual(JSONLiteral.number(-.infinity), "null")
    }
}
