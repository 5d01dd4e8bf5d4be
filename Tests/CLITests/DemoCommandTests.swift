import Foundation
import XCTest
import TransLocator
@testable import CLI
@testable import Training

/// `translocator demo` at toy sizes: the pipeline runs, writes its files and its JSON document;
/// bad flags are usage errors; a folder that is not a demo's is never cleared.
final class DemoCommandTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func temporaryFolder(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("translocator-demo-\(name)-\(UUID().uuidString)")
    }

    func testSmallRunWritesItsFilesAndTheJSONDocument() throws {
        let out = temporaryFolder("run")
        defer { try? FileManager.default.removeItem(at: out) }
        // 150 images leave a few cells of > 10 training images; 1 step proves the loop, not learning.
        let arguments = ["demo", "--out", out.path, "--images", "150", "--steps", "1", "--seed", "3", "--json"]
        // From whatever folder the tests run in: the config is built in, data/ is found beside the binary.
        XCTAssertEqual(runCommandLine(arguments), ExitCode.success)
        for file in ["data/train.csv", "data/test.csv", "partitions/fine.csv", "model.safetensors", "kauai-seg.png", "demo.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), file)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.appendingPathComponent("checkpoint.safetensors").path),
                       "the demo cannot resume: its checkpoints are removed")
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("demo.json")))
                                     as? [String: Any])
        XCTAssertEqual(document["images"] as? Int, 150)
        XCTAssertEqual(document["steps"] as? Int, 1)
        XCTAssertEqual(document["seed"] as? Int, 3)
        for key in ["model", "baseline"] {
            let accuracy = try XCTUnwrap((document[key] as? [String: Any])?["accuracy"] as? [String: Double], key)
            XCTAssertEqual(Set(accuracy.keys), ["1", "25", "200", "750", "2500"], key)
            XCTAssertTrue(accuracy.values.allSatisfy { (0...100).contains($0) }, "\(key): \(accuracy)")
            XCTAssertLessThanOrEqual(accuracy["750"]!, accuracy["2500"]!, key)
        }
        XCTAssertGreaterThan(try XCTUnwrap(document["wallSeconds"] as? Double), 0)
        let kauai = try XCTUnwrap(document["kauai"] as? [String: Any])
        let predictions = try XCTUnwrap(kauai["predictions"] as? [[String: Any]])
        XCTAssertEqual(predictions.count, 3)
        XCTAssertEqual(predictions.first?["rank"] as? Int, 1)
        XCTAssertNotNil(predictions.first?["distanceKm"] as? Double)
        XCTAssertTrue((document["note"] as? String ?? "").contains("synthetic"))
    }

    func testBadFlagsAreUsageErrors() {
        let out = temporaryFolder("flags").path
        for arguments in [["--steps", "0"], ["--images", "many"], ["--images", "2"], ["--learning-rate", "-1"], ["--bogus"],
                          ["--seed", "-4"]] {
            XCTAssertEqual(runCommandLine(["demo", "--out", out] + arguments), ExitCode.usage, "\(arguments)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "a usage error must write nothing")
    }

    func testRefusesAFolderThatIsNotADemosAndClearsAnEarlierDemo() throws {
        let folder = temporaryFolder("folder")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let precious = folder.appendingPathComponent("thesis.tex")
        try Data("keep me".utf8).write(to: precious)
        let demo = Demo(directory: folder, settings: Demo.Settings(), config: try BuiltIn.tinyConfig())
        XCTAssertThrowsError(try demo.prepareDirectory()) { error in
            guard case DemoError.foreignDirectory = error else { return XCTFail("\(error)") }
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: precious.path))
        XCTAssertEqual(runCommandLine(["demo", "--out", folder.path, "--steps", "1"]), ExitCode.failure)
        XCTAssertTrue(FileManager.default.fileExists(atPath: precious.path))

        try FileManager.default.removeItem(at: precious)
        XCTAssertFalse(try demo.prepareDirectory(), "an empty folder has nothing to clear")
        let stale = folder.appendingPathComponent("data/old.png")
        try FileManager.default.createDirectory(at: stale.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data().write(to: stale)
        XCTAssertTrue(try demo.prepareDirectory(), "an earlier demo's folder is overwritten")
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: demo.markerURL.path))
    }
}
