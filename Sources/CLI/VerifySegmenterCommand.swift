import Foundation
import Segmenter

/// `translocator verify-segmenter FIXTURE.safetensors` (docs/ARCHITECTURE.md "CLI contracts").
struct VerifySegmenterCommand: Command {
    static let name = "verify-segmenter"
    static let summary = "Check that a Hugging Face SegFormer loads: rebuild it from its config, run its input, compare logits."
    static let operandsUsage = "<fixture.safetensors>"
    static let discussion = """
        Rebuilds a SegFormer from the file's __metadata__.config (Hugging Face's SegformerConfig as JSON) \
        and its Hugging Face-named weights (segformer.encoder.*, decode_head.*; a PyTorch checkpoint \
        works too), runs its 'pixel_values' tensor ([B,3,H,W], already normalized) and compares the \
        result with its 'logits' tensor ([B,K,H/4,W/4]). Prints the maximum absolute error; exits 1 \
        when it is above the tolerance. Other tensors in the file are ignored.
        """
    static let options: [OptionSpec] = [
        .option("tolerance", value: "x", default: "1e-4", "Largest acceptable absolute error."),
    ]
    static let examples = [
        "translocator verify-segmenter Tests/SegmenterTests/Fixtures/segformer-four-stages.safetensors",
        "python3 scripts/model/make_segformer_fixtures.py --out /tmp/f && translocator verify-segmenter /tmp/f/segformer-three-stages.safetensors",
    ]

    static func run(_ arguments: ParsedArguments) throws {
        guard arguments.operands.count == 1 else {
            throw UsageError("expected one fixture file, got \(arguments.operands.count) operands")
        }
        let tolerance = try arguments.double("tolerance", in: 0...Double.greatestFiniteMagnitude)
        let result = try verifySegmenter(contentsOf: URL(fileURLWithPath: arguments.operands[0]))
        let c = result.config
        printError("SegFormer hidden_sizes \(c.hiddenSizes) depths \(c.depths) heads \(c.heads) sr_ratios \(c.reductionRatios) "
                   + "decoder \(c.decoderHiddenSize), \(c.labels.count) labels, input \(result.inputShape)")
        print("max abs error on logits: \(result.maxAbsoluteError)")
        guard Double(result.maxAbsoluteError) <= tolerance else {
            throw CommandFailure("max abs error \(result.maxAbsoluteError) is above the tolerance \(tolerance)")
        }
    }
}
