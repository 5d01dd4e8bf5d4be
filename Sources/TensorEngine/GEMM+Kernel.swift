import Foundation
import Parallel

// MARK: - Blocking

/// Register tile (MR×NR) and cache blocks. The 6×16 tile keeps 12 SIMD8 accumulators, two B
/// vectors and one broadcast A value in the 16 ymm registers (measured here: 93-96 GFLOP/s
/// per core, ~95% of the FMA peak, with the kernel's panels in L1).
let gemmMR = 6, gemmNR = 16

/// Cache blocks: a KC-deep B panel (KC×NR) sweeps an MC×KC block of A (in L2, 512 KiB per core
/// here) one MR-row panel per microkernel call. Output tiles are MC×NC, handed to workers
/// dynamically.
struct GEMMBlocks {
    let kc: Int, mc: Int
}

/// B packed once, swept by several row tiles (M > `gemmOneTileBlocks.mc`: training's and
/// batched inference's products). Deep: at K = 768 each element of C is loaded and stored once
/// instead of twice, and a call sweeps half as often; the 48 KiB B panel no longer fits L1 but
/// is read 22 times per sweep from L2, with the next one prefetched into L1 by the kernel. A
/// block of A, 132 rows (of 1576) by 768, is 396 KiB. Measured on ViT-B's batch-8 products at
/// two threads, alternated call by call against KC 384 / MC 240: +1-2.3% best of 30 (to 192
/// GFLOP/s, 94% of peak, at 1576×768×2304). Against it, best of 30: MC 96 or 168 at KC 768 lose
/// 0.6-2.2%, KC 384 or 512 at MC 144 0.1-1.8%, KC 1024 (at MC 96, to fit L2) 0.9-2.4%.
let gemmSharedBBlocks = GEMMBlocks(kc: 768, mc: 144)

/// One row tile (M ≤ 240): B streamed panel by panel, or a weight packed ahead. A packed whole
/// is swept by every panel, so it must stay in L2: 240 × 384 floats is 360 KiB. A weight packed
/// ahead (`PackedMatrix`) cannot know the batch, so it is packed `gemmSharedBBlocks.kc` deep
/// and a one-tile product sweeps each of its panels in two halves (a few rows: whole).
let gemmOneTileBlocks = GEMMBlocks(kc: 384, mc: 240)

/// NC is wide (a B block of KC×NC is 6-12 MiB, in L3) because every column tile packs its rows
/// of A again: the 1576-row products run as row tiles only.
let gemmNC = 4096

/// Panels of B packed as one task: a row of B is read 8·NR floats (512 bytes) at a time.
let gemmPanelsPerGroup = 8

struct GEMMPlan {
    let kc: Int                 // K block depth of the sweeps: `GEMMBlocks.kc`
    let packedKC: Int           // K block depth of packed B: kc, or a weight packed ahead's (a multiple of kc)
    let mc: Int, nc: Int        // this call's tile: MC balanced over M, NC narrower only to give every worker tiles
    let paddedN: Int            // N rounded up to NR
    let paddedM: Int            // M rounded up to MR
    let kDepth: Int             // K
    let kBlocks: Int            // sweeps' K blocks
    let packedKBlocks: Int      // packed B's
    let mTiles: Int, nTiles: Int
    let packedBBlockCount: Int  // one packed K block of op(B): paddedN/NR panels
    let packedBCount: Int       // all of op(B)
    let packedABlockCount: Int  // one K block of all of op(A): paddedM/MR panels
    let packedACount: Int       // all of op(A), packed once per call (one row tile)
    let aBlockCount: Int        // one tile's rows of A for one K block (a worker's, B packed)

    /// `prepackedB`: B is (or is being packed into) a `PackedMatrix`, packed
    /// `gemmSharedBBlocks.kc` deep whatever M.
    init(_ shape: GEMMShape, threads: Int = 1, prepackedB: Bool = false) {
        func roundUp(_ x: Int, _ multiple: Int) -> Int { (x + multiple - 1) / multiple * multiple }
        let blocks = shape.m <= gemmOneTileBlocks.mc ? gemmOneTileBlocks : gemmSharedBBlocks
        packedKC = prepackedB ? gemmSharedBBlocks.kc : blocks.kc
        // A few rows over a packed weight (inference at batch 1-8's heads) stream the weight from
        // memory: sweeping each panel whole keeps that stream sequential, and their A, ≤ 85 rows
        // × 768, stays in L2. In 384-deep halves the sweep jumps half a panel ahead at every
        // panel: 7-11% slower at 1 and 8 rows × 6000 × 12893 and 1 × 768 × 2304, 3% at 32 rows
        // (two threads, alternated call by call, best of 40).
        kc = prepackedB && shape.m * packedKC * MemoryLayout<Float>.stride <= 256 << 10 ? packedKC : blocks.kc
        paddedN = roundUp(shape.n, gemmNR)
        paddedM = roundUp(shape.m, gemmMR)
        kDepth = shape.k
        kBlocks = max(1, (shape.k + kc - 1) / kc)
        packedKBlocks = max(1, (shape.k + packedKC - 1) / packedKC)
        // Equal row tiles (1576 rows at MC 144: 12 × 132, not 10 × 144 + 136), each a multiple
        // of MR, and with several workers a multiple of them where the rows allow: evening the
        // workers out over rows costs nothing, over columns a repack of A (7 row tiles on 2
        // workers ran at 7/8 of two cores: fc2, 1576×3072×768).
        var rowTiles = max(1, (shape.m + blocks.mc - 1) / blocks.mc)
        if threads > 1 && rowTiles > 1 {
            rowTiles = min(roundUp(rowTiles, threads), max(1, shape.m / gemmMR))
        }
        mc = max(gemmMR, roundUp((shape.m + rowTiles - 1) / rowTiles, gemmMR))
        mTiles = max(1, (shape.m + mc - 1) / mc)
        // At least three tiles per worker, so that one slowed by another process evens out, and
        // a multiple of the workers where the columns allow, so that on a quiet machine none
        // idles at the end.
        var columnTiles = max((shape.n + gemmNC - 1) / gemmNC, (3 * threads + mTiles - 1) / mTiles)
        func tileWidth(_ tiles: Int) -> Int { max(gemmNR, roundUp((shape.n + tiles - 1) / tiles, gemmNR)) }
        func tileCount(_ width: Int) -> Int { max(1, (shape.n + width - 1) / width) }
        let panels = paddedN / gemmNR
        while threads > 1, (mTiles * tileCount(tileWidth(columnTiles))) % threads != 0, columnTiles < panels {
            columnTiles += 1
        }
        nc = tileWidth(columnTiles)
        nTiles = tileCount(nc)
        // Blocks start KC deep apart; the last holds only its own depth (a small K packs small).
        let lastDepth = max(shape.k, 1) - (kBlocks - 1) * kc
        let lastPackedDepth = max(shape.k, 1) - (packedKBlocks - 1) * packedKC
        packedBBlockCount = paddedN / gemmNR * packedBPanelStride(packedKC)
        packedBCount = (packedKBlocks - 1) * packedBBlockCount + paddedN / gemmNR * packedBPanelStride(lastPackedDepth)
        packedABlockCount = paddedM / gemmMR * packedAPanelStride(kc)
        packedACount = (kBlocks - 1) * packedABlockCount + paddedM / gemmMR * packedAPanelStride(lastDepth)
        aBlockCount = mc / gemmMR * packedAPanelStride(kc)
    }

