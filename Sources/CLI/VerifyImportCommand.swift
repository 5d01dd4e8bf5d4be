import Foundation
import TransLocator

/// `translocator verify-import FIXTURE.safetensors` (docs/ARCHITECTURE.md "CLI contracts").
struct VerifyImportCommand: Command {
    static let name = "verify-import"
    static let summary = "Check that a timm ViT checkpoint imports: rebuild it, run its input, compare pre_logits."
    static let operandsUsage = "<fixture.safetensors>"
    static let discussion = """
        Rebuilds a ViT from the file's timm-named weights (F32, F16 or BF16; sizes from the shapes, \
        num_heads and img_size from __metadata__.config), runs its 'input' tensor ([B,3,H,W], already \
        normalized) and compares the CLS token after the final norm with its 'pre_logits' tensor. \
        Prints the maximum absolute error; exits 1 when it is above the tolerance. Other tensors in the \
        file (a classifier head, activations, gradients) are ignored.
        """
    static let options: [OptionSpec] = [
        .option("tolerance", value: "x", default: "1e-4", "Largest acceptable absolute error."),
    ]
    static let examples = [
        "translocator verify-import Tests/TransLocatorTests/Fixtures/import-vit-f32.safetensors",
        "python3 scripts/model/make_import_fixtures.py --out /tmp/f && translocator verify-import /tmp/f/import-vit-bf16.safetensors",
    ]

    static func run(_ arguments: ParsedArguments) throws {
        guard arguments.operands.count == 1 else {
            throw UsageError("expected one fixture file, got \(arguments.operands.count) operands")
        }
        let tolerance = try arguments.double("tolerance", in: 0...Double.greatestFiniteMagnitude)
        let result = try verifyImport(contentsOf: URL(fileURLWithPath: arguments.operands[0]))
        let c = result.config
        printError("ViT img_size \(c.imageSize) patch \(c.patchSize) embed_dim \(c.embedDimension) depth \(c.depth) "
                   + "heads \(c.headCount) mlp_ratio \(c.mlpRatio), batch \(result.batch)")
        print("max abs error on pre_logits: \(result.maxAbsoluteError)")
        guard Double(result.maxAbsoluteError) <= tolerance else {
            throw CommandFailure("max abs error \(result.maxAbsoluteError) is above the tolerance \(tolerance)")
        }
    }
}
