import Foundation

/// A seeded pseudo-random generator: xoshiro256** (Blackman & Vigna, 2018) seeded through
/// SplitMix64, so nearby seeds give unrelated streams. Same seed, same sequence, on every
/// platform; the state is four words and can be saved in a checkpoint (`state`).
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    var state: (UInt64, UInt64, UInt64, UInt64)

    /// The generator for `seed`: four SplitMix64 outputs seed the state, so any seed (0 included) works.
    public init(seed: UInt64) {
        var mix = seed
        func splitMix() -> UInt64 {
            mix &+= CounterRandom.golden
            return CounterRandom.mix(mix)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    /// The next 64 random bits (xoshiro256**).
    public mutating func next() -> UInt64 {
        let result = rotate(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotate(state.3, 45)
        return result
    }

    private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 53 random bits.
    package mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Standard normal (Box-Muller; one draw per call, the pair's second value discarded so the
    /// stream position does not depend on call history).
    mutating func nextNormal() -> Double {
        let u1 = 1 - nextUnit()                       // (0, 1]: log stays finite
        let u2 = nextUnit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

// Deterministic randomness for training lives here too: the epoch's image order and every
// augmentation draw are functions of (seed, epoch, index) alone, never of what ran before. A
// resumed run therefore needs only the seed and the optimizer step to continue bit for bit, and
// the decoders may draw in any thread order.

/// A counter-based generator: SplitMix64's finaliser applied to (key + counter·γ), where the key
/// hashes the stream's coordinates. Each `next()` is a pure function of (key, counter), so a
/// stream can be recreated anywhere from its coordinates (Salmon et al.'s counter-based idea,
/// with SplitMix64 as the bijection: Steele, Lea & Flood, OOPSLA 2014).
package struct CounterRandom: RandomNumberGenerator, Sendable, Equatable {
    let key: UInt64
    var counter: UInt64

    /// The stream of `(seed, purpose, epoch, index)`: e.g. purpose 1 the epoch's order, 2 an
    /// image's augmentation draws (see `RandomStream`).
    package init(seed: UInt64, stream: UInt64, epoch: Int, index: Int) {
        var key = Self.mix(seed ^ 0x6A09_E667_F3BC_C908)
        key = Self.mix(key ^ stream)
        key = Self.mix(key ^ UInt64(bitPattern: Int64(epoch)))
        key = Self.mix(key ^ UInt64(bitPattern: Int64(index)))
        self.key = key
        counter = 0
    }

    package mutating func next() -> UInt64 {
        counter &+= 1
        return Self.mix(key &+ counter &* Self.golden)
    }

    /// A uniform double in [0, 1) with 53 random bits.
    package mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A uniform double in [low, high).
    package mutating func uniform(_ low: Double, _ high: Double) -> Double { low + (high - low) * nextUnit() }

    /// An integer in 0..<n from the high word of a 64x64 product (Lemire's map without the
    /// rejection step: bias below n / 2^64), spelled out so the order never depends on the
    /// standard library's `next(upperBound:)` version.
    package mutating func index(below n: Int) -> Int {
        precondition(n > 0, "index below \(n)")
        return Int(next().multipliedFullWidth(by: UInt64(n)).high)
    }

    /// SplitMix64's increment, 2^64 / φ (Steele, Lea & Flood): consecutive counters land far apart.
    static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// SplitMix64's finaliser (a bijection of UInt64 with full avalanche).
    @inlinable
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The purposes of the training streams, so no two draw the same numbers.
package enum RandomStream: UInt64, Sendable {
    case epochOrder = 1
    case augmentation = 2
    case initialization = 3
    case synthesis = 4
}

extension Tensor {
    /// Fills with U[low, high).
    package func fillUniform(low: Float, high: Float, using generator: inout SeededGenerator) {
        let p = data
        for i in 0..<count { p[i] = low + (high - low) * Float(generator.nextUnit()) }
    }

    /// Fills with N(mean, std²).
    package func fillNormal(mean: Float = 0, std: Float, using generator: inout SeededGenerator) {
        let p = data
        for i in 0..<count { p[i] = mean + std * Float(generator.nextNormal()) }
    }

    /// Fills as timm's `trunc_normal_(t, mean, std, a, b)`: a normal truncated to the absolute
    /// bounds [a, b] (timm's default a = -2, b = 2 are *not* in units of std), drawn by inverse
    /// CDF: u ~ U(2Φ(a') - 1, 2Φ(b') - 1), x = mean + std·√2·erfinv(u), clamped to [a, b].
    func fillTruncatedNormal(mean: Float = 0, std: Float, a: Float = -2, b: Float = 2,
                                    using generator: inout SeededGenerator) {
        func normalCDF(_ x: Double) -> Double { (1 + erf(x / 2.0.squareRoot())) / 2 }
        let low = 2 * normalCDF(Double((a - mean) / std)) - 1
        let high = 2 * normalCDF(Double((b - mean) / std)) - 1
        let p = data
        for i in 0..<count {
            let u = low + (high - low) * generator.nextUnit()
            let x = Double(mean) + Double(std) * 2.0.squareRoot() * inverseErf(u)
            p[i] = Float(min(max(x, Double(a)), Double(b)))
        }
    }
}

/// erf⁻¹(y) for y in (-1, 1): Giles' (2010) single-precision starting point, then two Newton
/// steps on Foundation's erf, which bring it to double precision. Initialisation only.
func inverseErf(_ y: Double) -> Double {
    if y <= -1 { return -.infinity }
    if y >= 1 { return .infinity }
    var w = -log((1 - y) * (1 + y))
    var x: Double
    if w < 5 {
        w -= 2.5
        var p = 2.81022636e-08
        p = 3.43273939e-07 + p * w; p = -3.5233877e-06 + p * w; p = -4.39150654e-06 + p * w
        p = 0.00021858087 + p * w; p = -0.00125372503 + p * w; p = -0.00417768164 + p * w
        p = 0.246640727 + p * w; p = 1.50140941 + p * w
        x = p * y
    } else {
        w = w.squareRoot() - 3
        var p = -0.000200214257
        p = 0.000100950558 + p * w; p = 0.00134934322 + p * w; p = -0.00367342844 + p * w
        p = 0.00573950773 + p * w; p = -0.0076224613 + p * w; p = 0.00943887047 + p * w
        p = 1.00167406 + p * w; p = 2.83297682 + p * w
        x = p * y
    }
    for _ in 0..<2 {                                   // Newton: f = erf(x) - y, f' = 2/√π e^(-x²)
        x -= (erf(x) - y) / (2 / Double.pi.squareRoot() * exp(-x * x))
    }
    return x
}
