import Foundation
import XCTest

/// Reads a fixture under Tests/ImageCodecTests/Fixtures/<subdirectory> (scripts/codec/*.py).
func pngFixture(_ name: String, _ ext: String, subdirectory: String = "Fixtures/png") throws -> Data {
    guard let url = Bundle.module.url(forResource: name, withExtension: ext, subdirectory: subdirectory) else {
        throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "missing fixture \(subdirectory)/\(name).\(ext): "
                                                                                + "run scripts/codec/png_fixtures.py"])
    }
    return try Data(contentsOf: url)
}

