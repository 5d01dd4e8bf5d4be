import Foundation
import Segmenter
import TransLocator

/// `translocator bundle --model M --segmenter S --out M2`: a model file that carries its segmenter.
struct BundleCommand: Command {
    static let name = "bundle"
    static let summary = "Put a segmenter inside a model file, so that predict needs only photos."
    static let discussion = """
        Writes OUT: the model file MODEL with the SegFormer SEGMENTER (a Hugging Face folder with \
        config.json and model.safetensors or pytorch_model.bin, or one file with its config in \
        __metadata__) inside it: its weights as segmenter.* tensors and its name, SHA-256, config and \
        preprocessing in __metadata__.segmenter. 'translocator predict photo.jpg --model OUT' then \
        makes each photo's ADE20K map itself. Bundle the segmenter whose maps the model was trained on: \
        another one is a warning here and at predict time.
        """
    static let options: [OptionSpec] = [
        .option("model", short: "m", value: "file", required: true, "TransLocator model file."),
        .option("segmenter", value: "path", required: true, "SegFormer folder or file (ADE20K, 150 classes)."),
        .option("out", value: "file", required: true, "Model file to write (atomically)."),
    ]
    static let examples = [
        "translocator bundle --model run/best.safetensors --segmenter segformer-b0-finetuned-ade-512-512 --out geo.safetensors",
    ]

    static func run(_ arguments: ParsedArguments) throws {
        guard arguments.operands.isEmpty else { throw UsageError("unexpected operands: \(arguments.operands.joined(separator: " "))") }
        let modelPath = try arguments.requiredString("model")
        let file = try ModelFile(contentsOf: URL(fileURLWithPath: modelPath))
        guard file.model.config.segmentationBranch else {
            throw UsageError("\(modelPath) reads no segmentation maps (a ViT-MT model): it has no use for a segmenter")
        }
        let files = try SegmenterFiles(contentsOf: URL(fileURLWithPath: try arguments.requiredString("segmenter")))
        let segmenter = try PredictCommand.ade20kSegmenter(Segmenter(files), for: modelPath)     // it must build and fit
        if let record = file.segmenterRecord, record.sha256 != files.identity.sha256 {
            printError("warning: \(modelPath) was trained on maps from \(record.name) (sha256 \(record.sha256.prefix(12))), "
                       + "not from \(files.identity.name) (sha256 \(files.identity.sha256.prefix(12)))")
        }
        let out = URL(fileURLWithPath: try arguments.requiredString("out"))
        var metadata = file.metadata
        metadata.removeValue(forKey: "segmenter")
        try ModelFile(model: file.model, partitions: file.partitions, preprocessing: file.preprocessing, metadata: metadata,
                      segmenter: files, bundlingSegmenter: true).write(to: out)
        let c = segmenter.model.config
        print("wrote \(out.path): \(modelPath) with segmenter \(files.identity.name) (SegFormer hidden sizes \(c.hiddenSizes), "
              + "sha256 \(files.identity.sha256.prefix(12)))")
    }
}
