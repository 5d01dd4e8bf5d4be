import Foundation
import XCTest
@testable import CLI
import TransLocator

/// `translocator bench train --json`: the rows scripts/bench/train.py reads (model, batch,
/// imagesPerSecond, headSizes for the twin, allocationsPerStep), on a very small model.
final class BenchTrainCommandTests: XCTestCase {
    func testJSONRowsCarryWhatTheDriverReads() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-train-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = directory.appendingPathComponent("config.json")
        try Data("{\(TrainCommandTests.modelObject)}".utf8).write(to: config)
        let (code, stdout) = try runCommandLineCapturingStandardOutput(
            ["bench", "train", "--skip-vit", "--config", config.path, "--tiny-batch", "2", "--steps", "2", "--json"], in: directory)
        XCTAssertEqual(code, ExitCode.success)
        let rows = try XCTUnwrap(JSONSerialization.jsonObject(with: stdout) as? [[String: Any]])
        XCTAssertEqual(rows.count, 1)
        let row = rows[0]
        XCTAssertEqual(row["model"] as? String, "translocator-tiny")
        XCTAssertEqual(row["batch"] as? Int, 2)
        XCTAssertGreaterThan(try XCTUnwrap(row["imagesPerSecond"] as? Double), 0)
        XCTAssertEqual(row["allocationsPerStep"] as? Int, 0, "a training step after the first allocates nothing")
        XCTAssertEqual(row["headSizes"] as? [String: Int], ["coarse": 100, "middle": 200, "fine": 400])
        XCTAssertEqual(runCommandLine(["bench", "train", "--steps", "0"]), ExitCode.usage)
    }
}

/// The bench commands carry their configs in code so they need no file; these hold them to the
/// files under configs/ they copy.
final class BenchConfigsMatchFilesTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func testBuiltInConfigsEqualTheConfigFiles() throws {
        let tiny = try ModelConfig(contentsOf: Self.repository.appendingPathComponent("configs/tiny.json"))
        let paper = try ModelConfig(contentsOf: Self.repository.appendingPathComponent("configs/translocator-b16.json"))
        XCTAssertEqual(try BuiltIn.tinyConfig().model, tiny)
        let file = try String(contentsOf: Self.repository.appendingPathComponent(BuiltIn.tinyConfigName), encoding: .utf8)
        XCTAssertEqual(BuiltIn.tinyConfigJSON + "\n", file, "the demo's built-in config is configs/tiny.json byte for byte")
        XCTAssertEqual(BenchForwardCommand.paperConfig, paper)
    }
}
