import Foundation

extension Image {
    /// Decodes a JPEG or PNG file (told apart by its signature) to 8-bit RGB with the EXIF
    /// orientation applied: the pixels of Pillow's `ImageOps.exif_transpose(im).convert("RGB")`.
    /// - Parameters:
    ///   - data: the whole file.
    ///   - limits: decompression-bomb guard (default: Pillow's 89,478,485 pixels).
    ///   - jpegScale: DCT-domain downscaling of JPEGs by 1, 2, 4 or 8 (as Pillow's `draft`);
    ///     PNGs ignore it.
    /// - Throws: `ImageCodecError`.
    public init(decoding data: Data, limits: DecodingLimits = .default, jpegScale: Int = 1) throws {
        switch ImageFormat(sniffing: data) {
        case .jpeg:
            let (image, metadata) = try JPEGDecoder.decodeWithMetadata(data, options: .init(scale: jpegScale, limits: limits))
            self = image.oriented(metadata?.orientation ?? 1)
        case .png:
            let (image, metadata) = try PNGDecoder.decodeWithMetadata(data, limits: limits)
            self = image.oriented(metadata?.orientation ?? 1)
        case nil:
            throw ImageCodecError.unknownFormat
        }
    }

    /// Reads and decodes the file at `url`; errors name the file (`ImageCodecError.inFile`).
    /// - Throws: `ImageCodecError`, or the file system's error if the file cannot be read.
    public init(contentsOf url: URL, limits: DecodingLimits = .default, jpegScale: Int = 1) throws {
        let data = try Data(contentsOf: url, options: .mappedIfSafe)
        do {
            try self.init(decoding: data, limits: limits, jpegScale: jpegScale)
        } catch let error as ImageCodecError {
            throw error.attaching(path: url.path)
        }
    }
}
