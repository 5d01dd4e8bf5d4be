import Dispatch
import Foundation
import Parallel

// Sorting 4.7M leaf ids with their input indices is most of `bench partition` after the leaf
// cells themselves. The fast path splits on the top 11 bits (face + level-4 cell) in parallel,
// then sorts each bucket on the remaining bits in parallel; `radixSort` is the plain reference.

/// A key and the input index it came from; sorted by key, ties by index (= stable).
struct KeyedIndex {
    var key: UInt64
    var index: UInt32
}

/// `keys` sorted ascending, and for each sorted position the input index it came from
/// (ties keep input order).
/// - Complexity: O(n) time and extra memory, parallel over the cores.
func parallelRadixSort(_ keys: [UInt64]) -> (keys: [UInt64], order: [UInt32]) {
    let count = keys.count
    guard count > 0 else { return ([], []) }
    let topShift: UInt64 = 53, topBuckets = 1 << 11
    let chunks = max(1, min(4 * Parallelism.threadCount, count / (1 << 16)))
    // 1. Per-chunk histograms of the top 11 bits, then each (bucket, chunk)'s first slot: chunk
    //    order within a bucket keeps the scatter stable.
    var counts = [Int](repeating: 0, count: chunks * topBuckets)
    var bucketStarts = [Int](repeating: 0, count: topBuckets + 1)
    var sorted = [KeyedIndex](repeating: KeyedIndex(key: 0, index: 0), count: count)
    var scratch = sorted
    keys.withUnsafeBufferPointer { keyBuffer in
        let source = SharedPointer(base: UnsafeMutablePointer(mutating: keyBuffer.baseAddress!))
        counts.withUnsafeMutableBufferPointer { countBuffer in
            let histogram = SharedPointer(base: countBuffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in      // writes only its own histogram row
                let row = histogram.base + chunk * topBuckets
                for k in chunk * count / chunks ..< (chunk + 1) * count / chunks {
                    row[Int(truncatingIfNeeded: source.base[k] >> topShift)] &+= 1
                }
            }
            var total = 0
            for bucket in 0..<topBuckets {
                bucketStarts[bucket] = total
                for chunk in 0..<chunks {
                    let slot = chunk * topBuckets + bucket
                    let bucketCount = countBuffer[slot]
                    countBuffer[slot] = total
                    total += bucketCount
                }
            }
            bucketStarts[topBuckets] = total
            sorted.withUnsafeMutableBufferPointer { target in
                let output = SharedPointer(base: target.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: chunks) { chunk in  // slots of (bucket, chunk) are disjoint
                    let next = histogram.base + chunk * topBuckets
                    for k in chunk * count / chunks ..< (chunk + 1) * count / chunks {
                        let key = source.base[k]
                        let bucket = Int(truncatingIfNeeded: key >> topShift)
                        output.base[next[bucket]] = KeyedIndex(key: key, index: UInt32(truncatingIfNeeded: k))
                        next[bucket] &+= 1
                    }
                }
            }
        }
    }
    // 2. Each top bucket on its low 53 bits, buckets in parallel (each writes only its range).
    func size(_ bucket: Int) -> Int { bucketStarts[bucket + 1] - bucketStarts[bucket] }
    let bucketsBySize = (0..<topBuckets).filter { size($0) > 0 }.sorted { size($0) > size($1) }
    sorted.withUnsafeMutableBufferPointer { data in
        scratch.withUnsafeMutableBufferPointer { spare in
            let dataPointer = SharedPointer(base: data.baseAddress!)
            let sparePointer = SharedPointer(base: spare.baseAddress!)
            let starts = bucketStarts, order = bucketsBySize
            DispatchQueue.concurrentPerform(iterations: order.count) { n in       // largest buckets first
                let bucket = order[n]
                let range = starts[bucket] ..< starts[bucket + 1]
                sortLowBits(dataPointer.base + range.lowerBound, sparePointer.base + range.lowerBound, count: range.count)
            }
        }
    }
    scratch = []
    // 3. Split into the two arrays the partitioner reads.
    var sortedKeys = [UInt64](repeating: 0, count: count)
    var order = [UInt32](repeating: 0, count: count)
    sorted.withUnsafeBufferPointer { data in
        let input = SharedPointer(base: UnsafeMutablePointer(mutating: data.baseAddress!))
        sortedKeys.withUnsafeMutableBufferPointer { keysOut in
            order.withUnsafeMutableBufferPointer { orderOut in
                let keyTarget = SharedPointer(base: keysOut.baseAddress!)
                let orderTarget = SharedPointer(base: orderOut.baseAddress!)
                parallelChunks(count, minimumChunk: coordinateChunk) { range in                           // writes only [range]
                    for k in range {
                        keyTarget.base[k] = input.base[k].key
                        orderTarget.base[k] = input.base[k].index
                    }
                }
            }
        }
    }
    return (sortedKeys, order)
}

/// Sorts `count` elements at `data` by the low 53 bits of their keys (the top bits are equal),
/// stably; `spare` is scratch of the same size. Small runs use insertion sort.
private func sortLowBits(_ data: UnsafeMutablePointer<KeyedIndex>, _ spare: UnsafeMutablePointer<KeyedIndex>, count: Int) {
    if count < 64 {
        for k in 1..<max(count, 1) {                                 // insertion sort: stable
            let element = data[k]
            var j = k
            while j > 0 && data[j - 1].key > element.key { data[j] = data[j - 1]; j -= 1 }
            data[j] = element
        }
        return
    }
    let digitBits = count < 4096 ? 8 : 11
    let buckets = 1 << digitBits
    let passes = (53 + digitBits - 1) / digitBits
    // Heap, not withUnsafeTemporaryAllocation: up to 80 KB, too much for a Dispatch worker's stack.
    let histogram = UnsafeMutableBufferPointer<Int>.allocate(capacity: passes * buckets)
    defer { histogram.deallocate() }
    histogram.initialize(repeating: 0)
    do {
        let mask = UInt64(buckets - 1)
        for k in 0..<count {
            let key = data[k].key
            for pass in 0..<passes {
                histogram[pass &* buckets &+ Int(truncatingIfNeeded: (key >> UInt64(pass &* digitBits)) & mask)] &+= 1
            }
        }
        var source = data, target = spare
        for pass in 0..<passes {
            let row = histogram.baseAddress! + pass * buckets
            var single = false
            var total = 0
            for bucket in 0..<buckets {
                let bucketCount = row[bucket]
                if bucketCount == count { single = true; break }
                row[bucket] = total
                total += bucketCount
            }
            if single { continue }                                  // one digit value: order unchanged
            let shift = UInt64(pass * digitBits)
            for k in 0..<count {
                let element = source[k]
                let bucket = Int(truncatingIfNeeded: (element.key >> shift) & mask)
                target[row[bucket]] = element
                row[bucket] &+= 1
            }
            swap(&source, &target)
        }
        if source != data { data.update(from: source, count: count) }
    }
}

// MARK: - Reference

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

