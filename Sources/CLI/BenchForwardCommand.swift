import Foundation
import TransLocator

/// `translocator bench forward`: inference images/s of ViT-B/16 and TransLocator-B/16.
struct BenchForwardCommand: Command {
    static let name = "bench forward"
    static let summary = "Images per second of the ViT-B/16 and TransLocator-B/16 forward (inference)."
    static let discussion = """
        Times the inference forward of ViT-B/16 at 224 px (timm vit_base_patch16_224 up to its \
        pre_logits) and of TransLocator-B/16 (configs/translocator-b16.json: two branches, MFF, \
        modality attention, the paper's head sizes 3298/7202/12893), random weights and inputs, at \
        each batch size: best run after a warm-up, runs repeated for --seconds. The peak resident \
        memory against TransLocator's weight bytes goes to stderr. scripts/bench/forward.py runs \
        PyTorch on the same models and prints the ratios.
        """
    static let options: [OptionSpec] = [
        .flag("json", "Print one JSON array of {model, batch, imagesPerSecond}."),
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
        let config = try arguments.string("config").map { try ModelConfig(contentsOf: URL(fileURLWithPath: $0)) } ?? paperConfig
        var results: [ForwardBenchmark.Result] = []
        for batch in batches {
            let result = ForwardBenchmark.vit(batch: batch, seconds: seconds)
            printError(String(format: "vit-b16 batch %d: %.2f images/s", batch, result.imagesPerSecond))
            results.append(result)
        }
        var weightBytes = 0
        for batch in batches {
            let result = try ForwardBenchmark.transLocator(config, batch: batch, seconds: seconds)
            printError(String(format: "translocator-b16 batch %d: %.2f images/s", batch, result.imagesPerSecond))
            weightBytes = result.weightBytes
            results.append(result)
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakBytes = Double(usage.ru_maxrss) * 1024                                   // Linux: KiB
        printError(String(format: "peak resident memory %.2f GiB = %.2fx TransLocator's weights (%.2f GiB)",
                          peakBytes / 1_073_741_824, peakBytes / Double(max(weightBytes, 1)), Double(weightBytes) / 1_073_741_824))
        if arguments.flag("json") {
            let rows = results.map {
                "{\"model\": \"\($0.model)\", \"batch\": \($0.batch), \"imagesPerSecond\": \(String(format: "%.3f", $0.imagesPerSecond))}"
            }
            print("[\n  " + rows.joined(separator: ",\n  ") + "\n]")
        } else {
            print("model               batch  images/s")
            for r in results { print(r.model.padding(toLength: 18, withPad: " ", startingAt: 0) + String(format: " %6d %9.2f", r.batch, r.imagesPerSecond)) }
        }
    }
}
