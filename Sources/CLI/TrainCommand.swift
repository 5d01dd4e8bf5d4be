import Foundation
import GeoCells
import TransLocator
import Training

/// `translocator train`: trains a model on a manifest (a first version: see TODOs in Training).
struct TrainCommand: Command {
    static let name = "train"
    static let summary = "Train a TransLocator (or ViT-MT) on a manifest, with checkpoints and exact resume."
    static let discussion = """
        Partitions the training manifest's coordinates into coarse, middle and fine S2 cells (the \
        config's partition settings; --partitions reads existing ones), labels every image, and \
        trains the config's model with its optimizer, warm-up + cosine schedule and augmentation. \
        Writes OUT/last.safetensors (a checkpoint: weights, optimizer state, step, data position; \
        the one before is kept as last.previous.safetensors), OUT/best.safetensors (the model with \
        the best validation score, when --val is given), OUT/partitions/*.csv and \
        OUT/metrics.jsonl (one line per step and per validation). --resume continues from \
        OUT/last.safetensors to the weights an uninterrupted run would reach.
        """
    static let options: [OptionSpec] = [
        .option("config", value: "json", required: true, "Config with \"model\" and \"training\" objects (configs/*.json)."),
        .option("train", value: "csv", required: true, "Training manifest: image,lat,lon[,seg][,scene]."),
        .option("out", value: "dir", required: true, "Folder for checkpoints, the best model, partitions and metrics."),
        .option("val", value: "csv", "Validation manifest, scored after every epoch (best model kept)."),
        .flag("resume", "Continue from OUT/last.safetensors (or the previous one if it is damaged)."),
        .option("max-steps", value: "n", "Stop after n optimizer steps in all, with a checkpoint."),
        .option("checkpoint-every", value: "n", "Also checkpoint every n optimizer steps (default: 200)."),
        .option("seed", value: "s", "Seed of initialisation, data order and augmentation (default: 0)."),
        .option("partitions", value: "dir", "Use DIR/coarse.csv, middle.csv, fine.csv instead of partitioning --train."),
        .option("scene-hierarchy", value: "csv", "Places365 hierarchy for the scene labels (default: scene_hierarchy.csv beside --train, if any)."),
    ]
    static let examples = [
        "translocator train --config configs/tiny.json --train synthetic/train.csv --val synthetic/val.csv --out run",
        "translocator train --config configs/tiny.json --train synthetic/train.csv --out run --resume",
    ]

