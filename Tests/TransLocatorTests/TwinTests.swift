import Foundation
import XCTest
@testable import TensorEngine
@testable import TransLocator

func fixtureURL(_ name: String) -> URL {
    Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(name)
}

/// max |ours − reference| / max |reference|: the relative error of a whole tensor. The scale
/// has a floor of 1e-3 so that an analytically zero tensor (the modality scorer's last bias:
/// softmax ignores a shift both scores share; the twin stores ~1e-17) is held to 1e-7 absolute.
func relativeError(_ ours: Tensor, _ reference: Tensor) -> Float {
    precondition(ours.count == reference.count, "relativeError: \(ours.shape) against \(reference.shape)")
    var difference: Float = 0, scale: Float = 0
    for i in 0..<ours.count {
        difference = max(difference, abs(ours[i] - reference[i]))
        scale = max(scale, abs(reference[i]))
    }
    return difference / max(scale, 1e-3)
}

/// The PyTorch twin's forward and backward (scripts/model/make_twin_fixture.py: float64 at
/// batch 2, stored as F32). Our float32 result must agree within 1e-4 relative per tensor:
/// float32 rounding over a depth-2 model stays near 1e-6, so 1e-4 catches any wrong term.
final class TwinTests: XCTestCase {
    struct TwinFixture {
        let file: WeightFile
        let config: ModelConfig
        let headSizes: HeadSizes
        let lossWeights: LossWeights
    }

    func loadFixture(_ name: String) throws -> TwinFixture {
        let file = try WeightFile(contentsOf: fixtureURL(name))
        let meta = try JSONSerialization.jsonObject(with: Data(file.metadata["config"]!.utf8)) as! [String: Any]
        let config = try ModelConfig(configJSON: JSONSerialization.data(withJSONObject: meta["model"]!), file: name)
        let sizes = meta["head_sizes"] as! [String: Int]
        let weights = meta["loss_weights"] as! [String: Double]
        return TwinFixture(file: file, config: config,
                           headSizes: HeadSizes(coarse: sizes["coarse"]!, middle: sizes["middle"]!, fine: sizes["fine"]!),
                           lossWeights: LossWeights(middle: Float(weights["middle"]!), fine: Float(weights["fine"]!),
                                                    scene: Float(weights["scene"]!)))
    }

    func checkTwin(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try loadFixture(name)
        let model = try TransLocatorModel(config: fixture.config, headSizes: fixture.headSizes)
        let reserved = ["grad.", "input.", "labels.", "logits.", "features", "modality_weights", "loss"]
        let fileParameters = Set(fixture.file.names.filter { name in !reserved.contains { name.hasPrefix($0) } })
        XCTAssertEqual(Set(model.parameters.map(\.name)), fileParameters, "parameter names differ from the twin's", file: file, line: line)
        for parameter in model.parameters {
            let value = try fixture.file.tensor(parameter.name)
            XCTAssertEqual(value.shape, parameter.value.shape, parameter.name, file: file, line: line)
            parameter.value.assign(value)
        }
        let rgb = try fixture.file.tensor("input.rgb")
        let seg = fixture.config.segmentationBranch ? try fixture.file.tensor("input.seg") : nil
        let outputs = try model.forward(rgb: rgb, seg: seg, training: true)
        var worst: Float = 0
        for (head, logits) in outputs.logits {
            let error = relativeError(logits, try fixture.file.tensor("logits." + head.rawValue))
            worst = max(worst, error)
            XCTAssertLessThan(error, 1e-4, "\(name): logits.\(head.rawValue)", file: file, line: line)
        }
        XCTAssertEqual(Set(outputs.logits.keys.map(\.rawValue)),
                       Set(fixture.file.names.filter { $0.hasPrefix("logits.") }.map { String($0.dropFirst(7)) }), file: file, line: line)
        XCTAssertLessThan(relativeError(outputs.features, try fixture.file.tensor("features")), 1e-4, "\(name): features",
                          file: file, line: line)
        if let weights = outputs.modalityWeights {
            XCTAssertLessThan(relativeError(weights, try fixture.file.tensor("modality_weights")), 1e-4, file: file, line: line)
        } else {
            XCTAssertNil(fixture.file.entries["modality_weights"], "\(name): the twin has modality weights", file: file, line: line)
        }
        var labels: [HeadName: [Int]] = [:]
        for head in outputs.logits.keys {
            labels[head] = try fixture.file.tensor("labels." + head.rawValue).scalars.map { Int($0) }
        }
        model.zeroGradients()
        let (loss, _) = model.lossAndBackward(outputs: outputs, labels: labels, weights: fixture.lossWeights)
        let referenceLoss = try fixture.file.tensor("loss")[0]
        XCTAssertEqual(loss, referenceLoss, accuracy: 1e-4 * abs(referenceLoss), "\(name): loss", file: file, line: line)
        var worstGradient: (Float, String) = (0, "")
        for parameter in model.parameters {
            let error = relativeError(parameter.gradient, try fixture.file.tensor("grad." + parameter.name))
            if error > worstGradient.0 { worstGradient = (error, parameter.name) }
            XCTAssertLessThan(error, 1e-4, "\(name): grad.\(parameter.name)", file: file, line: line)
        }
        print("\(name): worst logits error \(worst), worst gradient error \(worstGradient.0) (\(worstGradient.1))")
    }

    func testTransLocatorMatchesTwinForwardAndBackward() throws {
        try checkTwin("twin-translocator.safetensors")
    }

    func testViTMTMatchesTwinForwardAndBackward() throws {
        try checkTwin("twin-vit-mt.safetensors")
    }

    func testTwoBranchesWithoutFusionOrSceneMatchTwin() throws {
        try checkTwin("twin-seg-no-mff-no-scene.safetensors")
    }
}
