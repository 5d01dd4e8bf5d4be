import Foundation

// MARK: - Color conversion (libjpeg-turbo jdcolor.c, then Pillow's CMYK -> RGB)
//
// jdcolor.c builds tables with SCALEBITS 16 and FIX(x) = round(x * 2^16):
//   Cr_r[i] = (FIX(1.40200) * (i - 128) + 2^15) >> 16      FIX(1.40200) = 91881
//   Cb_b[i] = (FIX(1.77200) * (i - 128) + 2^15) >> 16      FIX(1.77200) = 116130
//   G = y + ((-FIX(0.34414) * cb' + 2^15 - FIX(0.71414) * cr') >> 16)   22554, 46802
// We compute the same integers directly (they vectorize; a table lookup does not).

@inline(__always)
func yccToRGBRow(_ y: UnsafePointer<UInt8>, _ cb: UnsafePointer<UInt8>, _ cr: UnsafePointer<UInt8>,
                 count: Int, _ output: UnsafeMutablePointer<UInt8>) {
    typealias V = SampleVector
    var x = 0
    let half = V(repeating: 1 << 15), center = V(repeating: 128)
    while x &+ 8 <= count {
        let yv = widen8(y + x)
        let cbv = widen8(cb + x) &- center
        let crv = widen8(cr + x) &- center
        let r = narrow8(clamp255(yv &+ ((crv &* 91881 &+ half) &>> 16)))
        let g = narrow8(clamp255(yv &+ ((cbv &* -22554 &+ half &- crv &* 46802) &>> 16)))
        let b = narrow8(clamp255(yv &+ ((cbv &* 116130 &+ half) &>> 16)))
        // Interleave to R G B R G B ... (24 bytes).
        let o = output + x &* 3
        let first = SIMD16<UInt8>(r[0], g[0], b[0], r[1], g[1], b[1], r[2], g[2], b[2], r[3], g[3], b[3], r[4], g[4], b[4], r[5])
        let rest = SIMD8<UInt8>(g[5], b[5], r[6], g[6], b[6], r[7], g[7], b[7])
        UnsafeMutableRawPointer(o).storeBytes(of: first, as: SIMD16<UInt8>.self)
        UnsafeMutableRawPointer(o + 16).storeBytes(of: rest, as: SIMD8<UInt8>.self)
        x &+= 8
    }
    while x < count {
        let yv = Int(y[x]), cbv = Int(cb[x]) - 128, crv = Int(cr[x]) - 128
        output[x * 3] = UInt8(clamping: yv + ((crv * 91881 + 32768) >> 16))
        output[x * 3 + 1] = UInt8(clamping: yv + ((cbv * -22554 + 32768 - crv * 46802) >> 16))
        output[x * 3 + 2] = UInt8(clamping: yv + ((cbv * 116130 + 32768) >> 16))
        x += 1
    }
}

/// Gray replicated to R = G = B (Pillow's L -> RGB).
@inline(__always)
func grayToRGBRow(_ gray: UnsafePointer<UInt8>, count: Int, _ output: UnsafeMutablePointer<UInt8>) {
    for x in 0..<count {
        let v = gray[x]
        output[x &* 3] = v; output[x &* 3 &+ 1] = v; output[x &* 3 &+ 2] = v
    }
}

/// Three planes copied interleaved (Adobe transform 0 or 'R','G','B' component ids).
@inline(__always)
func planarToRGBRow(_ r: UnsafePointer<UInt8>, _ g: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>,
                    count: Int, _ output: UnsafeMutablePointer<UInt8>) {
    for x in 0..<count {
        output[x &* 3] = r[x]; output[x &* 3 &+ 1] = g[x]; output[x &* 3 &+ 2] = b[x]
    }
}

/// CMYK as libjpeg returns it (Adobe's inverted polarity), through Pillow: the "CMYK;I" raw
/// mode inverts every channel, then `cmyk2rgb` gives R = nk - MULDIV255(C, nk) with nk = 255 - K
/// and MULDIV255(a, b) = ((a*b + 128) >> 8 + a*b + 128) >> 8. With inverted inputs, nk is the
/// stored K. For YCCK (Adobe transform 2) the first three channels are converted back first
/// (jdcolor.c `ycck_cmyk_convert`: C = 255 - R(Y, Cb, Cr), likewise M, Y).
@inline(__always)
func cmykToRGBRow(_ c: UnsafePointer<UInt8>, _ m: UnsafePointer<UInt8>, _ y: UnsafePointer<UInt8>,
                  _ k: UnsafePointer<UInt8>, isYCCK: Bool, count: Int, _ output: UnsafeMutablePointer<UInt8>) {
    @inline(__always) func channel(_ stored: Int, _ nk: Int) -> UInt8 {
        let inverted = 255 - stored
        let t = inverted * nk + 128
        return UInt8(clamping: nk - (((t >> 8) + t) >> 8))
    }
    for x in 0..<count {
        var c0 = Int(c[x]), c1 = Int(m[x]), c2 = Int(y[x])
        if isYCCK {
            let luma = c0, cb = c1 - 128, cr = c2 - 128
            c0 = 255 - Int(UInt8(clamping: luma + ((cr * 91881 + 32768) >> 16)))
            c1 = 255 - Int(UInt8(clamping: luma + ((cb * -22554 + 32768 - cr * 46802) >> 16)))
            c2 = 255 - Int(UInt8(clamping: luma + ((cb * 116130 + 32768) >> 16)))
        }
        let nk = Int(k[x])
        output[x * 3] = channel(c0, nk)
        output[x * 3 + 1] = channel(c1, nk)
        output[x * 3 + 2] = channel(c2, nk)
    }
}
