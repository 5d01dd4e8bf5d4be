import XCTest
@testable import TensorEngine

final class GEMMTests: XCTestCase {
    /// Random values in [-1, 1) from a seeded generator.
    func randomArray(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in Float(rng.nextUnit() * 2 - 1) }
    }

    /// Fast vs reference for one case. Tolerance: Float32 accumulation over K terms of size ≤ 1
    /// against a Double reference: error grows like √K·ε·|terms|; 1e-5·(K + 4) is a loose bound.
    func check(_ shape: GEMMShape, alpha: Float, beta: Float, threads: Int, seed: UInt64,
               file: StaticString = #filePath, line: UInt = #line) {
        let aCount = (shape.transposeA ? shape.k : shape.m) * shape.lda
        let bCount = (shape.transposeB ? shape.n : shape.k) * shape.ldb
        let a = randomArray(max(aCount, 1), seed: seed)
        let b = randomArray(max(bCount, 1), seed: seed + 1)
        let c0 = randomArray(max(shape.m * shape.ldc, 1), seed: seed + 2)
        var fast = c0, reference = c0
        if beta == 0 { for i in fast.indices { fast[i] = .nan } }   // beta = 0 must not read C
        gemm(shape, alpha: alpha, a, b, beta: beta, &fast, threads: threads)
        gemmReference(shape, alpha: alpha, a, b, beta: beta, &reference)
        let tolerance = 1e-5 * Float(shape.k + 4)
        for i in 0..<shape.m {
            for j in 0..<shape.ldc {
                let index = i * shape.ldc + j
                if j >= shape.n {
                    let untouched = beta == 0 ? fast[index].isNaN : fast[index] == c0[index]
                    XCTAssertTrue(untouched, "padding column C[\(i),\(j)] written", file: file, line: line)
                    continue
                }
                if abs(fast[index] - reference[index]) > tolerance {
                    XCTFail("\(shape) alpha \(alpha) beta \(beta) threads \(threads) seed \(seed): "
                            + "C[\(i),\(j)] = \(fast[index]), reference \(reference[index])",
                            file: file, line: line)
                    return
                }
            }
        }
    }

    func testAwkwardShapesAllTransposesMatchReference() {
        let sizes: [(Int, Int, Int)] = [(1, 1, 1), (1, 17, 3), (7, 1, 5), (6, 16, 256), (13, 29, 31),
                                        (97, 385, 257), (5, 33, 600), (101, 47, 1), (2, 3, 0)]
        var seed: UInt64 = 1
        for (m, n, k) in sizes {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    let shape = GEMMShape(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
                    check(shape, alpha: 1, beta: 0, threads: 2, seed: seed)
                    seed += 3
                }
            }
        }
    }

    func testAlphaBetaAndLeadingDimensions() {
        for (alpha, beta) in [(Float(1), Float(1)), (0.5, -2), (-1.5, 0), (0, 0.5)] {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    let m = 19, n = 37, k = gemmOneTileBlocks.kc + 44   // two K blocks: the second adds to the first
                    let shape = GEMMShape(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                                          lda: (transposeA ? m : k) + 3, ldb: (transposeB ? k : n) + 5, ldc: n + 2)
                    check(shape, alpha: alpha, beta: beta, threads: 1, seed: 11)
                }
            }
        }
    }

    func testLargeParallelMatchesReferenceAndThreadCountDoesNotChangeResult() {
        let shape = GEMMShape(m: 203, n: 410, k: 523, transposeA: false, transposeB: true)
        check(shape, alpha: 1, beta: 0, threads: 2, seed: 5)
        let a = randomArray(shape.m * shape.k, seed: 8), b = randomArray(shape.n * shape.k, seed: 9)
        var one = [Float](repeating: 0, count: shape.m * shape.n), two = one
        gemm(shape, a, b, &one, threads: 1)
        gemm(shape, a, b, &two, threads: 2)
        XCTAssertEqual(one, two, "GEMM result depends on thread count")
    }

    func testSeveralRowTilesPackBOnceAndMatchReference() {
        // M > MC: B is packed in a pass of its own and shared by the row tiles; M ≤ MC (above)
        // streams B's panels. Both paths, every transpose, and both thread counts agree.
        var seed: UInt64 = 40
        for (m, n, k) in [(487, 45, 263), (1000, 17, 31)] {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    let shape = GEMMShape(m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
                    XCTAssertFalse(GEMMPlan(shape, threads: 2).streamsB)
                    check(shape, alpha: 1, beta: 0, threads: 2, seed: seed)
                    seed += 1
                }
            }
        }
        XCTAssertTrue(GEMMPlan(GEMMShape(m: 197, n: 2304, k: 768), threads: 2).streamsB)
        // Per-tile A blocks with two K blocks accumulate into C (beta), through padded strides.
        for (transposeA, transposeB) in [(false, false), (true, true)] {
            let k = gemmSharedBBlocks.kc + 44
            let shape = GEMMShape(m: 487, n: 45, k: k, transposeA: transposeA, transposeB: transposeB,
                                  lda: (transposeA ? 487 : k) + 3, ldb: (transposeB ? k : 45) + 5, ldc: 47)
            check(shape, alpha: 0.5, beta: -2, threads: 2, seed: seed)
            seed += 1
        }
    }

    func testSeveralPackingGroupsAndKBlocksMatchReference() {
        // B of several packing groups (N = 300: 19 panels, 3 groups, the last short) and K blocks
        // (K = 2·KC + 132 at M > 240: 3, the last short) through padded panel strides: every
        // transpose on 2 and 3 workers matches the reference, and the result is the same bits
        // as on one.
        var seed: UInt64 = 60
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                let shape = GEMMShape(m: 250, n: 300, k: 2 * gemmSharedBBlocks.kc + 132,
                                      transposeA: transposeA, transposeB: transposeB)
                let plan = GEMMPlan(shape, threads: 2)
                XCTAssertFalse(plan.streamsB)
                XCTAssertEqual(plan.packingGroups, 3)
                XCTAssertEqual(plan.kBlocks, 3)
                check(shape, alpha: 1, beta: 0, threads: 2, seed: seed)
                let a = randomArray(shape.m * shape.k, seed: seed), b = randomArray(shape.k * shape.n, seed: seed + 1)
                var one = [Float](repeating: 0, count: shape.m * shape.n), three = one
                gemm(shape, a, b, &one, threads: 1)
                gemm(shape, a, b, &three, threads: 3)
                XCTAssertEqual(one, three, "\(shape): result depends on thread count")
                seed += 3
            }
        }
    }

    func testTilesSplitEvenlyOverTwoWorkers() {
        // fc2 at batch 8 needs 7 row tiles of at most MC rows: on two workers one idled for 1/8 of the call.
        for (m, n, k) in [(1576, 768, 3072), (1576, 2304, 768), (1576, 3072, 768), (768, 2304, 1576), (197, 2304, 768)] {
            let plan = GEMMPlan(GEMMShape(m: m, n: n, k: k), threads: 2)
            XCTAssertEqual(plan.mTiles * plan.nTiles % 2, 0, "\(m)×\(k)×\(n): \(plan.mTiles) × \(plan.nTiles) tiles")
            XCTAssertGreaterThanOrEqual(plan.mTiles * plan.nTiles, 6)
            // Each column tile packs its rows of A again: ViT-B/16's batch-8 products (1576
            // rows) split over rows only, so A is packed once.
            if m == 1576 { XCTAssertEqual(plan.nTiles, 1, "\(m)×\(k)×\(n): A packed \(plan.nTiles) times") }
        }
    }

    func testCacheLineWalkVisitsEveryLineOfEachRunOnceAndNothingOutside() {
        // Runs of 5, 16, 40 and 256 floats, 4 bytes past a line boundary and 37 floats apart
        // where strided: the walk must give an address inside every cache line each run spans,
        // only inside the runs, split over calls of 3 without repeating or skipping a line.
        for (segments, length, stride) in [(3, 5, 37), (4, 16, 37), (2, 40, 97), (1, 256, 0)] {
            let count = 1 + (segments - 1) * stride + length
            let storage = UnsafeMutablePointer<Float>.allocate(capacity: count)
            defer { storage.deallocate() }
            let start = UnsafePointer(storage + 1)
            var walk = CacheLineWalk(start, segments: segments, length: length, stride: stride)
            var visited: [Int] = []                      // float offsets from `start`
            while true {
                let before = visited.count
                walk.visitNextLines(3) { visited.append(start.distance(to: $0)) }
                if visited.count == before { break }
                XCTAssertLessThanOrEqual(visited.count - before, 3)
            }
            XCTAssertEqual(visited.count, walk.lineCount, "\(segments)×\(length)")
            let inside = Set((0..<segments).flatMap { s in (0..<length).map { s * stride + $0 } })
            for offset in visited {
                XCTAssertTrue(inside.contains(offset), "\(segments)×\(length): offset \(offset) outside the runs")
            }
            let firstByte = Int(bitPattern: start) % 64
            func line(_ offset: Int) -> Int { (firstByte + 4 * offset) / 64 }
            XCTAssertEqual(Set(visited.map(line)), Set(inside.map(line)), "\(segments)×\(length): lines missed")
        }
    }

    func testCacheLineWalkHandsOneRunToTheKernelInConsecutiveSlices() {
        // A packed next panel (one run) is taken in slices that the microkernel prefetches line
        // by line from each slice's start: slices follow on, and together they cover every line
        // of the run, whatever its offset in its first line, and end within a line of its end.
        for (offsetFloats, length) in [(0, 384 * 16), (1, 256), (15, 40), (3, 5)] {
            let storage = UnsafeMutablePointer<Float>.allocate(capacity: offsetFloats + length + 64)
            defer { storage.deallocate() }
            let alignedStart = storage + (16 - Int(bitPattern: storage) / 4 % 16) % 16
            let start = UnsafePointer(alignedStart + offsetFloats)
            var walk = CacheLineWalk(start, segments: 1, length: length, stride: 0)
            var prefetched: [Int] = []                   // float offsets from `start`
            var expectedNext = 0
            while true {
                let slice = walk.takeLines(7)
                if slice.count == 0 { break }
                XCTAssertLessThanOrEqual(slice.count, 7)
                XCTAssertEqual(start.distance(to: slice.start), expectedNext, "length \(length): slices do not follow on")
                prefetched += (0..<slice.count).map { expectedNext + 16 * $0 }
                expectedNext += 16 * slice.count
            }
            XCTAssertEqual(prefetched.count, walk.lineCount)
            func line(_ offset: Int) -> Int { (offsetFloats + offset) >> 4 }
            XCTAssertEqual(Set(prefetched.map(line)).intersection(Set((0..<length).map(line))), Set((0..<length).map(line)),
                           "offset \(offsetFloats), length \(length): a line of the run not prefetched")
            XCTAssertLessThan(prefetched.last! , length + 16, "prefetched past the run's last line")
        }
    }

    func testLargeBuffersStartOnAHugePage() {
        // Operands of 4 MiB and more are 2 MiB-aligned so that madvise can back them with huge pages.
        let large = allocateFloats(1 << 20), small = allocateFloats(1000)
        defer { large.deallocate(); small.deallocate() }
        XCTAssertEqual(Int(bitPattern: large) % (2 << 20), 0)
        XCTAssertEqual(Int(bitPattern: small) % 64, 0)
        let tensor = Tensor(zeros: [1024, 1024])
        XCTAssertEqual(Int(bitPattern: tensor.data) % (2 << 20), 0)
        XCTAssertEqual(tensor.data[1024 * 1024 - 1], 0)
    }

    func testPackedWeightMatchesUnpacked() {
        let m = 45, k = 70, n = 33
        let x = randomArray(m * k, seed: 21), w = randomArray(n * k, seed: 22)
        let packed = PackedMatrix(w, k: k, n: n, transposed: true)
        var viaPacked = [Float](repeating: 0, count: m * n), direct = viaPacked
        let shape = GEMMShape(m: m, n: n, k: k, transposeB: true)
        gemm(shape, x, packed: packed, &viaPacked)
        gemm(shape, x, w, &direct)
        XCTAssertEqual(viaPacked, direct)
    }

    func testBlocksFollowTheRowsAndAPackedWeightIsPackedDeep() {
        // One row tile (M ≤ 240) streams B at KC 384; more rows share B packed once at KC 768.
        // A weight packed ahead cannot know the batch: it is packed 768 deep, and a one-tile
        // product sweeps each panel in 384-deep halves, unless its rows are few.
        XCTAssertEqual(gemmSharedBBlocks.kc % gemmOneTileBlocks.kc, 0, "a deep packed block must split into sweeps")
        let small = GEMMPlan(GEMMShape(m: 197, n: 2304, k: 768), threads: 2)
        XCTAssertEqual(small.kc, gemmOneTileBlocks.kc)
        XCTAssertTrue(small.streamsB)
        let large = GEMMPlan(GEMMShape(m: 1576, n: 2304, k: 768), threads: 2)
        XCTAssertEqual(large.kc, gemmSharedBBlocks.kc)
        XCTAssertEqual(large.kBlocks, 1)
        XCTAssertGreaterThan(large.mTiles, 1)
        let packedBatch = GEMMPlan(GEMMShape(m: 197, n: 2304, k: 768), threads: 2, prepackedB: true)
        XCTAssertEqual([packedBatch.kc, packedBatch.packedKC, packedBatch.kBlocks, packedBatch.packedKBlocks], [384, 768, 2, 1])
        let packedFewRows = GEMMPlan(GEMMShape(m: 8, n: 2304, k: 768), threads: 2, prepackedB: true)
        XCTAssertEqual([packedFewRows.kc, packedFewRows.packedKC], [768, 768])
        // Many rows, one tile's and a few over a packed weight whose K (1200) ends inside a packed
        // block and, for the one tile's 384-deep sweeps, inside a sweep: 768 + 432 packed,
        // 384 × 3 + 48 swept.
        let w = randomArray(70 * 1200, seed: 52)
        let packed = PackedMatrix(w, k: 1200, n: 70, transposed: true)
        for m in [487, 197, 5] { checkPackedWeight(packed, w, rows: m, seed: 51) }
    }

    /// y = x·wᵀ for `rows` random rows of x through `packed` (w packed ahead, stored n×k), on one
    /// and two threads, against the reference with `check`'s tolerance; every element written.
    func checkPackedWeight(_ packed: PackedMatrix, _ w: [Float], rows m: Int, seed: UInt64,
                           file: StaticString = #filePath, line: UInt = #line) {
        let k = packed.k, n = packed.n
        let x = randomArray(m * k, seed: seed)
        let shape = GEMMShape(m: m, n: n, k: k, transposeB: true)
        var reference = [Float](repeating: 0, count: m * n)
        gemmReference(shape, x, w, &reference)
        for threads in [1, 2] {
            var viaPacked = [Float](repeating: .nan, count: m * n)
            gemm(shape, x, packed: packed, &viaPacked, threads: threads)
            // max() skips NaN after the first element: an unwritten element must fail on its own.
            XCTAssertFalse(viaPacked.contains { $0.isNaN }, "m \(m), threads \(threads): C left unwritten", file: file, line: line)
            let worst = zip(viaPacked, reference).map { abs($0 - $1) }.max() ?? .nan
            XCTAssertLessThanOrEqual(worst, 1e-5 * Float(k + 4), "m \(m), threads \(threads)", file: file, line: line)
        }
    }

    func testPackedWeightAtInferenceBatchesMatchesReference() {
        // A few rows over a wide packed weight, K over two blocks (the second 45 deep: not a
        // multiple of the one-row kernel's four steps): the heads at batch 1-8, A packed once
        // for all column tiles, one row through `microkernel1x16`, short sweeps without the
        // next-panel prefetch, each panel swept whole. Both thread counts.
        let k = gemmSharedBBlocks.kc + 45, n = 1000
        let w = randomArray(n * k, seed: 31)
        let packed = PackedMatrix(w, k: k, n: n, transposed: true)
        XCTAssertEqual(GEMMPlan(GEMMShape(m: 8, n: n, k: k, transposeB: true), prepackedB: true).kBlocks, 2)
        for m in [1, 2, 5, 8] { checkPackedWeight(packed, w, rows: m, seed: UInt64(40 + m)) }
    }

    func testStridedBatchedMatchesPerItemReference() {
        let count = 5, m = 7, n = 9, k = 11
        let a = randomArray(count * m * k, seed: 31), b = randomArray(count * n * k, seed: 32)
        var c = [Float](repeating: 0, count: count * m * n), reference = c
        let shape = GEMMShape(m: m, n: n, k: k, transposeB: true)
        gemmStridedBatched(shape, count: count, a, strideA: m * k, b, strideB: n * k, &c, strideC: m * n)
        for i in 0..<count {
            reference.withUnsafeMutableBufferPointer { r in
                gemmReference(shape, Array(a[(i * m * k)...]), Array(b[(i * n * k)...]), r.baseAddress! + i * m * n)
            }
        }
        for i in c.indices { XCTAssertEqual(c[i], reference[i], accuracy: 1e-4, "element \(i)") }
    }
}
