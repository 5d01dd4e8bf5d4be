// MARK: - Deflate compressor: LZ77 with hash chains + RFC 1951 fixed Huffman codes

/// LSB-first bit writer for DEFLATE.
struct BitWriter {
    var bytes: [UInt8] = []
    var buffer: UInt64 = 0
    var count = 0

    @inline(__always)
    mutating func write(_ value: UInt32, bits: Int) {
        buffer |= UInt64(value) &<< UInt64(count)
        count &+= bits
        if count >= 32 {
            let word = UInt32(truncatingIfNeeded: buffer)
            bytes.append(UInt8(truncatingIfNeeded: word)); bytes.append(UInt8(truncatingIfNeeded: word >> 8))
            bytes.append(UInt8(truncatingIfNeeded: word >> 16)); bytes.append(UInt8(truncatingIfNeeded: word >> 24))
            buffer >>= 32
            count &-= 32
        }
    }

    mutating func flushToByte() {
        while count > 0 {
            bytes.append(UInt8(truncatingIfNeeded: buffer))
            buffer >>= 8
            count = max(0, count - 8)
        }
        buffer = 0
    }
}

/// The fixed literal/length and distance codes of RFC 1951 §3.2.6, bit-reversed for an
/// LSB-first writer: (code, length) per symbol.
let fixedLiteralCodes: [(code: UInt32, bits: Int)] = (0..<288).map { symbol in
    let (code, bits): (Int, Int) = switch symbol {
    case 0..<144: (0x30 + symbol, 8)
    case 144..<256: (0x190 + symbol - 144, 9)
    case 256..<280: (symbol - 256, 7)
    default: (0xC0 + symbol - 280, 8)
    }
    return (UInt32(reverseBits(code, count: bits)), bits)
}
let fixedDistanceCodes: [UInt32] = (0..<30).map { UInt32(reverseBits($0, count: 5)) }

/// Compresses `input` as a zlib stream (RFC 1950): fixed-Huffman blocks over hash-chain LZ77
/// matches, or stored blocks where that comes out smaller (noise).
/// - Parameter maxChain: candidates tried per position; more is smaller output and slower.
func zlibCompress(_ input: [UInt8], maxChain: Int = 32) -> [UInt8] {
    var writer = BitWriter()
    writer.bytes.reserveCapacity(input.count / 2 + 64)
    writer.bytes += [0x78, 0x9C]   // deflate, 32 KiB window, default level; (0x789C % 31 == 0)
    let blockSize = 1 << 16
    input.withUnsafeBufferPointer { buffer in
        let data = buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!
        let windowSize = 1 << 15
        var head = [Int32](repeating: -1, count: 1 << 15)
        var previous = [Int32](repeating: -1, count: windowSize)
        var start = 0
        repeat {
            let end = min(input.count, start + blockSize)
            let final = end == input.count
            let mark = writer.bytes.count, markBuffer = writer.buffer, markCount = writer.count
            writer.write(final ? 1 : 0, bits: 1)
            writer.write(1, bits: 2)                         // fixed Huffman
            var i = start
            while i < end {
                var bestLength = 0, bestDistance = 0
                if i + 3 <= input.count {
                    let hash = hash3(data + i)
                    var candidate = Int(head[hash])
                    var chain = maxChain
                    let limit = min(258, input.count - i)
                    while candidate >= 0 && i - candidate <= windowSize - 1 && chain > 0 {
                        if data[candidate + bestLength] == data[i + bestLength] {
                            var n = 0
                            while n < limit && data[candidate + n] == data[i + n] { n += 1 }
                            if n > bestLength { bestLength = n; bestDistance = i - candidate; if n == limit { break } }
                        }
                        candidate = Int(previous[candidate & (windowSize - 1)])
                        chain -= 1
                    }
                    previous[i & (windowSize - 1)] = head[hash]
                    head[hash] = Int32(i)
                }
                if bestLength >= 3 {
                    writeMatch(&writer, length: bestLength, distance: bestDistance)
                    // Insert the skipped positions into the chains.
                    for j in (i + 1)..<min(i + bestLength, input.count - 2) {
                        let hash = hash3(data + j)
                        previous[j & (windowSize - 1)] = head[hash]
                        head[hash] = Int32(j)
                    }
                    i += bestLength
                } else {
                    let code = fixedLiteralCodes[Int(data[i])]
                    writer.write(code.code, bits: code.bits)
                    i += 1
                }
            }
            let endOfBlock = fixedLiteralCodes[256]
            writer.write(endOfBlock.code, bits: endOfBlock.bits)
            // The block may run past `end` by a match's tail; `i` is where the next one starts.
            let compressedBits = (writer.bytes.count - mark) * 8 + writer.count - markCount
            if compressedBits > (i - start + 5 * ((i - start) / 65535 + 1)) * 8 + 8 {
                // Stored is smaller: rewind and write stored blocks of <= 65535 bytes.
                writer.bytes.removeSubrange(mark...)
                writer.buffer = markBuffer
                writer.count = markCount
                var s = start
                repeat {
                    let n = min(65535, i - s)
                    writer.write(final && s + n == i ? 1 : 0, bits: 1)
                    writer.write(0, bits: 2)
                    writer.flushToByte()
                    writer.bytes += [UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
                    writer.bytes += buffer[s..<(s + n)]
                    s += n
                } while s < i
            }
            start = i
        } while start < input.count
    }
    writer.flushToByte()
    let adler = input.withUnsafeBufferPointer { adler32($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: $0.count) }
    writer.bytes += [UInt8(adler >> 24), UInt8(adler >> 16 & 0xFF), UInt8(adler >> 8 & 0xFF), UInt8(adler & 0xFF)]
    return writer.bytes
}

/// Multiplicative hash of three bytes to 15 bits (Knuth's golden-ratio constant).
@inline(__always)
private func hash3(_ p: UnsafePointer<UInt8>) -> Int {
    let key = UInt32(p[0]) << 16 | UInt32(p[1]) << 8 | UInt32(p[2])
    return Int((key &* 2_654_435_761) >> 17)
}

@inline(__always)
private func writeMatch(_ writer: inout BitWriter, length: Int, distance: Int) {
    var lengthCode = 28
    while Int(deflateLengthBase[lengthCode]) > length { lengthCode -= 1 }
    let lengthSymbol = fixedLiteralCodes[257 + lengthCode]
    writer.write(lengthSymbol.code, bits: lengthSymbol.bits)
    let lengthExtra = Int(deflateLengthExtra[lengthCode])
    if lengthExtra > 0 { writer.write(UInt32(length - Int(deflateLengthBase[lengthCode])), bits: lengthExtra) }
    var distanceCode = 29
    while Int(deflateDistanceBase[distanceCode]) > distance { distanceCode -= 1 }
    writer.write(fixedDistanceCodes[distanceCode], bits: 5)
    let distanceExtra = Int(deflateDistanceExtra[distanceCode])
    if distanceExtra > 0 { writer.write(UInt32(distance - Int(deflateDistanceBase[distanceCode])), bits: distanceExtra) }
}
