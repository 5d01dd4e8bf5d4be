import Foundation

// MARK: - Inverse DCTs: libjpeg's ISLOW (jidctint.c) and its reduced-size forms (jidctred.c)
//
// Fixed-point constants are FIX(x) = round(x * 2^13) (CONST_BITS 13, PASS1_BITS 2), exactly as
// jidctint.c / jidctred.c. Pass 1 works on columns, pass 2 on rows; the output is
// clamp(value + 128) (libjpeg-turbo's AVX2 code saturates; its C range-limit table agrees for
// every value a valid stream can produce).

private let fix_0_298631336: Int32 = 2446
private let fix_0_390180644: Int32 = 3196
private let fix_0_541196100: Int32 = 4433
private let fix_0_765366865: Int32 = 6270
private let fix_0_899976223: Int32 = 7373
private let fix_1_175875602: Int32 = 9633
private let fix_1_501321110: Int32 = 12299
private let fix_1_847759065: Int32 = 15137
private let fix_1_961570560: Int32 = 16069
private let fix_2_053119869: Int32 = 16819
private let fix_2_562915447: Int32 = 20995
private let fix_3_072711026: Int32 = 25172
// jidctred.c only
private let fix_0_211164243: Int32 = 1730
private let fix_0_509795579: Int32 = 4176
private let fix_0_601344887: Int32 = 4926
private let fix_0_720959822: Int32 = 5906
private let fix_0_850430095: Int32 = 6967
private let fix_1_061594337: Int32 = 8697
private let fix_1_272758580: Int32 = 10426
private let fix_1_451774981: Int32 = 11893
private let fix_2_172734803: Int32 = 17799
private let fix_3_624509785: Int32 = 29692

@inline(__always) private func descale(_ x: Int, _ n: Int) -> Int { (x + (1 << (n - 1))) >> n }
@inline(__always) private func clampSample(_ x: Int) -> UInt8 { UInt8(clamping: x + 128) }