    /// One row tile: every B panel is used by one tile only, so packing B in a pass of its own
    /// (a write and a re-read of K×N floats through L3) is waste; the tile packs each panel into
    /// L1 just before its sweep instead (`gemmStreamingB`). 197×768×2304: the separate pass
    /// was ~20% of the call.
    var streamsB: Bool { mTiles == 1 }

    /// Where the sweeps' block `kb` of packed B's panel at column j0 starts: inside packed block
    /// (kb·kc) / packedKC, that block's panel, kb·kc mod packedKC rows down.
    @inline(__always)
    func packedBPanel(_ packed: UnsafeMutablePointer<Float>, kb: Int, j0: Int) -> UnsafeMutablePointer<Float> {
        let p0 = kb * kc, block = p0 / packedKC, rowsDown = p0 - block * packedKC
        return packed + block * packedBBlockCount + (j0 / gemmNR) * packedBPanelStride(packedDepth(block)) + rowsDown * gemmNR
    }

    /// Rows of packed K block `block`: packedKC but for the last.
    @inline(__always)
    func packedDepth(_ block: Int) -> Int { min(packedKC, kDepth - block * packedKC) }

    /// Groups of `gemmPanelsPerGroup` panels per K block of packed B.
    var packingGroups: Int { (paddedN / gemmNR + gemmPanelsPerGroup - 1) / gemmPanelsPerGroup }

    /// Floats of scratch a call needs beside its output: streaming B, A packed whole and one
    /// KC×NR panel per worker; else B packed whole and one MC×KC block of A per worker.
    func scratchCount(workers: Int) -> Int {
        streamsB ? packedACount + workers * kc * gemmNR : packedBCount + workers * aBlockCount
    }
}

// MARK: - Packing

/// Floats from one packed A panel to the next: kcLen columns of MR, then one cache line of
/// padding. Unpadded, full panels lie 6·KC floats apart (a multiple of 1.5 KiB: 9 KiB at KC 384,
/// 18 KiB at 768), which maps the panels of a block to 2 or 4 of L1's 64 sets: packing Aᵀ
/// writes a few floats into every panel of the block per source row, and those 22-40 lines
/// fought over 16 or 32 slots. With the line, consecutive panels step an odd number of sets
/// (1576×768 Aᵀ, all tiles' packs at KC 256, one core: 0.69 → 0.39 ms).
@inline(__always)
func packedAPanelStride(_ kcLen: Int) -> Int { kcLen * gemmMR + 16 }

/// Floats from one packed B panel to the next: kcLen rows of NR, then one cache line of padding.
/// Unpadded, full panels are a multiple of 4 KiB apart, all starting in one L1 set, and `packB`
/// writes a row of eight of them at a time (1576×768×2304 at KC 256, one core: 0.48 → 0.38 ms).
@inline(__always)
func packedBPanelStride(_ kcLen: Int) -> Int { kcLen * gemmNR + 16 }

/// Packs op(B) (K×N) into packedKC-row blocks of NR-column panels: block kb, panel jp starts at
/// kb·packedBBlockCount + jp·packedBPanelStride(depth) and holds the block's depth in rows of NR
/// floats, zero beyond column N. In parallel over groups of panels (`packBGroup`).
func packB(_ shape: GEMMShape, _ b: UnsafePointer<Float>, into packed: UnsafeMutablePointer<Float>,
           plan: GEMMPlan, threads: Int) {
    let groups = plan.packingGroups
    let source = SharedPointer(b), destination = SharedPointer(packed)
    let workers = shape.k * shape.n < 1 << 16 ? 1 : threads
    parallelFor(tasks: plan.packedKBlocks * groups, threads: workers) { _, task in     // each task writes its own panels
        packBGroup(shape, UnsafePointer(source.base), into: destination.base, plan: plan, kb: task / groups, group: task % groups)
    }
}

