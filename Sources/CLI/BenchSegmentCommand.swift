import Foundation
import Segmenter
import TensorEngine

/// `translocator bench segment`: images/s of SegFormer-B0 and -B2 at 512×512.
struct BenchSegmentCommand: Command {
    static let name = "bench segment"
    static let summary = "Images per second of the SegFormer-B0 and -B2 forward at 512x512 (ADE20K, 150 classes)."
    static let discussion = """
        Times the forward pass (normalized pixels to logits at 1/4 size) of SegFormer-B0 and -B2 with \
        nvidia's ADE20K configs and random weights: best run after a warm-up, runs repeated for \
        --seconds, the models alternating for --rounds (best images/s of each). scripts/bench/segment.py \
        runs Hugging Face's SegformerForSemanticSegmentation on PyTorch in the same run and prints the \
        ratios.
        """
    static let options: [OptionSpec] = [
        .flag("json", "Print one JSON array: {model, size, batch, imagesPerSecond, weightBytes, peakActivationBytes} per model."),
        .option("models", value: "list", default: "segformer-b0,segformer-b2", "Which of segformer-b0 ... segformer-b5."),
        .option("size", value: "px", default: "512", "Input side."),
        .option("batch", value: "n", default: "1", "Images per forward pass."),
        .option("seconds", value: "s", default: "5", "Time spent on each measurement after its warm-up."),
        .option("rounds", value: "n", default: "3", "Rounds alternating the models; each keeps its best."),
    ]
    static let examples = [
        "translocator bench segment",
        "swift build -c release && python3 scripts/bench/segment.py",
    ]

    /// nvidia/mit-b0 ... mit-b5 with the ADE20K decode head (decoder 256 for B0, 768 above).
    static func config(_ name: String) -> SegFormerConfig? {
        let variants: [String: (hidden: [Int], depths: [Int], decoder: Int)] = [
            "segformer-b0": ([32, 64, 160, 256], [2, 2, 2, 2], 256), "segformer-b1": ([64, 128, 320, 512], [2, 2, 2, 2], 256),
            "segformer-b2": ([64, 128, 320, 512], [3, 4, 6, 3], 768), "segformer-b3": ([64, 128, 320, 512], [3, 4, 18, 3], 768),
            "segformer-b4": ([64, 128, 320, 512], [3, 8, 27, 3], 768), "segformer-b5": ([64, 128, 320, 512], [3, 6, 40, 3], 768),
        ]
        guard let v = variants[name] else { return nil }
        let json = """
            {"hidden_sizes": \(v.hidden), "depths": \(v.depths), "num_attention_heads": [1, 2, 5, 8], "sr_ratios": [8, 4, 2, 1],
             "patch_sizes": [7, 3, 3, 3], "strides": [4, 2, 2, 2], "mlp_ratios": [4, 4, 4, 4], "decoder_hidden_size": \(v.decoder),
             "num_labels": 150}
            """
        return try? SegFormerConfig(json: Data(json.utf8), file: name)
    }

    static func run(_ arguments: ParsedArguments) throws {
        let names = (arguments.string("models") ?? "").split(separator: ",").map(String.init)
        let configs = try names.map { name in
            guard let config = config(name) else { throw UsageError("unknown model '\(name)': segformer-b0 ... segformer-b5") }
            return (name, config)
        }
        let size = try arguments.int("size", in: 32...4096), batch = try arguments.int("batch", in: 1...64)
        let seconds = try arguments.double("seconds", in: 0...3600), rounds = try arguments.int("rounds", in: 1...100)
        var weightBytes: [String: Int] = [:]
        let models = try configs.map { name, config in
            let before = TensorMemory.liveBytes
            let model = try SegFormer(config: config, seed: 1)
            weightBytes[name] = TensorMemory.liveBytes - before        // as packed for inference
            return (name, model)
        }
        var best: [String: Double] = [:], peaks: [String: Int] = [:]
        let pixels = Tensor(shape: [batch, size, size, 3], values: (0..<(batch * size * size * 3)).map { Float($0 % 251) / 125 - 1 })
        for round in 1...rounds {
            for (name, model) in models {
                TensorMemory.resetPeak()
                let before = TensorMemory.peakBytes
                _ = try model.logits(pixels)                          // warm-up: workspace sized, pages touched
                peaks[name] = max(peaks[name] ?? 0, TensorMemory.peakBytes - before)
                var fastest = Double.infinity, runs = 0
                let start = Date()
                while runs < 3 || Date().timeIntervalSince(start) < seconds {
                    let t = Date()
                    _ = try model.logits(pixels)
                    fastest = min(fastest, Date().timeIntervalSince(t))
                    runs += 1
                }
                let rate = Double(batch) / fastest
                printError(String(format: "round %d: %@ %dx%d batch %d: %.2f images/s", round, name, size, size, batch, rate))
                best[name] = max(best[name] ?? 0, rate)
            }
        }
        if arguments.flag("json") {
            let rows = names.map { name in
                "{\"model\": \"\(name)\", \"size\": \(size), \"batch\": \(batch), "
                    + "\"imagesPerSecond\": \(String(format: "%.3f", best[name]!)), \"weightBytes\": \(weightBytes[name]!), "
                    + "\"peakActivationBytes\": \(peaks[name]!)}"
            }
            print("[\n  " + rows.joined(separator: ",\n  ") + "\n]")
        } else {
            print("model          size  batch  images/s  weights MB  activations MB")
            for name in names {
                print(name.padding(toLength: 14, withPad: " ", startingAt: 0)
                      + String(format: " %4d %6d %9.2f %11.1f %15.1f", size, batch, best[name]!, Double(weightBytes[name]!) / 1e6,
                               Double(peaks[name]!) / 1e6))
            }
        }
    }
}
