import Foundation
import GeoCells
import TransLocator
import Training

/// `translocator eval`: the paper's accuracy table of a model on a manifest.
struct EvalCommand: Command {
    static let name = "eval"
    static let summary = "Score a model on a manifest: the paper's table (1 / 25 / 200 / 750 / 2500 km)."
    static let discussion = """
        Predicts every image of the manifest (resized, centre-cropped; --tencrop averages the \
        logits of ten crops) and answers the top fine cell's mean coordinate (--hierarchical: the \
        cell maximising p_fine · p_middle · p_coarse). Prints the share of images within 1 km \
        (street), 25 km (city), 200 km (region), 750 km (country) and 2500 km (continent) of the \
        truth, great-circle on a sphere of 6371 km, with the paper's strict '<' (--inclusive: \
        '<='), and the mean and median error. A missing or undecodable image is an error naming \
        the manifest's file:line unless --skip-invalid.
        """
    static let options: [OptionSpec] = [
        .option("model", value: "file", required: true, "Model file (safetensors from 'translocator train')."),
        .option("manifest", value: "csv", required: true, "Manifest with image,lat,lon[,seg] (paths relative to it)."),
        .flag("tencrop", "Average the logits of TenCrop (4 corners + centre, and mirrored)."),
        .flag("hierarchical", "Rank fine cells by p_fine · p_middle(parent) · p_coarse(parent)."),
        .flag("inclusive", "Count an error equal to a threshold (GeoEstimation's <=) instead of the paper's <."),
        .flag("json", "Print {\"images\", \"accuracy\": {\"1\": %, ...}, \"meanKm\", \"medianKm\"} instead of the table."),
        .option("predictions", value: "csv", "Also write image,lat,lon,pred_lat,pred_lon,distance_km per image."),
        .flag("skip-invalid", "Skip (and count) rows with a bad value, a missing file or an undecodable image."),
        .flag("baseline", "Also score always answering the most populous fine cell."),
        .option("batch", value: "n", default: "16", "Images per forward pass."),
    ]
    static let examples = [
        "translocator eval --model run/best.safetensors --manifest synthetic/test.csv",
        "translocator eval --model model.safetensors --manifest im2gps3k.csv --tencrop --json --predictions p.csv",
    ]

    static func run(_ arguments: ParsedArguments) throws {
        let modelPath = try arguments.requiredString("model"), manifestPath = try arguments.requiredString("manifest")
        let skipInvalid = arguments.flag("skip-invalid")
        let manifest = try Manifest(contentsOf: URL(fileURLWithPath: manifestPath), name: manifestPath, skipInvalid: skipInvalid)
        if manifest.skippedRows > 0 {
            printError("warning: skipped \(manifest.skippedRows) rows with bad values "
                       + "(first: \(manifest.firstSkipped.map { "\($0)" } ?? ""))")
        }
        var evaluator = Evaluator(modelFile: try ModelFile(contentsOf: URL(fileURLWithPath: modelPath)))
        evaluator.tenCrop = arguments.flag("tencrop")
        evaluator.hierarchical = arguments.flag("hierarchical")
        evaluator.inclusive = arguments.flag("inclusive")
        evaluator.skipInvalid = skipInvalid
        evaluator.batchSize = try arguments.int("batch", in: 1...4096)
        let progress = ProgressLine("eval", total: manifest.count, unit: "images")
        let result = try evaluator.evaluate(manifest) { progress.update($0) }
        progress.finish(result.evaluation.images.count)
        if !result.skipped.isEmpty {
            printError("warning: skipped \(result.skipped.count) images (first: \(result.skipped[0]))")
        }
        if let path = arguments.string("predictions") {
            do { try Data(result.evaluation.predictionsCSV.utf8).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
                throw CommandFailure("\(path): cannot write (\(error.localizedDescription))")
            }
        }
        let evaluation = result.evaluation
        if arguments.flag("json") {
            print(evaluation.json)
            return
        }
        var rows: [(label: String, evaluation: GeoEvaluation)] = [("model", evaluation)]
        if arguments.flag("baseline") {
            rows.append(("baseline", GeoEvaluation.baseline(images: evaluation.images, truths: evaluation.truths,
                                                             partition: evaluator.modelFile.partitions.fine,
                                                             inclusive: evaluator.inclusive)))
        }
        print(GeoEvaluation.tableText(rows: rows), terminator: "")
    }
}
