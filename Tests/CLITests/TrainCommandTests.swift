import Foundation
import XCTest
import GeoCells
import TensorEngine
import TransLocator
import Training
@testable import CLI

/// `translocator train` end to end on a small synthetic data set with a very small model
/// (16 px, one block), so each run takes a fraction of a second.
final class TrainCommandTests: XCTestCase {
    static let modelObject = """
        "model": {"architecture": "translocator", "img_size": 16, "patch_size": 8, "embed_dim": 16, "depth": 1,
                  "num_heads": 2, "mlp_ratio": 4.0, "segmentation_branch": true, "multimodal_feature_fusion": true,
                  "modality_attention": true, "modality_attention_hidden": [8],
                  "head_hidden": {"coarse": [], "middle": [8], "fine": [], "scene": []}, "scene_classes": 16}
        """

    /// A data set (16 training images, validation beside) and a config whose epoch is 4 steps of 4.
    func makeRun() throws -> (root: URL, arguments: [String]) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("train-cli-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: root) }
        return try Self.makeRun(in: root)
    }

    static func makeRun(in root: URL) throws -> (root: URL, arguments: [String]) {
        var places = Coordinates()
        for i in 0..<400 {                                                       // a spiral over the sphere
            let z = 1 - 2 * (Double(i) + 0.5) / 400
            places.append(latitude: asin(z) * 180 / .pi,
                          longitude: (Double(i) * 137.50776405003785).truncatingRemainder(dividingBy: 360) - 180)
        }
        _ = try Synthesizer(imageCount: 20, seed: 2, imageSize: 24, validationShare: 0.1, testShare: 0.1).synthesize(from: places, to: root)
        let config = root.appendingPathComponent("config.json")
        try Data("""
            {\(Self.modelObject),
             "training": {"optimizer": "adamw", "learning_rate": 0.003, "epochs": 2, "warmup_epochs": 1, "batch_size": 4,
                          "micro_batch_size": 2, "resize_short_side": 18, "crop_size": 16, "partition": {"min": 0, "max": [8, 4, 2]}}}
            """.utf8).write(to: config)
        return (root, ["train", "--config", config.path, "--train", root.appendingPathComponent("train.csv").path])
    }

    func tensors(_ url: URL) throws -> SafeTensors { try SafeTensors(contentsOf: url) }

    func testStoppingAndResumingEqualsTheStraightRunBitForBit() throws {
        let (root, train) = try makeRun()
        let straight = root.appendingPathComponent("straight").path, split = root.appendingPathComponent("split").path
        XCTAssertEqual(runCommandLine(train + ["--out", straight, "--max-steps", "6"]), ExitCode.success)   // across an epoch's end
        XCTAssertEqual(runCommandLine(train + ["--out", split, "--max-steps", "3"]), ExitCode.success)
        XCTAssertEqual(runCommandLine(train + ["--out", split, "--max-steps", "6", "--resume"]), ExitCode.success)
        let a = try tensors(URL(fileURLWithPath: straight).appendingPathComponent("last.safetensors"))
        let b = try tensors(URL(fileURLWithPath: split).appendingPathComponent("last.safetensors"))
        XCTAssertEqual(a.metadata["training.step"], "6")
        XCTAssertEqual(a.names.sorted(), b.names.sorted())
        XCTAssertTrue(a.names.contains { $0.hasPrefix("optimizer.exp_avg_sq.") }, "optimizer state compared too")
        for name in a.names {
            XCTAssertEqual(a[name]?.scalars, b[name]?.scalars, "\(name) differs between 6 steps straight and 3 + resume + 3")
        }
        for key in ["training.step", "training.epoch", "training.step_in_epoch", "optimizer.step"] {
            XCTAssertEqual(a.metadata[key], b.metadata[key], key)
        }
    }

    func testValidationLogsLossAndKeepsTheBestModel() throws {
        let (root, train) = try makeRun()
        let out = root.appendingPathComponent("out")
        // The training images as validation set: every one lies in a cell, so all count in the loss.
        let arguments = train + ["--out", out.path, "--val", root.appendingPathComponent("train.csv").path]
        XCTAssertEqual(runCommandLine(arguments), ExitCode.success)
        XCTAssertNoThrow(try ModelFile(contentsOf: out.appendingPathComponent("best.safetensors")))
        let lines = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        let epochs = try lines.compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .filter { $0["validation"] != nil }
        XCTAssertEqual(epochs.map { $0["epoch"] as? Int }, [1, 2])
        for epoch in epochs {
            let loss = try XCTUnwrap(epoch["validationLoss"] as? [String: Any])
            XCTAssertEqual(Set(loss.keys), ["total", "coarse", "middle", "fine", "scene", "images"])
            XCTAssertGreaterThan(try XCTUnwrap(loss["total"] as? Double), 0)
            XCTAssertEqual(loss["images"] as? Int, 16)
            XCTAssertNotNil(epoch["validationScore"] as? Double)
        }
        XCTAssertEqual(epochs.first?["best"] as? Bool, true, "the first validation is the best so far")
        let steps = lines.filter { $0.contains("\"step\"") }
        XCTAssertEqual(steps.count, 8)
        XCTAssertTrue(steps[0].contains("\"headLosses\": {\"coarse\": "), String(steps[0]))
    }

