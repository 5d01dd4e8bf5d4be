import Foundation
import XCTest
import GeoCells
import TensorEngine
@testable import TransLocator

/// The repository's data folder (bundled MP-16 sample and Kauai photo).
let repositoryData = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("data")

/// Partitions of the bundled 20k MP-16 sample with the tiny config's settings (min 10,
/// max 1000/400/200), built once.
let samplePartitions: GeoPartitions = {
    // The bundled file is part of the repository; a failure here is a broken checkout.
    let coordinates = try! CoordinateFile(contentsOf: repositoryData.appendingPathComponent("mp16-sample-20k.csv")).coordinates
    return try! GeoPartitions.build(coordinates, minImages: 10, maxImages: [1000, 400, 200])
}()

func tinyConfig() throws -> ModelConfig {
    try ModelConfig(contentsOf: repositoryData.deletingLastPathComponent().appendingPathComponent("configs/tiny.json"))
}

final class ModelFileTests: XCTestCase {
    func temporaryURL(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("translocator-\(ProcessInfo.processInfo.processIdentifier)-\(name)")
    }

    func testSaveLoadRoundTripsExactly() throws {
        let model = try TransLocatorModel(config: tinyConfig(), headSizes: samplePartitions.headSizes, seed: 11)
        let url = temporaryURL("roundtrip.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try ModelFile(model: model, partitions: samplePartitions, metadata: ["note": "test"]).write(to: url)
        let loaded = try ModelFile(contentsOf: url)
        XCTAssertEqual(loaded.model.config, model.config)
        XCTAssertEqual(loaded.partitions, samplePartitions)                        // tokens, counts, means bit for bit
        XCTAssertEqual(loaded.preprocessing, Preprocessing(resizeShortSide: 73))
        XCTAssertEqual(loaded.metadata["note"], "test")
        XCTAssertEqual(loaded.model.parameters.map(\.name), model.parameters.map(\.name))
        for (a, b) in zip(loaded.model.parameters, model.parameters) {
            XCTAssertEqual(a.value.scalars, b.value.scalars, a.name)
        }
        var generator = SeededGenerator(seed: 3)
        let rgb = Tensor(zeros: [1, 3, 64, 64]), seg = Tensor(zeros: [1, 3, 64, 64])
        rgb.fillNormal(std: 1, using: &generator)
        seg.fillNormal(std: 1, using: &generator)
        let before = try model.forward(rgb: rgb, seg: seg), after = try loaded.model.forward(rgb: rgb, seg: seg)
        XCTAssertEqual(before.logits[.fine]!.scalars, after.logits[.fine]!.scalars)
    }

    func testConfigFilesParseAndBadOnesNameTheField() throws {
        let configs = repositoryData.deletingLastPathComponent().appendingPathComponent("configs")
        let tiny = try ModelConfig(contentsOf: configs.appendingPathComponent("tiny.json"))
        XCTAssertEqual(tiny.vit.tokenCount, 65)
        let b16 = try ModelConfig(contentsOf: configs.appendingPathComponent("translocator-b16.json"))
        XCTAssertEqual(b16.featureDimension, 1536)
        XCTAssertEqual(b16.headHidden.fine, [6000])
        let mt = try ModelConfig(contentsOf: configs.appendingPathComponent("vit-mt-b16.json"))
        XCTAssertFalse(mt.segmentationBranch)
        XCTAssertThrowsError(try ModelConfig(configJSON: Data(#"{"model": {"img_size": 64}}"#.utf8), file: "x.json")) { error in
            XCTAssertTrue("\(error)".hasPrefix("x.json: model."), "\(error)")
        }
        var bad = tiny
        bad.headCount = 5
        XCTAssertThrowsError(try bad.validate(file: "y.json")) { error in
            XCTAssertEqual("\(error)", "y.json: model.num_heads is 5, expected a divisor of embed_dim 96")
        }
    }

    func testFilesThatAreNotModelsAreClearErrors() throws {
        XCTAssertThrowsError(try ModelFile(contentsOf: fixtureURL("import-vit-f32.safetensors"))) { error in
            XCTAssertTrue("\(error)".contains("not a translocator model file"), "\(error)")
            XCTAssertTrue("\(error)".contains("import-vit-f32.safetensors"), "\(error)")
        }
        // Weights that do not fit the config: a model file whose config says depth 3.
        let model = try TransLocatorModel(config: tinyConfig(), headSizes: samplePartitions.headSizes)
        let url = temporaryURL("deeper.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        var deeper = try tinyConfig()
        deeper.depth = 5
        var metadata = ["config": deeper.jsonString, "partitions": ModelFile.encode(samplePartitions)]
        metadata["format"] = ModelFile.format
        try WeightFile.write(model.parameters.map { ($0.name, $0.value) }, metadata: metadata, to: url)
        XCTAssertThrowsError(try ModelFile(contentsOf: url)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("missing (28): rgb.blocks.4.norm1.weight"), text)   // 12 per branch, fusion.4 f and g
            XCTAssertTrue(text.contains("fusion.4.g.bias"), text)
            XCTAssertTrue(text.contains("deeper.safetensors"), text)
        }
    }
}

final class CellRankerTests: XCTestCase {
    func testTopKIsSortedAndCarriesTheCellsMeans() {
        let ranker = CellRanker(partitions: samplePartitions)
        let fine = samplePartitions.fine
        var logits = [Float](repeating: 0, count: fine.count)
        logits[7] = 3
        logits[2] = 2
        let ranked = ranker.rank([.fine: logits], top: 3)
        XCTAssertEqual(ranked.map(\.classLabel), [7, 2, 0])
        XCTAssertEqual(ranked.map(\.rank), [1, 2, 3])
        let total = exp(3.0) + exp(2.0) + Double(fine.count - 2)
        XCTAssertEqual(ranked[0].probability, exp(3.0) / total, accuracy: 1e-12)
        XCTAssertEqual(ranked[0].latitude, fine.cells[7].latitudeMean)
        XCTAssertEqual(ranked[0].token, fine.cells[7].cell.token)
    }

    /// Hierarchical: p_fine(k) · p_middle(parent) · p_coarse(parent); a fine cell whose middle
    /// parent is certain wins over a slightly likelier fine cell whose parent is unlikely.
    func testHierarchicalMultipliesTheParentsProbabilities() {
        let ranker = CellRanker(partitions: samplePartitions)
        let (fine, middle, coarse) = (samplePartitions.fine, samplePartitions.middle, samplePartitions.coarse)
        for k in fine.cells.indices {
            XCTAssertTrue(middle.cells[ranker.middleParent[k]!].cell.contains(fine.cells[k].cell), "fine \(k)")
            XCTAssertTrue(coarse.cells[ranker.coarseParent[k]!].cell.contains(fine.cells[k].cell), "fine \(k)")
        }
        let a = 0, b = fine.cells.indices.first { ranker.middleParent[$0] != ranker.middleParent[a] }!
        var fineLogits = [Float](repeating: -20, count: fine.count)
        fineLogits[a] = 5.1
        fineLogits[b] = 5
        var middleLogits = [Float](repeating: -20, count: middle.count)
        middleLogits[ranker.middleParent[b]!] = 10
        let coarseLogits = [Float](repeating: 0, count: coarse.count)
        let logits: [HeadName: [Float]] = [.fine: fineLogits, .middle: middleLogits, .coarse: coarseLogits]
        XCTAssertEqual(ranker.rank(logits, top: 1)[0].classLabel, a)
        let hierarchical = ranker.rank(logits, top: 1, hierarchical: true)[0]
        XCTAssertEqual(hierarchical.classLabel, b)
        let expected = softmax(fineLogits)[b] * softmax(middleLogits)[ranker.middleParent[b]!] / Double(coarse.count)
        XCTAssertEqual(hierarchical.probability, expected, accuracy: 1e-12)
    }
}
