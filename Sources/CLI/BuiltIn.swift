import Foundation
import Training

/// Files the demo and the benchmarks need, so that `translocator demo` runs from any folder.
enum BuiltIn {
    /// configs/tiny.json, byte for byte (a test compares them): the demo's default config.
    static let tinyConfigName = "configs/tiny.json"
    static let tinyConfigJSON = #"""
{
  "name": "tiny",
  "comment": "A small TransLocator for the tests and the built-in demo: the paper's architecture (two ViT branches, MFF after every block, modality attention, four heads) at a size a laptop CPU trains in minutes. Head output sizes come from the partition.",
  "model": {
    "architecture": "translocator",
    "img_size": 64,
    "patch_size": 8,
    "embed_dim": 96,
    "depth": 4,
    "num_heads": 4,
    "mlp_ratio": 4.0,
    "segmentation_branch": true,
    "multimodal_feature_fusion": true,
    "modality_attention": true,
    "modality_attention_hidden": [8],
    "head_hidden": { "coarse": [], "middle": [128], "fine": [192], "scene": [] },
    "scene_classes": 16
  },
  "training": {
    "optimizer": "adamw",
    "learning_rate": 0.001,
    "weight_decay": 0.0001,
    "betas": [0.9, 0.999],
    "epochs": 8,
    "warmup_epochs": 1,
    "final_learning_rate_scale": 0.001,
    "batch_size": 32,
    "micro_batch_size": 32,
    "loss_weights": { "middle": 0.3, "fine": 0.2, "scene": 1.0 },
    "label_smoothing": 0.0,
    "resize_short_side": 72,
    "crop_size": 64,
    "augmentation": { "rotation_degrees": 15, "color_jitter": [0.4, 0.4, 0.4, 0.1], "color_jitter_probability": 0.8, "horizontal_flip": true },
    "partition": { "min": 10, "max": [1000, 400, 200] }
  }
}
"""#

    /// The tiny config parsed and checked as any config file is.
    /// - Throws: only if the text above stopped being a valid config (the test would fail first).
    static func tinyConfig() throws -> ConfigFile {
        try ConfigFile(json: Data(tinyConfigJSON.utf8), file: "built-in \(tinyConfigName)")
    }

    /// A data file of the repository (`data/...`): relative to the current folder when it is there,
    /// else in the repository the running binary was built in (it lives under `.build/`), so the
    /// demo runs from any folder. nil when neither holds it.
    static func repositoryFile(_ relativePath: String) -> URL? {
        let here = URL(fileURLWithPath: relativePath)
        if FileManager.default.fileExists(atPath: here.path) { return here }
        let executable = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        var folder = executable.resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {                                        // .build/<triple>/release/translocator: three levels up, and some slack
            let candidate = folder.appendingPathComponent(relativePath)
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
            folder = folder.deletingLastPathComponent()
        }
        return nil
    }
}