/// Packs group `group` of packed K block `kb`: up to `gemmPanelsPerGroup` neighbouring panels.
/// B stored K×N is read a row of all of them at a time (512 contiguous bytes) rather than a
/// panel's 64-byte column strip down all kcLen rows.
func packBGroup(_ shape: GEMMShape, _ b: UnsafePointer<Float>, into packed: UnsafeMutablePointer<Float>,
                plan: GEMMPlan, kb: Int, group: Int) {
    let panels = plan.paddedN / gemmNR, first = group * gemmPanelsPerGroup
    let count = min(gemmPanelsPerGroup, panels - first)
    let p0 = kb * plan.packedKC, kcLen = plan.packedDepth(kb)
    let panelStride = packedBPanelStride(kcLen)
    let out = packed + kb * plan.packedBBlockCount + first * panelStride
    let fullPanels = shape.transposeB ? 0 : min(count, (shape.n - first * gemmNR) / gemmNR)
    if fullPanels > 0 {
        for p in 0..<kcLen {
            let row = UnsafeRawPointer(b + (p0 + p) * shape.ldb + first * gemmNR)
            let o = UnsafeMutableRawPointer(out + p * gemmNR)
            for panel in 0..<fullPanels {
                let from = row + panel * gemmNR * 4, to = o + panel * panelStride * 4
                to.storeBytes(of: from.loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                to.storeBytes(of: from.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self),
                              toByteOffset: 32, as: SIMD8<Float>.self)
            }
        }
    }
    for panel in fullPanels..<count {
        packBPanel(shape, b, p0: p0, kcLen: kcLen, j0: (first + panel) * gemmNR, into: out + panel * panelStride)
    }
}

/// Packs rows p0..<p0+kcLen, columns j0..<j0+NR of op(B) into one panel: kcLen rows of NR
/// floats, zero beyond column N.
@inline(__always)
func packBPanel(_ shape: GEMMShape, _ b: UnsafePointer<Float>, p0: Int, kcLen: Int, j0: Int,
                into out: UnsafeMutablePointer<Float>) {
    let columns = min(gemmNR, shape.n - j0)
    if !shape.transposeB {
        if columns == gemmNR {
            for p in 0..<kcLen {
                let row = UnsafeRawPointer(b + (p0 + p) * shape.ldb + j0)
                let o = UnsafeMutableRawPointer(out + p * gemmNR)
                o.storeBytes(of: row.loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                o.storeBytes(of: row.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self),
                             toByteOffset: 32, as: SIMD8<Float>.self)
            }
        } else {
            for p in 0..<kcLen {
                let row = b + (p0 + p) * shape.ldb + j0
                for j in 0..<gemmNR { out[p * gemmNR + j] = j < columns ? row[j] : 0 }
            }
        }
    } else {
        // Bᵀ stored N×K: the panel's NR columns are NR storage rows, contiguous in p. Full
        // panels go 8×8 blocks at a time through registers (twice as fast as element by element,
        // which stored each float to its own line: 3.4 → 1.7 ms for 768×2304 on one core).
        var p = 0
        if columns == gemmNR {
            let rowBytes = shape.ldb * 4
            while p + 8 <= kcLen {
                for half in 0..<2 {
                    let source = UnsafeRawPointer(b + (j0 + half * 8) * shape.ldb + p0 + p)
                    var block = Block8x8(rows: source, rowBytes: rowBytes)
                    block.transpose()
                    block.store(UnsafeMutableRawPointer(out + p * gemmNR + half * 8), rowBytes: gemmNR * 4)
                }
                p += 8
            }
        }
        for j in 0..<gemmNR {
            if j < columns {
                let column = b + (j0 + j) * shape.ldb + p0          // contiguous in p
                for q in p..<kcLen { out[q &* gemmNR &+ j] = column[q] }
            } else {
                for q in p..<kcLen { out[q &* gemmNR &+ j] = 0 }
            }
        }
    }
}

/// Eight SIMD8 rows in registers, transposed in three rounds of two-vector shuffles (the
/// classic unpack / 64-bit shuffle / 128-bit lane swap). Used by the packers where they read
/// across rows: Bᵀ's panels and A's row panels.
struct Block8x8 {
    var r0, r1, r2, r3, r4, r5, r6, r7: SIMD8<Float>

    /// Rows from `rows`, `rowBytes` apart; with `count` < 8 the missing rows are zero.
    @inline(__always)
    init(rows: UnsafeRawPointer, rowBytes: Int, count: Int = 8) {
        @inline(__always) func row(_ i: Int) -> SIMD8<Float> {
            i < count ? (rows + i &* rowBytes).loadUnaligned(as: SIMD8<Float>.self) : SIMD8()
        }
        r0 = row(0); r1 = row(1); r2 = row(2); r3 = row(3); r4 = row(4); r5 = row(5); r6 = row(6); r7 = row(7)
    }

