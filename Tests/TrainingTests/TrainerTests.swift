import XCTest
import GeoCells
import TensorEngine
import TransLocator
@testable import Training

final class TrainerTests: XCTestCase {
    /// A very small TransLocator (both branches, MFF, modality attention, scene head) and
    /// partitions with a few cells, so a step takes milliseconds.
    static func setUp(optimizer: TrainingConfig.Optimizer) throws -> (model: TransLocatorModel, partitions: GeoPartitions,
                                                                       config: TrainingConfig) {
        var random = CounterRandom(seed: 21, stream: 99, epoch: 0, index: 0)
        var coordinates = Coordinates()
        for (latitude, longitude) in [(48.85, 2.35), (-33.87, 151.2), (40.7, -74.0)] {
            for _ in 0..<60 { coordinates.append(latitude: latitude + random.uniform(-3, 3), longitude: longitude + random.uniform(-3, 3)) }
        }
        let partitions = try GeoPartitions.build(coordinates, minImages: 5, maxImages: [100, 40, 20])
        let modelConfig = ModelConfig(imageSize: 16, patchSize: 8, embedDimension: 16, depth: 1, headCount: 2,
                                      headHidden: ModelConfig.HeadHidden(middle: [8]), sceneClasses: 3)
        let model = try TransLocatorModel(config: modelConfig, headSizes: partitions.headSizes, seed: 5)
        var config = TrainingConfig()
        config.optimizer = optimizer
        config.learningRate = optimizer == .adamw ? 3e-3 : 0.1
        config.weightDecay = 1e-4
        config.epochs = 1
        config.warmupEpochs = 0
        if optimizer == .sgd { config.groupScales = ParameterGroupScales(weights: 0.2, biases: 0.0048) }
        return (model, partitions, config)
    }

    /// A fixed micro-batch of `count` random images with labels spread over the classes.
    static func batch(_ count: Int, offset: Int, headSizes: HeadSizes) -> TrainingBatch {
        var generator = SeededGenerator(seed: UInt64(100 + offset))
        let rgb = Tensor(zeros: [count, 3, 16, 16]), seg = Tensor(zeros: [count, 3, 16, 16])
        rgb.fillNormal(std: 1, using: &generator)
        seg.fillNormal(std: 1, using: &generator)
        let labels: [HeadName: [Int]] = [
            .coarse: (0..<count).map { ($0 + offset) % headSizes.coarse },
            .middle: (0..<count).map { ($0 + offset) % headSizes.middle },
            .fine: (0..<count).map { ($0 + offset) % headSizes.fine },
            .scene: (0..<count).map { ($0 + offset) % 3 },
        ]
        return TrainingBatch(rgb: rgb, seg: seg, labels: labels)
    }

    func testLossFallsOnAFixedBatch() throws {
        for kind in [TrainingConfig.Optimizer.adamw, .sgd] {
            let (model, partitions, config) = try Self.setUp(optimizer: kind)
            let schedule = LearningRateSchedule(baseLearningRate: config.learningRate, warmupSteps: 0, totalSteps: 1000, finalScale: 1)
            let trainer = Trainer(model: model, config: config, schedule: schedule, progress: TrainingProgress(seed: 1))
            let batch = Self.batch(6, offset: 0, headSizes: partitions.headSizes)
            let first = try trainer.step([(batch, 1)])
            var last = first
            for _ in 0..<30 { last = try trainer.step([(batch, 1)]) }
            XCTAssertLessThan(last.loss, 0.7 * first.loss, "\(kind): loss \(first.loss) -> \(last.loss), seed 5")
            XCTAssertEqual(trainer.progress.step, 31)
            XCTAssertEqual(trainer.optimizer.stepCount, 31)
        }
    }

    func testMicroBatchesWeightedByShareGiveTheBigBatchStep() throws {
        // One step on 6 images equals one step on micro-batches of 4 and 2 weighted 4/6 and 2/6
        // (up to float rounding in the summation order).
        let (modelA, partitions, config) = try Self.setUp(optimizer: .adamw)
        let (modelB, _, _) = try Self.setUp(optimizer: .adamw)
        let schedule = LearningRateSchedule(baseLearningRate: 1e-3, warmupSteps: 0, totalSteps: 10, finalScale: 1)
        let whole = Self.batch(6, offset: 0, headSizes: partitions.headSizes)
        let a = Trainer(model: modelA, config: config, schedule: schedule, progress: TrainingProgress(seed: 1))
        let resultA = try a.step([(whole, 1)])
        let first = TrainingBatch(rgb: whole.rgb.slice(rows: 0..<4).copy(), seg: whole.seg!.slice(rows: 0..<4).copy(),
                                  labels: whole.labels.mapValues { Array($0[0..<4]) })
        let second = TrainingBatch(rgb: whole.rgb.slice(rows: 4..<6).copy(), seg: whole.seg!.slice(rows: 4..<6).copy(),
                                   labels: whole.labels.mapValues { Array($0[4..<6]) })
        let b = Trainer(model: modelB, config: config, schedule: schedule, progress: TrainingProgress(seed: 1))
        let resultB = try b.step([(first, 4.0 / 6), (second, 2.0 / 6)])
        XCTAssertEqual(resultA.loss, resultB.loss, accuracy: 1e-5 * resultA.loss)
        for (p, q) in zip(modelA.parameters, modelB.parameters) {
            for i in 0..<p.gradient.count {
                XCTAssertEqual(p.gradient[i], q.gradient[i], accuracy: 1e-5 + 1e-4 * abs(p.gradient[i]), "\(p.name)[\(i)]")
            }
        }
    }

    func testResumeFromACheckpointIsBitExact() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("trainer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for kind in [TrainingConfig.Optimizer.adamw, .sgd] {
            let schedule = LearningRateSchedule(baseLearningRate: kind == .adamw ? 3e-3 : 0.1, warmupSteps: 2, totalSteps: 6,
                                                finalScale: 0.01)
            let (straightModel, partitions, config) = try Self.setUp(optimizer: kind)
            let batches = (0..<4).map { Self.batch(3, offset: $0, headSizes: partitions.headSizes) }
            let straight = Trainer(model: straightModel, config: config, schedule: schedule, progress: TrainingProgress(seed: 3))
            for batch in batches { try straight.step([(batch, 1)]) }

            let (firstModel, _, _) = try Self.setUp(optimizer: kind)
            let interrupted = Trainer(model: firstModel, config: config, schedule: schedule, progress: TrainingProgress(seed: 3))
            for batch in batches[0..<2] { try interrupted.step([(batch, 1)]) }
            interrupted.setPosition(epoch: 0, stepInEpoch: 2, skippedInEpoch: 0)
            let url = directory.appendingPathComponent("\(kind).safetensors")
            try interrupted.saveCheckpoint(to: url, partitions: partitions)

            let (resumed, modelFile, rejected) = try Trainer.resume(from: url, config: config, schedule: schedule)
            XCTAssertTrue(rejected.isEmpty)
            XCTAssertEqual(modelFile.partitions, partitions)
            XCTAssertEqual(resumed.progress, interrupted.progress)
            XCTAssertEqual(resumed.optimizer.stepCount, 2)
            for batch in batches[2..<4] { try resumed.step([(batch, 1)]) }
            for (p, q) in zip(straight.model.parameters, resumed.model.parameters) {
                XCTAssertEqual(p.name, q.name)
                XCTAssertEqual(p.value.scalars, q.value.scalars, "\(kind): \(p.name) differs after resume")
            }
        }
    }
}
