import Foundation

// MARK: - Chroma upsampling, as libjpeg-turbo's jdsample.c chooses and computes it

/// How one component is brought to the output resolution (jdsample.c `jinit_upsampler`).
/// The "fancy" triangle filters weigh the nearer input sample 3/4 and the further 1/4; they are
/// used when `do_fancy_upsampling` is on (libjpeg's default, Pillow's too) and the IDCT output is
/// larger than 1x1; h2v1/h2v2 fancy also need a component wider than 2 samples.
enum JPEGUpsampling: Equatable {
    case fullSize
    case h2v1Fancy, h2v1Box
    case h1v2Fancy
    case h2v2Fancy, h2v2Box
    /// Box replication by integral factors (jdsample.c `int_upsample`).
    case integral(horizontal: Int, vertical: Int)

    /// libjpeg's selection. `inH`/`inV`: the component's samples per row group after IDCT
    /// scaling; `outH`/`outV`: the output's (the maximum sampling factors).
    init?(inH: Int, inV: Int, outH: Int, outV: Int, fancy: Bool, componentWidth: Int) {
        if inH == outH && inV == outV {
            self = .fullSize
        } else if inH * 2 == outH && inV == outV {
            self = fancy && componentWidth > 2 ? .h2v1Fancy : .h2v1Box
        } else if inH == outH && inV * 2 == outV && fancy {
            self = .h1v2Fancy
        } else if inH * 2 == outH && inV * 2 == outV {
            self = fancy && componentWidth > 2 ? .h2v2Fancy : .h2v2Box
        } else if inH > 0 && inV > 0 && outH % inH == 0 && outV % inV == 0 {
            self = .integral(horizontal: outH / inH, vertical: outV / inV)
        } else {
            return nil
        }
    }

    /// Output row `y`'s source rows in the component plane: the nearest and, for the vertical
    /// triangle filters, the next nearest (the row above for even `y`, below for odd `y`),
    /// clamped to the component's real rows as libjpeg's context pointers duplicate them.
    @inline(__always)
    func sourceRows(outputRow y: Int, componentHeight: Int) -> (near: Int, far: Int) {
        switch self {
        case .fullSize, .h2v1Fancy, .h2v1Box:
            return (y, y)
        case .h1v2Fancy, .h2v2Fancy:
            let near = y >> 1
            let far = y & 1 == 0 ? max(near - 1, 0) : min(near + 1, componentHeight - 1)
            return (near, far)
        case .h2v2Box:
            return (y >> 1, y >> 1)
        case let .integral(_, vertical):
            return (y / vertical, y / vertical)
        }
    }
}

/// h2v1_fancy_upsample: `width` (> 2) input samples to 2 x `width` outputs.
@inline(__always)
func upsampleH2V1Fancy(_ input: UnsafePointer<UInt8>, width: Int, _ output: UnsafeMutablePointer<UInt8>) {
    output[0] = input[0]
    output[1] = UInt8(truncatingIfNeeded: (Int(input[0]) &* 3 &+ Int(input[1]) &+ 2) >> 2)
    var x = 1
    // 8 input columns at a time, reading x-1 ... x+8 (x + 8 < width).
    while x &+ 9 <= width {
        let center = widen8(input + x) &* 3
        let even = (center &+ widen8(input + (x &- 1)) &+ 1) &>> 2
        let odd = (center &+ widen8(input + (x &+ 1)) &+ 2) &>> 2
        storeInterleaved(narrow8(even), narrow8(odd), output + 2 &* x)
        x &+= 8
    }
    while x < width - 1 {
        let center = Int(input[x]) &* 3
        output[2 &* x] = UInt8(truncatingIfNeeded: (center &+ Int(input[x &- 1]) &+ 1) >> 2)
        output[2 &* x &+ 1] = UInt8(truncatingIfNeeded: (center &+ Int(input[x &+ 1]) &+ 2) >> 2)
        x &+= 1
    }
    let last = width - 1
    output[2 * last] = UInt8(truncatingIfNeeded: (Int(input[last]) &* 3 &+ Int(input[last - 1]) &+ 1) >> 2)
    output[2 * last + 1] = input[last]
}

/// Writes e0 o0 e1 o1 ... (16 bytes).
@inline(__always)
func storeInterleaved(_ even: SIMD8<UInt8>, _ odd: SIMD8<UInt8>, _ p: UnsafeMutablePointer<UInt8>) {
    let v = SIMD16<UInt8>(even[0], odd[0], even[1], odd[1], even[2], odd[2], even[3], odd[3],
                          even[4], odd[4], even[5], odd[5], even[6], odd[6], even[7], odd[7])
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<UInt8>.self)
}

/// h2v2_fancy_upsample for one output row: `near` is the nearest input row, `far` the next
/// nearest; 9/16, 3/16, 3/16, 1/16 weights with libjpeg's alternating 8/7 rounding bias.
@inline(__always)
func upsampleH2V2Fancy(near: UnsafePointer<UInt8>, far: UnsafePointer<UInt8>, width: Int,
                       _ output: UnsafeMutablePointer<UInt8>) {
    @inline(__always) func columnSum(_ x: Int) -> Int { Int(near[x]) &* 3 &+ Int(far[x]) }
    @inline(__always) func columnSums(_ x: Int) -> SampleVector { widen8(near + x) &* 3 &+ widen8(far + x) }
    var current = columnSum(0)
    output[0] = UInt8(truncatingIfNeeded: (current &* 4 &+ 8) >> 4)
    output[1] = UInt8(truncatingIfNeeded: (current &* 3 &+ columnSum(1) &+ 7) >> 4)
    var x = 1
    while x &+ 9 <= width {
        let center = columnSums(x) &* 3
        let even = (center &+ columnSums(x &- 1) &+ 8) &>> 4
        let odd = (center &+ columnSums(x &+ 1) &+ 7) &>> 4
        storeInterleaved(narrow8(even), narrow8(odd), output + 2 &* x)
        x &+= 8
    }
    while x < width - 1 {
        current = columnSum(x)
        output[2 &* x] = UInt8(truncatingIfNeeded: (current &* 3 &+ columnSum(x &- 1) &+ 8) >> 4)
        output[2 &* x &+ 1] = UInt8(truncatingIfNeeded: (current &* 3 &+ columnSum(x &+ 1) &+ 7) >> 4)
        x &+= 1
    }
    current = columnSum(x)
    output[2 &* x] = UInt8(truncatingIfNeeded: (current &* 3 &+ columnSum(x &- 1) &+ 8) >> 4)
    output[2 &* x &+ 1] = UInt8(truncatingIfNeeded: (current &* 4 &+ 7) >> 4)
}

/// h1v2_fancy_upsample for one output row: bias 1 when `far` is the row above, 2 below.
@inline(__always)
func upsampleH1V2Fancy(near: UnsafePointer<UInt8>, far: UnsafePointer<UInt8>, width: Int, bias: Int,
                       _ output: UnsafeMutablePointer<UInt8>) {
    for x in 0..<width {
        output[x] = UInt8(truncatingIfNeeded: (Int(near[x]) &* 3 &+ Int(far[x]) &+ bias) >> 2)
    }
}

/// Box replication by `factor` horizontally, `count` outputs.
@inline(__always)
func upsampleBox(_ input: UnsafePointer<UInt8>, factor: Int, count: Int, _ output: UnsafeMutablePointer<UInt8>) {
    if factor == 2 {
        for x in 0..<count { output[x] = input[x >> 1] }
    } else {
        for x in 0..<count { output[x] = input[x / factor] }
    }
}
