import Foundation
import TransLocator

/// `translocator bench forward`: inference images/s of ViT-B/16 and TransLocator-B/16.
struct BenchForwardCommand: Command {
    static let name = "bench forward"
    static let summary = "Images per second of the ViT-B/16 and TransLocator-B/16 forward (inference)."
    static let discussion = """
        Times the inference forward of TransLocator-B/16 (configs/translocator-b16.json: two \
        branches, MFF, modality attention, the paper's head sizes 3298/7202/12893; one model \
        prepared for inference, run at each batch size) and of ViT-B/16 at 224 px (timm \
        vit_base_patch16_224 up to its pre_logits), random weights and inputs: best run after a \
        warm-up, runs repeated for --seconds, the two models alternating for --rounds (best \
        images/s of each; the time ratio is the median of the rounds' own ratios). Also reports \
        TransLocator's time per image against \
        ViT-B/16's at each batch (target: at most 2.1) and its peak memory against its weight \
        bytes (target: at most 1.5): the process's peak resident set (VmHWM, restarted before the \
        model is built) and the peak of tensor storage alone. scripts/bench/forward.py runs \
        PyTorch on the same models and prints the ratios.
        """
    static let options: [OptionSpec] = [
        .flag("json", "Print one JSON array: {model, batch, imagesPerSecond} per run; TransLocator's rows add timeRatioToViT, "
                      + "weightBytes, peakResidentBytes, peakTensorBytes."),
        .option("batch", value: "n,n", default: "1,8", "Batch sizes."),
        .option("seconds", value: "s", default: "5", "Time spent on each measurement after its warm-up."),
        .option("rounds", value: "n", default: "3",
                "Rounds alternating TransLocator and ViT-B/16: best images/s of each, median of the rounds' time ratios."),
        .option("config", value: "json", "TransLocator config (default: the paper's translocator-b16 sizes)."),
    ]
    static let examples = [
        "translocator bench forward",
        "translocator bench forward --json --batch 8 --seconds 10",
        "swift build -c release && python3 scripts/bench/forward.py",
    ]

    /// configs/translocator-b16.json's "model" object, so the command needs no file.
    static let paperConfig = ModelConfig(
        architecture: "translocator", imageSize: 224, patchSize: 16, embedDimension: 768, depth: 12, headCount: 12,
        mlpRatio: 4, modalityAttentionHidden: [8],
        headHidden: .init(coarse: [], middle: [3000], fine: [6000], scene: []), sceneClasses: 16)

