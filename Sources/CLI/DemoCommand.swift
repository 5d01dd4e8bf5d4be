import Foundation
import GeoCells
import TensorEngine
import TransLocator
import Training

/// `translocator demo`: the README's main command. Synthesizes, partitions, trains, scores and
/// predicts in one go, with progress, from the files bundled in the repository.
struct DemoCommand: Command {
    static let name = "demo"
    static let summary = "Synthesize data, train the tiny TransLocator for a few minutes, score it, locate a real photo."
    static let discussion = """
        The whole pipeline in one command, on a fresh clone. It draws a synthetic data set at \
        real MP-16 coordinates (data/mp16-sample-20k.csv; see 'translocator synthesize'), \
        partitions its training coordinates into coarse, middle and fine S2 cells, trains the \
        tiny TransLocator (configs/tiny.json: both branches, MFF, modality attention, four heads) \
        for --steps steps, prints the paper's table on the test split beside the baseline that \
        always answers the most populous cell, and predicts on the real photo data/kauai.png \
        (Kalalau Valley, Kauai). The photos are synthetic: this tests the machinery (data, \
        training, cells, evaluation), not geolocation. The photo's segmentation map comes from \
        colour rules (sky, water, tree, grass, earth, rock), a heuristic, not a segmentation \
        model, and a model trained on a made-up planet cannot really place a real photo. \
        Writes OUT/data/ (the data set), OUT/partitions/, OUT/model.safetensors (for \
        'translocator predict' and 'eval'), OUT/kauai-seg.png (the map) and OUT/demo.json (the \
        results, as --json prints them). A second run into an earlier demo's folder overwrites it; any other non-empty \
        folder is refused. It runs from any folder: the config is built in, and data/ is found in \
        the current folder or in the repository the binary was built in.
        """
    static let options: [OptionSpec] = [
        .option("out", value: "dir", default: "demo-run", "Folder for the data, model and results."),
        .option("images", value: "n", default: "\(Demo.Settings().imageCount)", "Synthetic photos in all, split 80/10/10 train/val/test."),
        .option("steps", value: "n", default: "\(Demo.Settings().steps)",
                "Optimizer steps, of the config's batch size (32 images in tiny.json)."),
        .option("seed", value: "s", default: "0", "Seed of the data, the initialisation and the data order."),
        .option("learning-rate", value: "x", "Peak learning rate of warm-up + cosine (default: the config's)."),
        .option("config", value: "json", "Model and training config (default: \(BuiltIn.tinyConfigName), built into the binary)."),
        .flag("json", "Print one JSON document (stdout) instead of the report; progress stays on stderr."),
    ]
    static let examples = [
        "swift run -c release translocator demo",
        "translocator demo --out /tmp/demo --images 2000 --steps 150 --json",
    ]

    static let defaultPhoto = "data/kauai.png"
    /// The photo's place (data/NOTICE.md: the Kalalau Valley lookout, Kauai, Hawaii).
    static let photoTruth = GeoCoordinate(latitude: 22.17, longitude: -159.65)
    static let note = "synthetic images at real MP-16 coordinates: a test of the machinery, not of geolocation"

