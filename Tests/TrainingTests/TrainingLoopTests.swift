import XCTest
@testable import GeoCells
import TensorEngine
import TransLocator
@testable import Training

/// Ten labelled "images" whose pixels are a function of (index, epoch) — as augmentation draws
/// keyed by (seed, epoch, index) are — and one (index 7) that never loads.
private struct MemorySource: BatchSource {
    let headSizes: HeadSizes
    var exampleCount: Int { 10 }

    func batch(indices: [Int], epoch: Int) throws -> (batch: TrainingBatch?, skipped: [Int]) {
        let kept = indices.filter { $0 != 7 }
        guard !kept.isEmpty else { return (nil, indices) }
        let rgb = Tensor(zeros: [kept.count, 3, 16, 16]), seg = Tensor(zeros: [kept.count, 3, 16, 16])
        for (row, index) in kept.enumerated() {
            var random = CounterRandom(seed: 1, stream: RandomStream.augmentation.rawValue, epoch: epoch, index: index)
            for i in 0..<(3 * 16 * 16) {
                rgb.data[row * 768 + i] = Float(random.uniform(-1, 1))
                seg.data[row * 768 + i] = Float(random.uniform(-1, 1))
            }
        }
        let labels: [HeadName: [Int]] = [.coarse: kept.map { $0 % headSizes.coarse }, .middle: kept.map { $0 % headSizes.middle },
                                          .fine: kept.map { $0 % headSizes.fine }, .scene: kept.map { $0 % 3 }]
        return (TrainingBatch(rgb: rgb, seg: seg, labels: labels), indices.filter { $0 == 7 })
    }
}

final class TrainingLoopTests: XCTestCase {
    func testStoppingAndResumingGivesTheUninterruptedWeights() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (straightModel, partitions, config) = try TrainerTests.setUp(optimizer: .adamw)
        let plan = AccumulationPlan(imageCount: 10, batchSize: 4, microBatchSize: 2)            // 3 steps an epoch
        let schedule = LearningRateSchedule(baseLearningRate: 3e-3, warmupSteps: 2, totalSteps: 6, finalScale: 0.01)
        let source = MemorySource(headSizes: partitions.headSizes)

        let straight = Trainer(model: straightModel, config: config, schedule: schedule, progress: TrainingProgress(seed: 4))
        var summaries: [TrainingLoop.EpochSummary] = []
        let loop = TrainingLoop(plan: plan, epochs: 2, checkpointURL: directory.appendingPathComponent("straight.safetensors"),
                                partitions: partitions, checkpointEverySteps: 2)
        XCTAssertTrue(try loop.run(straight, source: source, onEpoch: { summaries.append($0) }))
        XCTAssertEqual(straight.progress.step, 6)
        XCTAssertEqual(summaries.map(\.skipped), [1, 1], "index 7 skipped once an epoch")
        XCTAssertEqual(summaries.map(\.steps), [3, 3])

        let (firstModel, _, _) = try TrainerTests.setUp(optimizer: .adamw)
        let url = directory.appendingPathComponent("run.safetensors")
        var stopping = loop
        stopping.checkpointURL = url
        stopping.maxSteps = 4                                                                      // mid-epoch 1
        let interrupted = Trainer(model: firstModel, config: config, schedule: schedule, progress: TrainingProgress(seed: 4))
        XCTAssertFalse(try stopping.run(interrupted, source: source))
        XCTAssertEqual([interrupted.progress.step, interrupted.progress.epoch, interrupted.progress.stepInEpoch], [4, 1, 1])

        let (resumed, _, rejected) = try Trainer.resume(from: url, config: config, schedule: schedule)
        XCTAssertTrue(rejected.isEmpty)
        var continuing = loop
        continuing.checkpointURL = url
        XCTAssertTrue(try continuing.run(resumed, source: source))
        XCTAssertEqual(resumed.progress.step, 6)
        for (p, q) in zip(straight.model.parameters, resumed.model.parameters) {
            XCTAssertEqual(p.value.scalars, q.value.scalars, "\(p.name) differs after stop at step 4 and resume")
        }
    }
}

final class LabelledManifestTests: XCTestCase {
    func testLabelsFollowPartitionsAndHierarchy() throws {
        let (_, partitions, _) = try TrainerTests.setUp(optimizer: .adamw)
        let hierarchy = try SceneHierarchy(reading: CSVReader(text: SceneHierarchyTests.hierarchy, file: "h.csv"))
        let entries = [
            ManifestEntry(imagePath: "a.jpg", latitude: 48.85, longitude: 2.35, scene: 0, line: 2),
            ManifestEntry(imagePath: "b.jpg", latitude: -60, longitude: -100, scene: 1, line: 3),       // in no cell
            ManifestEntry(imagePath: "c.jpg", latitude: -33.87, longitude: 151.2, scene: 4, line: 4),
        ]
        let manifest = Manifest(entries: entries, directory: URL(fileURLWithPath: "/d"), file: "m.csv")
        let labelled = try LabelledManifest(manifest: manifest, partitions: partitions, hierarchy: hierarchy, sceneClasses: 16)
        XCTAssertEqual(labelled.entryIndices, [0, 2])
        XCTAssertEqual(labelled.outsideCount, 1)
        XCTAssertEqual(labelled.scene, [10, 0])
        let labels = labelled.labels(of: [1, 0])
        XCTAssertEqual(labels[.scene], [0, 10])
        XCTAssertEqual(labels[.fine], [Int(labelled.fine[1]), Int(labelled.fine[0])])
        XCTAssertEqual(partitions.fine.classLabel(latitude: -33.87, longitude: 151.2), Int(labelled.fine[1]))
        let three = try LabelledManifest(manifest: manifest, partitions: partitions, hierarchy: hierarchy, sceneClasses: 3)
        XCTAssertEqual(three.scene, [2, 0])
        XCTAssertTrue(try LabelledManifest(manifest: manifest, partitions: partitions, hierarchy: nil, sceneClasses: 0).scene.isEmpty)

        var unlabelled = manifest
        unlabelled.entries[2].scene = nil
        XCTAssertThrowsError(try LabelledManifest(manifest: unlabelled, partitions: partitions, hierarchy: hierarchy,
                                                  sceneClasses: 16)) { error in
            XCTAssertEqual(error as? LabelError, .missingScene(file: "m.csv", line: 4, sceneClasses: 16))
        }
        XCTAssertThrowsError(try LabelledManifest(manifest: manifest, partitions: partitions, hierarchy: nil, sceneClasses: 16)) { error in
            XCTAssertEqual(error as? LabelError, .needsHierarchy(sceneClasses: 16))
        }
    }
}
