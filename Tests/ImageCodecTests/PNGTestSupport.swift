import Foundation
import XCTest

/// Reads a fixture under Tests/ImageCodecTests/Fixtures/<subdirectory> (scripts/codec/*.py).
func pngFixture(_ name: String, _ ext: String, subdirectory: String = "Fixtures/png") throws -> Data {
    guard let url = Bundle.module.url(forResource: name, withExtension: ext, subdirectory: subdirectory) else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "missing fixture \(subdirectory)/\(name).\(ext): run scripts/codec/png_fixtures.py"])
    }
    return try Data(contentsOf: url)
}

/// A small seeded generator (SplitMix64) so that failures print a reproducible seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
