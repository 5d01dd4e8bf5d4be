import XCTest
import GeoCells
import TensorEngine
import TransLocator
@testable import Training

/// A source of `count` in-memory images (pixels a function of (epoch, index)) that records its
/// calls, can fail at one call, and signals every call.
private final class RecordingSource: BatchSource, @unchecked Sendable {
    let count: Int
    let headSizes: HeadSizes
    let failAtCall: Int?
    let called = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var requests: [BatchRequest] = []

    init(count: Int, headSizes: HeadSizes, failAtCall: Int? = nil) {
        self.count = count
        self.headSizes = headSizes
        self.failAtCall = failAtCall
    }

    var exampleCount: Int { count }
    var calls: [BatchRequest] { lock.lock(); defer { lock.unlock() }; return requests }

    struct Failure: Error, Equatable { let call: Int }

    func batch(indices: [Int], epoch: Int) throws -> (batch: TrainingBatch?, skipped: [Int]) {
        lock.lock()
        requests.append(BatchRequest(indices: indices, epoch: epoch))
        let call = requests.count - 1
        lock.unlock()
        defer { called.signal() }
        if call == failAtCall { throw Failure(call: call) }
        let rgb = Tensor(zeros: [indices.count, 3, 16, 16]), seg = Tensor(zeros: [indices.count, 3, 16, 16])
        for (row, index) in indices.enumerated() {
            var random = CounterRandom(seed: 1, stream: RandomStream.augmentation.rawValue, epoch: epoch, index: index)
            for i in 0..<768 {
                rgb.data[row * 768 + i] = Float(random.uniform(-1, 1))
                seg.data[row * 768 + i] = Float(random.uniform(-1, 1))
            }
        }
        let labels: [HeadName: [Int]] = [.coarse: indices.map { $0 % headSizes.coarse }, .middle: indices.map { $0 % headSizes.middle },
                                          .fine: indices.map { $0 % headSizes.fine }, .scene: indices.map { $0 % 3 }]
        return (TrainingBatch(rgb: rgb, seg: seg, labels: labels), [])
    }
}

