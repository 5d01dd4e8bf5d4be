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
        warm-up, runs repeated for --seconds. Also reports TransLocator's time per image against \
        ViT-B/16's at each batch (target: at most 2.1) and its peak memory against its weight \
        bytes (target: at most 1.5): the process's peak resident set (VmHWM, restarted before the \
        model is built) and the peak of tensor storage alone. scripts/bench/forward.py runs \
        PyTorch on the same models and prints the ratios.
        """
    static let options: [OptionSpec] = [
        .flag("json", "Print one JSON array: {model, batch, imagesPerSecond} per run; TransLocator's rows add timeRatioToViT, weightBytes, peakResidentBytes, peakTensorBytes."),
        .option("batch", value: "n,n", "Batch sizes (default: 1,8)."),
        .option("seconds", value: "s", "Time spent on each measurement after its warm-up (default: 5)."),
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
        let batches = try arguments.intList("batch", default: [1, 8])
        guard batches.allSatisfy({ (1...256).contains($0) }) else { throw UsageError("--batch wants sizes in 1...256, got \(batches)") }
        let seconds = try arguments.double("seconds", default: 5, in: 0...3600)
        let configPath = arguments.string("config")
        let config = try configPath.map { try ModelConfig(contentsOf: URL(fileURLWithPath: $0)) } ?? paperConfig
        // Another config is named by its file, and compared with ViT-B/16 only if its branches are ViT-B/16.
        let name = configPath.map { "translocator(" + URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent + ")" }
            ?? "translocator-b16"
        let comparable = config.vit == ForwardBenchmark.vitB16
        // TransLocator first: its resident peak is then the process's, whether or not it can be restarted.
        let (dual, memory) = try ForwardBenchmark.transLocator(config, batches: batches, seconds: seconds, name: name)
        for result in dual { printError(String(format: "%@ batch %d: %.2f images/s", name, result.batch, result.imagesPerSecond)) }
        let gib = 1_073_741_824.0, weights = Double(max(memory.weightBytes, 1))
        printError(String(format: "%@ weights %.3f GiB; peak tensor storage %.3f GiB = %.2fx weights", name,
                          Double(memory.weightBytes) / gib, Double(memory.tensorPeakBytes) / gib, Double(memory.tensorPeakBytes) / weights))
        if let resident = memory.residentPeakBytes {
            printError(String(format: "%@ peak resident memory %.3f GiB = %.2fx weights%@", name, Double(resident) / gib,
                              Double(resident) / weights, memory.residentPeakWasReset ? "" : " (VmHWM not restartable: whole process)"))
        }
        var vit: [ForwardBenchmark.Result] = []
        for batch in batches {
            let result = ForwardBenchmark.vit(batch: batch, seconds: seconds)
            printError(String(format: "vit-b16 batch %d: %.2f images/s", batch, result.imagesPerSecond))
            vit.append(result)
        }
        /// TransLocator's time per image over ViT-B/16's at the same batch.
        func timeRatio(_ result: ForwardBenchmark.Result) -> Double? {
            guard comparable else { return nil }
            return vit.first { $0.batch == result.batch }.map { $0.imagesPerSecond / result.imagesPerSecond }
        }
        if arguments.flag("json") {
            var rows = vit.map { "{\"model\": \"\($0.model)\", \"batch\": \($0.batch), \"imagesPerSecond\": \(String(format: "%.3f", $0.imagesPerSecond))}" }
            for result in dual {
                var row = "{\"model\": \"\(result.model)\", \"batch\": \(result.batch), \"imagesPerSecond\": \(String(format: "%.3f", result.imagesPerSecond))"
                if let ratio = timeRatio(result) { row += String(format: ", \"timeRatioToViT\": %.3f", ratio) }
                row += ", \"weightBytes\": \(memory.weightBytes), \"peakTensorBytes\": \(memory.tensorPeakBytes)"
                if let resident = memory.residentPeakBytes { row += ", \"peakResidentBytes\": \(resident)" }
                rows.append(row + "}")
            }
            print("[\n  " + rows.joined(separator: ",\n  ") + "\n]")
        } else {
            print("model               batch  images/s  time/ViT")
            for r in vit { print(r.model.padding(toLength: 18, withPad: " ", startingAt: 0) + String(format: " %6d %9.2f", r.batch, r.imagesPerSecond)) }
            for r in dual {
                let ratio = timeRatio(r).map { String(format: " %9.2f", $0) } ?? ""
                print(r.model.padding(toLength: 18, withPad: " ", startingAt: 0) + String(format: " %6d %9.2f", r.batch, r.imagesPerSecond) + ratio)
            }
            let resident = memory.residentPeakBytes.map { String(format: "%.2fx", Double($0) / weights) } ?? "n/a"
            print(String(format: "%@ peak memory / weight bytes: resident %@, tensors %.2fx (weights %.3f GiB)", name,
                         resident, Double(memory.tensorPeakBytes) / weights, Double(memory.weightBytes) / gib))
        }
    }
}
