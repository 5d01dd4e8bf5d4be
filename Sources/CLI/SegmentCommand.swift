import Foundation
import ImageCodec
import Segmenter
import TensorEngine
import Training

/// `translocator segment IMAGE... --segmenter S [--out DIR] [--palette] [--json]` and
/// `translocator segment --manifest M.csv --segmenter S --out DIR` (docs/ARCHITECTURE.md "CLI contracts").
struct SegmentCommand: Command {
    static let name = "segment"
    static let summary = "ADE20K segmentation maps of photos with a SegFormer: one photo, a few, or a whole manifest."
    static let operandsUsage = "[<image>...]"
    static let discussion = """
        Runs a SegFormer (a Hugging Face folder with config.json and model.safetensors or \
        pytorch_model.bin, e.g. nvidia/segformer-b0-finetuned-ade-512-512, or one file with its config \
        in __metadata__) on each photo: stretched to the segmenter's input size (512x512 by default) \
        with Pillow's bilinear filter and normalized as its image processor says; the logits are \
        resized bilinearly to the photo's size and the most likely class taken per pixel. Writes \
        OUT/NAME.png, an 8-bit PNG of class indices the photo's size (what --seg and manifests' seg \
        column read), with --palette also OUT/NAME.palette.png in the ADE20K colours, and prints each \
        photo's largest classes with their pixel shares. With --manifest, segments every row into \
        OUT/maps/ (the photos' folder layout kept) and writes OUT/manifest.csv with the seg column \
        filled; a rerun skips the maps already written, so an interrupted run resumes; photos that \
        are missing or do not decode are reported and left out.
        """
    static let options: [OptionSpec] = [
        .option("segmenter", value: "path", required: true, "SegFormer folder or file."),
        .option("out", value: "dir", default: ".", "Folder for the maps (and, with --manifest, the new manifest)."),
        .option("manifest", value: "csv", "Segment every row of this manifest (image,lat,lon[,seg][,scene])."),
        .flag("palette", "Also write each map in the ADE20K palette's colours, to look at."),
        .flag("json", "Print one JSON document: [{image, map, width, height, classes: [{index, label, share}]}]."),
        .option("top", short: "k", value: "k", default: "5", "How many of the largest classes to print per photo."),
        .option("batch", value: "n", default: "4", "Photos per forward pass."),
    ]
    static let examples = [
        "translocator segment photo.jpg --segmenter segformer-b0-finetuned-ade-512-512 --palette",
        "translocator segment --manifest mp16/train.csv --segmenter segformer-b0-finetuned-ade-512-512 --out mp16-seg",
    ]

    static func run(_ arguments: ParsedArguments) throws {
        let out = URL(fileURLWithPath: try arguments.requiredString("out"))
        let batch = try arguments.int("batch", in: 1...256)
        let top = try arguments.int("top", in: 1...256)
        let segmenter = try Segmenter(contentsOf: URL(fileURLWithPath: try arguments.requiredString("segmenter")))
        if let manifestPath = arguments.string("manifest") {
            guard arguments.operands.isEmpty else { throw UsageError("give photos or --manifest, not both") }
            try segmentManifest(manifestPath, segmenter: segmenter, out: out, batch: batch)
            return
        }
        let images = arguments.operands
        guard !images.isEmpty else { throw UsageError("expected at least one photo, or --manifest M.csv") }
        var seen: [String: String] = [:]
        for image in images {
            let stem = URL(fileURLWithPath: image).deletingPathExtension().lastPathComponent
            if let other = seen[stem] {
                throw UsageError("\(other) and \(image) would both be written as \(stem).png: segment them into different --out folders")
            }
            seen[stem] = image
        }
        do { try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true) } catch {
            throw CommandFailure("\(out.path): cannot create (\(error.localizedDescription))")
        }
        let labels = segmenter.model.config.labels
        var documents: [String] = []
        for start in stride(from: 0, to: images.count, by: batch) {
            let paths = Array(images[start..<min(images.count, start + batch)])
            let photos = try paths.map { try Image(contentsOf: URL(fileURLWithPath: $0)) }
            let maps = try segmenter.segment(photos)
            for (path, map) in zip(paths, maps) {
                let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
                let mapURL = out.appendingPathComponent(stem + ".png")
                try write(PNGEncoder.encode(pixels: map.classes, width: map.width, height: map.height, colorType: .gray), to: mapURL)
                if arguments.flag("palette") {
                    try write(PNGEncoder.encode(map.renderedADE20K()), to: out.appendingPathComponent(stem + ".palette.png"))
                }
                let shares = classShares(map).prefix(top)
                if arguments.flag("json") {
                    let classes = shares.map {
                        "{\"index\": \($0.index), \"label\": \(JSONLiteral.string(labels[$0.index])), "
                            + "\"share\": \(JSONLiteral.number($0.share))}"
                    }
                    documents.append("  {\"image\": \(JSONLiteral.string(path)), \"map\": \(JSONLiteral.string(mapURL.path)), "
                                     + "\"width\": \(map.width), \"height\": \(map.height), \"classes\": [" + classes.joined(separator: ", ") + "]}")
                } else {
                    let text = shares.map { String(format: "%@ %.1f%%", labels[$0.index], 100 * $0.share) }.joined(separator: ", ")
                    print("\(path) \(map.width)x\(map.height) -> \(mapURL.path): \(text)")
                }
            }
        }
        if arguments.flag("json") { print("[\n" + documents.joined(separator: ",\n") + "\n]") }
    }

    static func segmentManifest(_ path: String, segmenter: Segmenter, out: URL, batch: Int) throws {
        let manifest = try Manifest(contentsOf: URL(fileURLWithPath: path), name: path)
        let progress = ProgressLine("segment", total: manifest.count, unit: "photos")
        let summary = try ManifestSegmentation.run(manifest, segmenter: segmenter, out: out, batch: batch) { done, _ in
            progress.update(done)
        }
        progress.finish(manifest.count)
        for problem in summary.failed.prefix(10) { printError("skipped \(problem)") }
        if summary.failed.count > 10 { printError("skipped \(summary.failed.count - 10) more") }
        print("segmented \(summary.made) photos (\(summary.reused) maps already there, \(summary.failed.count) left out) with "
              + "\(segmenter.identity.name); manifest \(out.appendingPathComponent(ManifestSegmentation.manifestName).path)")
    }

    /// Classes by pixel share, largest first (ties: lower index first).
    static func classShares(_ map: SegmentationMap) -> [(index: Int, share: Double)] {
        var counts = [Int](repeating: 0, count: 256)
        for c in map.classes { counts[Int(c)] += 1 }
        let total = Double(max(1, map.classes.count))
        return counts.enumerated().filter { $0.element > 0 }.map { (index: $0.offset, share: Double($0.element) / total) }
            .sorted { $0.share != $1.share ? $0.share > $1.share : $0.index < $1.index }
    }

    static func write(_ data: Data, to url: URL) throws {
        do { try data.write(to: url, options: .atomic) } catch {
            throw CommandFailure("\(url.path): cannot write (\(error.localizedDescription))")
        }
    }
}