final class PrefetchTests: XCTestCase {
    private func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("prefetch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testRequestSequenceWalksTheLoopsOrderFromAnyPosition() {
        let plan = AccumulationPlan(imageCount: 10, batchSize: 4, microBatchSize: 3)    // steps of 4, 4, 2 images
        var all = BatchRequestSequence(plan: plan, epochs: 2, seed: 9, epoch: 0, stepInEpoch: 0)
        var requests: [BatchRequest] = []
        while let request = all.next() { requests.append(request) }
        XCTAssertEqual(requests.map(\.indices.count), [3, 1, 3, 1, 2, 3, 1, 3, 1, 2])
        XCTAssertEqual(requests[0..<5].flatMap(\.indices), epochOrder(count: 10, seed: 9, epoch: 0))
        XCTAssertEqual(requests[5...].flatMap(\.indices), epochOrder(count: 10, seed: 9, epoch: 1))
        XCTAssertEqual(requests.map(\.epoch), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
        var resumed = BatchRequestSequence(plan: plan, epochs: 2, seed: 9, epoch: 0, stepInEpoch: 2)
        XCTAssertEqual(resumed.next(), requests[4], "step 2 of epoch 0 is the fifth micro-batch")
    }

    func testTheNextStepLoadsWhileThisOneTrains() throws {
        let (model, partitions, config) = try TrainerTests.setUp(optimizer: .adamw)
        let plan = AccumulationPlan(imageCount: 12, batchSize: 4, microBatchSize: 2)            // 2 micro-batches a step
        let schedule = LearningRateSchedule(baseLearningRate: 1e-3, warmupSteps: 0, totalSteps: 3, finalScale: 1)
        let source = RecordingSource(count: 12, headSizes: partitions.headSizes)
        let trainer = Trainer(model: model, config: config, schedule: schedule, progress: TrainingProgress(seed: 2))
        let loop = TrainingLoop(plan: plan, epochs: 1, checkpointURL: try directory().appendingPathComponent("c.safetensors"),
                                partitions: partitions)
        var waitedFor: [Int] = []
        try loop.run(trainer, source: source, onStep: { _ in
            // Blocked here, the loop cannot ask for anything: only the prefetch thread can load
            // the next step's first micro-batch (without prefetch this would time out).
            let step = trainer.progress.step
            guard step < 3 else { return }
            while source.calls.count < 2 * step + 1 {
                guard source.called.wait(timeout: .now() + 20) == .success else {
                    return XCTFail("step \(step + 1)'s batch was not loaded while step \(step) was being handled")
                }
            }
            waitedFor.append(step)
        })
        XCTAssertEqual(waitedFor, [1, 2])
        XCTAssertEqual(source.calls.count, 6, "each micro-batch loaded once")
    }

    func testPrefetchChangesNothingInTheWeights() throws {
        var weights: [[Float]] = []
        for prefetch in [false, true] {
            let (model, partitions, config) = try TrainerTests.setUp(optimizer: .adamw)
            let plan = AccumulationPlan(imageCount: 10, batchSize: 4, microBatchSize: 3)
            let schedule = LearningRateSchedule(baseLearningRate: 3e-3, warmupSteps: 1, totalSteps: 6, finalScale: 0.1)
            let trainer = Trainer(model: model, config: config, schedule: schedule, progress: TrainingProgress(seed: 6))
            var loop = TrainingLoop(plan: plan, epochs: 2, checkpointURL: try directory().appendingPathComponent("c.safetensors"),
                                    partitions: partitions)
            loop.prefetch = prefetch
            try loop.run(trainer, source: RecordingSource(count: 10, headSizes: partitions.headSizes))
            weights.append(model.parameters.flatMap(\.value.scalars))
        }
        XCTAssertEqual(weights[0], weights[1])
    }

    func testASourceErrorStopsTheRunAtItsBatchAndTheThreadEnds() throws {
        let (model, partitions, config) = try TrainerTests.setUp(optimizer: .adamw)
        let plan = AccumulationPlan(imageCount: 12, batchSize: 4, microBatchSize: 2)
        let schedule = LearningRateSchedule(baseLearningRate: 1e-3, warmupSteps: 0, totalSteps: 3, finalScale: 1)
        let source = RecordingSource(count: 12, headSizes: partitions.headSizes, failAtCall: 3)   // step 2's second micro-batch
        let trainer = Trainer(model: model, config: config, schedule: schedule, progress: TrainingProgress(seed: 2))
        let loop = TrainingLoop(plan: plan, epochs: 1, checkpointURL: try directory().appendingPathComponent("c.safetensors"),
                                partitions: partitions)
        XCTAssertThrowsError(try loop.run(trainer, source: source)) { error in
            XCTAssertEqual(error as? RecordingSource.Failure, RecordingSource.Failure(call: 3))
        }
        XCTAssertEqual(trainer.progress.step, 1, "step 2 never ran")
        XCTAssertEqual(source.calls.count, 4, "nothing loaded after the failure")
    }

    func testStopEndsTheThreadWhileItWaitsForRoom() throws {
        let (_, partitions, _) = try TrainerTests.setUp(optimizer: .adamw)
        let plan = AccumulationPlan(imageCount: 40, batchSize: 2, microBatchSize: 2)
        let source = RecordingSource(count: 40, headSizes: partitions.headSizes)
        let prefetcher = BatchPrefetcher(source: source, requests: BatchRequestSequence(plan: plan, epochs: 3, seed: 1, epoch: 0,
                                                                                        stepInEpoch: 0), depth: 2)
        var expected = BatchRequestSequence(plan: plan, epochs: 3, seed: 1, epoch: 0, stepInEpoch: 0)
        let first = try prefetcher.next(expected: expected.next()!)
        XCTAssertEqual(first.batch?.count, 2)
        while source.calls.count < 3 { _ = source.called.wait(timeout: .now() + 20) }   // 2 ready + the one taken
        XCTAssertTrue(prefetcher.isRunning)
        prefetcher.stop()
        XCTAssertFalse(prefetcher.isRunning)
        XCTAssertEqual(source.calls.count, 3, "depth 2: no more than two batches ahead of the consumer")
    }
}