/// The reference ISLOW 8x8 IDCT, scalar, a line-for-line reading of `jpeg_idct_islow`
/// (the fast SIMD version below is tested against it).
/// - Parameters: coefficients: 64 in natural order; quant: 64 factors; output: 8 rows of 8 at `stride`.
func idctISlowReference(_ coefficients: UnsafePointer<Int16>, _ quant: UnsafePointer<Int32>,
                        _ output: UnsafeMutablePointer<UInt8>, stride: Int) {
    var workspace = [Int](repeating: 0, count: 64)
    for c in 0..<8 {
        func dq(_ r: Int) -> Int { Int(coefficients[r * 8 + c]) * Int(quant[r * 8 + c]) }
        var z2 = dq(2), z3 = dq(6)
        var z1 = (z2 + z3) * Int(fix_0_541196100)
        var tmp2 = z1 + z3 * -Int(fix_1_847759065)
        var tmp3 = z1 + z2 * Int(fix_0_765366865)
        z2 = dq(0); z3 = dq(4)
        var tmp0 = (z2 + z3) << 13
        var tmp1 = (z2 - z3) << 13
        let tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2
        tmp0 = dq(7); tmp1 = dq(5); tmp2 = dq(3); tmp3 = dq(1)
        z1 = tmp0 + tmp3; z2 = tmp1 + tmp2; z3 = tmp0 + tmp2
        var z4 = tmp1 + tmp3
        let z5 = (z3 + z4) * Int(fix_1_175875602)
        tmp0 *= Int(fix_0_298631336); tmp1 *= Int(fix_2_053119869)
        tmp2 *= Int(fix_3_072711026); tmp3 *= Int(fix_1_501321110)
        z1 *= -Int(fix_0_899976223); z2 *= -Int(fix_2_562915447)
        z3 *= -Int(fix_1_961570560); z4 *= -Int(fix_0_390180644)
        z3 += z5; z4 += z5
        tmp0 += z1 + z3; tmp1 += z2 + z4; tmp2 += z2 + z3; tmp3 += z1 + z4
        workspace[0 * 8 + c] = descale(tmp10 + tmp3, 11)
        workspace[7 * 8 + c] = descale(tmp10 - tmp3, 11)
        workspace[1 * 8 + c] = descale(tmp11 + tmp2, 11)
        workspace[6 * 8 + c] = descale(tmp11 - tmp2, 11)
        workspace[2 * 8 + c] = descale(tmp12 + tmp1, 11)
        workspace[5 * 8 + c] = descale(tmp12 - tmp1, 11)
        workspace[3 * 8 + c] = descale(tmp13 + tmp0, 11)
        workspace[4 * 8 + c] = descale(tmp13 - tmp0, 11)
    }
    for r in 0..<8 {
        let w = Array(workspace[(r * 8)..<(r * 8 + 8)])
        var z2 = w[2], z3 = w[6]
        var z1 = (z2 + z3) * Int(fix_0_541196100)
        var tmp2 = z1 + z3 * -Int(fix_1_847759065)
        var tmp3 = z1 + z2 * Int(fix_0_765366865)
        var tmp0 = (w[0] + w[4]) << 13
        var tmp1 = (w[0] - w[4]) << 13
        let tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2
        tmp0 = w[7]; tmp1 = w[5]; tmp2 = w[3]; tmp3 = w[1]
        z1 = tmp0 + tmp3; z2 = tmp1 + tmp2; z3 = tmp0 + tmp2
        var z4 = tmp1 + tmp3
        let z5 = (z3 + z4) * Int(fix_1_175875602)
        tmp0 *= Int(fix_0_298631336); tmp1 *= Int(fix_2_053119869)
        tmp2 *= Int(fix_3_072711026); tmp3 *= Int(fix_1_501321110)
        z1 *= -Int(fix_0_899976223); z2 *= -Int(fix_2_562915447)
        z3 *= -Int(fix_1_961570560); z4 *= -Int(fix_0_390180644)
        z3 += z5; z4 += z5
        tmp0 += z1 + z3; tmp1 += z2 + z4; tmp2 += z2 + z3; tmp3 += z1 + z4
        let out = output + r * stride
        out[0] = clampSample(descale(tmp10 + tmp3, 18))
        out[7] = clampSample(descale(tmp10 - tmp3, 18))
        out[1] = clampSample(descale(tmp11 + tmp2, 18))
        out[6] = clampSample(descale(tmp11 - tmp2, 18))
        out[2] = clampSample(descale(tmp12 + tmp1, 18))
        out[5] = clampSample(descale(tmp12 - tmp1, 18))
        out[3] = clampSample(descale(tmp13 + tmp0, 18))
        out[4] = clampSample(descale(tmp13 - tmp0, 18))
    }
}

// MARK: Fast ISLOW: SIMD8<Int32>, one lane per column (pass 1) then per row (pass 2)

typealias IDCTVector = SIMD8<Int32>

