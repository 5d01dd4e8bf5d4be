// MARK: - CRC-32 (ISO 3309 / ITU-T V.42, as PNG chunks use: PNG spec, section 5.5)

/// Slice-by-8 tables for the reflected polynomial 0xEDB88320: table k maps a byte that is
/// k positions ahead to its contribution, so eight bytes fold in per step.
let crc32Tables: [UInt32] = {
    var tables = [UInt32](repeating: 0, count: 8 * 256)
    for n in 0..<256 {
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        tables[n] = c
    }
    for k in 1..<8 {
        for n in 0..<256 {
            let previous = tables[(k - 1) * 256 + n]
            tables[k * 256 + n] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
        }
    }
    return tables
}()

/// CRC-32 of `count` bytes at `bytes`, continuing from `crc` (0 to start): zlib's `crc32`.
/// Public for other checksummed files (training checkpoints); slice-by-8, about 2 GB/s.
package func crc32(_ bytes: UnsafePointer<UInt8>, count: Int, continuing crc: UInt32 = 0) -> UInt32 {
    crc32Tables.withUnsafeBufferPointer { table in
        let t = table.baseAddress!
        var c = ~crc
        var i = 0
        while i &+ 8 <= count {
            let low = c ^ (UInt32(bytes[i]) | UInt32(bytes[i &+ 1]) << 8
                           | UInt32(bytes[i &+ 2]) << 16 | UInt32(bytes[i &+ 3]) << 24)
            c = t[7 &* 256 &+ Int(low & 0xFF)] ^ t[6 &* 256 &+ Int((low >> 8) & 0xFF)]
              ^ t[5 &* 256 &+ Int((low >> 16) & 0xFF)] ^ t[4 &* 256 &+ Int(low >> 24)]
              ^ t[3 &* 256 &+ Int(bytes[i &+ 4])] ^ t[2 &* 256 &+ Int(bytes[i &+ 5])]
              ^ t[256 &+ Int(bytes[i &+ 6])] ^ t[Int(bytes[i &+ 7])]
            i &+= 8
        }
        while i < count {
            c = t[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
            i &+= 1
        }
        return ~c
    }
}

/// CRC-32 of a byte array (tests, the encoder).
func crc32<C: Collection>(_ bytes: C, continuing crc: UInt32 = 0) -> UInt32 where C.Element == UInt8 {
    let array = Array(bytes)
    return array.withUnsafeBufferPointer { crc32($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: $0.count, continuing: crc) }
}
