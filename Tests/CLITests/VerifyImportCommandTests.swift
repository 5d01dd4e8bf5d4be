import Foundation
import XCTest
@testable import CLI

/// `translocator verify-import` on the timm fixtures of Tests/TransLocatorTests/Fixtures
/// (scripts/model/make_import_fixtures.py): exit 0 within 1e-4, exit 1 above the tolerance.
final class VerifyImportCommandTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("TransLocatorTests/Fixtures")

    func testPassesOnEveryImportFixture() {
        for name in ["import-vit-f32", "import-vit-f16", "import-vit-bf16", "import-vit-posembed-resample",
                     "import-vit-mlp3-depth3"] {
            let path = Self.fixtures.appendingPathComponent(name + ".safetensors").path
            XCTAssertEqual(runCommandLine(["verify-import", path]), ExitCode.success, name)
        }
    }

    func testFailsAboveToleranceAndOnBadInput() {
        let path = Self.fixtures.appendingPathComponent("import-vit-f32.safetensors").path
        XCTAssertEqual(runCommandLine(["verify-import", path, "--tolerance", "0"]), ExitCode.failure)
        XCTAssertEqual(runCommandLine(["verify-import", "/nonexistent.safetensors"]), ExitCode.failure)
        XCTAssertEqual(runCommandLine(["verify-import"]), ExitCode.usage)
        // A twin fixture has rgb.-prefixed names: no timm ViT at the top level.
        let twin = Self.fixtures.appendingPathComponent("twin-vit-mt.safetensors").path
        XCTAssertEqual(runCommandLine(["verify-import", twin]), ExitCode.failure)
    }
}
