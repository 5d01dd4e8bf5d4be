import Foundation

// MARK: - Huffman tables (ITU T.81 Annex C, F.2.2.3; libjpeg's jdhuff.c derived tables)

/// One DHT table made ready for decoding: a 9-bit lookahead for the common short codes and
/// the `maxcode` / `valoffset` arrays of T.81 figure F.16 for the rest.
final class JPEGHuffmanTable {
    static let lookaheadBits = 9

    /// `lookup[next 9 bits]` = `length << 8 | symbol`, or 0 when the code is longer than 9 bits.
    let lookup: UnsafeMutablePointer<UInt16>
    /// Per code length 1...16, the largest code of that length left-aligned to 16 bits with
    /// ones below it, so that a 16-bit peek `p` has this length when `p <= maxCode16[length]`.
    let maxCode16: UnsafeMutablePointer<Int32>
    /// Per code length, `symbol index - code` for the first code of that length.
    let valueOffset: UnsafeMutablePointer<Int32>
    /// The symbols in code order (up to 256).
    let values: UnsafeMutablePointer<UInt8>
    /// AC tables only: run, size and value in one lookup (see `buildFastAC`); zeros otherwise.
    let fastAC: UnsafeMutablePointer<Int32>

    /// Builds the decoding tables from DHT's 16 code counts and its symbols.
    /// - Throws: `.corrupt` if the counts overrun 256 symbols or do not form a prefix code,
    ///   or if a DC symbol is over 15 (libjpeg's checks; `offset` is the table's byte offset).
    init(counts: [Int], symbols: [UInt8], isDC: Bool, offset: Int) throws {
        lookup = .allocate(capacity: 1 << Self.lookaheadBits)
        lookup.initialize(repeating: 0, count: 1 << Self.lookaheadBits)
        maxCode16 = .allocate(capacity: 18)
        maxCode16.initialize(repeating: -1, count: 18)
        valueOffset = .allocate(capacity: 18)
        valueOffset.initialize(repeating: 0, count: 18)
        values = .allocate(capacity: 256)
        values.initialize(repeating: 0, count: 256)
        fastAC = .allocate(capacity: 1 << Self.lookaheadBits)
        fastAC.initialize(repeating: 0, count: 1 << Self.lookaheadBits)
        precondition(counts.count == 16 && symbols.count == counts.reduce(0, +) && symbols.count <= 256,
                     "DHT parser must check counts (\(counts)) against \(symbols.count) symbols")
        for (i, symbol) in symbols.enumerated() {
            if isDC && symbol > 15 { throw ImageCodecError.corrupt(offset: offset, reason: "DC Huffman symbol \(symbol) > 15") }
            values[i] = symbol
        }
        // Figure C.2: canonical codes. As libjpeg, the codes of each length must fit in it and
        // leave the all-ones code unused (checked before the lookahead fill writes).
        var code = 0
        var index = 0
        for length in 1...16 {
            let n = counts[length - 1]
            if code + n >= (1 << length) && n > 0 {
                throw ImageCodecError.corrupt(offset: offset, reason: "Huffman code lengths overflow at length \(length)")
            }
            if n > 0 {
                valueOffset[length] = Int32(index - code)
                for _ in 0..<n {
                    if length <= Self.lookaheadBits {
                        let first = code << (Self.lookaheadBits - length)
                        for fill in 0..<(1 << (Self.lookaheadBits - length)) {
                            lookup[first + fill] = UInt16(length << 8) | UInt16(symbols[index])
                        }
                    }
                    code += 1
                    index += 1
                }
                maxCode16[length] = Int32(((code - 1) << (16 - length)) | ((1 << (16 - length)) - 1))
            }
            code <<= 1
        }
        if !isDC { buildFastAC() }
    }

    deinit {
        lookup.deallocate()
        maxCode16.deallocate()
        valueOffset.deallocate()
        values.deallocate()
        fastAC.deallocate()
    }
}

// MARK: - Entropy-coded bit reader

