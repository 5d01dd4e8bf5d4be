import XCTest
import GeoCells
import ImageCodec
import TensorEngine
@testable import TransLocator
@testable import Training

final class ValidationTests: XCTestCase {
    func testValidationLossIsEachHeadsCrossEntropyOnTheEvaluatedLogits() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("validation-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let (labelled, partitions, model) = try DataPipelineTests.labelledDataSet(at: root)
        let manifest = labelled.manifest
        let hierarchy = try SceneHierarchy(contentsOf: root.appendingPathComponent("scene_hierarchy.csv"))
        var config = TrainingConfig()
        config.middleLossWeight = 0.25
        config.fineLossWeight = 0.15
        config.sceneLossWeight = 0.5
        let preprocessing = Preprocessing(resizeShortSide: 18)
        let validator = EpochValidator(manifest: manifest, partitions: partitions, preprocessing: preprocessing, hierarchy: hierarchy,
                                       sceneClasses: 16, config: config)
        let result = try validator.validate(model)
        let loss = try XCTUnwrap(result.loss)
        XCTAssertEqual(loss.images, manifest.count, "every image lies in a cell and has a scene")
        XCTAssertEqual(result.evaluation.images.count, manifest.count)

        // By hand: the same centre crops through the model, torch-style cross-entropy per head.
        let rgb = Tensor(zeros: [manifest.count, 3, 16, 16]), seg = Tensor(zeros: [manifest.count, 3, 16, 16])
        for (k, entry) in manifest.entries.enumerated() {
            let photo = try Image(contentsOf: manifest.imageURL(of: entry))
            let map = try SegmentationMap(pngData: Data(contentsOf: try XCTUnwrap(manifest.segmentationURL(of: entry))))
            let resized = photo.resized(shortSide: 18)
            resized.centerCropped(width: 16, height: 16).writeNormalizedCHW(into: rgb.data + k * 768)
            map.resized(width: resized.width, height: resized.height).centerCropped(width: 16, height: 16).renderedADE20K()
                .writeNormalizedCHW(into: seg.data + k * 768)
        }
        let outputs = try model.forward(rgb: rgb, seg: seg)
        let labels = labelled.labels(of: Array(0..<manifest.count))
        let weights: [HeadName: Double] = [.coarse: 0.6, .middle: 0.25, .fine: 0.15, .scene: 0.5]
        var total = 0.0
        for head in HeadName.allCases {
            let expected = Double(crossEntropy(logits: try XCTUnwrap(outputs.logits[head]), labels: try XCTUnwrap(labels[head])).loss)
            XCTAssertEqual(try XCTUnwrap(loss.perHead[head]), expected, accuracy: 1e-4 * expected, "\(head)")
            total += weights[head]! * expected
        }
        XCTAssertEqual(loss.total, total, accuracy: 1e-4 * total, "eq. 8 with the config's weights")
        XCTAssertTrue(loss.json.hasPrefix("{\"total\": \(loss.total), \"coarse\": "), loss.json)

        let score = EpochValidator.score(result.evaluation)
        XCTAssertEqual(score, result.evaluation.table.percentWithin.reduce(0, +) / 5, "the mean of the five accuracies")
    }

    func testKeepIfBestWritesOnlyImprovementsAndRecordsTheScore() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("best-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (model, partitions, config) = try TrainerTests.setUp(optimizer: .adamw)
        let schedule = LearningRateSchedule(baseLearningRate: 1e-3, warmupSteps: 0, totalSteps: 10, finalScale: 1)
        let trainer = Trainer(model: model, config: config, schedule: schedule, progress: TrainingProgress(seed: 1))
        let url = directory.appendingPathComponent("best.safetensors")
        XCTAssertTrue(try trainer.keepIfBest(score: 10, at: url, partitions: partitions, preprocessing: nil))
        let first = try ModelFile(contentsOf: url).model.parameters.flatMap(\.value.scalars)
        XCTAssertEqual(first, model.parameters.flatMap(\.value.scalars))
        try trainer.step([(TrainerTests.batch(3, offset: 0, headSizes: partitions.headSizes), 1)])
        XCTAssertFalse(try trainer.keepIfBest(score: 9.5, at: url, partitions: partitions, preprocessing: nil))
        XCTAssertEqual(try ModelFile(contentsOf: url).model.parameters.flatMap(\.value.scalars), first, "a worse score keeps the file")
        XCTAssertEqual(trainer.progress.bestValidationScore, 10)
        XCTAssertTrue(try trainer.keepIfBest(score: 12, at: url, partitions: partitions, preprocessing: nil))
        XCTAssertNotEqual(try ModelFile(contentsOf: url).model.parameters.flatMap(\.value.scalars), first)
        XCTAssertEqual(trainer.progress.bestValidationScore, 12)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["best.safetensors"], "no staging file left")
    }
}
