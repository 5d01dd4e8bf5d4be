import Foundation
import TensorEngine
import TransLocator
import Training

/// `translocator bench train`: images/s of one training step of ViT-S/16 and the tiny TransLocator.
struct BenchTrainCommand: Command {
    static let name = "bench train"
    static let summary = "Images per second of one training step (forward + backward + AdamW): ViT-S/16, tiny TransLocator."
    static let discussion = """
        Times one optimizer step (forward, cross-entropy, backward, AdamW) on random images and \
        labels: ViT-S/16 at 224 px (timm vit_small_patch16_224 with a 1000-way head) and the tiny \
        TransLocator (configs/tiny.json's model: two branches, MFF, modality attention, four heads; \
        geo heads of 100 / 200 / 400 classes). Best step after the warm-up. Also reports how much \
        the engine allocated in each step after the first (it should be nothing). \
        scripts/bench/train.py runs the same steps in PyTorch and prints the ratios.
        """
    static let options: [OptionSpec] = [
        .flag("json", "Print one JSON array of {model, batch, imagesPerSecond, allocationsPerStep, headSizes}."),
        .option("batch", value: "n", default: "32", "ViT-S/16 batch size."),
        .option("tiny-batch", value: "n", default: "32", "Tiny TransLocator batch size."),
        .option("steps", value: "n", default: "3", "Timed steps per model; the fastest counts."),
        .option("warmup", value: "n", default: "1", "Untimed steps first (the first step at a shape allocates)."),
        .option("threads", value: "n", "Worker threads (default: every active core)."),
        .option("config", value: "json", "Config whose model replaces the tiny TransLocator (default: configs/tiny.json's sizes)."),
        .flag("skip-vit", "Time only the tiny TransLocator (ViT-S/16 takes seconds a step on two cores)."),
    ]
    static let examples = [
        "translocator bench train",
        "translocator bench train --json --threads 2 --steps 5",
        "swift build -c release && python3 scripts/bench/train.py",
    ]

    static func run(_ arguments: ParsedArguments) throws {
        let batch = try arguments.int("batch", in: 1...1024)
        let tinyBatch = try arguments.int("tiny-batch", in: 1...1024)
        let steps = try arguments.int("steps", in: 1...10_000)
        let warmup = try arguments.int("warmup", in: 1...10_000)
        if arguments.given("threads") { Engine.threadCount = try arguments.int("threads", in: 1...1024) }
        let tiny = try arguments.string("config").map { try ModelConfig(contentsOf: URL(fileURLWithPath: $0)) }
            ?? BuiltIn.tinyConfig().model
        var runs: [(name: String, config: ModelConfig, headSizes: HeadSizes, batch: Int)] = []
        if !arguments.flag("skip-vit") { runs.append(("vit-s16", TrainBenchmark.vitS16, TrainBenchmark.vitS16HeadSizes, batch)) }
        runs.append(("translocator-tiny", tiny, TrainBenchmark.tinyHeadSizes, tinyBatch))
        var results: [TrainBenchmark.Result] = []
        for run in runs {
            let result = try TrainBenchmark.run(model: run.name, config: run.config, headSizes: run.headSizes, batch: run.batch,
                                                warmupSteps: warmup, steps: steps)
            printError(String(format: "%@ batch %d: %.2f images/s (best of %d steps, %d threads); ", result.model, result.batch,
                              result.imagesPerSecond, steps, Engine.threadCount)
                       + allocationText(result))
            results.append(result)
        }
        if arguments.flag("json") {
            let rows = results.map { r in
                "{\"model\": \"\(r.model)\", \"batch\": \(r.batch), \"imagesPerSecond\": \(String(format: "%.3f", r.imagesPerSecond)), "
                    + "\"allocationsPerStep\": \(r.allocationsPerStepAfterFirst), \"headSizes\": {\"coarse\": \(r.headSizes.coarse), "
                    + "\"middle\": \(r.headSizes.middle), \"fine\": \(r.headSizes.fine)}}"
            }
            print("[\n  " + rows.joined(separator: ",\n  ") + "\n]")
        } else {
            print("model               batch  images/s  allocations/step")
            for r in results {
                print(r.model.padding(toLength: 18, withPad: " ", startingAt: 0)
                      + String(format: " %6d %9.2f  %16d", r.batch, r.imagesPerSecond, r.allocationsPerStepAfterFirst))
            }
        }
    }

    static func allocationText(_ result: TrainBenchmark.Result) -> String {
        result.allocationsPerStepAfterFirst == 0
            ? "no allocation in a step after the first"
            : "\(result.allocationsPerStepAfterFirst) engine allocations in a step after the first (expected none)"
    }
}
