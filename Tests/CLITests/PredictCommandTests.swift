import Foundation
import XCTest
import GeoCells
import TransLocator
@testable import CLI

/// `translocator predict` on the bundled Kauai photo with tiny random models (configs/tiny.json)
/// over partitions of the bundled MP-16 sample.
final class PredictCommandTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func makeModel(segmentation: Bool, at url: URL) throws {
        var config = try ModelConfig(contentsOf: Self.repository.appendingPathComponent("configs/tiny.json"))
        config.segmentationBranch = segmentation
        let coordinates = try CoordinateFile(contentsOf: Self.repository.appendingPathComponent("data/mp16-sample-20k.csv")).coordinates
        let partitions = try GeoPartitions.build(coordinates, minImages: 10, maxImages: [1000, 400, 200])
        let model = try TransLocatorModel(config: config, headSizes: partitions.headSizes, seed: 1)
        try ModelFile(model: model, partitions: partitions).write(to: url)
    }

    func testPredictsOnThePhotoAndExplainsAMissingMap() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("translocator-predict-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let vitMT = directory.appendingPathComponent("vit-mt.safetensors").path
        let dual = directory.appendingPathComponent("translocator.safetensors").path
        try makeModel(segmentation: false, at: URL(fileURLWithPath: vitMT))
        try makeModel(segmentation: true, at: URL(fileURLWithPath: dual))
        let photo = Self.repository.appendingPathComponent("data/kauai.png").path
        XCTAssertEqual(runCommandLine(["predict", photo, "--model", vitMT, "--top", "3"]), ExitCode.success)
        XCTAssertEqual(runCommandLine(["predict", photo, photo, "--model", vitMT, "--json", "--hierarchical", "--tencrop"]), ExitCode.success)
        XCTAssertEqual(runCommandLine(["predict", photo, "--model", dual]), ExitCode.failure)        // needs --seg
        XCTAssertEqual(runCommandLine(["predict", photo, "--model", dual, "--seg", photo]), ExitCode.failure)  // not a map
        XCTAssertEqual(runCommandLine(["predict", photo, "--model", photo]), ExitCode.failure)       // not a model file
        XCTAssertEqual(runCommandLine(["predict", "--model", vitMT]), ExitCode.usage)
        XCTAssertEqual(runCommandLine(["predict", photo, photo, "--model", dual, "--seg", photo]), ExitCode.usage)
    }
}
