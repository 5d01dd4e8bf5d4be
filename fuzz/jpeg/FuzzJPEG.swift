// libFuzzer target for the JPEG decoder (and the EXIF reader it calls). Built by run.sh together
// with Sources/ImageCodec into one module, so it calls the decoder directly.
// The property: any input gives an image or an ImageCodecError; never a trap, a leak or a hang.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJPEG(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    // A small pixel limit keeps each run fast (libFuzzer's timeout is per input).
    let limits = DecodingLimits(maxPixels: 1 << 20)
    for scale in [1, 8] {
        do {
            let image = try JPEGDecoder.decode(data, options: .init(scale: scale, limits: limits))
            precondition(image.pixels.count == image.width * image.height * 3, "pixel count")
        } catch is ImageCodecError {
        } catch {
            preconditionFailure("decoder threw a non-ImageCodecError: \(error)")
        }
    }
    _ = EXIFMetadata(jpegData: data)
    return 0
}
