import Foundation

// MARK: - The sequential (baseline) Huffman hot loop
//
// The bit-reader state lives in local variables for a whole run of MCUs and every table is a raw
// pointer, so that the optimizer keeps the 64-bit bit buffer in a register: the first version,
// one call per block through an `inout` reader, spent most of its time on loads and stores of
// that state (perf annotate). A 9-bit "fast AC" table decodes run, size and value in one lookup
// when code and value fit in 9 bits, as stb_image does.

/// Raw pointers into one component's Huffman tables, for the hot loop.
struct JPEGHuffmanPointers {
    let lookup: UnsafePointer<UInt16>
    let maxCode16: UnsafePointer<Int32>
    let valueOffset: UnsafePointer<Int32>
    let values: UnsafePointer<UInt8>
    /// Only for AC tables: `value << 16 | run << 8 | bits` for codes whose value fits too,
    /// `0x8000 | bits` for end-of-block.
    let fastAC: UnsafePointer<Int32>

    init(_ table: JPEGHuffmanTable) {
        lookup = UnsafePointer(table.lookup)
        maxCode16 = UnsafePointer(table.maxCode16)
        valueOffset = UnsafePointer(table.valueOffset)
        values = UnsafePointer(table.values)
        fastAC = UnsafePointer(table.fastAC)
    }
}

/// One block of an MCU: where its coefficients go for MCU column 0, how far apart consecutive
/// MCU columns are, and which tables and DC predictor it uses.
struct JPEGBlockPlan {
    var base: UnsafeMutablePointer<Int16>
    let columnStride: Int
    let dc: JPEGHuffmanPointers
    let ac: JPEGHuffmanPointers
    let predictor: Int
    /// False when the component's IDCT is 1x1 (1/8 scale): AC codes are parsed, not stored,
    /// as libjpeg does for a DC-only IDCT.
    let storesAC: Bool
}

extension JPEGHuffmanTable {
    /// Fills `fastAC` from `lookup` (for AC tables): entries whose code length plus value size
    /// fit in the 9-bit lookahead carry the decoded value.
    func buildFastAC() {
        let bits = Self.lookaheadBits
        for index in 0..<(1 << bits) {
            let entry = Int(lookup[index])
            fastAC[index] = 0
            guard entry != 0 else { continue }
            let length = entry >> 8, rs = entry & 0xFF
            let run = rs >> 4, size = rs & 15
            if rs == 0 { fastAC[index] = Int32(0x8000 | length); continue }       // EOB
            guard size != 0, length + size <= bits else { continue }
            let raw = (index >> (bits - length - size)) & ((1 << size) - 1)
            let value = raw < (1 << (size - 1)) ? raw - (1 << size) + 1 : raw
            fastAC[index] = Int32(value << 16 | run << 8 | (length + size))
        }
    }
}

/// The slow part of refilling (0xFF bytes, markers, the end of data), on values so that the
/// caller's state never has its address taken.
@inline(never)
func jpegRefillSlow(base: UnsafePointer<UInt8>, end: Int, buffer: UInt64, count: Int, position: Int,
                    stopped: Bool, reachedEnd: Bool) -> (UInt64, Int, Int, Bool, Bool) {
    var reader = JPEGBitReader(base: base, end: end, position: position)
    reader.buffer = buffer
    reader.count = count
    reader.stopped = stopped
    reader.reachedEnd = reachedEnd
    reader.refillSlow()
    return (reader.buffer, reader.count, reader.position, reader.stopped, reader.reachedEnd)
}

/// A code longer than 9 bits: (symbol, length), or (-1, 0) for an invalid code.
@inline(never)
func jpegDecodeLong(_ table: JPEGHuffmanPointers, buffer: UInt64) -> (Int, Int) {
    let peek = Int32(truncatingIfNeeded: buffer >> 48)
    for length in (JPEGHuffmanTable.lookaheadBits + 1)...16 where peek <= table.maxCode16[length] {
        let index = Int(peek >> Int32(16 - length)) + Int(table.valueOffset[length])
        return (0..<256).contains(index) ? (Int(table.values[index]), length) : (-1, 0)
    }
    return (-1, 0)
}