/// The 1-D ISLOW butterfly on 8 lanes at once; returns the eight outputs before descaling,
/// in order 0...7.
@inline(__always)
private func islowButterfly(_ x0: IDCTVector, _ x1: IDCTVector, _ x2: IDCTVector, _ x3: IDCTVector,
                           _ x4: IDCTVector, _ x5: IDCTVector, _ x6: IDCTVector, _ x7: IDCTVector)
    -> (IDCTVector, IDCTVector, IDCTVector, IDCTVector, IDCTVector, IDCTVector, IDCTVector, IDCTVector) {
    let z1e = (x2 &+ x6) &* fix_0_541196100
    let tmp2e = z1e &+ x6 &* (0 &- fix_1_847759065)
    let tmp3e = z1e &+ x2 &* fix_0_765366865
    let tmp0e = (x0 &+ x4) &<< 13
    let tmp1e = (x0 &- x4) &<< 13
    let tmp10 = tmp0e &+ tmp3e, tmp13 = tmp0e &- tmp3e
    let tmp11 = tmp1e &+ tmp2e, tmp12 = tmp1e &- tmp2e

    let z1 = x7 &+ x1, z2 = x5 &+ x3, z3 = x7 &+ x3, z4 = x5 &+ x1
    let z5 = (z3 &+ z4) &* fix_1_175875602
    let z1m = z1 &* (0 &- fix_0_899976223)
    let z2m = z2 &* (0 &- fix_2_562915447)
    let z3m = z3 &* (0 &- fix_1_961570560) &+ z5
    let z4m = z4 &* (0 &- fix_0_390180644) &+ z5
    let tmp0 = x7 &* fix_0_298631336 &+ z1m &+ z3m
    let tmp1 = x5 &* fix_2_053119869 &+ z2m &+ z4m
    let tmp2 = x3 &* fix_3_072711026 &+ z2m &+ z3m
    let tmp3 = x1 &* fix_1_501321110 &+ z1m &+ z4m
    return (tmp10 &+ tmp3, tmp11 &+ tmp2, tmp12 &+ tmp1, tmp13 &+ tmp0,
            tmp13 &- tmp0, tmp12 &- tmp1, tmp11 &- tmp2, tmp10 &- tmp3)
}

@inline(__always)
private func transpose(_ m: inout (IDCTVector, IDCTVector, IDCTVector, IDCTVector, IDCTVector, IDCTVector, IDCTVector, IDCTVector)) {
    let r0 = m.0, r1 = m.1, r2 = m.2, r3 = m.3, r4 = m.4, r5 = m.5, r6 = m.6, r7 = m.7
    m.0 = IDCTVector(r0[0], r1[0], r2[0], r3[0], r4[0], r5[0], r6[0], r7[0])
    m.1 = IDCTVector(r0[1], r1[1], r2[1], r3[1], r4[1], r5[1], r6[1], r7[1])
    m.2 = IDCTVector(r0[2], r1[2], r2[2], r3[2], r4[2], r5[2], r6[2], r7[2])
    m.3 = IDCTVector(r0[3], r1[3], r2[3], r3[3], r4[3], r5[3], r6[3], r7[3])
    m.4 = IDCTVector(r0[4], r1[4], r2[4], r3[4], r4[4], r5[4], r6[4], r7[4])
    m.5 = IDCTVector(r0[5], r1[5], r2[5], r3[5], r4[5], r5[5], r6[5], r7[5])
    m.6 = IDCTVector(r0[6], r1[6], r2[6], r3[6], r4[6], r5[6], r6[6], r7[6])
    m.7 = IDCTVector(r0[7], r1[7], r2[7], r3[7], r4[7], r5[7], r6[7], r7[7])
}