    static func run(_ arguments: ParsedArguments) throws {
        let configURL = URL(fileURLWithPath: try arguments.requiredString("config"))
        let trainPath = try arguments.requiredString("train")
        let out = URL(fileURLWithPath: try arguments.requiredString("out"))
        let config = try TrainingConfig(contentsOf: configURL)
        let modelConfig = try ModelConfig(contentsOf: configURL)
        let seed = UInt64(try arguments.int("seed", default: 0, in: 0...Int.max))
        let maxSteps = arguments.string("max-steps") == nil ? nil : try arguments.int("max-steps", default: 0, in: 0...Int.max)
        let checkpointEvery = try arguments.int("checkpoint-every", default: 200, in: 1...Int.max)
        do { try FileManager.default.createDirectory(at: out.appendingPathComponent("partitions"), withIntermediateDirectories: true) } catch {
            throw CommandFailure("\(out.path): cannot create (\(error.localizedDescription))")
        }

        let trainURL = URL(fileURLWithPath: trainPath)
        let manifest = try Manifest(contentsOf: trainURL, name: trainPath)
        let partitions: GeoPartitions
        if let folder = arguments.string("partitions") {
            let read = try ["coarse", "middle", "fine"].map { try Partition(contentsOf: URL(fileURLWithPath: folder).appendingPathComponent("\($0).csv")) }
            partitions = GeoPartitions(coarse: read[0], middle: read[1], fine: read[2])
        } else {
            let built = try Partition.build(manifest.coordinates, minImages: config.partitionMin, maxImages: config.partitionMax)
            partitions = GeoPartitions(coarse: built[0], middle: built[1], fine: built[2])
        }
        try Partition.write([(partitions.coarse, out.appendingPathComponent("partitions/coarse.csv")),
                             (partitions.middle, out.appendingPathComponent("partitions/middle.csv")),
                             (partitions.fine, out.appendingPathComponent("partitions/fine.csv"))])
        var hierarchy: SceneHierarchy?
        if let path = arguments.string("scene-hierarchy") {
            hierarchy = try SceneHierarchy(contentsOf: URL(fileURLWithPath: path), name: path)
        } else if modelConfig.sceneClasses > 0 {
            let beside = trainURL.deletingLastPathComponent().appendingPathComponent("scene_hierarchy.csv")
            if FileManager.default.fileExists(atPath: beside.path) { hierarchy = try SceneHierarchy(contentsOf: beside) }
        }
        let labelled = try LabelledManifest(manifest: manifest, partitions: partitions, hierarchy: hierarchy,
                                            sceneClasses: modelConfig.sceneClasses)
        printError("train: \(labelled.count) images labelled (\(labelled.outsideCount) outside every cell, left out); "
                   + "cells \(partitions.coarse.count) / \(partitions.middle.count) / \(partitions.fine.count)")

        let plan = AccumulationPlan(imageCount: labelled.count, batchSize: config.batchSize, microBatchSize: config.microBatchSize)
        let schedule = LearningRateSchedule(config, stepsPerEpoch: plan.stepsPerEpoch)
        let checkpointURL = out.appendingPathComponent("last.safetensors")
        let trainer: Trainer
        if arguments.flag("resume") {
            let resumed = try Trainer.resume(from: checkpointURL, config: config, schedule: schedule)
            for problem in resumed.rejected { printError("warning: \(problem)") }
            guard resumed.modelFile.partitions == partitions else {
                throw CommandFailure("\(checkpointURL.path) was trained on other partitions than \(trainPath) gives")
            }
            trainer = resumed.trainer
            printError("train: resuming at step \(trainer.progress.step) (epoch \(trainer.progress.epoch + 1))")
        } else {
            let model = try TransLocatorModel(config: modelConfig, headSizes: partitions.headSizes, seed: seed)
            trainer = Trainer(model: model, config: config, schedule: schedule, progress: TrainingProgress(seed: seed))
        }
        let preprocessing = Preprocessing(resizeShortSide: config.resizeShortSide)
        let source = ManifestBatchSource(labelled: labelled, preprocessor: Preprocessor(
            resizeShortSide: config.resizeShortSide, cropSize: modelConfig.imageSize, augmentation: config.augmentation,
            seed: trainer.progress.seed), useSegmentation: modelConfig.segmentationBranch)
        let validation = try arguments.string("val").map { try Manifest(contentsOf: URL(fileURLWithPath: $0), name: $0) }
        let loop = TrainingLoop(plan: plan, epochs: config.epochs, checkpointURL: checkpointURL, partitions: partitions,
                                preprocessing: preprocessing, maxSteps: maxSteps, checkpointEverySteps: checkpointEvery)
        let log = try MetricsLog(url: out.appendingPathComponent("metrics.jsonl"))
        let totalSteps = maxSteps.map { min($0, schedule.totalSteps) } ?? schedule.totalSteps
        let progress = ProgressLine("train", total: totalSteps, unit: "steps")
        let started = Date()
        var images = 0
        let finished = try loop.run(trainer, source: source, onStep: { result in
            images += result.images
            let rate = Double(images) / max(1e-9, Date().timeIntervalSince(started))
            progress.update(trainer.progress.step, detail: String(format: "loss %.3f, %.1f images/s", result.loss, rate))
            log.append("{\"step\": \(trainer.progress.step), \"epoch\": \(trainer.progress.epoch + 1), \"loss\": \(result.loss), "
                       + "\"learningRate\": \(result.learningRate), \"imagesPerSecond\": \(rate)}")
        }, onEpoch: { summary in
            if summary.skipped > 0 {
                printError("epoch \(summary.epoch + 1): skipped \(summary.skipped) images (first: \(source.problems.first.map { "\($0)" } ?? "?"))")
            }
            guard let validation else { return }
            let modelFile = ModelFile(model: trainer.model, partitions: partitions, preprocessing: preprocessing)
            var evaluator = Evaluator(modelFile: modelFile)
            evaluator.skipInvalid = true
            let result = try evaluator.evaluate(validation)
            let table = result.evaluation.table
            let score = table.percentWithin.reduce(0, +) / Double(table.percentWithin.count)
            printError("epoch \(summary.epoch + 1): train loss \(String(format: "%.3f", summary.meanLoss)); validation:\n"
                       + result.evaluation.tableText(label: "epoch \(summary.epoch + 1)"))
            log.append("{\"epoch\": \(summary.epoch + 1), \"trainLoss\": \(summary.meanLoss), \"validation\": \(result.evaluation.json)}")
            if score > (trainer.progress.bestValidationScore ?? -1) {
                trainer.setBestValidationScore(score)
                let best = out.appendingPathComponent("best.safetensors"), staging = out.appendingPathComponent(".best.safetensors.tmp")
                try modelFile.write(to: staging)
                guard rename(staging.path, best.path) == 0 else {                 // atomic: never a half-written best model
                    throw CommandFailure("\(best.path): cannot write (\(String(cString: strerror(errno))))")
                }
            }
        })
        progress.finish(trainer.progress.step)
        print(finished ? "trained \(trainer.progress.step) steps; checkpoint \(checkpointURL.path)"
                       : "stopped after \(trainer.progress.step) steps (--max-steps); resume with --resume")
    }
}

/// Lines appended to a JSONL file as training goes (never rewritten: a resumed run appends).
final class MetricsLog {
    private let handle: FileHandle

    init(url: URL) throws {
        if !FileManager.default.fileExists(atPath: url.path) { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
        do { handle = try FileHandle(forWritingTo: url) } catch {
            throw CommandFailure("\(url.path): cannot open (\(error.localizedDescription))")
        }
        _ = try? handle.seekToEnd()
    }

    func append(_ line: String) {
        try? handle.write(contentsOf: Data((line + "\n").utf8))
    }

    deinit { try? handle.close() }
}
