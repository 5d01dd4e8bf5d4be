// MARK: - Inflate: zlib (RFC 1950) around DEFLATE (RFC 1951), written for PNG's IDAT stream

/// What can go wrong inside a zlib stream. `offset` counts bytes from the stream's start; the PNG
/// decoder maps it back to a file offset.
enum InflateError: Error, Equatable {
    /// The input ended before the stream did.
    case truncated(offset: Int)
    /// The stream breaks RFC 1950/1951 or its checksum is wrong.
    case corrupt(String, offset: Int)
    /// The stream decodes to more than the caller's `capacity` (a zip bomb, or an image with
    /// more rows than its header claims).
    case tooMuchData(offset: Int)
}

/// Decompresses the zlib stream `input` into `output`, which holds `capacity` bytes, and checks
/// its Adler-32. Returns the number of bytes written (<= `capacity`); input after the stream's
/// trailer is ignored.
/// - Throws: `InflateError`. Never reads or writes out of bounds and never loops without
///   consuming input: every malformed or truncated stream ends in an error.
/// - Complexity: O(input + output); no allocation beyond three small Huffman tables.
func zlibDecompress(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutablePointer<UInt8>,
                    capacity: Int) throws -> Int {
    guard input.count >= 2, let base = input.baseAddress else { throw InflateError.truncated(offset: input.count) }
    let cmf = Int(base[0]), flg = Int(base[1])
    // RFC 1950 §2.2: method 8 (deflate), window <= 32 KiB, header check, no preset dictionary.
    guard cmf & 0x0F == 8, cmf >> 4 <= 7 else {
        throw InflateError.corrupt("zlib header CMF 0x\(String(cmf, radix: 16)) is not deflate with a window <= 32 KiB", offset: 0)
    }
    guard (cmf << 8 | flg) % 31 == 0 else { throw InflateError.corrupt("zlib header check bits are wrong", offset: 1) }
    guard flg & 0x20 == 0 else { throw InflateError.corrupt("zlib preset dictionary is not allowed", offset: 1) }

    var inflater = Inflater(input: base, count: input.count, position: 2, output: output, capacity: capacity)
    defer { inflater.tables.deallocate() }
    try inflater.run()
    let written = inflater.outputCount
    let end = try inflater.alignedBytePosition()
    guard end + 4 <= input.count else { throw InflateError.truncated(offset: input.count) }
    let stored = UInt32(base[end]) << 24 | UInt32(base[end + 1]) << 16 | UInt32(base[end + 2]) << 8 | UInt32(base[end + 3])
    let computed = adler32(output, count: written)
    guard stored == computed else {
        throw InflateError.corrupt("Adler-32 is 0x\(String(stored, radix: 16)), data gives 0x\(String(computed, radix: 16))", offset: end)
    }
    return written
}

/// Raw DEFLATE (no zlib wrapper) for tests and tools: returns the bytes written.
func deflateDecompress(_ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutablePointer<UInt8>,
                       capacity: Int) throws -> Int {
    guard let base = input.baseAddress else { throw InflateError.truncated(offset: 0) }
    var inflater = Inflater(input: base, count: input.count, position: 0, output: output, capacity: capacity)
    defer { inflater.tables.deallocate() }
    try inflater.run()
    _ = try inflater.alignedBytePosition()
    return inflater.outputCount
}

// MARK: - Huffman tables

/// Bits resolved by one lookup; longer codes (rare: only in large alphabets) take the canonical
/// slow path. 10 bits keeps a table at 2 KiB, so rebuilding it per dynamic block stays cheap.
let huffmanFastBits = 10

