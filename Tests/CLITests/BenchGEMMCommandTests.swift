import XCTest
@testable import CLI

/// `translocator bench gemm --shapes ... --json`: the rows scripts/bench/gemm.py reads, one
/// shape at a time.
final class BenchGEMMCommandTests: XCTestCase {
    func testShapesOptionTimesExactlyTheNamedFormsAsJSON() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-gemm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try runCommandLineCapturingStandardOutput(
            ["bench", "gemm", "--json", "--shapes", "13x7x5:AtB,4x3x2", "--threads", "1,2", "--repeats", "1"], in: directory)
        XCTAssertEqual(result.code, 0)
        let rows = try XCTUnwrap(JSONSerialization.jsonObject(with: result.stdout) as? [[String: Any]])
        let described = rows.map { row in
            let form = (row["transposeA"] as? Bool == true ? "At" : "A") + (row["transposeB"] as? Bool == true ? "Bt" : "B")
            return "\(row["m"] as? Int ?? 0)x\(row["k"] as? Int ?? 0)x\(row["n"] as? Int ?? 0) \(form) \(row["threads"] as? Int ?? 0)"
        }
        XCTAssertEqual(described, [
            "13x7x5 AtB 1", "13x7x5 AtB 2",
            "4x3x2 AB 1", "4x3x2 AB 2", "4x3x2 AtB 1", "4x3x2 AtB 2", "4x3x2 ABt 1", "4x3x2 ABt 2",
        ])
        for row in rows { XCTAssertGreaterThan(try XCTUnwrap(row["gflops"] as? Double), 0) }
    }

    func testPackedBTimesThePrepackedProduct() throws {
        let result = try runCommandLineCapturingStandardOutput(
            ["bench", "gemm", "--json", "--packed-b", "--shapes", "1x40x70:ABt,3x9x20:AB", "--threads", "2", "--repeats", "1"],
            in: FileManager.default.temporaryDirectory)
        XCTAssertEqual(result.code, 0)
        let rows = try XCTUnwrap(JSONSerialization.jsonObject(with: result.stdout) as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["m"] as? Int }, [1, 3])
        for row in rows { XCTAssertGreaterThan(try XCTUnwrap(row["gflops"] as? Double), 0) }
    }

    func testMalformedShapesAreUsageErrors() {
        for shapes in ["13x7", "13x7x5:BA", "0x7x5", "13x7x5x2", "axbxc", "13x7x5,", "20000x7x5"] {
            XCTAssertEqual(runCommandLine(["bench", "gemm", "--shapes", shapes, "--repeats", "1"]), ExitCode.usage, shapes)
        }
    }
}