/// Reads the entropy-coded segment of a scan MSB first, removing stuffed zero bytes (FF 00).
/// At a marker, or at the end of the data, it feeds zero bits as libjpeg does ("premature end
/// of data segment"); the decoder checks `reachedEnd` after each MCU row so that a file that
/// simply stops is an error, never a guess.
struct JPEGBitReader {
    let base: UnsafePointer<UInt8>
    let end: Int
    /// Next unread byte.
    var position: Int
    /// Unconsumed bits, MSB-aligned.
    var buffer: UInt64 = 0
    /// Number of valid bits in `buffer` (zeros fed after a marker count as valid).
    var count: Int = 0
    /// A marker or the end of the data stopped the reader; zeros are fed from here on.
    var stopped = false
    /// The end of the data (not a marker) stopped the reader: the file is truncated.
    var reachedEnd = false

    init(base: UnsafePointer<UInt8>, end: Int, position: Int) {
        self.base = base
        self.end = end
        self.position = position
    }

    /// Fills `buffer` to at least 57 bits.
    @inline(__always)
    mutating func refill() {
        if count <= 56 { refillSlow() }
    }

    @inline(never)
    mutating func refillSlow() {
        // Fast path: 8 bytes without any 0xFF are copied whole bytes at a time.
        if !stopped && position + 8 <= end {
            let word = UInt64(bigEndian: UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self))
            let inverted = ~word          // a 0xFF byte becomes a zero byte
            if (inverted &- 0x0101_0101_0101_0101) & ~inverted & 0x8080_8080_8080_8080 == 0 {
                let bytes = (64 - count) >> 3
                buffer |= (word >> UInt64(64 - 8 * bytes)) << UInt64(64 - count - 8 * bytes)
                position += bytes
                count += 8 * bytes
                return
            }
        }
        while count <= 56 {
            if stopped { count += 8; continue }                       // zeros after a marker
            guard position < end else { stopped = true; reachedEnd = true; continue }
            let byte = base[position]
            if byte != 0xFF {
                position += 1
                buffer |= UInt64(byte) << UInt64(56 - count)
                count += 8
                continue
            }
            var next = position + 1
            while next < end && base[next] == 0xFF { next += 1 }        // fill bytes FF FF ...
            guard next < end else { stopped = true; reachedEnd = true; continue }
            if base[next] == 0 {                                        // stuffed FF 00
                position = next + 1
                buffer |= UInt64(0xFF) << UInt64(56 - count)
                count += 8
            } else {
                stopped = true                                          // a marker: leave it unread
            }
        }
    }

    /// The next `n` bits (1...16) as an unsigned value. Needs `count >= n` (call `refill` first).
    @inline(__always)
    mutating func bits(_ n: Int) -> Int {
        let value = Int(truncatingIfNeeded: buffer >> UInt64(64 - n))
        buffer <<= UInt64(n)
        count -= n
        return value
    }

    @inline(__always)
    mutating func bit() -> Int {
        refill()
        let value = Int(truncatingIfNeeded: buffer >> 63)
        buffer <<= 1
        count -= 1
        return value
    }

    /// `n` bits read as a JPEG signed magnitude (T.81 F.2.2.1, EXTEND).
    @inline(__always)
    mutating func receiveExtend(_ n: Int) -> Int {
        let value = bits(n)
        return value < (1 << (n - 1)) ? value - (1 << n) + 1 : value
    }

    /// Decodes one Huffman symbol; -1 for a code that is not in the table.
    /// Needs `count >= 16` (call `refill` first).
    @inline(__always)
    mutating func decode(_ table: JPEGHuffmanTable) -> Int {
        let entry = Int(table.lookup[Int(truncatingIfNeeded: buffer >> UInt64(64 - JPEGHuffmanTable.lookaheadBits))])
        if entry != 0 {
            let length = entry >> 8
            buffer <<= UInt64(length)
            count -= length
            return entry & 0xFF
        }
        return decodeLong(table)
    }

    @inline(never)
    mutating func decodeLong(_ table: JPEGHuffmanTable) -> Int {
        let peek = Int32(truncatingIfNeeded: buffer >> 48)
        for length in (JPEGHuffmanTable.lookaheadBits + 1)...16 where peek <= table.maxCode16[length] {
            let code = Int(peek >> Int32(16 - length))
            let index = code + Int(table.valueOffset[length])
            buffer <<= UInt64(length)
            count -= length
            return (0..<256).contains(index) ? Int(table.values[index]) : -1
        }
        return -1
    }

    /// Discards buffered bits and moves to the marker that follows the segment (restart handling).
    mutating func resetToMarker() {
        buffer = 0
        count = 0
        stopped = false
        reachedEnd = false
    }
}
