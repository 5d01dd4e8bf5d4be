// MARK: - Adler-32 (RFC 1950, section 8.2): the zlib stream's trailer checksum

/// Adler-32 of `count` bytes at `bytes`, continuing from `adler` (1 to start).
func adler32(_ bytes: UnsafePointer<UInt8>, count: Int, continuing adler: UInt32 = 1) -> UInt32 {
    // 5552 is zlib's NMAX: the most bytes whose sums cannot overflow 32 bits before reducing.
    let modulus: UInt32 = 65521
    var a = adler & 0xFFFF
    var b = adler >> 16
    var i = 0
    while i < count {
        let end = min(count, i &+ 5552)
        while i < end {
            a &+= UInt32(bytes[i])
            b &+= a
            i &+= 1
        }
        a %= modulus
        b %= modulus
    }
    return b << 16 | a
}

/// Adler-32 of a byte array (tests, the encoder).
func adler32<C: Collection>(_ bytes: C, continuing adler: UInt32 = 1) -> UInt32 where C.Element == UInt8 {
    let array = Array(bytes)
    return array.withUnsafeBufferPointer { adler32($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: $0.count, continuing: adler) }
}