    @inline(__always)
    mutating func transpose() {
        @inline(__always) func low(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
            SIMD8(a[0], b[0], a[1], b[1], a[4], b[4], a[5], b[5])
        }
        @inline(__always) func high(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
            SIMD8(a[2], b[2], a[3], b[3], a[6], b[6], a[7], b[7])
        }
        @inline(__always) func lowPairs(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
            SIMD8(a[0], a[1], b[0], b[1], a[4], a[5], b[4], b[5])
        }
        @inline(__always) func highPairs(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
            SIMD8(a[2], a[3], b[2], b[3], a[6], a[7], b[6], b[7])
        }
        let t0 = low(r0, r1), t1 = high(r0, r1), t2 = low(r2, r3), t3 = high(r2, r3)
        let t4 = low(r4, r5), t5 = high(r4, r5), t6 = low(r6, r7), t7 = high(r6, r7)
        let u0 = lowPairs(t0, t2), u1 = highPairs(t0, t2), u2 = lowPairs(t1, t3), u3 = highPairs(t1, t3)
        let u4 = lowPairs(t4, t6), u5 = highPairs(t4, t6), u6 = lowPairs(t5, t7), u7 = highPairs(t5, t7)
        r0 = SIMD8(lowHalf: u0.lowHalf, highHalf: u4.lowHalf); r4 = SIMD8(lowHalf: u0.highHalf, highHalf: u4.highHalf)
        r1 = SIMD8(lowHalf: u1.lowHalf, highHalf: u5.lowHalf); r5 = SIMD8(lowHalf: u1.highHalf, highHalf: u5.highHalf)
        r2 = SIMD8(lowHalf: u2.lowHalf, highHalf: u6.lowHalf); r6 = SIMD8(lowHalf: u2.highHalf, highHalf: u6.highHalf)
        r3 = SIMD8(lowHalf: u3.lowHalf, highHalf: u7.lowHalf); r7 = SIMD8(lowHalf: u3.highHalf, highHalf: u7.highHalf)
    }

    /// Stores the eight rows `rowBytes` apart.
    @inline(__always)
    func store(_ out: UnsafeMutableRawPointer, rowBytes: Int) {
        out.storeBytes(of: r0, as: SIMD8<Float>.self); (out + rowBytes).storeBytes(of: r1, as: SIMD8<Float>.self)
        (out + 2 * rowBytes).storeBytes(of: r2, as: SIMD8<Float>.self); (out + 3 * rowBytes).storeBytes(of: r3, as: SIMD8<Float>.self)
        (out + 4 * rowBytes).storeBytes(of: r4, as: SIMD8<Float>.self); (out + 5 * rowBytes).storeBytes(of: r5, as: SIMD8<Float>.self)
        (out + 6 * rowBytes).storeBytes(of: r6, as: SIMD8<Float>.self); (out + 7 * rowBytes).storeBytes(of: r7, as: SIMD8<Float>.self)
    }
}

/// Packs rows i0..<i0+rows, columns p0..<p0+kcLen of op(A) into MR-row panels: panel ip holds
/// kcLen columns of MR floats, zero beyond row `rows`.
@inline(__always)
func packA(_ shape: GEMMShape, _ a: UnsafePointer<Float>, i0: Int, rows: Int, p0: Int, kcLen: Int,
           into packed: UnsafeMutablePointer<Float>) {
    let panels = (rows + gemmMR - 1) / gemmMR
    if !shape.transposeA {
        for ip in 0..<panels {
            let out = packed + ip * packedAPanelStride(kcLen)
            let r0 = ip * gemmMR, panelRows = min(gemmMR, rows - r0)
            // A full panel 8 columns at a time: six rows (and two zero rows) transposed in
            // registers; column q's six values are stored as a SIMD8 whose last two lanes the
            // next column's store overwrites, except the eighth, stored as 4 + 2.
            var p = 0
            if panelRows == gemmMR {
                let rows = UnsafeRawPointer(a + (i0 + r0) * shape.lda + p0)
                while p + 8 <= kcLen {
                    var block = Block8x8(rows: rows + p * 4, rowBytes: shape.lda * 4, count: gemmMR)
                    block.transpose()
                    let o = UnsafeMutableRawPointer(out + p * gemmMR)
                    let columnBytes = gemmMR * 4
                    o.storeBytes(of: block.r0, as: SIMD8<Float>.self)
                    (o + columnBytes).storeBytes(of: block.r1, as: SIMD8<Float>.self)
                    (o + 2 * columnBytes).storeBytes(of: block.r2, as: SIMD8<Float>.self)
                    (o + 3 * columnBytes).storeBytes(of: block.r3, as: SIMD8<Float>.self)
                    (o + 4 * columnBytes).storeBytes(of: block.r4, as: SIMD8<Float>.self)
                    (o + 5 * columnBytes).storeBytes(of: block.r5, as: SIMD8<Float>.self)
                    (o + 6 * columnBytes).storeBytes(of: block.r6, as: SIMD8<Float>.self)
                    (o + 7 * columnBytes).storeBytes(of: block.r7.lowHalf, as: SIMD4<Float>.self)
                    (o + 7 * columnBytes + 16).storeBytes(of: block.r7[4], as: Float.self)
                    (o + 7 * columnBytes + 20).storeBytes(of: block.r7[5], as: Float.self)
                    p += 8
                }
            }
            for r in 0..<gemmMR {
                if r < panelRows {
                    let row = a + (i0 + r0 + r) * shape.lda + p0            // contiguous in p
                    for q in p..<kcLen { out[q &* gemmMR &+ r] = row[q] }
                } else {
                    for q in p..<kcLen { out[q &* gemmMR &+ r] = 0 }
                }
            }
        }
        return
    }
    // Aᵀ stored K×M: row p of storage holds column p of op(A). One pass over the rows, each
    // spread across all panels: every row (often its own 4 KiB page, lda·4 bytes apart) is
    // touched once per block instead of once per panel, which thrashed the TLB.
    // A panel's six values are copied as one SIMD8 whose last two lanes land in the next
    // column's slot, which the next row of storage overwrites: every column but the block's
    // last, and only where the load's two extra lanes stay inside row i of op(A)'s M columns.
    let fullPanels = rows / gemmMR
    let wideLoads = shape.m - i0 < 8 ? 0 : min(fullPanels, (shape.m - i0 - 8) / gemmMR + 1)
    for p in 0..<kcLen {
        let source = a + (p0 + p) &* shape.lda + i0
        var dst = packed + p &* gemmMR
        let panelStride = packedAPanelStride(kcLen)
        let wide = p + 1 < kcLen ? wideLoads : 0
        for ip in 0..<wide {
            let value = UnsafeRawPointer(source + ip &* gemmMR).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(dst).storeBytes(of: value, as: SIMD8<Float>.self)
            dst += panelStride
        }
        for ip in wide..<fullPanels {
            let src = source + ip &* gemmMR
            dst[0] = src[0]; dst[1] = src[1]; dst[2] = src[2]
            dst[3] = src[3]; dst[4] = src[4]; dst[5] = src[5]
            dst += panelStride
        }
        let remaining = rows - fullPanels * gemmMR
        if remaining > 0 {
            let src = source + fullPanels * gemmMR
            for r in 0..<gemmMR { dst[r] = r < remaining ? src[r] : 0 }
        }
    }
}

