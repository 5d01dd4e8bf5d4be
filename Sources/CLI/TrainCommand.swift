import Foundation
import Segmenter
import GeoCells
import TensorEngine
import TransLocator
import Training

/// `translocator train`: trains a model on a manifest, with validation, checkpoints and exact resume.
struct TrainCommand: Command {
    static let name = "train"
    static let summary = "Train a TransLocator (or ViT-MT) on a manifest, with checkpoints and exact resume."
    static let discussion = """
        Partitions the training manifest's coordinates into coarse, middle and fine S2 cells (the \
        config's partition settings; --partitions reads existing ones), labels every image, and \
        trains the config's model with its optimizer, warm-up + cosine schedule and augmentation, \
        decoding the next batch while the model trains on this one. Writes OUT/last.safetensors (a \
        checkpoint: weights, optimizer state, step, data position; the one before is kept as \
        last.previous.safetensors), OUT/partitions/*.csv and OUT/metrics.jsonl (one line per step \
        with eq. 8's loss and each head's, one per validation). With --val, every epoch ends with \
        the validation loss and the five-scale table, and OUT/best.safetensors keeps the model \
        with the best mean of the five accuracies. An image that is missing or does not decode is \
        skipped, counted and reported at the end of its epoch (--strict: stop with an error naming \
        file:line). --resume continues from OUT/last.safetensors to the weights an uninterrupted \
        run would reach. --init starts both branches from a timm-named ViT checkpoint (e.g. an \
        ImageNet-21k ViT-B/16 saved as safetensors); heads start N(0, 0.02).
        """
    static let options: [OptionSpec] = [
        .option("config", value: "json", required: true, "Config with \"model\" and \"training\" objects (configs/*.json)."),
        .option("train", value: "csv", required: true, "Training manifest: image,lat,lon[,seg][,scene]."),
        .option("out", value: "dir", required: true, "Folder for checkpoints, the best model, partitions and metrics."),
        .option("val", value: "csv", "Validation manifest, scored after every epoch (loss, table; best model kept)."),
        .flag("resume", "Continue from OUT/last.safetensors (or the previous one if it is damaged)."),
        .option("init", value: "safetensors", "Start the backbone(s) from this timm-named ViT checkpoint (not with --resume)."),
        .option("segmenter", value: "path",
                "Make the ADE20K maps of rows without a seg with this SegFormer (cached in OUT/segmentation/), and record it."),
        .flag("bundle-segmenter", "Carry the --segmenter's weights in every model file written, so predict needs only photos."),
        .flag("strict", "Stop at a missing or undecodable image (error naming file:line) instead of skipping it."),
        .option("max-steps", value: "n", "Stop after n optimizer steps in all, with a checkpoint."),
        .option("checkpoint-every", value: "n", default: "200", "Also checkpoint every n optimizer steps."),
        .option("seed", value: "s", default: "0", "Seed of initialisation, data order and augmentation."),
        .option("partitions", value: "dir", "Use DIR/coarse.csv, middle.csv, fine.csv instead of partitioning --train."),
        .option("scene-hierarchy", value: "csv",
                "Places365 hierarchy for the scene labels (default: scene_hierarchy.csv beside --train, if any)."),
    ]
    static let examples = [
        "translocator train --config configs/tiny.json --train synthetic/train.csv --val synthetic/val.csv --out run",
        "translocator train --config configs/tiny.json --train synthetic/train.csv --out run --resume",
        "translocator train --config configs/translocator-b16.json --train mp16/train.csv --val mp16/val.csv --out run \\\n"
            + "      --init vit_base_patch16_224.augreg_in21k.safetensors",
    ]