/// A canonical Huffman decoder in the style of stb_image's: a `1 << huffmanFastBits` lookup of
/// (length << 9 | symbol) indexed by the next bits in stream order, plus per-length limits.
struct HuffmanTable {
    var fast: UnsafeMutablePointer<UInt16>        // 1 << huffmanFastBits entries, 0 = slow path
    var symbolOfRank: UnsafeMutablePointer<UInt16>  // 288: symbols sorted by (length, symbol)
    var lengthOfRank: UnsafeMutablePointer<UInt8>   // 288
    var firstCode: UnsafeMutablePointer<Int32>      // 17, per length
    var firstRank: UnsafeMutablePointer<Int32>      // 17
    var maxCode: UnsafeMutablePointer<Int32>        // 18: first code past length s, left-aligned to 16 bits

    static let bytes = (1 << huffmanFastBits) * 2 + 288 * 2 + 288 + 3 * 18 * 4 + 16

    init(memory: UnsafeMutableRawPointer) {
        var p = memory
        fast = p.bindMemory(to: UInt16.self, capacity: 1 << huffmanFastBits); p += (1 << huffmanFastBits) * 2
        symbolOfRank = p.bindMemory(to: UInt16.self, capacity: 288); p += 288 * 2
        firstCode = p.bindMemory(to: Int32.self, capacity: 18); p += 18 * 4
        firstRank = p.bindMemory(to: Int32.self, capacity: 18); p += 18 * 4
        maxCode = p.bindMemory(to: Int32.self, capacity: 18); p += 18 * 4
        lengthOfRank = p.bindMemory(to: UInt8.self, capacity: 288)
    }

    /// Builds the table from code lengths (0 = unused). Rejects over-subscribed sets, and
    /// incomplete ones unless `allowIncomplete` and the set is a single 1-bit code (zlib's rule).
    /// Returns false on a bad set.
    func build(lengths: UnsafePointer<UInt8>, count: Int, allowIncomplete: Bool) -> Bool {
        var lengthCounts = [Int32](repeating: 0, count: 17)
        for i in 0..<count { lengthCounts[Int(lengths[i])] += 1 }
        lengthCounts[0] = 0
        var left: Int32 = 1                             // zlib's inftrees.c completeness count
        for length in 1...15 {
            left <<= 1
            left -= lengthCounts[length]
            if left < 0 { return false }                // over-subscribed
        }
        var maxLength = 0
        for length in 1...15 where lengthCounts[length] > 0 { maxLength = length }
        if left > 0 && !(allowIncomplete && maxLength <= 1) { return false }

        var nextCode = [Int32](repeating: 0, count: 17)
        var code: Int32 = 0, rank: Int32 = 0
        for length in 1...16 {
            let n = length <= 15 ? lengthCounts[length] : 0
            nextCode[length] = code
            firstCode[length] = code
            firstRank[length] = rank
            code += n
            maxCode[length] = length <= 15 ? code << (16 - Int32(length)) : 0x10000
            code <<= 1
            rank += n
        }
        maxCode[17] = 0x10000
        fast.update(repeating: 0, count: 1 << huffmanFastBits)
        for symbol in 0..<count {
            let length = Int(lengths[symbol])
            guard length > 0 else { continue }
            let c = Int(nextCode[length])
            let r = c - Int(firstCode[length]) + Int(firstRank[length])
            symbolOfRank[r] = UInt16(symbol)
            lengthOfRank[r] = UInt8(length)
            if length <= huffmanFastBits {
                var j = reverseBits(c, count: length)
                let entry = UInt16(length << 9 | symbol)
                while j < 1 << huffmanFastBits { fast[j] = entry; j += 1 << length }
            }
            nextCode[length] += 1
        }
        return true
    }
}

@inline(__always)
func reverseBits(_ value: Int, count: Int) -> Int {
    var v = UInt16(truncatingIfNeeded: value)
    v = (v & 0xAAAA) >> 1 | (v & 0x5555) << 1
    v = (v & 0xCCCC) >> 2 | (v & 0x3333) << 2
    v = (v & 0xF0F0) >> 4 | (v & 0x0F0F) << 4
    v = (v & 0xFF00) >> 8 | (v & 0x00FF) << 8
    return Int(v) >> (16 - count)
}