// MARK: - Driver

/// Packs all of op(A) (M×K) into KC-column blocks of MR-row panels, in parallel over
/// (block, MC rows): block kb, panel ip starts at kb·packedABlockCount +
/// ip·packedAPanelStride(kcLen). For a streamed B: its one row tile (M ≤ MC) is swept by every
/// column tile, so A is packed once up front rather than once per column tile.
func packAllA(_ shape: GEMMShape, _ a: UnsafePointer<Float>, into packed: UnsafeMutablePointer<Float>,
              plan: GEMMPlan, threads: Int) {
    let tasks = plan.kBlocks * plan.mTiles
    let source = SharedPointer(a), destination = SharedPointer(packed)
    let workers = shape.m * shape.k < 1 << 16 ? 1 : threads
    parallelFor(tasks: tasks, threads: workers) { _, task in     // each task writes its own panels
        let kb = task / plan.mTiles, mt = task % plan.mTiles
        let p0 = kb * plan.kc, kcLen = min(plan.kc, shape.k - p0)
        let i0 = mt * plan.mc, rows = min(plan.mc, shape.m - i0)
        packA(shape, UnsafePointer(source.base), i0: i0, rows: rows, p0: p0, kcLen: kcLen,
              into: destination.base + kb * plan.packedABlockCount + (i0 / gemmMR) * packedAPanelStride(kcLen))
    }
}

/// The blocked loops over a packed B: output tiles (MC×NC) in parallel; in each, for every KC
/// block, the tile's rows of A are packed into the worker's block (MC×KC, stays in L2), then B's
/// panels (outer; in L1 at KC 384, read from L2 at 768) sweep over A's panels (inner, from L2).
/// A packed per tile right before its sweeps, not all of it once per call (as `packAllA`): the
/// packed block never goes to memory and back. fc2 (1576×3072×768) packed 19 MB of A that way in 1.5-2.7 ms on two
/// threads, 5-9% of the call. `aBlocks`: `threads` × `plan.aBlockCount` floats of scratch (a
/// plan with several row tiles; with one, `plan.packedACount`), or nil to borrow from the pool.
func gemmPackedB(_ shape: GEMMShape, plan: GEMMPlan, alpha: Float, _ a: UnsafePointer<Float>,
                 _ packedB: UnsafeMutablePointer<Float>, beta: Float, _ c: UnsafeMutablePointer<Float>,
                 threads: Int, aBlocks givenBlocks: UnsafeMutablePointer<Float>? = nil) {
    let tasks = plan.mTiles * plan.nTiles
    let workers = max(1, min(threads, tasks))
    // One row tile (a prepacked weight at inference batches): every column tile sweeps the
    // same rows, so A is packed once, whole, instead of once per tile (1×1536×3298: the
    // per-tile packs of a single row were ~20% of the call).
    let shareA = plan.mTiles == 1
    let run = { (aBlocks: UnsafeMutablePointer<Float>) in
        if shareA { packAllA(shape, a, into: aBlocks, plan: plan, threads: threads) }
        let source = SharedPointer(a)
        let blocks = SharedPointer(aBlocks), bShared = SharedPointer(packedB), cShared = SharedPointer(c)
        parallelFor(tasks: tasks, threads: workers) { worker, task in   // task writes its own C tile; worker its A block
            func panel(_ kb: Int, _ kcLen: Int, _ j0: Int) -> UnsafeMutablePointer<Float> {
                plan.packedBPanel(bShared.base, kb: kb, j0: j0)
            }
            let aBlock = blocks.base + worker * plan.aBlockCount
            gemmTile(shape, plan: plan, tile: task, alpha: alpha, beta: beta, cShared.base,
                     aBlock: { kb, kcLen, i0, rows in
                         if shareA { return blocks.base + kb * plan.packedABlockCount }
                         packA(shape, UnsafePointer(source.base), i0: i0, rows: rows, p0: kb * plan.kc, kcLen: kcLen, into: aBlock)
                         return aBlock
                     },
                     bPanel: panel) { kb, kcLen, j0 in
                CacheLineWalk(UnsafePointer(panel(kb, kcLen, j0)), segments: 1, length: kcLen * gemmNR, stride: 0)
            }
        }
    }
    if let givenBlocks { run(givenBlocks) }
    else { ScratchPool.withBuffer(shareA ? plan.packedACount : workers * plan.aBlockCount, run) }
}