    static func run(_ arguments: ParsedArguments) throws {
        let configPath = try arguments.requiredString("config")
        let trainPath = try arguments.requiredString("train")
        let out = URL(fileURLWithPath: try arguments.requiredString("out"))
        let config = try ConfigFile(contentsOf: URL(fileURLWithPath: configPath), name: configPath)
        var options = TrainingRun.Options()
        options.seed = UInt64(try arguments.int("seed", in: 0...Int.max))
        options.maxSteps = arguments.string("max-steps") == nil ? nil : try arguments.int("max-steps", in: 0...Int.max)
        options.checkpointEverySteps = try arguments.int("checkpoint-every", in: 1...Int.max)
        options.strict = arguments.flag("strict")
        options.resume = arguments.flag("resume")
        options.backbone = arguments.string("init").map { URL(fileURLWithPath: $0) }
        if options.backbone != nil && options.resume {
            throw UsageError("--init starts a new run; --resume continues one: give one of them")
        }
        let partitionFolder = out.appendingPathComponent("partitions")
        do { try FileManager.default.createDirectory(at: partitionFolder, withIntermediateDirectories: true) } catch {
            throw CommandFailure("\(out.path): cannot create (\(error.localizedDescription))")
        }

        let trainURL = URL(fileURLWithPath: trainPath)
        var manifest = try Manifest(contentsOf: trainURL, name: trainPath)
        var segmenterFiles: SegmenterFiles?, segmenter: Segmenter?
        if let path = arguments.string("segmenter") {
            guard config.model.segmentationBranch else {
                throw UsageError("\(configPath) trains a model without a segmentation branch: it reads no maps, drop --segmenter")
            }
            let files = try SegmenterFiles(contentsOf: URL(fileURLWithPath: path))
            segmenter = try PredictCommand.ade20kSegmenter(Segmenter(files), for: configPath)
            segmenterFiles = files
            manifest = try segmentedManifest(manifest, with: segmenter!, into: out.appendingPathComponent("segmentation/train"))
        } else if arguments.flag("bundle-segmenter") {
            throw UsageError("--bundle-segmenter needs --segmenter")
        }
        if options.strict { _ = try manifest.checkingFiles(skipMissing: false) }     // a missing file fails now, not hours in
        options.partitions = try arguments.string("partitions").map { try GeoPartitions(contentsOf: URL(fileURLWithPath: $0)) }
        if let path = arguments.string("scene-hierarchy") {
            options.hierarchy = try SceneHierarchy(contentsOf: URL(fileURLWithPath: path), name: path)
        } else if config.model.sceneClasses > 0 {
            let beside = trainURL.deletingLastPathComponent().appendingPathComponent("scene_hierarchy.csv")
            if FileManager.default.fileExists(atPath: beside.path) { options.hierarchy = try SceneHierarchy(contentsOf: beside) }
        }
        let run = try TrainingRun(config: config, manifest: manifest, partitionFolder: partitionFolder,
                                  checkpointURL: out.appendingPathComponent("last.safetensors"), options: options)
        let partitions = run.partitions, trainer = run.trainer
        if let segmenterFiles { trainer.segmenter = (segmenterFiles, arguments.flag("bundle-segmenter")) }
        printError("train: \(run.labelled.count) images labelled (\(run.labelled.outsideCount) outside every cell, left out); "
                   + "cells \(partitions.coarse.count) / \(partitions.middle.count) / \(partitions.fine.count)")
        for problem in run.rejectedCheckpoints { printError("warning: \(problem)") }
        if options.resume {
            printError("train: resuming at step \(trainer.progress.step) (epoch \(trainer.progress.epoch + 1))")
        } else if let backbone = options.backbone {
            printError("train: backbone\(config.model.segmentationBranch ? "s" : "") from \(backbone.path)")
        }
        let validator = try arguments.string("val").map {
            var validation = try Manifest(contentsOf: URL(fileURLWithPath: $0), name: $0)
            if let segmenter {
                validation = try segmentedManifest(validation, with: segmenter, into: out.appendingPathComponent("segmentation/val"))
            }
            return EpochValidator(manifest: validation, partitions: partitions,
                           preprocessing: config.preprocessing, hierarchy: options.hierarchy, sceneClasses: config.model.sceneClasses,
                           config: config.training, skipInvalid: !options.strict)
        }
        let checkpointURL = run.loop.checkpointURL
        let log = try MetricsLog(url: out.appendingPathComponent("metrics.jsonl"))
        let totalSteps = options.maxSteps.map { min($0, run.schedule.totalSteps) } ?? run.schedule.totalSteps
        let progress = ProgressLine("train", total: totalSteps, unit: "steps", initial: trainer.progress.step)
        let started = Date()
        var images = 0
        var lastDetail = ""
        let finished = try run.run(onStep: { result in
            images += result.images
            let rate = Double(images) / max(1e-9, Date().timeIntervalSince(started))
            lastDetail = String(format: "loss %.3f, %.1f images/s", result.loss, rate)
            progress.update(trainer.progress.step, detail: lastDetail)
            try log.append("{\"step\": \(trainer.progress.step), \"epoch\": \(trainer.progress.epoch + 1), "
                       + "\"loss\": \(JSONLiteral.number(result.loss)), "
                       + "\"headLosses\": \(headLossesJSON(result.headLosses)), \"learningRate\": \(result.learningRate), "
                       + "\"imagesPerSecond\": \(JSONLiteral.number(rate))}")
        }, onEpoch: { summary in
            let epoch = summary.epoch + 1
            if summary.skipped > 0 {
                let problems = run.source.problems(inEpoch: summary.epoch)
                printError("epoch \(epoch): skipped \(summary.skipped) image\(summary.skipped == 1 ? "" : "s") (missing or undecodable)"
                           + problems.prefix(3).map { "\n  \($0)" }.joined() + (summary.skipped > 3 ? "\n  ..." : ""))
            }
            guard let validator else {
                try log.append("{\"epoch\": \(epoch), \"trainLoss\": \(JSONLiteral.number(summary.meanLoss)), "
                               + "\"skipped\": \(summary.skipped)}")
                return
            }
            let result = try validator.validate(trainer.model)
            let score = EpochValidator.score(result.evaluation)
            let kept = try trainer.keepIfBest(score: score, at: out.appendingPathComponent("best.safetensors"), partitions: partitions,
                                              preprocessing: config.preprocessing)
            var lossText = "n/a (no validation image inside the partitions)"
            if let loss = result.loss {
                lossText = String(format: "%.3f (", loss.total) + HeadName.allCases.compactMap { head in
                    loss.perHead[head].map { String(format: "\(head.rawValue) %.3f", $0) }
                }.joined(separator: ", ") + ")"
            }
            printError("epoch \(epoch): train loss \(String(format: "%.3f", summary.meanLoss)), validation loss \(lossText); "
                       + "mean accuracy \(String(format: "%.2f", score))%\(kept ? " (best so far: best.safetensors)" : "")\n"
                       + result.evaluation.tableText(label: "epoch \(epoch)"))
            try log.append("{\"epoch\": \(epoch), \"trainLoss\": \(JSONLiteral.number(summary.meanLoss)), \"skipped\": \(summary.skipped), "
                       + "\"validationLoss\": \(result.loss?.json ?? "null"), \"validation\": \(result.evaluation.json), "
                       + "\"validationScore\": \(JSONLiteral.number(score)), \"best\": \(kept)}")
        })
        progress.finish(trainer.progress.step, detail: lastDetail)
        print(finished ? "trained \(trainer.progress.step) steps; checkpoint \(checkpointURL.path)"
                       : "stopped after \(trainer.progress.step) steps (--max-steps); resume with --resume")
    }