    static func run(_ arguments: ParsedArguments) throws {
        let started = Date()
        let out = URL(fileURLWithPath: try arguments.requiredString("out"))
        var settings = Demo.Settings()
        settings.imageCount = try arguments.int("images", in: 3...20_000)
        settings.steps = try arguments.int("steps", in: 1...1_000_000)
        settings.seed = UInt64(try arguments.int("seed", in: 0...Int.max))
        if arguments.string("learning-rate") != nil {
            settings.learningRate = try arguments.double("learning-rate", in: 1e-7...10)
        }
        let json = arguments.flag("json")
        let config = try arguments.string("config").map { try ConfigFile(contentsOf: URL(fileURLWithPath: $0), name: $0) }
            ?? BuiltIn.tinyConfig()
        guard let coordinatesURL = BuiltIn.repositoryFile(SynthesizeCommand.defaultCoordinates),
              let photoURL = BuiltIn.repositoryFile(defaultPhoto) else {
            throw CommandFailure("\(SynthesizeCommand.defaultCoordinates) and \(defaultPhoto) not found here or in the repository "
                                 + "this binary was built in: run the demo from the repository's root folder")
        }
        let demo = Demo(directory: out, settings: settings, config: config)
        let report = Report(json: json)

        printError("demo: \(note)")
        if try demo.prepareDirectory() { printError("demo: overwriting the earlier demo in \(out.relativePath)") }
        let coordinates = try CoordinateFile(contentsOf: coordinatesURL, name: SynthesizeCommand.defaultCoordinates).coordinates
        let synthesisProgress = SharedProgress(ProgressLine("synthesize", total: settings.imageCount, unit: "images"))
        let summary = try demo.synthesize(from: coordinates) { synthesisProgress.update($0) }
        synthesisProgress.finish(settings.imageCount)
        report.line("data: \(settings.imageCount) synthetic photos and maps in \(demo.dataDirectory.relativePath) "
                    + "(train \(summary.trainCount), "
                    + "val \(summary.validationCount), test \(summary.testCount))")

        let (labelled, partitions) = try demo.partition()
        report.line("cells: coarse \(partitions.coarse.count), middle \(partitions.middle.count), fine \(partitions.fine.count) "
                    + "from the training coordinates (\(labelled.count) images labelled, \(labelled.outsideCount) outside every cell)")

        let batch = demo.trainingConfig.batchSize
        let trainProgress = ProgressLine("train", total: settings.steps, unit: "steps")
        let trainStarted = Date()
        var images = 0, lastLoss = Double.nan
        _ = try demo.train { step, result in
            images += result.images
            lastLoss = result.loss
            let rate = Double(images) / max(1e-9, Date().timeIntervalSince(trainStarted))
            trainProgress.update(step, detail: String(format: "loss %.3f, %.1f images/s", result.loss, rate))
        }
        trainProgress.finish(settings.steps, detail: String(format: "loss %.3f", lastLoss))
        let trainSeconds = Date().timeIntervalSince(trainStarted)
        report.line("trained \(settings.steps) steps of \(batch) images in \(ProgressLine.duration(trainSeconds)) "
                    + String(format: "(final loss %.3f); model %@", lastLoss, demo.modelURL.relativePath))

        let test = summary.testCount
        let evalProgress = ProgressLine("eval", total: test, unit: "images")
        let (model, baseline) = try demo.evaluate { evalProgress.update($0) }
        evalProgress.finish(model.images.count)

        let located = try demo.locate(photoAt: photoURL, top: 3)
        let wallSeconds = Date().timeIntervalSince(started)
        let document = resultJSON(demo: demo, summary: summary, partitions: partitions, model: model, baseline: baseline,
                                  photo: located.predictions, mapURL: located.mapURL, trainSeconds: trainSeconds,
                                  wallSeconds: wallSeconds)
        try demo.writeResult(document)
        if json {
            print(document)
            return
        }
        print("")
        print("Test split: \(model.images.count) synthetic photos at real MP-16 coordinates (a test of the machinery, not of geolocation)")
        print(GeoEvaluation.tableText(rows: [("model", model), ("baseline", baseline)]), terminator: "")
        let answer = GeoEvaluation.mostPopulousCell(of: partitions.fine)
        print(String(format: "baseline: always the most populous fine cell, (%.2f, %.2f)", answer.latitude, answer.longitude))
        print(comparison(model: model, baseline: baseline))
        print("")
        print(String(format: "A real photo: %@, Kalalau Valley, Kauai (%.2f, %.2f).", defaultPhoto, photoTruth.latitude,
                     photoTruth.longitude))
        print("Its map: colour rules, a heuristic, not a segmentation model (\(located.mapURL.relativePath)).")
        print("The model learned a synthetic planet: a smoke test of prediction, not a geolocation.")
        print("rank  probability   latitude   longitude  token       distance km")
        for p in located.predictions {
            let distance = greatCircleDistance(photoTruth, GeoCoordinate(latitude: p.latitude, longitude: p.longitude))
            print(String(format: "%4d  %11.4f %10.4f %11.4f  %-10@ %11.0f", p.rank, p.probability, p.latitude, p.longitude,
                         p.token, distance))
        }
        print("")
        print("wrote \(out.relativePath)/: data/, partitions/, model.safetensors, "
              + "\(located.mapURL.lastPathComponent), demo.json; wall time \(ProgressLine.duration(wallSeconds))")
    }