/// The blocked loops for a plan that `streamsB`: packs A, then computes the column tiles in
/// parallel, each packing every B panel into its worker's KC×NR slot of `scratch` (after the
/// `plan.packedACount` floats of packed A) right before the panel sweeps over A.
func gemmStreamingB(_ shape: GEMMShape, plan: GEMMPlan, alpha: Float, _ a: UnsafePointer<Float>,
                    _ b: UnsafePointer<Float>, beta: Float, _ c: UnsafeMutablePointer<Float>,
                    threads: Int, scratch: UnsafeMutablePointer<Float>) {
    let tasks = plan.mTiles * plan.nTiles
    let workers = max(1, min(threads, tasks))
    packAllA(shape, a, into: scratch, plan: plan, threads: threads)
    let aShared = SharedPointer(scratch), bShared = SharedPointer(b), cShared = SharedPointer(c)
    let panelSlots = SharedPointer(scratch + plan.packedACount)
    parallelFor(tasks: tasks, threads: workers) { worker, task in  // task writes its own C tile; worker its slot
        let panel = panelSlots.base + worker * plan.kc * gemmNR
        gemmTile(shape, plan: plan, tile: task, alpha: alpha, beta: beta, cShared.base,
                 aBlock: { kb, kcLen, i0, _ in
                     aShared.base + kb * plan.packedABlockCount + (i0 / gemmMR) * packedAPanelStride(kcLen)
                 },
                 bPanel: { kb, kcLen, j0 in
                     packBPanel(shape, UnsafePointer(bShared.base), p0: kb * plan.kc, kcLen: kcLen, j0: j0, into: panel)
                     return panel
                 }) { kb, kcLen, j0 in
            // The next panel's source: kcLen rows of up to NR floats (B), or up to NR rows of kcLen (Bᵀ).
            let columns = min(gemmNR, shape.n - j0)
            let start = UnsafePointer(bShared.base) + (shape.transposeB ? j0 * shape.ldb + kb * plan.kc : kb * plan.kc * shape.ldb + j0)
            return shape.transposeB ? CacheLineWalk(start, segments: columns, length: kcLen, stride: shape.ldb)
                                    : CacheLineWalk(start, segments: kcLen, length: columns, stride: shape.ldb)
        }
    }
}

/// One MC×NC output tile over the whole K. `aBlock(kb, kcLen, i0, rows)` gives rows
/// i0..<i0+rows of op(A) for block kb in MR-row panels, and `bPanel(kb, kcLen, j0)` the B panel
/// of block kb at columns j0..<j0+NR (each already packed, or packed on the spot).
///
/// While one B panel sweeps over A, the next panel is prefetched a slice per microkernel call:
/// `nextPanel(kb, kcLen, j0)` says where panel (kb, j0) lies: packed, or its source rows in B
/// when B is streamed. Without it the first call of every sweep waits on the panel line by
/// line from L3. (Plain loads in place of the prefetches, as before `prefetchForRead`, helped
/// the 1576-row products by 4-9% but made the streamed 197×768×2304 15% slower: a load that
/// misses holds up retirement, a prefetch does not.) A packed next panel is one run, and the
/// microkernel prefetches its slice itself, a line or two every 16 steps, where the prefetches
/// hide among the FMAs: walking it between calls instead measured 1-1.5% slower on ViT-B's
/// batch-8 products (two threads, alternated call by call). A streamed panel's rows are
/// strided: walked between calls.
@inline(__always)
func gemmTile(_ shape: GEMMShape, plan: GEMMPlan, tile: Int, alpha: Float, beta: Float, _ c: UnsafeMutablePointer<Float>,
              aBlock: (_ kb: Int, _ kcLen: Int, _ i0: Int, _ rows: Int) -> UnsafeMutablePointer<Float>,
              bPanel: (_ kb: Int, _ kcLen: Int, _ j0: Int) -> UnsafeMutablePointer<Float>,
              nextPanel: (_ kb: Int, _ kcLen: Int, _ j0: Int) -> CacheLineWalk) {
    let i0 = (tile / plan.nTiles) * plan.mc, rows = min(plan.mc, shape.m - i0)
    let j0 = (tile % plan.nTiles) * plan.nc, columns = min(plan.nc, shape.n - j0)
    let panelsA = (rows + gemmMR - 1) / gemmMR
    var edge = (SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>())
    for kb in 0..<plan.kBlocks {
        let p0 = kb * plan.kc, kcLen = min(plan.kc, shape.k - p0)
        let blockBeta = kb == 0 ? beta : 1
        let packedA = aBlock(kb, kcLen, i0, rows)
        var jr = 0
        while jr < columns {
            let panelB = bPanel(kb, kcLen, j0 + jr)
            let panelColumns = min(gemmNR, columns - jr)
            // The panel after this one: the next columns, else the first columns of the next K block.
            let nextInBlock = jr + gemmNR < columns
            let nextKB = nextInBlock ? kb : kb + 1
            var prefetch = CacheLineWalk(UnsafePointer(panelB), segments: 0, length: 0, stride: 0)
            if nextKB < plan.kBlocks {
                prefetch = nextPanel(nextKB, min(plan.kc, shape.k - nextKB * plan.kc), nextInBlock ? j0 + jr + gemmNR : j0)
            }
            // A short sweep (a few rows of A: inference at batch 1-8) would issue the whole
            // panel's prefetches in a burst that stalls the core; the hardware's stream
            // prefetcher keeps up with panels read back to back (1×6000×12893 Bᵀ prepacked,
            // 2 threads: 8.4 → 12.0 GFLOP/s; the 1576-row products keep the walk).
            let linesPerCall = panelsA < 8 ? 0 : (prefetch.lineCount + panelsA - 1) / panelsA
            let kernelPrefetches = prefetch.segments == 1
            var ir = 0
            while ir < rows {
                var kernelLines = (start: UnsafePointer(panelB), count: 0)
                if kernelPrefetches { kernelLines = prefetch.takeLines(linesPerCall) }
                else { prefetch.prefetch(count: linesPerCall) }
                let aPanel = packedA + (ir / gemmMR) * packedAPanelStride(kcLen)
                let panelRows = min(gemmMR, rows - ir)
                let cTile = c + (i0 + ir) * shape.ldc + j0 + jr
                if panelRows == 1 {                 // the one-row kernel takes no prefetch: issue its slice here
                    for line in 0..<kernelLines.count { prefetchForRead(kernelLines.start + line &* 16) }
                }
                if panelRows == gemmMR && panelColumns == gemmNR {
                    microkernel6x16(kcLen, aPanel, panelB, cTile, shape.ldc, alpha, blockBeta,
                                    prefetch: kernelLines.start, lines: kernelLines.count)
                } else if panelRows == 1 && panelColumns == gemmNR {
                    microkernel1x16(kcLen, aPanel, panelB, cTile, alpha, blockBeta)
                } else {
                    withUnsafeMutableBytes(of: &edge) { raw in
                        let tile = raw.baseAddress!.assumingMemoryBound(to: Float.self)
                        if panelRows == 1 { microkernel1x16(kcLen, aPanel, panelB, tile, alpha, 0) }
                        else {
                            microkernel6x16(kcLen, aPanel, panelB, tile, gemmNR, alpha, 0,
                                            prefetch: kernelLines.start, lines: kernelLines.count)
                        }
                        for r in 0..<panelRows {
                            let out = cTile + r * shape.ldc
                            for j in 0..<panelColumns {
                                let value = tile[r * gemmNR + j]
                                out[j] = blockBeta == 0 ? value : value + blockBeta * out[j]
                            }
                        }
                    }
                }
                ir += gemmMR
            }
            jr += gemmNR
        }
    }
}