// RFC 1951 §3.2.5: base values and extra bits of length codes 257...285 and distance codes 0...29.
let deflateLengthBase: [UInt16] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                                   35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
let deflateLengthExtra: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
                                   3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
let deflateDistanceBase: [UInt16] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
                                     257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
                                     8193, 12289, 16385, 24577]
let deflateDistanceExtra: [UInt8] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
                                     7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
/// RFC 1951 §3.2.7: the order in which code-length code lengths are stored.
let codeLengthOrder: [Int] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

// MARK: - The decoder

/// One inflate run: an LSB-first bit reader over the input and the output cursor.
struct Inflater {
    let input: UnsafePointer<UInt8>
    let count: Int
    /// Next input byte to load. May run past `count` by the zero bytes fed after the end.
    var position: Int
    var bitBuffer: UInt64 = 0
    var bitCount = 0
    let output: UnsafeMutablePointer<UInt8>
    let capacity: Int
    var outputCount = 0
    /// Memory of the three tables (literal/length, distance, code lengths) and the length list.
    let tables: UnsafeMutableRawPointer
    let literalTable: HuffmanTable
    let distanceTable: HuffmanTable
    let codeLengthTable: HuffmanTable
    let lengths: UnsafeMutablePointer<UInt8>    // 286 + 30 (+ slack for a run that overshoots)
    let constants: UnsafeMutablePointer<UInt16> // length base, extra; distance base, extra

    init(input: UnsafePointer<UInt8>, count: Int, position: Int, output: UnsafeMutablePointer<UInt8>, capacity: Int) {
        self.input = input
        self.count = count
        self.position = position
        self.output = output
        self.capacity = capacity
        let tableBytes = (HuffmanTable.bytes + 63) & ~63
        tables = UnsafeMutableRawPointer.allocate(byteCount: 3 * tableBytes + 512 + 128 * 2, alignment: 64)
        literalTable = HuffmanTable(memory: tables)
        distanceTable = HuffmanTable(memory: tables + tableBytes)
        codeLengthTable = HuffmanTable(memory: tables + 2 * tableBytes)
        lengths = (tables + 3 * tableBytes).bindMemory(to: UInt8.self, capacity: 512)
        constants = (tables + 3 * tableBytes + 512).bindMemory(to: UInt16.self, capacity: 128)
        for i in 0..<29 { constants[i] = deflateLengthBase[i]; constants[32 + i] = UInt16(deflateLengthExtra[i]) }
        for i in 0..<30 { constants[64 + i] = deflateDistanceBase[i]; constants[96 + i] = UInt16(deflateDistanceExtra[i]) }
    }

    /// Byte offset of the next unread input byte (for error messages).
    var consumedBytes: Int { position - bitCount / 8 }

    /// Tops the bit buffer up to at least 56 bits. Past the end it feeds zero bytes; a stream
    /// that really uses them is caught (and the loop ended) once 16 of them have gone in.
    @inline(__always)
    mutating func refill() throws {
        if position &+ 8 <= count {
            // Load 8 bytes; the bits above the new bitCount are the next byte's real bits, so a
            // later OR of that byte at the same place changes nothing (libdeflate's refill).
            let word = UInt64(littleEndian: UnsafeRawPointer(input + position).loadUnaligned(as: UInt64.self))
            bitBuffer |= word &<< UInt64(bitCount)
            position &+= (63 &- bitCount) >> 3
            bitCount |= 56
        } else {
            try refillSlowly()
        }
    }

    @inline(never)
    mutating func refillSlowly() throws {
        while bitCount <= 56 {
            if position < count { bitBuffer |= UInt64(input[position]) &<< UInt64(bitCount) }
            else if position >= count + 16 { throw InflateError.truncated(offset: count) }
            position += 1
            bitCount += 8
        }
    }

    @inline(__always)
    mutating func bits(_ n: Int) -> Int {
        let value = Int(truncatingIfNeeded: bitBuffer & ((1 &<< UInt64(n)) &- 1))
        bitBuffer &>>= UInt64(n)
        bitCount &-= n
        return value
    }