/// ISLOW 8x8 IDCT of one block into 8 rows of 8 samples at `stride`. Same results as
/// `idctISlowReference` for every input whose intermediates fit 32 bits (all valid streams).
@inline(__always)
func idctISlow(_ coefficients: UnsafePointer<Int16>, _ quant: UnsafePointer<Int32>,
               _ output: UnsafeMutablePointer<UInt8>, stride: Int) {
    @inline(__always) func row(_ r: Int) -> IDCTVector {
        let q = UnsafeRawPointer(quant + r &* 8).loadUnaligned(as: IDCTVector.self)
        return widen8(coefficients + r &* 8) &* q
    }
    // DC-only block (common in smooth areas): every sample is the same.
    let ac0 = UnsafeRawPointer(coefficients).loadUnaligned(as: SIMD8<Int16>.self)
    var any = ac0 & SIMD8<Int16>(0, -1, -1, -1, -1, -1, -1, -1)
    for r in 1..<8 { any |= UnsafeRawPointer(coefficients + r &* 8).loadUnaligned(as: SIMD8<Int16>.self) }
    if any == .zero {
        let dc = Int(coefficients[0]) &* Int(quant[0])
        // pass 1: dc << 2; pass 2: descale(dc << 2 << 13, 18) == descale(dc << 2, 5)
        let value = clampSample(descale(dc << 2, 5))
        let fill = SIMD8<UInt8>(repeating: value)
        for r in 0..<8 { UnsafeMutableRawPointer(output + r &* stride).storeBytes(of: fill, as: SIMD8<UInt8>.self) }
        return
    }
    // Pass 1: columns (lane = column), rows of coefficients as inputs.
    let p1 = islowButterfly(row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7))
    let round1 = IDCTVector(repeating: 1 << 10)
    var m = ((p1.0 &+ round1) &>> 11, (p1.1 &+ round1) &>> 11, (p1.2 &+ round1) &>> 11, (p1.3 &+ round1) &>> 11,
             (p1.4 &+ round1) &>> 11, (p1.5 &+ round1) &>> 11, (p1.6 &+ round1) &>> 11, (p1.7 &+ round1) &>> 11)
    // Pass 2: rows (lane = row).
    transpose(&m)
    let p2 = islowButterfly(m.0, m.1, m.2, m.3, m.4, m.5, m.6, m.7)
    let round2 = IDCTVector(repeating: (1 << 17) &+ (128 << 18))
    @inline(__always) func finish(_ v: IDCTVector) -> IDCTVector { clamp255((v &+ round2) &>> 18) }
    var o = (finish(p2.0), finish(p2.1), finish(p2.2), finish(p2.3), finish(p2.4), finish(p2.5), finish(p2.6), finish(p2.7))
    transpose(&o)     // now o.r = output row r
    @inline(__always) func store(_ v: IDCTVector, _ r: Int) {
        store8(narrow8(v), output + r &* stride)
    }
    store(o.0, 0); store(o.1, 1); store(o.2, 2); store(o.3, 3)
    store(o.4, 4); store(o.5, 5); store(o.6, 6); store(o.7, 7)
}

// MARK: Reduced-size IDCTs (jidctred.c), for DCT-domain scaling

/// jpeg_idct_4x4: 4x4 samples from the block's low frequencies (row and column 4 unused).
func idct4x4(_ coefficients: UnsafePointer<Int16>, _ quant: UnsafePointer<Int32>,
             _ output: UnsafeMutablePointer<UInt8>, stride: Int) {
    var workspace = (Int(0), Int(0), Int(0), Int(0), Int(0), Int(0), Int(0), Int(0),
                     Int(0), Int(0), Int(0), Int(0), Int(0), Int(0), Int(0), Int(0),
                     Int(0), Int(0), Int(0), Int(0), Int(0), Int(0), Int(0), Int(0),
                     Int(0), Int(0), Int(0), Int(0), Int(0), Int(0), Int(0), Int(0))
    withUnsafeMutableBytes(of: &workspace) { raw in
        let ws = raw.bindMemory(to: Int.self).baseAddress!                 // 4 rows x 8 columns
        for c in 0..<8 where c != 4 {
            func dq(_ r: Int) -> Int { Int(coefficients[r * 8 + c]) * Int(quant[r * 8 + c]) }
            var tmp0 = dq(0) << 14
            let tmp2a = dq(2) * Int(fix_1_847759065) + dq(6) * -Int(fix_0_765366865)
            let tmp10 = tmp0 + tmp2a, tmp12 = tmp0 - tmp2a
            let z1 = dq(7), z2 = dq(5), z3 = dq(3), z4 = dq(1)
            tmp0 = z1 * -Int(fix_0_211164243) + z2 * Int(fix_1_451774981) + z3 * -Int(fix_2_172734803) + z4 * Int(fix_1_061594337)
            let tmp2 = z1 * -Int(fix_0_509795579) + z2 * -Int(fix_0_601344887) + z3 * Int(fix_0_899976223) + z4 * Int(fix_2_562915447)
            ws[0 * 8 + c] = descale(tmp10 + tmp2, 12)
            ws[3 * 8 + c] = descale(tmp10 - tmp2, 12)
            ws[1 * 8 + c] = descale(tmp12 + tmp0, 12)
            ws[2 * 8 + c] = descale(tmp12 - tmp0, 12)
        }
        for r in 0..<4 {
            let w = ws + r * 8
            var tmp0 = w[0] << 14
            let tmp2a = w[2] * Int(fix_1_847759065) + w[6] * -Int(fix_0_765366865)
            let tmp10 = tmp0 + tmp2a, tmp12 = tmp0 - tmp2a
            let z1 = w[7], z2 = w[5], z3 = w[3], z4 = w[1]
            tmp0 = z1 * -Int(fix_0_211164243) + z2 * Int(fix_1_451774981) + z3 * -Int(fix_2_172734803) + z4 * Int(fix_1_061594337)
            let tmp2 = z1 * -Int(fix_0_509795579) + z2 * -Int(fix_0_601344887) + z3 * Int(fix_0_899976223) + z4 * Int(fix_2_562915447)
            let out = output + r * stride
            out[0] = clampSample(descale(tmp10 + tmp2, 19))
            out[3] = clampSample(descale(tmp10 - tmp2, 19))
            out[1] = clampSample(descale(tmp12 + tmp0, 19))
            out[2] = clampSample(descale(tmp12 - tmp0, 19))
        }
    }
}

