import Dispatch
import Foundation

/// A pointer shared with parallel workers. Sound only while they read it or write disjoint
/// ranges of it; each use says which.
struct SharedPointer<Element>: @unchecked Sendable {
    let base: UnsafeMutablePointer<Element>
}

/// Splits `0..<count` into about two chunks per core and runs `body` on each in parallel.
/// Small inputs run inline (concurrentPerform would keep them on one thread anyway).
func parallelChunks(count: Int, minimumChunk: Int = 1 << 15, _ body: @Sendable (Range<Int>) -> Void) {
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let chunks = max(1, min(2 * cores, count / minimumChunk))
    if chunks == 1 { body(0..<count); return }
    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
        body(chunk * count / chunks ..< (chunk + 1) * count / chunks)
    }
}

/// The leaf cell id of every coordinate, in input order.
/// - Complexity: O(n), parallel over the cores (each worker writes its own slice of the result).
public func leafCellIDs(_ coordinates: Coordinates) -> [UInt64] {
    let count = coordinates.count
    var ids = [UInt64](repeating: 0, count: count)
    let table = S2HilbertTables.shared.position
    coordinates.latitudes.withUnsafeBufferPointer { latitudes in
        coordinates.longitudes.withUnsafeBufferPointer { longitudes in
            table.withUnsafeBufferPointer { table in
                ids.withUnsafeMutableBufferPointer { ids in
                    let output = SharedPointer(base: ids.baseAddress!)
                    // Inputs are only read; each worker writes only output[range].
                    let latitude = SharedPointer(base: UnsafeMutablePointer(mutating: latitudes.baseAddress!))
                    let longitude = SharedPointer(base: UnsafeMutablePointer(mutating: longitudes.baseAddress!))
                    let positionTable = SharedPointer(base: UnsafeMutablePointer(mutating: table.baseAddress!))
                    parallelChunks(count: count) { range in
                        let lat = latitude.base, lon = longitude.base, lookup = UnsafePointer(positionTable.base)
                        for k in range {
                            let point = S2Point(latitudeRadians: S2.radians(fromDegrees: lat[k]),
                                                longitudeRadians: S2.radians(fromDegrees: lon[k]))
                            let (face, u, v) = S2.faceUV(point)
                            output.base[k] = S2CellID.leafID(face: face, i: S2.stToIJ(S2.uvToST(u)),
                                                             j: S2.stToIJ(S2.uvToST(v)), positionTable: lookup)
                        }
                    }
                }
            }
        }
    }
    return ids
}

/// Sorts `keys` ascending and applies the same permutation to `payload` (a stable LSD radix
/// sort, 11 bits a pass; passes where every key has the same digit are skipped).
/// - Complexity: O(n) time, O(n) extra memory.
func radixSort(keys: inout [UInt64], payload: inout [UInt32]) {
    precondition(keys.count == payload.count, "\(keys.count) keys, \(payload.count) payload values")
    let count = keys.count
    guard count > 1 else { return }
    let digitBits = 11, buckets = 1 << 11, passes = 6
    // All six histograms in one read pass.
    var histograms = [Int](repeating: 0, count: passes * buckets)
    keys.withUnsafeBufferPointer { keys in
        histograms.withUnsafeMutableBufferPointer { histogram in
            for key in keys {
                for pass in 0..<passes {
                    histogram[pass &* buckets &+ Int(truncatingIfNeeded: (key >> UInt64(pass * digitBits)) & UInt64(buckets - 1))] &+= 1
                }
            }
        }
    }
    var keyScratch = [UInt64](repeating: 0, count: count)
    var payloadScratch = [UInt32](repeating: 0, count: count)
    for pass in 0..<passes {
        let histogram = histograms[pass * buckets ..< (pass + 1) * buckets]
        if histogram.contains(count) { continue }              // one digit value: order unchanged
        var offsets = [Int](repeating: 0, count: buckets)
        var total = 0
        for (bucket, bucketCount) in histogram.enumerated() { offsets[bucket] = total; total += bucketCount }
        let shift = UInt64(pass * digitBits)
        keys.withUnsafeBufferPointer { sourceKeys in
            payload.withUnsafeBufferPointer { sourcePayload in
                keyScratch.withUnsafeMutableBufferPointer { targetKeys in
                    payloadScratch.withUnsafeMutableBufferPointer { targetPayload in
                        offsets.withUnsafeMutableBufferPointer { offsets in
                            for k in 0..<count {
                                let key = sourceKeys[k]
                                let bucket = Int(truncatingIfNeeded: (key >> shift) & UInt64(buckets - 1))
                                let target = offsets[bucket]
                                offsets[bucket] = target &+ 1
                                targetKeys[target] = key
                                targetPayload[target] = sourcePayload[k]
                            }
                        }
                    }
                }
            }
        }
        swap(&keys, &keyScratch)
        swap(&payload, &payloadScratch)
    }
}

/// Leaf cells of a set of coordinates in ascending id order, with the input index of each:
/// what every resolution of a partition is cut from (the parents of sorted ids are sorted).
public struct SortedLeafCells: Sendable {
    /// Leaf ids, ascending (ties keep input order).
    public let ids: [UInt64]
    /// `order[k]`: the input index of `ids[k]`.
    public let order: [UInt32]

    /// - Complexity: O(n) (leaf ids in parallel, then a radix sort).
    public init(_ coordinates: Coordinates) {
        self.init(leafIDs: leafCellIDs(coordinates))
    }

    public init(leafIDs: [UInt64]) {
        precondition(leafIDs.count < Int(UInt32.max), "\(leafIDs.count) points: more than 2^32 - 1")
        var ids = leafIDs
        var order = (0..<UInt32(leafIDs.count)).map { $0 }
        radixSort(keys: &ids, payload: &order)
        self.ids = ids
        self.order = order
    }

    public var count: Int { ids.count }
}