    /// Throws if the bits read so far went past the input's end.
    mutating func checkNotPastEnd() throws {
        if position * 8 - bitCount > count * 8 { throw InflateError.truncated(offset: count) }
    }

    /// Skips to a byte boundary and empties the buffer; returns the next byte's input offset.
    mutating func alignedBytePosition() throws -> Int {
        try checkNotPastEnd()
        _ = bits(bitCount & 7)
        let next = position - bitCount / 8
        position = next
        bitBuffer = 0
        bitCount = 0
        return next
    }

    @inline(__always)
    mutating func decode(_ table: HuffmanTable) throws -> Int {
        let entry = table.fast[Int(truncatingIfNeeded: bitBuffer) & ((1 << huffmanFastBits) - 1)]
        if entry != 0 {
            let length = Int(entry >> 9)
            bitBuffer &>>= UInt64(length)
            bitCount &-= length
            return Int(entry & 0x1FF)
        }
        return try decodeSlowly(table)
    }

    /// Codes longer than the lookup, compared canonically against each length's limit.
    @inline(never)
    mutating func decodeSlowly(_ table: HuffmanTable) throws -> Int {
        let k = Int32(reverseBits(Int(truncatingIfNeeded: bitBuffer), count: 16))
        var length = huffmanFastBits + 1
        while k >= table.maxCode[length] { length += 1 }
        guard length <= 15 else { throw InflateError.corrupt("invalid Huffman code", offset: consumedBytes) }
        let rank = Int(k >> (16 - Int32(length)) - table.firstCode[length] + table.firstRank[length])
        guard rank >= 0, rank < 288, Int(table.lengthOfRank[rank]) == length else {
            throw InflateError.corrupt("invalid Huffman code", offset: consumedBytes)
        }
        bitBuffer &>>= UInt64(length)
        bitCount -= length
        return Int(table.symbolOfRank[rank])
    }

    mutating func run() throws {
        var final = false
        var fixedBuilt = false
        while !final {
            try refill()
            final = bits(1) == 1
            switch bits(2) {
            case 0:
                try copyStoredBlock()
                fixedBuilt = false
            case 1:
                if !fixedBuilt {
                    // RFC 1951 §3.2.6: the fixed code lengths.
                    for i in 0..<144 { lengths[i] = 8 }
                    for i in 144..<256 { lengths[i] = 9 }
                    for i in 256..<280 { lengths[i] = 7 }
                    for i in 280..<288 { lengths[i] = 8 }
                    _ = literalTable.build(lengths: lengths, count: 288, allowIncomplete: false)
                    // All 32 five-bit codes; 30 and 31 complete the code but are refused on use.
                    for i in 0..<32 { lengths[i] = 5 }
                    _ = distanceTable.build(lengths: lengths, count: 32, allowIncomplete: false)
                    fixedBuilt = true
                }
                try decodeHuffmanBlock()
            case 2:
                try readDynamicTables()
                fixedBuilt = false
                try decodeHuffmanBlock()
            default:
                throw InflateError.corrupt("reserved block type 3", offset: consumedBytes)
            }
        }
        try checkNotPastEnd()
    }

    mutating func copyStoredBlock() throws {
        let start = try alignedBytePosition()
        guard start + 4 <= count else { throw InflateError.truncated(offset: count) }
        let length = Int(input[start]) | Int(input[start + 1]) << 8
        let complement = Int(input[start + 2]) | Int(input[start + 3]) << 8
        guard length == complement ^ 0xFFFF else {
            throw InflateError.corrupt("stored block length \(length) does not match its complement", offset: start)
        }
        guard start + 4 + length <= count else { throw InflateError.truncated(offset: count) }
        guard length <= capacity - outputCount else { throw InflateError.tooMuchData(offset: start) }
        (output + outputCount).update(from: input + start + 4, count: length)
        outputCount += length
        position = start + 4 + length
    }