// MARK: - Prefetch walk

/// A strided region to bring into cache: `segments` runs of `length` floats, `stride` floats
/// apart, walked one cache line at a time by `prefetch(count:)`, a few lines per microkernel call.
struct CacheLineWalk {
    let base: UnsafePointer<Float>
    let segments: Int, length: Int, stride: Int
    let linesPerSegment: Int
    private var segment = 0, line = 0

    init(_ base: UnsafePointer<Float>, segments: Int, length: Int, stride: Int) {
        self.base = base; self.segments = segments; self.length = length; self.stride = stride
        linesPerSegment = (length + 15) / 16 + (length > 1 ? 1 : 0)   // + 1: a run need not start on a line
    }

    var lineCount: Int { segments * linesPerSegment }

    /// The next `count` lines (fewer at the end) of a walk over one run, taken as a start address
    /// and a line count for a kernel that prefetches them itself, line by line from the start.
    mutating func takeLines(_ count: Int) -> (start: UnsafePointer<Float>, count: Int) {
        guard segment < segments else { return (base, 0) }
        let start = base + line &* 16, taken = min(count, linesPerSegment &- line)
        line &+= taken
        if line == linesPerSegment { line = 0; segment &+= 1 }
        return (start, taken)
    }

    /// Prefetches the next `count` lines of the walk.
    @inline(__always)
    mutating func prefetch(count: Int) {
        visitNextLines(count) { prefetchForRead($0) }
    }

    /// Gives `visit` one address inside each of the next `count` lines (the last of a run
    /// clamped into it). No division in the loop: it runs beside every microkernel call.
    @inline(__always)
    mutating func visitNextLines(_ count: Int, _ visit: (UnsafePointer<Float>) -> Void) {
        var remaining = count
        while remaining > 0 && segment < segments {
            visit(base + (segment &* stride &+ min(line &* 16, length &- 1)))
            line &+= 1
            if line == linesPerSegment { line = 0; segment &+= 1 }
            remaining &-= 1
        }
    }
}

// MARK: - Microkernel

