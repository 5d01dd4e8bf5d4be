import Foundation
import GeoCells
import Training

/// `translocator label --manifest M.csv --partitions DIR --out labelled.csv`: the class labels
/// the trainer gives each image, for a trainer that is not this one.
struct LabelCommand: Command {
    static let name = "label"
    static let summary = "Write each image's geo-cell labels (coarse, middle, fine; scene) as the trainer assigns them."
    static let discussion = """
        Labels every image of MANIFEST with its class in each partition of DIR (coarse.csv, \
        middle.csv, fine.csv, as 'translocator partition' writes them, or GeoEstimation's \
        cells_50_*.csv named so) exactly as 'translocator train' does, and writes OUT: \
        image,lat,lon[,seg][,scene],coarse,middle,fine[,scene_class], one row per labelled image in \
        the manifest's order, paths relative to OUT's folder. Images outside the partitions are left \
        out and counted, as in training. With --scene-classes 3 or 16, scene_class is the Places365 \
        index through the hierarchy file (--scene-hierarchy, or scene_hierarchy.csv beside the \
        manifest); with 365, the index itself. The PyTorch trainer reads these labels, so both \
        engines train on the same classes.
        """
    static let options: [OptionSpec] = [
        .option("manifest", value: "csv", required: true, "Manifest: image,lat,lon[,seg][,scene]."),
        .option("partitions", value: "dir", required: true, "Folder with coarse.csv, middle.csv, fine.csv."),
        .option("out", value: "csv", required: true, "Labelled CSV to write (atomically)."),
        .option("scene-classes", value: "n", default: "0", "Scene head size: 0 (none), 3, 16 or 365."),
        .option("scene-hierarchy", value: "csv", "Places365 hierarchy for 3 or 16 scene classes (default: beside the manifest)."),
    ]
    static let examples = [
        "translocator label --manifest synthetic/train.csv --partitions run/partitions --out synthetic/train-labelled.csv",
        "translocator label --manifest mp16/train.csv --partitions cells --out train-labelled.csv --scene-classes 16",
    ]

    static func run(_ arguments: ParsedArguments) throws {
        guard arguments.operands.isEmpty else { throw UsageError("unexpected operands: \(arguments.operands.joined(separator: " "))") }
        let manifestPath = try arguments.requiredString("manifest")
        let manifestURL = URL(fileURLWithPath: manifestPath)
        let manifest = try Manifest(contentsOf: manifestURL, name: manifestPath)
        let partitions = try GeoPartitions(contentsOf: URL(fileURLWithPath: try arguments.requiredString("partitions")))
        let sceneClasses = try arguments.int("scene-classes", in: 0...365)
        guard [0, 3, 16, 365].contains(sceneClasses) else { throw UsageError("--scene-classes wants 0, 3, 16 or 365, got \(sceneClasses)") }
        var hierarchy: SceneHierarchy?
        if let path = arguments.string("scene-hierarchy") {
            hierarchy = try SceneHierarchy(contentsOf: URL(fileURLWithPath: path), name: path)
        } else if sceneClasses == 3 || sceneClasses == 16 {
            let beside = manifestURL.deletingLastPathComponent().appendingPathComponent("scene_hierarchy.csv")
            if FileManager.default.fileExists(atPath: beside.path) { hierarchy = try SceneHierarchy(contentsOf: beside) }
        }
        let labelled = try LabelledManifest(manifest: manifest, partitions: partitions, hierarchy: hierarchy, sceneClasses: sceneClasses)
        let out = URL(fileURLWithPath: try arguments.requiredString("out"))
        do {
            try Data(labelled.csvText(relativeTo: out.deletingLastPathComponent()).utf8).write(to: out, options: .atomic)
        } catch {
            throw CommandFailure("\(out.path): cannot write (\(error.localizedDescription))")
        }
        print("wrote \(out.path): \(labelled.count) images labelled, \(labelled.outsideCount) outside every cell left out; "
              + "cells \(partitions.coarse.count) / \(partitions.middle.count) / \(partitions.fine.count)")
    }
}