    mutating func readDynamicTables() throws {
        let literalCount = bits(5) + 257, distanceCount = bits(5) + 1, codeLengthCount = bits(4) + 4
        guard literalCount <= 286, distanceCount <= 30 else {
            throw InflateError.corrupt("too many length or distance symbols (\(literalCount), \(distanceCount))", offset: consumedBytes)
        }
        for i in 0..<19 { lengths[i] = 0 }
        try refill()
        for i in 0..<codeLengthCount {
            if bitCount < 3 { try refill() }
            lengths[codeLengthOrder[i]] = UInt8(bits(3))
        }
        guard codeLengthTable.build(lengths: lengths, count: 19, allowIncomplete: false) else {
            throw InflateError.corrupt("invalid code-length code lengths", offset: consumedBytes)
        }
        let total = literalCount + distanceCount
        var n = 0
        while n < total {
            try refill()
            let symbol = try decode(codeLengthTable)
            var repeatCount = 1, value: UInt8 = 0
            switch symbol {
            case 0..<16: value = UInt8(symbol)
            case 16:
                guard n > 0 else { throw InflateError.corrupt("length repeat with no previous length", offset: consumedBytes) }
                value = lengths[n - 1]; repeatCount = 3 + bits(2)
            case 17: repeatCount = 3 + bits(3)
            default: repeatCount = 11 + bits(7)
            }
            guard n + repeatCount <= total else { throw InflateError.corrupt("code length run past the end", offset: consumedBytes) }
            for _ in 0..<repeatCount { lengths[n] = value; n += 1 }
        }
        guard lengths[256] != 0 else { throw InflateError.corrupt("no end-of-block code", offset: consumedBytes) }
        guard literalTable.build(lengths: lengths, count: literalCount, allowIncomplete: true) else {
            throw InflateError.corrupt("invalid literal/length code lengths", offset: consumedBytes)
        }
        guard distanceTable.build(lengths: lengths + literalCount, count: distanceCount, allowIncomplete: true) else {
            throw InflateError.corrupt("invalid distance code lengths", offset: consumedBytes)
        }
    }

    /// The hot loop: literals and matches until end-of-block. One refill per symbol pair covers
    /// the worst case of 15 + 5 + 15 + 13 = 48 bits.
    mutating func decodeHuffmanBlock() throws {
        let out = output
        while true {
            try refill()
            let symbol = try decode(literalTable)
            if symbol < 256 {
                guard outputCount < capacity else { throw InflateError.tooMuchData(offset: consumedBytes) }
                out[outputCount] = UInt8(truncatingIfNeeded: symbol)
                outputCount &+= 1
                continue
            }
            if symbol == 256 { return }
            let lengthCode = symbol &- 257
            guard lengthCode < 29 else { throw InflateError.corrupt("invalid length symbol \(symbol)", offset: consumedBytes) }
            let length = Int(constants[lengthCode]) &+ bits(Int(constants[32 &+ lengthCode]))
            let distanceCode = try decode(distanceTable)
            guard distanceCode < 30 else { throw InflateError.corrupt("invalid distance symbol \(distanceCode)", offset: consumedBytes) }
            let distance = Int(constants[64 &+ distanceCode]) &+ bits(Int(constants[96 &+ distanceCode]))
            guard distance <= outputCount else {
                throw InflateError.corrupt("distance \(distance) reaches before the output's start", offset: consumedBytes)
            }
            guard length <= capacity &- outputCount else { throw InflateError.tooMuchData(offset: consumedBytes) }
            let destination = out + outputCount
            let source = destination - distance
            if distance >= length {
                destination.update(from: source, count: length)
            } else if distance == 1 {
                destination.update(repeating: source.pointee, count: length)
            } else {
                for i in 0..<length { destination[i] = source[i] }   // overlapping: byte order matters
            }
            outputCount &+= length
        }
    }
}
