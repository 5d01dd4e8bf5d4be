// libFuzzer target for the PNG decoder, its inflate, and the index-map path.
// Built by fuzz/png/run.sh with `swiftc -sanitize=fuzzer,address` together with
// Sources/ImageCodec/*.swift (one module, so internal entry points are reachable).
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func pngFuzzOneInput(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let data = Data(bytes: bytes, count: count)
    // A small pixel limit keeps each run fast; the bomb check itself is part of what is tested.
    let limits = DecodingLimits(maxPixels: 1 << 20)
    if let image = try? PNGDecoder.decode(data, limits: limits) {
        precondition(image.pixels.count == image.width * image.height * 3, "decoded buffer size")
        // Round trip through the encoder: what we decoded must re-encode and decode identically.
        if image.width * image.height <= 1 << 16 {
            let again = try? PNGDecoder.decode(PNGEncoder.encode(image), limits: limits)
            precondition(again == image, "decode(encode(x)) != x for a fuzzed image \(image.width)x\(image.height)")
        }
    }
    _ = try? PNGDecoder.decodeIndices(data, limits: limits)
    // The raw inflater on the same bytes, with a small output bound.
    var output = [UInt8](repeating: 0, count: 1 << 16)
    data.withUnsafeBytes { raw in
        let input = raw.bindMemory(to: UInt8.self)
        output.withUnsafeMutableBufferPointer { out in
            _ = try? zlibDecompress(input, into: out.baseAddress!, capacity: out.count)
            _ = try? deflateDecompress(input, into: out.baseAddress!, capacity: out.count)
        }
    }
    return 0
}