/// jpeg_idct_2x2: 2x2 samples from the odd low frequencies and DC (columns 2, 4, 6 unused).
func idct2x2(_ coefficients: UnsafePointer<Int16>, _ quant: UnsafePointer<Int32>,
             _ output: UnsafeMutablePointer<UInt8>, stride: Int) {
    // Pass 1 on columns 0, 1, 3, 5, 7: (top, bottom) of each.
    @inline(__always) func column(_ c: Int) -> (Int, Int) {
        @inline(__always) func dq(_ r: Int) -> Int { Int(coefficients[r &* 8 &+ c]) &* Int(quant[r &* 8 &+ c]) }
        let tmp10 = dq(0) << 15
        let tmp0 = dq(7) &* -Int(fix_0_720959822) &+ dq(5) &* Int(fix_0_850430095)
            &+ dq(3) &* -Int(fix_1_272758580) &+ dq(1) &* Int(fix_3_624509785)
        return (descale(tmp10 &+ tmp0, 13), descale(tmp10 &- tmp0, 13))
    }
    let w0 = column(0), w1 = column(1), w3 = column(3), w5 = column(5), w7 = column(7)
    @inline(__always) func row(_ x0: Int, _ x1: Int, _ x3: Int, _ x5: Int, _ x7: Int, _ out: UnsafeMutablePointer<UInt8>) {
        let tmp10 = x0 << 15
        let tmp0 = x7 &* -Int(fix_0_720959822) &+ x5 &* Int(fix_0_850430095)
            &+ x3 &* -Int(fix_1_272758580) &+ x1 &* Int(fix_3_624509785)
        out[0] = clampSample(descale(tmp10 &+ tmp0, 20))
        out[1] = clampSample(descale(tmp10 &- tmp0, 20))
    }
    row(w0.0, w1.0, w3.0, w5.0, w7.0, output)
    row(w0.1, w1.1, w3.1, w5.1, w7.1, output + stride)
}

/// jpeg_idct_1x1: the DC average.
@inline(__always)
func idct1x1(_ coefficients: UnsafePointer<Int16>, _ quant: UnsafePointer<Int32>,
             _ output: UnsafeMutablePointer<UInt8>, stride: Int) {
    output[0] = clampSample(descale(Int(coefficients[0]) * Int(quant[0]), 3))
}
