import Foundation
import XCTest
import TensorEngine
@testable import TransLocator

/// timm ViTs (scripts/model/make_import_fixtures.py) rebuilt from their safetensors: our
/// `pre_logits` within 1e-4 absolute of timm's float32 (the verify-import bound;
/// float32 reordering over 2-3 blocks stays near 1e-6).
final class ImportTests: XCTestCase {
    func testVerifyImportPassesOnEveryFixture() throws {
        for name in ["import-vit-f32", "import-vit-f16", "import-vit-bf16", "import-vit-posembed-resample",
                     "import-vit-mlp3-depth3"] {
            let result = try verifyImport(contentsOf: fixtureURL(name + ".safetensors"))
            print("\(name): max abs error \(result.maxAbsoluteError)")
            XCTAssertLessThanOrEqual(result.maxAbsoluteError, 1e-4, name)
        }
    }

    func testConfigComesFromShapesAndMetadata() throws {
        let file = try WeightFile(contentsOf: fixtureURL("import-vit-mlp3-depth3.safetensors"))
        XCTAssertEqual(try timmConfig(of: file),
                       ViTConfig(imageSize: 48, patchSize: 16, embedDimension: 64, depth: 3, headCount: 4, mlpRatio: 3))
        let resampled = try timmConfig(of: WeightFile(contentsOf: fixtureURL("import-vit-posembed-resample.safetensors")))
        XCTAssertEqual(resampled.imageSize, 64)
    }

    func testMismatchedKeysAreOneErrorListingThemAll() throws {
        let file = try WeightFile(contentsOf: fixtureURL("import-vit-f32.safetensors"))
        let wrong = VisionTransformer(config: ViTConfig(imageSize: 48, patchSize: 16, embedDimension: 48, depth: 3,
                                                        headCount: 3, mlpRatio: 2), prefix: "")
        XCTAssertThrowsError(try wrong.load(from: file)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("missing (12)"), text)                     // block 2's tensors
            XCTAssertTrue(text.contains("blocks.2.norm1.weight"), text)
            XCTAssertTrue(text.contains("misshaped (6)"), text)                     // fc1 weight and bias, fc2 weight, blocks 0-1
            XCTAssertTrue(text.contains("blocks.0.mlp.fc1.weight [192, 48] (expected [96, 48])"), text)
            XCTAssertTrue(text.contains("import-vit-f32.safetensors"), text)
        }
        let shallow = VisionTransformer(config: ViTConfig(imageSize: 48, patchSize: 16, embedDimension: 48, depth: 1,
                                                          headCount: 3), prefix: "")
        XCTAssertThrowsError(try shallow.load(from: file)) { error in
            XCTAssertTrue("\(error)".contains("unexpected (12)"), "\(error)")
        }
    }

    /// torch's F.interpolate(bicubic, align_corners=False) on a 3x3 grid of 0..8 to 4x4:
    /// values from torch 2.13 (antialias=True, timm 1.0's default, and False).
    func testPositionEmbeddingResamplingMatchesTorch() {
        let source = Tensor(shape: [1, 10, 1], values: [42] + (0..<9).map(Float.init))
        let antialiased = resamplePositionEmbedding(source, toGrid: 4, antialias: true)
        let plain = resamplePositionEmbedding(source, toGrid: 4, antialias: false)
        XCTAssertEqual(antialiased[0], 42)
        XCTAssertEqual(plain[0], 42)
        let torchAntialiased: [Float] = [-0.20895523, 0.39987853, 1.2866887, 1.8955226]       // first row
        let torchPlain: [Float] = [-0.287109375, 0.314453125, 1.2548828125, 1.8564453125]
        for i in 0..<4 {
            XCTAssertEqual(antialiased[1 + i], torchAntialiased[i], accuracy: 1e-5, "aa \(i)")
            XCTAssertEqual(plain[1 + i], torchPlain[i], accuracy: 1e-5, "plain \(i)")
        }
    }
}

/// `TransLocatorModel.importBackbone` beyond ImportBackboneTests (values in both branches, the rest
/// untouched, ViT-MT, unexpected keys): a checkpoint for another grid, and one too shallow.
final class BackboneImportTests: XCTestCase {
    func modelConfig(imageSize: Int, depth: Int = 2) -> ModelConfig {
        ModelConfig(imageSize: imageSize, patchSize: 16, embedDimension: 48, depth: depth, headCount: 3,
                    headHidden: .init(middle: [16]), sceneClasses: 3)
    }

    func testAnotherGridIsResampledAndAnotherDepthIsOneError() throws {
        let resample = fixtureURL("import-vit-posembed-resample.safetensors")       // 3x3 grid of a 48 px ViT, run at 64 px
        let model = try TransLocatorModel(config: modelConfig(imageSize: 64), headSizes: HeadSizes(coarse: 5, middle: 7, fine: 11))
        try model.importBackbone(contentsOf: resample)
        let file = try WeightFile(contentsOf: resample)
        let ours = model.seg!.preLogits(try file.tensor("input")), reference = try file.tensor("pre_logits")
        for i in 0..<ours.count { XCTAssertEqual(ours[i], reference[i], accuracy: 1e-4, "pre_logits[\(i)]") }

        let deeper = try TransLocatorModel(config: modelConfig(imageSize: 48, depth: 3),
                                           headSizes: HeadSizes(coarse: 5, middle: 7, fine: 11))
        XCTAssertThrowsError(try deeper.importBackbone(contentsOf: fixtureURL("import-vit-f32.safetensors"))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("import-vit-f32.safetensors"), text)
            XCTAssertTrue(text.contains("missing (12)") && text.contains("blocks.2.mlp.fc2.bias"), text)
        }
    }
}