/// C[6×16] = alpha·(Apanel·Bpanel) + beta·C over kc steps; beta = 0 does not read C.
/// a: kc×6 packed (column of A per step), b: kc×16 packed (row of B per step). Also prefetches
/// `lines` cache lines from `prefetch` on (consecutive, 64 bytes apart: the next B panel's
/// slice), up to two before every 16 steps and any left over at the end.
/// Twelve named accumulators, not an array: the form that stays in ymm registers (check the
/// disassembly for stack traffic in the loop: an equivalent array form spilled and fell to 42 GFLOP/s).
@inline(never)
func microkernel6x16(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                     _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float,
                     prefetch: UnsafePointer<Float>, lines: Int) {
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
    var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
    var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
    var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
    var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
    var c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
    // The tile's six rows of C (64 bytes each, maybe across two lines) are read or written only
    // after the loop, by which time these have arrived: a tile's C (132×3072 floats for fc1 at
    // batch 8) is far larger than L2, and with beta = 0 its lines are still read to be written.
    for row in 0..<gemmMR {
        prefetchForRead(c + row &* ldc)
        prefetchForRead(c + (row &* ldc &+ 15))
    }
    var ap = a
    var bp = UnsafeRawPointer(b)
    var line = prefetch, linesLeft = lines
    var stepsLeft = kc
    while stepsLeft > 0 {
        for _ in 0..<2 where linesLeft > 0 {
            prefetchForRead(line)
            line += 16; linesLeft &-= 1
        }
        let steps = min(stepsLeft, 16)
        stepsLeft &-= steps
        for _ in 0..<steps {
            let b0 = bp.loadUnaligned(as: SIMD8<Float>.self)
            let b1 = bp.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
            var av = SIMD8<Float>(repeating: ap[0])
            c00.addProduct(av, b0); c01.addProduct(av, b1)
            av = SIMD8<Float>(repeating: ap[1])
            c10.addProduct(av, b0); c11.addProduct(av, b1)
            av = SIMD8<Float>(repeating: ap[2])
            c20.addProduct(av, b0); c21.addProduct(av, b1)
            av = SIMD8<Float>(repeating: ap[3])
            c30.addProduct(av, b0); c31.addProduct(av, b1)
            av = SIMD8<Float>(repeating: ap[4])
            c40.addProduct(av, b0); c41.addProduct(av, b1)
            av = SIMD8<Float>(repeating: ap[5])
            c50.addProduct(av, b0); c51.addProduct(av, b1)
            ap += gemmMR
            bp += gemmNR * 4
        }
    }
    while linesLeft > 0 {                   // more lines than two per 16 steps (a shallow last K block)
        prefetchForRead(line)
        line += 16; linesLeft &-= 1
    }
    storeTileRow(c, c00, c01, alpha, beta); storeTileRow(c + ldc, c10, c11, alpha, beta)
    storeTileRow(c + 2 * ldc, c20, c21, alpha, beta); storeTileRow(c + 3 * ldc, c30, c31, alpha, beta)
    storeTileRow(c + 4 * ldc, c40, c41, alpha, beta); storeTileRow(c + 5 * ldc, c50, c51, alpha, beta)
}

/// out[0..<16] = alpha·[v0 v1] + beta·out[0..<16]; beta = 0 does not read out.
@inline(__always)
func storeTileRow(_ out: UnsafeMutablePointer<Float>, _ v0: SIMD8<Float>, _ v1: SIMD8<Float>, _ alpha: Float, _ beta: Float) {
    let raw = UnsafeMutableRawPointer(out)
    let alphaVector = SIMD8<Float>(repeating: alpha)
    var r0 = v0 * alphaVector, r1 = v1 * alphaVector
    if beta != 0 {
        let betaVector = SIMD8<Float>(repeating: beta)
        r0.addProduct(betaVector, raw.loadUnaligned(as: SIMD8<Float>.self))
        r1.addProduct(betaVector, raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self))
    }
    raw.storeBytes(of: r0, as: SIMD8<Float>.self)
    raw.storeBytes(of: r1, toByteOffset: 32, as: SIMD8<Float>.self)
}

/// C[1×16] = alpha·(a·Bpanel) + beta·C: the 6×16 kernel's contract for an A panel holding one
/// row (a: kc steps MR apart, rows 1..<MR unread). Batch-1 inference streams every weight past
/// one row of A; the 6×16 kernel spends twelve FMAs on each 64-byte row of B, which caps that
/// stream at ~33 GB/s per core, where this kernel spends two. Four steps an iteration, each into
/// its own two accumulators: eight chains cover the FMA latency.
@inline(never)
func microkernel1x16(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                     _ c: UnsafeMutablePointer<Float>, _ alpha: Float, _ beta: Float) {
    var s00 = SIMD8<Float>(), s01 = SIMD8<Float>(), s10 = SIMD8<Float>(), s11 = SIMD8<Float>()
    var s20 = SIMD8<Float>(), s21 = SIMD8<Float>(), s30 = SIMD8<Float>(), s31 = SIMD8<Float>()
    var ap = a
    var bp = UnsafeRawPointer(b)
    @inline(__always) func row(_ step: Int) -> (SIMD8<Float>, SIMD8<Float>) {
        (bp.loadUnaligned(fromByteOffset: step &* gemmNR &* 4, as: SIMD8<Float>.self),
         bp.loadUnaligned(fromByteOffset: step &* gemmNR &* 4 &+ 32, as: SIMD8<Float>.self))
    }
    for _ in 0..<(kc >> 2) {
        var (b0, b1) = row(0)
        s00.addProduct(SIMD8(repeating: ap[0]), b0); s01.addProduct(SIMD8(repeating: ap[0]), b1)
        (b0, b1) = row(1)
        s10.addProduct(SIMD8(repeating: ap[gemmMR]), b0); s11.addProduct(SIMD8(repeating: ap[gemmMR]), b1)
        (b0, b1) = row(2)
        s20.addProduct(SIMD8(repeating: ap[2 * gemmMR]), b0); s21.addProduct(SIMD8(repeating: ap[2 * gemmMR]), b1)
        (b0, b1) = row(3)
        s30.addProduct(SIMD8(repeating: ap[3 * gemmMR]), b0); s31.addProduct(SIMD8(repeating: ap[3 * gemmMR]), b1)
        ap += 4 * gemmMR
        bp += 4 * gemmNR * 4
    }
    for _ in 0..<(kc & 3) {
        let (b0, b1) = row(0)
        s00.addProduct(SIMD8(repeating: ap[0]), b0); s01.addProduct(SIMD8(repeating: ap[0]), b1)
        ap += gemmMR
        bp += gemmNR * 4
    }
    storeTileRow(c, (s00 + s10) + (s20 + s30), (s01 + s11) + (s21 + s31), alpha, beta)
}