    /// `{"coarse": x, "middle": x, ...}` in `HeadName` order.
    static func headLossesJSON(_ losses: [HeadName: Double]) -> String {
        "{" + HeadName.allCases.compactMap { head in losses[head].map { "\"\(head.rawValue)\": \(JSONLiteral.number($0))" } }
            .joined(separator: ", ") + "}"
    }
}

/// Lines appended to a JSONL file as training goes (never rewritten: a resumed run appends).
final class MetricsLog {
    private let handle: FileHandle
    private let path: String

    init(url: URL) throws {
        path = url.path
        if !FileManager.default.fileExists(atPath: url.path) && !FileManager.default.createFile(atPath: url.path, contents: nil) {
            throw CommandFailure("\(url.path): cannot create")
        }
        do {
            handle = try FileHandle(forWritingTo: url)
            try handle.seekToEnd()
        } catch {
            throw CommandFailure("\(url.path): cannot open for appending (\(error.localizedDescription))")
        }
    }

    /// - Throws: `CommandFailure` naming the file when the line cannot be written (a full disk
    ///   stops the run with its checkpoint, rather than leaving a log with holes).
    func append(_ line: String) throws {
        do { try handle.write(contentsOf: Data((line + "\n").utf8)) } catch {
            throw CommandFailure("\(path): cannot write (\(error.localizedDescription))")
        }
    }

    deinit { try? handle.close() }
}

/// `manifest` with a map for every row that has none, made by `segmenter` into `folder` (a
/// cache: a rerun or `--resume` finds the maps already there).
func segmentedManifest(_ manifest: Manifest, with segmenter: Segmenter, into folder: URL) throws -> Manifest {
    let progress = ProgressLine("segment \(folder.lastPathComponent)", total: manifest.count, unit: "photos")
    let summary = try ManifestSegmentation.run(manifest, segmenter: segmenter, out: folder, keepExisting: true) { done, _ in
        progress.update(done)
    }
    progress.finish(manifest.count)
    printError("train: maps of \(manifest.file): \(summary.made) made, \(summary.reused) cached, \(summary.kept) given, "
               + "\(summary.failed.count) photos left out" + summary.failed.prefix(3).map { "\n  \($0)" }.joined())
    return summary.manifest
}