    static func run(_ arguments: ParsedArguments) throws {
        let batches = try arguments.intList("batch")
        guard batches.allSatisfy({ (1...256).contains($0) }) else { throw UsageError("--batch wants sizes in 1...256, got \(batches)") }
        let seconds = try arguments.double("seconds", in: 0...3600)
        let configPath = arguments.string("config")
        let config = try configPath.map { try ModelConfig(contentsOf: URL(fileURLWithPath: $0)) } ?? paperConfig
        // Another config is named by its file, and compared with ViT-B/16 only if its branches are ViT-B/16.
        let name = configPath.map { "translocator(" + URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent + ")" }
            ?? "translocator-b16"
        let comparable = config.vit == ForwardBenchmark.vitB16
        let rounds = try arguments.int("rounds", in: 1...100)
        // TransLocator first in each round: its resident peak is then the process's, whether or not
        // it can be restarted. Rounds alternate the two models; each keeps its best throughput, and
        // the time ratio is the median of the rounds' own ratios (each from one stretch of time),
        // because on a VM the host takes a core for seconds at a time (steal) and a ratio of two
        // measurements minutes apart read anywhere from 1.6 to 2.3 for the same build.
        var dual: [ForwardBenchmark.Result] = [], vit: [ForwardBenchmark.Result] = []
        var roundRatios: [Int: [Double]] = [:]                  // batch: TransLocator time / ViT time, per round
        var largestMemory: ForwardBenchmark.Memory?
        func keepBest(_ result: ForwardBenchmark.Result, in results: inout [ForwardBenchmark.Result]) {
            if let i = results.firstIndex(where: { $0.batch == result.batch }) {
                if result.imagesPerSecond > results[i].imagesPerSecond { results[i] = result }
            } else {
                results.append(result)
            }
        }
        for round in 1...rounds {
            let (results, roundMemory) = try ForwardBenchmark.transLocator(config, batches: batches, seconds: seconds, name: name)
            for result in results {
                printError(String(format: "round %d: %@ batch %d: %.2f images/s", round, name, result.batch, result.imagesPerSecond))
                keepBest(result, in: &dual)
            }
            if roundMemory.tensorPeakBytes > largestMemory?.tensorPeakBytes ?? -1 { largestMemory = roundMemory }
            for (batch, dualResult) in zip(batches, results) {
                let result = ForwardBenchmark.vit(batch: batch, seconds: seconds)
                printError(String(format: "round %d: vit-b16 batch %d: %.2f images/s", round, batch, result.imagesPerSecond))
                keepBest(result, in: &vit)
                roundRatios[batch, default: []].append(result.imagesPerSecond / dualResult.imagesPerSecond)
            }
        }
        let memory = largestMemory!                             // rounds >= 1
        let gib = 1_073_741_824.0, weights = Double(max(memory.weightBytes, 1))
        printError(String(format: "%@ weights %.3f GiB; peak tensor storage %.3f GiB = %.2fx weights", name,
                          Double(memory.weightBytes) / gib, Double(memory.tensorPeakBytes) / gib, Double(memory.tensorPeakBytes) / weights))
        if let resident = memory.residentPeakBytes {
            printError(String(format: "%@ peak resident memory %.3f GiB = %.2fx weights%@", name, Double(resident) / gib,
                              Double(resident) / weights, memory.residentPeakWasReset ? "" : " (VmHWM not restartable: whole process)"))
        }
        /// TransLocator's time per image over ViT-B/16's at the same batch: the rounds' median.
        func timeRatio(_ result: ForwardBenchmark.Result) -> Double? {
            guard comparable, let ratios = roundRatios[result.batch]?.sorted(), !ratios.isEmpty else { return nil }
            let middle = ratios.count / 2
            return ratios.count % 2 == 1 ? ratios[middle] : (ratios[middle - 1] + ratios[middle]) / 2
        }
        if arguments.flag("json") {
            var rows = vit.map {
                "{\"model\": \"\($0.model)\", \"batch\": \($0.batch), "
                    + "\"imagesPerSecond\": \(String(format: "%.3f", $0.imagesPerSecond))}"
            }
            for result in dual {
                var row = "{\"model\": \"\(result.model)\", \"batch\": \(result.batch), "
                    + "\"imagesPerSecond\": \(String(format: "%.3f", result.imagesPerSecond))"
                if let ratio = timeRatio(result) { row += String(format: ", \"timeRatioToViT\": %.3f", ratio) }
                row += ", \"weightBytes\": \(memory.weightBytes), \"peakTensorBytes\": \(memory.tensorPeakBytes)"
                if let resident = memory.residentPeakBytes { row += ", \"peakResidentBytes\": \(resident)" }
                rows.append(row + "}")
            }
            print("[\n  " + rows.joined(separator: ",\n  ") + "\n]")
        } else {
            print("model               batch  images/s  time/ViT")
            for r in vit {
                print(r.model.padding(toLength: 18, withPad: " ", startingAt: 0)
                      + String(format: " %6d %9.2f", r.batch, r.imagesPerSecond))
            }
            for r in dual {
                let ratio = timeRatio(r).map { String(format: " %9.2f", $0) } ?? ""
                print(r.model.padding(toLength: 18, withPad: " ", startingAt: 0)
                      + String(format: " %6d %9.2f", r.batch, r.imagesPerSecond) + ratio)
            }
            let resident = memory.residentPeakBytes.map { String(format: "%.2fx", Double($0) / weights) } ?? "n/a"
            print(String(format: "%@ peak memory / weight bytes: resident %@, tensors %.2fx (weights %.3f GiB)", name,
                         resident, Double(memory.tensorPeakBytes) / weights, Double(memory.weightBytes) / gib))
        }
    }
}
