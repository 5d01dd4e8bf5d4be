import Foundation

/// One micro-batch to load: labelled images `indices` (in this order) of `epoch`.
struct BatchRequest: Equatable, Sendable {
    var indices: [Int]
    var epoch: Int
}

/// The micro-batches a training run will ask for, in order, from a position on: every epoch's
/// `epochOrder`, step by step, micro-batch by micro-batch (`AccumulationPlan`). The loop and the
/// prefetcher each walk one, so the prefetcher knows what comes next without asking.
struct BatchRequestSequence: Sendable {
    let plan: AccumulationPlan
    let epochs: Int
    let seed: UInt64
    private var epoch: Int
    private var stepInEpoch: Int
    private var order: [Int] = []
    private var pending: [BatchRequest] = []

    init(plan: AccumulationPlan, epochs: Int, seed: UInt64, epoch: Int, stepInEpoch: Int) {
        self.plan = plan
        self.epochs = epochs
        self.seed = seed
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
    }

    /// The next micro-batch, or nil after the last epoch.
    mutating func next() -> BatchRequest? {
        while pending.isEmpty {
            if stepInEpoch >= plan.stepsPerEpoch {
                epoch += 1
                stepInEpoch = 0
                order = []
            }
            guard epoch < epochs else { return nil }
            if order.isEmpty { order = epochOrder(count: plan.imageCount, seed: seed, epoch: epoch) }
            pending = plan.microBatches(ofStep: stepInEpoch).reversed().map { micro in
                BatchRequest(indices: micro.positions.map { order[$0] }, epoch: epoch)
            }
            stepInEpoch += 1
        }
        return pending.removeLast()
    }
}

/// Loads a run's micro-batches on a background thread, up to `depth` ahead of the consumer, so
/// decoding and augmenting the next step's images overlaps the model's work on this one.
///
/// Deterministic: the source's output is a function of (indices, epoch) (`BatchSource`), and
/// the prefetcher asks for exactly the requests the consumer will, in its order (`next(expected:)`
/// checks it), so prefetching changes when a batch is made, never what it holds. An error from
/// the source is handed to the consumer at the request that threw, and loading stops there.
/// The owner calls `stop()` when done (the loop does in a `defer`, also when it throws): it
/// cancels what is left and waits for the thread to end, so no thread outlives the run.
final class BatchPrefetcher: @unchecked Sendable {
    typealias Loaded = (batch: TrainingBatch?, skipped: [Int])

    private let condition = NSCondition()
    /// Guarded by `condition`: loaded batches not yet taken, in request order.
    private var ready: [(request: BatchRequest, result: Result<Loaded, Error>)] = []
    private var cancelled = false
    private var producing = true
    private var stopped = false
    private let depth: Int
    private let finished = DispatchSemaphore(value: 0)

    /// Starts loading at once.
    /// - Parameters:
    ///   - source: called from the prefetch thread only (never concurrently with itself).
    ///   - depth: loaded batches held ready at most (one optimizer step's micro-batches: the
    ///     next step loads while this one runs).
    init(source: BatchSource, requests: BatchRequestSequence, depth: Int) {
        precondition(depth >= 1, "prefetch depth \(depth)")
        self.depth = depth
        let box = UncheckedSendable((source, requests))
        let thread = Thread { [self] in
            var (source, requests) = box.value
            self.produce(source: source, requests: &requests)
        }
        thread.name = "translocator.prefetch"
        thread.start()
    }

    private func produce(source: BatchSource, requests: inout BatchRequestSequence) {
        defer {
            condition.lock()
            producing = false
            condition.broadcast()
            condition.unlock()
            finished.signal()
        }
        while let request = requests.next() {
            condition.lock()
            while ready.count >= depth && !cancelled { condition.wait() }
            let stop = cancelled
            condition.unlock()
            if stop { return }
            let result = Result { try source.batch(indices: request.indices, epoch: request.epoch) }
            condition.lock()
            ready.append((request, result))
            condition.broadcast()
            condition.unlock()
            if case .failure = result { return }
        }
    }

    /// The next loaded micro-batch; waits for it if it is not ready yet.
    /// - Parameter expected: the request the consumer is at (a mismatch is our bug).
    /// - Throws: what the source threw for this request.
    func next(expected: BatchRequest) throws -> Loaded {
        condition.lock()
        while ready.isEmpty && producing { condition.wait() }
        guard !ready.isEmpty else {
            condition.unlock()
            preconditionFailure("prefetch: no batch for \(expected) (the loop asked past the last request)")
        }
        let (request, result) = ready.removeFirst()
        condition.broadcast()                                           // room for the next load
        condition.unlock()
        precondition(request == expected, "prefetch loaded \(request), the loop wants \(expected)")
        return try result.get()
    }

    /// Cancels the loads not started and waits for the prefetch thread to end (a load in
    /// progress finishes first). Idempotent.
    func stop() {
        condition.lock()
        let first = !stopped
        stopped = true
        cancelled = true
        condition.broadcast()
        condition.unlock()
        if first { finished.wait() }
    }

    /// Whether the prefetch thread is still loading (false once `stop()` returned).
    var isRunning: Bool {
        condition.lock(); defer { condition.unlock() }
        return producing
    }
}

/// A value handed to the prefetch thread, which alone uses it from then on (each use says so).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
