import Foundation

/// Memory for tensor elements: `count` Float32 values, 64-byte aligned (one cache line, and the
/// alignment of the widest SIMD load), zero-initialised, freed when the last reference goes.
/// Shared between a tensor and its views; element access goes through `Tensor`.
final class TensorStorage: @unchecked Sendable {
    /// Sound to share across threads only while workers read it or write disjoint ranges.
    let base: UnsafeMutablePointer<Float>
    let count: Int

    init(count: Int) {
        precondition(count >= 0, "TensorStorage: negative element count \(count)")
        Engine.countAllocation()
        TensorMemory.allocated(max(count, 1) * MemoryLayout<Float>.stride)
        self.count = count
        base = allocateFloats(max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
    }

    deinit {
        UnsafeMutableRawPointer(base).deallocate()
        TensorMemory.freed(max(count, 1) * MemoryLayout<Float>.stride)
    }
}

/// Uninitialised memory for `count` floats, 64-byte aligned (one cache line, the widest SIMD
/// load). Blocks of 4 MiB and more are 2 MiB-aligned and asked for transparent huge pages
/// (Linux `madvise`, as numpy does for its arrays): a GEMM walks hundreds of rows a few KiB
/// apart, each its own 4 KiB page, and the TLB misses showed as 3-15% on ViT-B's products at
/// batch 8 (interleaved rounds, 2 threads). Only whole 2 MiB pages are marked, so the resident
/// size stays the bytes asked for. Free with `deallocate()`.
func allocateFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
    let bytes = count * MemoryLayout<Float>.stride
    let hugePage = 2 << 20
    guard bytes >= 2 * hugePage else {
        return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64).bindMemory(to: Float.self, capacity: count)
    }
    let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: hugePage)
    #if os(Linux)
    _ = madvise(raw, bytes / hugePage * hugePage, MADV_HUGEPAGE)   // advice only: without THP it does nothing
    #endif
    return raw.bindMemory(to: Float.self, capacity: count)
}

/// Bytes held by tensor storages (values, gradients, activations, packed weights; not the
/// GEMM scratch pool): how the tests check what a model holds, and how `bench forward`
/// separates the model's memory from the process's.
package enum TensorMemory {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var live = 0
    nonisolated(unsafe) private static var peak = 0

    /// Bytes of tensor storage alive now.
    package static var liveBytes: Int { lock.lock(); defer { lock.unlock() }; return live }

    /// The most `liveBytes` has been since the start or the last `resetPeak()`.
    package static var peakBytes: Int { lock.lock(); defer { lock.unlock() }; return peak }

    /// Starts a new peak from what is alive now.
    package static func resetPeak() { lock.lock(); peak = live; lock.unlock() }

    static func allocated(_ bytes: Int) {
        lock.lock(); live += bytes; peak = max(peak, live); lock.unlock()
    }

    static func freed(_ bytes: Int) { lock.lock(); live -= bytes; lock.unlock() }
}

/// A dense row-major Float32 tensor: a shape over contiguous, 64-byte-aligned storage.
///
/// `Tensor` has reference semantics for its elements, like a PyTorch tensor: copies of the value
/// and views made by `reshaped(to:)` or `slice(rows:)` share storage, so writing through one is
/// seen by all. Activations and workspaces are made once per shape and written in place by the
/// kernels (a training step allocates nothing after the first). `copy()` makes an independent one.
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    let storage: TensorStorage
    /// Element offset of this view in `storage`.
    let offset: Int
    /// The dimensions, outermost first (e.g. [B, 3, H, W] for a batch of images).
    public let shape: [Int]

    /// A zero-filled tensor of `shape`.
    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor: negative dimension in \(shape)")
        self.shape = shape
        self.offset = 0
        self.storage = TensorStorage(count: shape.reduce(1, *))
    }

    /// A tensor of `shape` holding `values` (row-major).
    public init(shape: [Int], values: [Float]) {
        self.init(zeros: shape)
        precondition(values.count == count, "Tensor: \(values.count) values for shape \(shape) (\(count) elements)")
        let destination = data
        values.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: $0.count) }
    }

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float) {
        self.init(zeros: shape)
        data.update(repeating: value, count: count)
    }

    init(storage: TensorStorage, offset: Int, shape: [Int]) {
        precondition(offset >= 0 && offset + shape.reduce(1, *) <= storage.count,
                     "Tensor view of \(shape) at offset \(offset) runs past storage of \(storage.count)")
        self.storage = storage
        self.offset = offset
        self.shape = shape
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
    /// Number of dimensions.
    public var rank: Int { shape.count }

    /// Pointer to the first element. Kernels take this once, outside their loops.
    package var data: UnsafeMutablePointer<Float> { storage.base + offset }

    /// The elements, row-major (a copy).
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// The element at flat row-major `index` (0..<count); writing goes to the shared storage.
    public subscript(_ index: Int) -> Float {
        get { precondition(index >= 0 && index < count, "Tensor index \(index) out of \(count)"); return data[index] }
        nonmutating set { precondition(index >= 0 && index < count, "Tensor index \(index) out of \(count)"); data[index] = newValue }
    }

    /// A view of the same elements with another shape of equal count; one dimension may be -1.
    public func reshaped(to newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let unknown = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != unknown }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "reshaped: cannot infer -1 in \(newShape) from \(shape)")
            resolved[unknown] = count / known
        }
        precondition(resolved.reduce(1, *) == count, "reshaped: \(shape) (\(count) elements) to \(newShape)")
        return Tensor(storage: storage, offset: offset, shape: resolved)
    }

    /// A view of rows `range` of the leading dimension.
    public func slice(rows range: Range<Int>) -> Tensor {
        precondition(rank >= 1 && range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "slice: rows \(range) of \(shape)")
        let rowCount = shape.dropFirst().reduce(1, *)
        return Tensor(storage: storage, offset: offset + range.lowerBound * rowCount,
                      shape: [range.count] + shape.dropFirst())
    }

    /// An independent copy.
    public func copy() -> Tensor {
        let result = Tensor(zeros: shape)
        result.data.update(from: data, count: count)
        return result
    }

    /// Sets every element to `value` (zeroing gradients: `fill(0)`).
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    /// Copies `source`'s elements (same count) into this tensor.
    public func assign(_ source: Tensor) {
        precondition(source.count == count, "assign: \(source.shape) into \(shape)")
        data.update(from: source.data, count: count)
    }

    /// The shape and the first eight elements, e.g. `Tensor[2, 3][0.1, ...]`.
    public var description: String {
        let preview = scalars.prefix(8).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor\(shape)[\(preview)\(count > 8 ? ", ..." : "")]"
    }
}