    func testAMissingImageIsSkippedAndReportedOrStopsAStrictRun() throws {
        let (root, train) = try makeRun()
        let manifest = try Manifest(contentsOf: root.appendingPathComponent("train.csv"))
        try FileManager.default.removeItem(at: manifest.imageURL(of: manifest.entries[2]))
        let out = root.appendingPathComponent("lenient")
        XCTAssertEqual(runCommandLine(train + ["--out", out.path, "--max-steps", "4"]), ExitCode.success)
        let log = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        XCTAssertTrue(log.contains("{\"epoch\": 1, \"trainLoss\": ") && log.contains("\"skipped\": 1}"), log)
        XCTAssertEqual(runCommandLine(train + ["--out", root.appendingPathComponent("strict").path, "--strict"]), ExitCode.failure)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root.appendingPathComponent("strict/last.safetensors").path),
                       "stopped before training")
    }

    func testInitStartsBothBranchesFromATimmCheckpointAndHeadsFromTheSeed() throws {
        let (root, train) = try makeRun()
        // A timm-named ViT of the config's sizes: another model's RGB branch without its prefix.
        let modelConfig = try ModelConfig(configJSON: Data("{\(Self.modelObject)}".utf8), file: "config")
        let donor = try TransLocatorModel(config: modelConfig, headSizes: HeadSizes(coarse: 2, middle: 2, fine: 2), seed: 77)
        var timm = SafeTensors()
        for parameter in donor.parameters where parameter.name.hasPrefix("rgb.") {
            timm.set(String(parameter.name.dropFirst(4)), parameter.value)
        }
        timm.set("head.weight", Tensor(zeros: [1000, 16]))                       // a classifier: ignored
        timm.metadata["config"] = "{\"num_heads\": 2}"
        let checkpoint = root.appendingPathComponent("vit.safetensors")
        try timm.write(to: checkpoint)

        let out = root.appendingPathComponent("out")
        XCTAssertEqual(runCommandLine(train + ["--out", out.path, "--init", checkpoint.path, "--max-steps", "0"]), ExitCode.success)
        let saved = try tensors(out.appendingPathComponent("last.safetensors"))
        for name in timm.names where name != "head.weight" {
            XCTAssertEqual(saved["rgb." + name]?.scalars, timm[name]?.scalars, "rgb.\(name)")
            XCTAssertEqual(saved["seg." + name]?.scalars, timm[name]?.scalars, "seg.\(name): both branches start from the same ViT")
        }
        let seeded = try ModelFile(contentsOf: out.appendingPathComponent("last.safetensors")).model
        let fresh = try TransLocatorModel(config: modelConfig, headSizes: seeded.headSizes, seed: 0)
        for parameter in fresh.parameters where parameter.name.hasPrefix("heads.") {
            XCTAssertEqual(seeded.parameter(named: parameter.name)?.value.scalars, parameter.value.scalars, "\(parameter.name) as seeded")
        }

        XCTAssertEqual(runCommandLine(train + ["--out", out.path, "--init", checkpoint.path, "--resume"]), ExitCode.usage)
        var wrong = SafeTensors()
        for name in timm.names where name != "blocks.0.attn.qkv.weight" { wrong.set(name, timm[name]!) }
        wrong.metadata = timm.metadata
        try wrong.write(to: checkpoint)
        XCTAssertEqual(runCommandLine(train + ["--out", root.appendingPathComponent("bad").path, "--init", checkpoint.path]),
                       ExitCode.failure)
    }

    func testInitTakesAPyTorchCheckpoint() throws {
        let (root, train) = try makeRun()
        // torch.save of a timm ViT's state dict (scripts/model/make_init_checkpoint_fixture.py).
        let checkpoint = PredictCommandTests.repository.appendingPathComponent("Tests/TransLocatorTests/Fixtures/vit-tiny-init.pth")
        let timm = try SafeTensors(weightsAt: checkpoint)
        let out = root.appendingPathComponent("out")
        XCTAssertEqual(runCommandLine(train + ["--out", out.path, "--init", checkpoint.path, "--max-steps", "0"]), ExitCode.success)
        let saved = try tensors(out.appendingPathComponent("last.safetensors"))
        XCTAssertEqual(timm.names.filter { !$0.hasPrefix("head.") }.count, 18)      // cls, pos, patch, norm, one block
        for name in timm.names where !name.hasPrefix("head.") {
            XCTAssertEqual(saved["rgb." + name]?.scalars, timm[name]?.scalars, "rgb.\(name)")
            XCTAssertEqual(saved["seg." + name]?.scalars, timm[name]?.scalars, "seg.\(name)")
        }
    }

    func testProgressPrintsItsLastLineOnceWithRateAndETA() {
        var text = ""
        let line = ProgressLine("train", total: 30, unit: "steps", initial: 10, logIntervalSeconds: 1000, isTerminal: false) { text += $0 }
        line.update(20, detail: "loss 1.000")                                    // the first update prints
        line.update(30, detail: "loss 0.500")                                    // throttled: finish prints it
        line.finish(30, detail: "loss 0.500")
        let lines = text.split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.hasPrefix("train: 30/30 steps") }.count, 1, text)
        XCTAssertTrue(lines[0].hasPrefix("train: 20/30 steps, ") && lines[0].contains(", ETA ") && lines[0].hasSuffix(", loss 1.000"), text)
        XCTAssertEqual(lines.count, 2, text)
    }
}
