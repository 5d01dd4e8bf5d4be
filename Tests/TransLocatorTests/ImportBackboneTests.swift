import Foundation
import XCTest
import TensorEngine
@testable import TransLocator

/// `TransLocatorModel.importBackbone` (what `train --init` calls) with timm's weights
/// (scripts/model/make_import_fixtures.py: a 2-block ViT, 48 px, patch 16, width 48, 3 heads).
final class ImportBackboneTests: XCTestCase {
    static let fixtureConfig = ModelConfig(imageSize: 48, patchSize: 16, embedDimension: 48, depth: 2, headCount: 3, sceneClasses: 3)

    func testBothBranchesGetTheCheckpointAndEverythingElseKeepsItsValues() throws {
        let url = fixtureURL("import-vit-f32.safetensors")
        let file = try WeightFile(contentsOf: url)
        let model = try TransLocatorModel(config: Self.fixtureConfig, headSizes: HeadSizes(coarse: 2, middle: 3, fine: 4), seed: 3)
        let before = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.value.scalars) })
        try model.importBackbone(contentsOf: url)
        var imported = 0
        for parameter in model.parameters {
            let branch = ["rgb.", "seg."].first { parameter.name.hasPrefix($0) }
            if let branch {
                let key = String(parameter.name.dropFirst(branch.count))
                XCTAssertEqual(parameter.value.scalars, try file.tensor(key).scalars, parameter.name)
                imported += 1
            } else {
                XCTAssertEqual(parameter.value.scalars, before[parameter.name], "\(parameter.name) is not the backbone's: unchanged")
            }
        }
        XCTAssertEqual(imported, 2 * TimmNames.parameters(depth: 2).count, "every timm tensor, in both branches")
        // The imported RGB branch computes timm's pre_logits (verify-import's bound, 1e-4).
        let ours = model.rgb.preLogits(try file.tensor("input")), reference = try file.tensor("pre_logits")
        for i in 0..<reference.count { XCTAssertEqual(ours[i], reference[i], accuracy: 1e-4, "pre_logits[\(i)]") }
    }

    func testAViTMTImportsOneBranchAndAMismatchChangesNothing() throws {
        let url = fixtureURL("import-vit-f32.safetensors")
        var single = Self.fixtureConfig
        single.segmentationBranch = false
        let vitMT = try TransLocatorModel(config: single, headSizes: HeadSizes(coarse: 2, middle: 3, fine: 4), seed: 3)
        try vitMT.importBackbone(contentsOf: url)
        XCTAssertEqual(vitMT.parameter(named: "rgb.blocks.1.mlp.fc2.weight")?.value.scalars,
                       try WeightFile(contentsOf: url).tensor("blocks.1.mlp.fc2.weight").scalars)

        var shallow = Self.fixtureConfig
        shallow.depth = 1
        let model = try TransLocatorModel(config: shallow, headSizes: HeadSizes(coarse: 2, middle: 3, fine: 4), seed: 3)
        let before = model.parameters.map(\.value.scalars)
        XCTAssertThrowsError(try model.importBackbone(contentsOf: url)) { error in
            XCTAssertTrue("\(error)".contains("unexpected (12)"), "\(error)")                 // block 1's tensors
        }
        XCTAssertEqual(model.parameters.map(\.value.scalars), before, "checked before anything is copied")
    }
}