/// Decodes `mcuCount` MCUs starting at MCU column `firstColumn`, each made of the blocks in
/// `plan`. Returns false on an invalid Huffman code (the reader then points near it).
func jpegDecodeSequentialMCUs(mcuCount: Int, firstColumn: Int, plan: UnsafePointer<JPEGBlockPlan>, blocksPerMCU: Int,
                              predictors: UnsafeMutablePointer<Int32>, order: UnsafePointer<Int>,
                              reader: inout JPEGBitReader) -> Bool {
    let base = reader.base, end = reader.end
    var buffer = reader.buffer, count = reader.count, position = reader.position
    var stopped = reader.stopped, reachedEnd = reader.reachedEnd
    defer {
        reader.buffer = buffer; reader.count = count; reader.position = position
        reader.stopped = stopped; reader.reachedEnd = reachedEnd
    }

    @inline(__always) func refill() {
        if count > 56 { return }
        if !stopped && position &+ 8 <= end {
            let word = UInt64(bigEndian: UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self))
            let inverted = ~word
            if (inverted &- 0x0101_0101_0101_0101) & ~inverted & 0x8080_8080_8080_8080 == 0 {
                let bytes = (64 &- count) &>> 3
                buffer |= (word &>> UInt64(64 &- 8 &* bytes)) &<< UInt64(64 &- count &- 8 &* bytes)
                position &+= bytes
                count &+= 8 &* bytes
                return
            }
        }
        (buffer, count, position, stopped, reachedEnd) = jpegRefillSlow(
            base: base, end: end, buffer: buffer, count: count, position: position, stopped: stopped, reachedEnd: reachedEnd)
    }
    @inline(__always) func decode(_ table: JPEGHuffmanPointers) -> Int {
        let entry = Int(table.lookup[Int(truncatingIfNeeded: buffer &>> 55)])
        if entry != 0 {
            let length = entry &>> 8
            buffer &<<= UInt64(length)
            count &-= length
            return entry & 0xFF
        }
        let (symbol, length) = jpegDecodeLong(table, buffer: buffer)
        buffer &<<= UInt64(length)
        count &-= length
        return symbol
    }
    @inline(__always) func receiveExtend(_ n: Int) -> Int {
        let value = Int(truncatingIfNeeded: buffer &>> UInt64(64 &- n))
        buffer &<<= UInt64(n)
        count &-= n
        return value < (1 &<< (n &- 1)) ? value &- (1 &<< n) &+ 1 : value
    }

    for mcu in 0..<mcuCount {
        let column = firstColumn &+ mcu
        for b in 0..<blocksPerMCU {
            let p = plan[b]
            let block = p.base + column &* p.columnStride
            // DC
            refill()
            let t = decode(p.dc)
            if t < 0 { return false }
            if t > 0 { predictors[p.predictor] &+= Int32(truncatingIfNeeded: receiveExtend(t)) }
            block[0] = Int16(truncatingIfNeeded: predictors[p.predictor])
            // AC
            var k = 1
            while k < 64 {
                if count < 32 { refill() }                           // 16-bit code + 15-bit value
                let fast = Int(p.ac.fastAC[Int(truncatingIfNeeded: buffer &>> 55)])
                if fast != 0 {
                    let bits = fast & 0xFF
                    buffer &<<= UInt64(bits)
                    count &-= bits
                    if fast & 0x8000 != 0 { break }                   // end of block
                    k &+= (fast &>> 8) & 0xFF
                    if p.storesAC { block[order[k]] = Int16(truncatingIfNeeded: fast &>> 16) }
                    k &+= 1
                    continue
                }
                let rs = decode(p.ac)
                if rs < 0 { return false }
                let run = rs &>> 4, size = rs & 15
                if size != 0 {
                    k &+= run
                    let value = receiveExtend(size)
                    if p.storesAC { block[order[k]] = Int16(truncatingIfNeeded: value) }
                    k &+= 1
                } else {
                    if run != 15 { break }
                    k &+= 16
                }
            }
        }
    }
    return true
}
