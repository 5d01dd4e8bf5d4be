import Foundation

// MARK: - SIMD helpers for the JPEG kernels
//
// The generic `SIMD8<Int32>(truncatingIfNeeded:)` and `clamped(lowerBound:upperBound:)` were
// out-of-line calls in the hot loops (perf: pointwiseMin/Max and the generic init took ~5% of a
// decode); element-wise construction compiles to vpmovzx/vpmovsx and byte shuffles instead.

typealias SampleVector = SIMD8<Int32>

/// 8 bytes at `p`, zero-extended.
@inline(__always)
func widen8(_ p: UnsafePointer<UInt8>) -> SampleVector {
    let v = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<UInt8>.self)
    return SampleVector(Int32(v[0]), Int32(v[1]), Int32(v[2]), Int32(v[3]),
                        Int32(v[4]), Int32(v[5]), Int32(v[6]), Int32(v[7]))
}

/// 8 Int16 at `p`, sign-extended.
@inline(__always)
func widen8(_ p: UnsafePointer<Int16>) -> SampleVector {
    let v = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Int16>.self)
    return SampleVector(Int32(v[0]), Int32(v[1]), Int32(v[2]), Int32(v[3]),
                        Int32(v[4]), Int32(v[5]), Int32(v[6]), Int32(v[7]))
}

/// `v` limited to 0...255, with shifts and masks (the mask-based `replacing(with:where:)` and
/// `clamped` compiled to slow out-of-line code here).
@inline(__always)
func clamp255(_ v: SampleVector) -> SampleVector {
    let low = v & ~(v &>> 31)                        // negative -> 0
    let over = low &- 255
    return low &- (over & ~(over &>> 31))            // over 255 -> 255
}

/// The low byte of each lane (values already in 0...255).
@inline(__always)
func narrow8(_ v: SampleVector) -> SIMD8<UInt8> {
    let b = unsafeBitCast(v, to: SIMD32<UInt8>.self)
    return SIMD8<UInt8>(b[0], b[4], b[8], b[12], b[16], b[20], b[24], b[28])
}

@inline(__always)
func store8(_ v: SIMD8<UInt8>, _ p: UnsafeMutablePointer<UInt8>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<UInt8>.self)
}
