import XCTest
@testable import CLI

/// `partition`, `cell` and `bench partition`, run in-process on temporary files. Reference data
/// comes from Tests/GeoCellsTests/Fixtures (s2geometry and the Python transcription of
/// GeoEstimation's create_cells.py; see scripts/geocells/).
final class GeoCellsCommandTests: XCTestCase {
    private static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    private static let fixtures = repositoryRoot.appendingPathComponent("Tests/GeoCellsTests/Fixtures")

    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("geocells-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs the CLI with stdout captured.
    private func run(_ arguments: [String]) throws -> (code: Int32, stdout: String) {
        let (code, stdout) = try runCommandLineCapturingStandardOutput(arguments, in: directory)
        return (code, String(decoding: stdout, as: UTF8.self))
    }

    private func write(_ name: String, _ text: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// The three files equal the Python transcription's byte for byte (Swift's shortest
    /// round-tripping doubles print as Python's repr here).
    func testPartitionMatchesPythonTranscriptionByteForByte() throws {
        let out = directory.appendingPathComponent("p").path
        let result = try run(["partition", "--manifest", Self.fixtures.appendingPathComponent("partition-manifest.csv").path,
                              "--out", out, "--min", "10", "--max", "400,150,60"])
        XCTAssertEqual(result.code, 0)
        XCTAssertTrue(result.stdout.contains("fine.csv: 193 cells"), result.stdout)
        for name in ["coarse", "middle", "fine"] {
            let ours = try String(contentsOfFile: "\(out)/\(name).csv", encoding: .utf8)
            let python = try String(contentsOf: Self.fixtures.appendingPathComponent("partition-\(name).csv"), encoding: .utf8)
            XCTAssertEqual(ours, python, name)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out).sorted(), ["coarse.csv", "fine.csv", "middle.csv"])
    }

    func testPartitionBadInputFailsWithoutPartialFiles() throws {
        let good = try write("good.csv", "lat,lon\n" + String(repeating: "1,2\n", count: 30))
        let bad = try write("bad.csv", "image,lat,lon\na,1,2\nb,91.5,2\n")
        let empty = try write("empty.csv", "lat,lon\n")
        let notDirectory = try write("file", "x")
        let cases: [([String], Int32)] = [
            (["--manifest", good, "--max", "100,200,50"], 64),          // not strictly decreasing
            (["--manifest", good, "--min", "60", "--max", "500,200,50"], 64),   // min not below every max
            (["--manifest", good, "--max", "500,200"], 64),
            (["--manifest", good, "--max", "5,x,1"], 64),
            (["--manifest", bad], 1),
            (["--manifest", empty], 1),
            (["--manifest", directory.appendingPathComponent("missing.csv").path], 1),
            (["--manifest", good, "--out", notDirectory + "/sub"], 1),    // cannot create the folder
        ]
        for (arguments, expected) in cases {
            let out = directory.appendingPathComponent("out-\(UUID().uuidString)").path
            let withOut = arguments.contains("--out") ? arguments : arguments + ["--out", out]
            let result = try run(["partition"] + withOut)
            XCTAssertEqual(result.code, expected, "\(withOut)")
            XCTAssertEqual(result.stdout, "", "\(withOut)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/fine.csv"), "\(withOut)")
        }
        // Read-only folder: nothing written, no temporaries left. (Root ignores permissions.)
        let readOnly = directory.appendingPathComponent("ro")
        try FileManager.default.createDirectory(at: readOnly, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: readOnly.path)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: readOnly.path) }
        if getuid() != 0 {
            let result = try run(["partition", "--manifest", good, "--out", readOnly.path, "--min", "1", "--max", "30,20,10"])
            XCTAssertEqual(result.code, 1)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: readOnly.path), [])
        }
    }

    func testPartitionSkipInvalid() throws {
        let manifest = try write("m.csv", "lat,lon\n" + String(repeating: "1,2\n", count: 30) + "x,2\n100,0\n")
        let out = directory.appendingPathComponent("p").path
        let result = try run(["partition", "--manifest", manifest, "--out", out, "--min", "1", "--max", "40,20,10", "--skip-invalid"])
        XCTAssertEqual(result.code, 0)
        XCTAssertTrue(result.stdout.contains("coarse.csv: 1 cells (max 40), 30 of 30 images"), result.stdout)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/fine.csv"))
    }

    func testCellPrintsIDTokenLevelCenter() throws {
        // New York at level 9: token and center from s2geometry 0.14.0 (S2CellId.ToLatLng).
        let result = try run(["cell", "40.7128", "-74.006", "--level", "9"])
        XCTAssertEqual(result.code, 0)
        XCTAssertEqual(result.stdout, "id: 9926597683747749888\ntoken: 89c25c\nlevel: 9\ncenter: 40.708880489804564,-73.93598211433742\n")
        XCTAssertEqual(try run(["cell", "91", "0"]).code, 64)
        XCTAssertEqual(try run(["cell", "1", "2", "--level", "31"]).code, 64)
        XCTAssertEqual(try run(["cell", "1"]).code, 64)
    }

    /// --csv on the centers of s2geometry's fixture cells: each center lies in its own cell, so
    /// the appended token and center must be S2's, exactly; other columns and quoting are kept.
    func testCellCSVAppendsTokenAndCenterExactly() throws {
        let fixture = try String(contentsOf: Self.fixtures.appendingPathComponent("s2-cells.csv"), encoding: .utf8)
        let rows = fixture.split(separator: "\n").dropFirst().map {
            $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        for level in [0, 7, 19, 30] {
            let cells = rows.filter { Int($0[2]) == level }.prefix(40)
            XCTAssertFalse(cells.isEmpty)
            var input = "name,LON,LAT\n"
            for (k, cell) in cells.enumerated() { input += "\"cell, \(k)\",\(cell[4]),\(cell[3])\n" }
            let path = try write("in-\(level).csv", input)
            let result = try run(["cell", "--csv", path, "--level", "\(level)"])
            XCTAssertEqual(result.code, 0)
            let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            XCTAssertEqual(lines.first, "name,LON,LAT,token,center_lat,center_lon")
            for (k, cell) in cells.enumerated() {
                XCTAssertEqual(lines[k + 1], "\"cell, \(k)\",\(cell[4]),\(cell[3]),\(cell[1]),\(cell[3]),\(cell[4])", "level \(level)")
            }
        }
        let bad = try write("bad.csv", "lat,lon\n1,2\n1,500\n")
        let result = try run(["cell", "--csv", bad])
        XCTAssertEqual(result.code, 1)
        XCTAssertEqual(result.stdout, "")
    }

    func testBenchPartitionJSON() throws {
        let result = try run(["bench", "partition", "--json", "--points", "30000", "--repeats", "1",
                              "--manifest", Self.fixtures.appendingPathComponent("partition-manifest.csv").path])
        XCTAssertEqual(result.code, 0)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["points"] as? Int, 30000)
        XCTAssertNotNil(json["seconds"] as? Double)
        XCTAssertEqual(try run(["bench", "partition", "--manifest", directory.appendingPathComponent("none.csv").path]).code, 1)
    }
}
