import Foundation
import XCTest
import GeoCells
import ImageCodec
import TransLocator
@testable import CLI

/// `translocator predict` on the bundled Kauai photo with tiny random models (configs/tiny.json)
/// over partitions of the bundled MP-16 sample.
final class PredictCommandTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func makeModel(segmentation: Bool, at url: URL) throws { try Self.makeModel(segmentation: segmentation, at: url) }

    static func makeModel(segmentation: Bool, at url: URL) throws {
        var config = try ModelConfig(contentsOf: Self.repository.appendingPathComponent("configs/tiny.json"))
        config.segmentationBranch = segmentation
        let coordinates = try CoordinateFile(contentsOf: Self.repository.appendingPathComponent("data/mp16-sample-20k.csv")).coordinates
        let partitions = try GeoPartitions.build(coordinates, minImages: 10, maxImages: [1000, 400, 200])
        let model = try TransLocatorModel(config: config, headSizes: partitions.headSizes, seed: 1)
        try ModelFile(model: model, partitions: partitions).write(to: url)
    }

    func makeModel(segmentation: Bool, at url: URL, poisonFineHead: Bool) throws {
        try makeModel(segmentation: segmentation, at: url)
        guard poisonFineHead else { return }
        let file = try ModelFile(contentsOf: url)
        let fine = try XCTUnwrap(file.model.parameters.first { $0.name.contains("fine") })
        fine.value.data[0] = .nan                                   // every fine logit becomes NaN
        try file.write(to: url)
    }

    func testPrintsRankedCellsAndExplainsAMissingMap() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("translocator-predict-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let vitMT = directory.appendingPathComponent("vit-mt.safetensors").path
        let dual = directory.appendingPathComponent("translocator.safetensors").path
        try makeModel(segmentation: false, at: URL(fileURLWithPath: vitMT))
        try makeModel(segmentation: true, at: URL(fileURLWithPath: dual))
        let photo = Self.repository.appendingPathComponent("data/kauai.png").path

        // The table: the photo's name, a header, then `top` rows ranked 1... by falling probability.
        let table = try runCommandLineCapturingOutput(["predict", photo, "--model", vitMT, "--top", "3"], in: directory)
        XCTAssertEqual(table.code, ExitCode.success)
        var lines = table.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, photo)
        XCTAssertEqual(lines.dropFirst().first, "rank  probability   latitude   longitude  token")
        let rows = lines.dropFirst(2).map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(rows.map { $0.first }, ["1", "2", "3"])
        let probabilities = rows.compactMap { Double($0[1]) }
        XCTAssertEqual(probabilities.count, 3)
        XCTAssertEqual(probabilities, probabilities.sorted(by: >))
        XCTAssertTrue(rows.allSatisfy { (try? S2CellID(token: $0[4])) != nil }, "\(rows)")
        // `-k2`: the short option with its value attached.
        let short = try runCommandLineCapturingOutput(["predict", photo, "--model", vitMT, "-k2"], in: directory)
        lines = short.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 4, short.stdout)

        // JSON: one document, an entry per photo, `top` predictions each (default 5).
        let json = try runCommandLineCapturingOutput(["predict", photo, photo, "--model", vitMT, "--json", "--hierarchical", "--tencrop"],
                                                     in: directory)
        XCTAssertEqual(json.code, ExitCode.success)
        let documents = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(documents.map { $0["image"] as? String }, [photo, photo])
        let predictions = try XCTUnwrap(documents[0]["predictions"] as? [[String: Any]])
        XCTAssertEqual(predictions.map { $0["rank"] as? Int }, [1, 2, 3, 4, 5])
        XCTAssertTrue(predictions.allSatisfy { $0["probability"] is Double && $0["latitude"] is Double && $0["token"] is String })

        XCTAssertEqual(runCommandLine(["predict", photo, "--model", dual]), ExitCode.failure)        // needs --seg
        XCTAssertEqual(runCommandLine(["predict", photo, "--model", dual, "--seg", photo]), ExitCode.failure)  // not a map
        XCTAssertEqual(runCommandLine(["predict", photo, "--model", photo]), ExitCode.failure)       // not a model file
        XCTAssertEqual(runCommandLine(["predict", "--model", vitMT]), ExitCode.usage)
        XCTAssertEqual(runCommandLine(["predict", photo, photo, "--model", dual, "--seg", photo]), ExitCode.usage)
    }

    func testErrorsNameThePhotoEvenWithAMap() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("translocator-predict-map-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let dual = directory.appendingPathComponent("translocator.safetensors").path
        try makeModel(segmentation: true, at: URL(fileURLWithPath: dual))
        let photo = Self.repository.appendingPathComponent("data/kauai.png").path
        let map = directory.appendingPathComponent("small-seg.png")
        try PNGEncoder.encode(pixels: [UInt8](repeating: 2, count: 100), width: 10, height: 10, colorType: .gray).write(to: map)
        let run = try runCommandLineCapturingOutput(["predict", photo, "--seg", map.path, "--model", dual], in: directory)
        XCTAssertEqual(run.code, ExitCode.failure)
        XCTAssertEqual(run.stderr, "error: \(photo): its segmentation map \(map.path) is 10x10, expected the photo's 512x504\n")
    }

    func testJSONPrintsNullForAProbabilityThatIsNotANumber() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("translocator-predict-nan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = directory.appendingPathComponent("nan.safetensors")
        try makeModel(segmentation: false, at: model, poisonFineHead: true)
        let photo = Self.repository.appendingPathComponent("data/kauai.png").path
        let run = try runCommandLineCapturingOutput(["predict", photo, "--model", model.path, "--json", "--top", "2"], in: directory)
        XCTAssertEqual(run.code, ExitCode.success)
        XCTAssertFalse(run.stdout.contains("nan"), run.stdout)
        let documents = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[String: Any]], run.stdout)
        let predictions = try XCTUnwrap(documents.first?["predictions"] as? [[String: Any]])
        XCTAssertEqual(predictions.count, 2)
        XCTAssertTrue(predictions.allSatisfy { $0["probability"] is NSNull }, "\(predictions)")
    }
}
