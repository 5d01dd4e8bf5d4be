import Foundation
import ImageCodec

/// `translocator decode`: an image to raw RGB, as Pillow's exif_transpose + convert("RGB").
struct DecodeCommand: Command {
    static let name = "decode"
    static let summary = "Decode a JPEG or PNG to raw 8-bit RGB (EXIF orientation applied)."
    static let operandsUsage = "<image>"
    static let discussion = """
        Decodes IMAGE (JPEG or PNG) with the EXIF orientation applied and prints WIDTH HEIGHT. \
        With --rgb, writes the pixels as raw 8-bit RGB, row-major, no header: the bytes of \
        Pillow's ImageOps.exif_transpose(im).convert("RGB").tobytes() (gray replicated, CMYK \
        converted as Pillow does, alpha dropped; 16-bit PNG samples keep their high byte).
        """
    static let options: [OptionSpec] = [
        .option("rgb", value: "file", "Write the raw RGB pixels to this file."),
        .option("scale", value: "n", default: "1", "JPEG DCT-domain downscale 1, 2, 4 or 8, as Pillow's draft()."),
        .option("max-pixels", value: "n", default: "89478485", "Refuse images with more pixels (Pillow's limit)."),
    ]
    static let examples = [
        "translocator decode photo.jpg --rgb photo.rgb",
        "translocator decode photo.jpg --scale 4",
    ]

    static func run(_ arguments: ParsedArguments) throws {
        guard arguments.operands.count == 1 else { throw UsageError("decode wants one image, got \(arguments.operands.count)") }
        let scale = try arguments.int("scale", in: 1...8)
        guard [1, 2, 4, 8].contains(scale) else { throw UsageError("--scale wants 1, 2, 4 or 8, got \(scale)") }
        let maxPixels = try arguments.int("max-pixels", in: 1...Int.max)
        let path = arguments.operands[0]
        let image = try Image(contentsOf: URL(fileURLWithPath: path), limits: DecodingLimits(maxPixels: maxPixels),
                              jpegScale: scale)
        if let output = arguments.string("rgb") {
            do {
                try Data(image.pixels).write(to: URL(fileURLWithPath: output))
            } catch {
                throw CommandFailure("cannot write \(output): \(error.localizedDescription)")
            }
        }
        print("\(image.width) \(image.height)")
    }
}
