import Foundation
import ImageCodec
import Segmenter
import TensorEngine
import TransLocator

/// `translocator predict IMAGE... --model M [--seg SEG.png] [--top K] [--json]` (docs/ARCHITECTURE.md).
struct PredictCommand: Command {
    static let name = "predict"
    static let summary = "Where was this photo taken? The most likely geo-cells with their coordinates."
    static let operandsUsage = "<image>..."
    static let discussion = """
        Runs a model file (made by 'translocator train') on JPEG or PNG photos and prints, for each, \
        the most likely fine geo-cells: rank, probability, the cell's mean latitude and longitude \
        (degrees) and its S2 token. The photo is resized (short side as the model was trained), \
        center-cropped and normalized; --tencrop averages the logits of ten crops instead. A \
        TransLocator model also needs each photo's ADE20K segmentation map: made by the segmenter \
        the model file carries (translocator bundle, or train --bundle-segmenter), or by --segmenter \
        (a SegFormer folder or file), or given with --seg (once per image, in order: an 8-bit PNG of \
        class indices 0-149 or an RGB PNG coded with the ADE20K palette, the photo's size). A \
        segmenter other than the one the model was trained with is a warning. A ViT-MT model needs \
        no map. Photos run in batches.
        """
    static let options: [OptionSpec] = [
        .option("model", short: "m", value: "file", required: true, "Model file (.safetensors with translocator metadata)."),
        .option("seg", value: "png", "Segmentation map of the next image, repeated once per image (TransLocator models)."),
        .option("segmenter", value: "path", "Make the maps with this SegFormer (Hugging Face folder or file) instead."),
        .option("top", short: "k", value: "k", default: "5", "How many cells to print per image."),
        .flag("json", "Print one JSON document: [{image, predictions: [{rank, probability, latitude, longitude, token}]}]."),
        .flag("hierarchical", "Rank by p_fine x p_middle(parent) x p_coarse(parent)."),
        .flag("tencrop", "Average the logits of TenCrop (four corners, center, and their mirror images)."),
        .option("batch", value: "n", default: "8", "Images per forward pass."),
    ]
    static let examples = [
        "translocator predict data/kauai.png --model vit-mt.safetensors",
        "translocator predict photo.jpg --model translocator-with-segmenter.safetensors",
        "translocator predict photo.jpg --model translocator.safetensors --segmenter segformer-b0-finetuned-ade-512-512",
        "translocator predict photo.jpg --seg photo-seg.png --model translocator.safetensors --top 3 --json",
        "translocator predict a.jpg b.jpg --seg a.png --seg b.png --model m.safetensors --hierarchical --tencrop",
    ]

    static func run(_ arguments: ParsedArguments) throws {
        let images = arguments.operands
        guard !images.isEmpty else { throw UsageError("expected at least one image") }
        let top = try arguments.int("top", in: 1...1_000_000)
        let batch = try arguments.int("batch", in: 1...1024)
        let segs = arguments.values["seg"] ?? []
        guard segs.isEmpty || segs.count == images.count else {
            throw UsageError("got \(segs.count) --seg maps for \(images.count) images: give one per image, in order")
        }
        let modelPath = try arguments.requiredString("model")
        let file = try ModelFile(contentsOf: URL(fileURLWithPath: modelPath))
        let predictor = Predictor(file)
        var segmenter: Segmenter?
        if file.model.config.segmentationBranch && segs.isEmpty {
            segmenter = try chooseSegmenter(for: file, modelPath: modelPath, path: arguments.string("segmenter"))
        } else if arguments.given("segmenter") {
            throw UsageError(segs.isEmpty ? "\(modelPath) reads no segmentation maps (a ViT-MT model): drop --segmenter"
                                          : "give --seg maps or --segmenter, not both")
        }
        var results: [[CellPrediction]] = []
        // Photos are decoded one batch at a time, so memory follows the batch, not the photo count.
        for start in stride(from: 0, to: images.count, by: batch) {
            let range = start..<min(images.count, start + batch)
            var photos = try range.map { i in
                try PhotoInput(contentsOf: URL(fileURLWithPath: images[i]),
                               segmentationAt: segs.isEmpty ? nil : URL(fileURLWithPath: segs[i]))
            }
            if let segmenter {
                let maps = try segmenter.segment(photos.map(\.image))
                for i in photos.indices { photos[i].segmentation = maps[i] }
            }
            results += try predictor.predict(photos, top: top, hierarchical: arguments.flag("hierarchical"),
                                             tenCrop: arguments.flag("tencrop"), batchSize: batch)
        }
        if arguments.flag("json") {
            let documents = zip(images, results).map { image, predictions in
                let rows = predictions.map {
                    "{\"rank\": \($0.rank), \"probability\": \(JSONLiteral.number($0.probability)), "
                        + "\"latitude\": \(JSONLiteral.number($0.latitude)), \"longitude\": \(JSONLiteral.number($0.longitude)), "
                        + "\"token\": \(JSONLiteral.string($0.token))}"
                }
                return "  {\"image\": \(JSONLiteral.string(image)), \"predictions\": [\n    " + rows.joined(separator: ",\n    ") + "\n  ]}"
            }
            print("[\n" + documents.joined(separator: ",\n") + "\n]")
            return
        }
        for (index, (image, predictions)) in zip(images, results).enumerated() {
            if index > 0 { print("") }
            print(image)
            print("rank  probability   latitude   longitude  token")
            for p in predictions {
                print(String(format: "%4d  %11.6f %10.5f %11.5f  %@", p.rank, p.probability, p.latitude, p.longitude, p.token))
            }
        }
    }

    /// The segmenter that makes the maps: `--segmenter` if given (a warning when the model was
    /// trained on another's maps), else the one the model file carries.
    static func chooseSegmenter(for file: ModelFile, modelPath: String, path: String?) throws -> Segmenter {
        guard let path else {
            guard let bundled = file.bundledSegmenter else {
                let trained = file.segmenterRecord.map { " (it was trained on maps from \($0.name))" } ?? ""
                throw CommandFailure("\(modelPath) is a TransLocator model and carries no segmenter\(trained): give --segmenter "
                                 + "(a SegFormer folder or file), or --seg MAP.png per image, or bundle one into the model "
                                 + "with 'translocator bundle'")
            }
            return try ade20kSegmenter(Segmenter(bundled), for: modelPath)
        }
        let segmenter = try ade20kSegmenter(Segmenter(contentsOf: URL(fileURLWithPath: path)), for: modelPath)
        if let record = file.segmenterRecord, record.sha256 != segmenter.identity.sha256 {
            printError("warning: \(modelPath) was trained on maps from \(record.name) (sha256 \(record.sha256.prefix(12))), "
                       + "not from \(segmenter.identity.name) (sha256 \(segmenter.identity.sha256.prefix(12))): "
                       + "its answers may be worse than its evaluation says")
        } else if file.segmenterRecord == nil {
            printError("note: \(modelPath) does not record which segmenter made its training maps")
        }
        return segmenter
    }

    /// `segmenter` if it draws ADE20K's 150 classes, the ones a TransLocator model reads.
    static func ade20kSegmenter(_ segmenter: Segmenter, for modelPath: String) throws -> Segmenter {
        let labels = segmenter.model.config.labels.count
        guard labels == 150 else {
            throw UsageError("\(segmenter.identity.name) segments into \(labels) classes; \(modelPath) reads ADE20K maps "
                             + "(150 classes): use an ADE20K SegFormer such as nvidia/segformer-b0-finetuned-ade-512-512")
        }
        return segmenter
    }
}