    /// One line saying how far the model is from the baseline where the demo must show learning.
    static func comparison(model: GeoEvaluation, baseline: GeoEvaluation) -> String {
        let parts = [(3, "750 km"), (4, "2500 km")].map { index, label in
            let ours = model.table.percentWithin[index], theirs = baseline.table.percentWithin[index]
            return String(format: "%@ %.1f%% vs %.1f%% (%+.1f points)", label, ours, theirs, ours - theirs)
        }
        return "model vs baseline: " + parts.joined(separator: ", ")
    }

    /// The `--json` document, also written to OUT/demo.json: `model` and `baseline` as
    /// `translocator eval --json` prints them (`accuracy`: threshold in km to percent).
    static func resultJSON(demo: Demo, summary: Synthesizer.Summary, partitions: GeoPartitions, model: GeoEvaluation,
                           baseline: GeoEvaluation, photo: [CellPrediction], mapURL: URL, trainSeconds: Double,
                           wallSeconds: Double) -> String {
        let answer = GeoEvaluation.mostPopulousCell(of: partitions.fine)
        let predictions = photo.map { p in
            let distance = greatCircleDistance(photoTruth, GeoCoordinate(latitude: p.latitude, longitude: p.longitude))
            return "{\"rank\": \(p.rank), \"probability\": \(JSONLiteral.number(p.probability)), "
                + "\"latitude\": \(JSONLiteral.number(p.latitude)), \"longitude\": \(JSONLiteral.number(p.longitude)), "
                + "\"token\": \(JSONLiteral.string(p.token)), \"distanceKm\": \(JSONLiteral.number(distance))}"
        }
        let learningRate = demo.schedule.baseLearningRate
        return """
            {
              "note": \(JSONLiteral.string(note)),
              "images": \(demo.settings.imageCount),
              "trainImages": \(summary.trainCount),
              "testImages": \(summary.testCount),
              "steps": \(demo.settings.steps),
              "batchSize": \(demo.trainingConfig.batchSize),
              "learningRate": \(learningRate),
              "seed": \(demo.settings.seed),
              "cells": {"coarse": \(partitions.coarse.count), "middle": \(partitions.middle.count), "fine": \(partitions.fine.count)},
              "model": \(model.json),
              "baseline": \(baseline.json),
              "baselineCell": {"latitude": \(answer.latitude), "longitude": \(answer.longitude)},
              "trainSeconds": \(trainSeconds),
              "wallSeconds": \(wallSeconds),
              "kauai": {
                "image": \(JSONLiteral.string(defaultPhoto)),
                "truth": {"latitude": \(photoTruth.latitude), "longitude": \(photoTruth.longitude)},
                "segmentation": "colour rules: a heuristic, not a segmentation model",
                "map": \(JSONLiteral.string(mapURL.path)),
                "predictions": [\(predictions.joined(separator: ", "))]
              },
              "output": \(JSONLiteral.string(demo.directory.path))
            }
            """
    }
}

/// What the report prints: progress-like lines to stderr under --json (stdout then carries the
/// document only), to stdout otherwise.
private struct Report {
    let json: Bool

    func line(_ text: String) {
        if json { printError(text) } else { print(text) }
    }
}
