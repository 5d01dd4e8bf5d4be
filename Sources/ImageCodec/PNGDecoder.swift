import Foundation

// MARK: - PNG decoding (PNG spec, W3C 2nd/3rd edition; ISO/IEC 15948)

/// The PNG colour types (PNG spec table 11.1).
package enum PNGColorType: UInt8, Sendable {
    case gray = 0, rgb = 2, palette = 3, grayAlpha = 4, rgba = 6

    /// Samples per pixel.
    var channels: Int {
        switch self {
        case .gray, .palette: 1
        case .grayAlpha: 2
        case .rgb: 3
        case .rgba: 4
        }
    }
}

/// The facts of an IHDR chunk.
struct PNGHeader: Sendable, Equatable {
    var width: Int
    var height: Int
    /// Bits per sample (per palette index for `.palette`): 1, 2, 4, 8 or 16.
    var bitDepth: Int
    var colorType: PNGColorType
    /// Adam7 interlacing.
    var interlaced: Bool
}

/// Decodes PNG files. Output follows Pillow's `Image.open(f).convert("RGB")` except for 16-bit
/// gray (the `decode` contract, docs/ARCHITECTURE.md "CLI contracts"): gray is replicated, alpha dropped (not composited),
/// palettes expanded (an index past the PLTE entries gives black, as Pillow), 16-bit samples keep their high byte,
/// and 1/2/4-bit gray is scaled to 0...255 (x·255, x·85, x·17).
public enum PNGDecoder {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Decodes a PNG file to 8-bit RGB.
    /// - Throws: `ImageCodecError` with the byte offset of the first problem: a truncated or
    ///   corrupt file, a CRC-32 or Adler-32 mismatch, or more pixels than `limits` allow.
    public static func decode(_ data: Data, limits: DecodingLimits = .default) throws -> Image {
        try decodeWithMetadata(data, limits: limits).image
    }

    /// Decodes a PNG file to 8-bit RGB as stored, with the EXIF block of its eXIf chunk (PNG
    /// 1.2 extension; before or after IDAT, as Pillow reads it). `Image(decoding:)` applies
    /// the orientation.
    /// - Throws: `ImageCodecError` with the byte offset of the problem.
    public static func decodeWithMetadata(_ data: Data, limits: DecodingLimits = .default) throws
        -> (image: Image, metadata: EXIFMetadata?) {
        let raw = try decodeRaw(data, limits: limits)
        var pixels = [UInt8](repeating: 0, count: raw.header.width * raw.header.height * 3)
        pixels.withUnsafeMutableBufferPointer { out in
            raw.forEachRow { row, pixelCount, x0, dx, y in
                convertRowToRGB(row, header: raw.header, palette: raw.palette, pixelCount: pixelCount,
                                output: out.baseAddress! + (y * raw.header.width + x0) * 3, step: dx * 3)
            }
        }
        return (Image(width: raw.header.width, height: raw.header.height, pixels: pixels), raw.exif)
    }

    /// Decodes a gray or palette PNG of bit depth <= 8 to its raw sample values, one byte a pixel,
    /// row-major: a palette image's indices (not their colours), a gray image's levels unscaled
    /// (a 4-bit gray value 3 stays 3). For segmentation maps stored as class indices.
    /// - Throws: `ImageCodecError.unsupported` for other colour types and 16-bit samples, and
    ///   whatever `decode` throws.
    static func decodeIndices(_ data: Data, limits: DecodingLimits = .default) throws -> (width: Int, height: Int, indices: [UInt8]) {
        let raw = try decodeRaw(data, limits: limits)
        let header = raw.header
        guard header.colorType == .gray || header.colorType == .palette, header.bitDepth <= 8 else {
            throw ImageCodecError.unsupported("class-index map from a \(header.bitDepth)-bit PNG of colour type "
                                              + "\(header.colorType.rawValue); need gray or palette of depth <= 8")
        }
        var indices = [UInt8](repeating: 0, count: header.width * header.height)
        indices.withUnsafeMutableBufferPointer { out in
            raw.forEachRow { row, pixelCount, x0, dx, y in
                let o = out.baseAddress! + y * header.width + x0
                let depth = header.bitDepth
                if depth == 8 {
                    for i in 0..<pixelCount { o[i * dx] = row[i] }
                } else {
                    let mask = (1 << depth) - 1, perByte = 8 / depth
                    for i in 0..<pixelCount {
                        let shift = 8 - depth - (i % perByte) * depth
                        o[i * dx] = UInt8((Int(row[i / perByte]) >> shift) & mask)
                    }
                }
            }
        }
        return (header.width, header.height, indices)
    }

    /// Reads only the header (IHDR), checking the signature and the chunk's CRC.
    static func header(of data: Data) throws -> PNGHeader {
        try data.withUnsafeBytes { buffer in
            let bytes = buffer.bindMemory(to: UInt8.self)
            guard bytes.count >= 8 else { throw ImageCodecError.truncated(offset: bytes.count, expected: "8-byte PNG signature") }
            guard bytes.prefix(8).elementsEqual(signature) else { throw ImageCodecError.unknownFormat }
            let chunk = try PNGChunk(bytes, at: 8)
            guard chunk.type == "IHDR" else { throw ImageCodecError.corrupt(offset: 8, reason: "first chunk is \(chunk.type), not IHDR") }
            return try parseIHDR(bytes, chunk)
        }
    }
}

// MARK: - Chunks

/// One chunk's place in the file, its CRC already checked.
struct PNGChunk {
    let type: String
    let typeCode: UInt32
    /// Offset of the chunk's length field.
    let offset: Int
    let dataOffset: Int
    let length: Int
    var end: Int { dataOffset + length + 4 }
    /// Critical chunks have an upper-case first letter (PNG spec §5.4).
    var isCritical: Bool { typeCode & 0x2000_0000 == 0 }

    init(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) throws {
        guard offset + 8 <= bytes.count else {
            throw ImageCodecError.truncated(offset: bytes.count, expected: "a chunk header (length and type) at byte \(offset)")
        }
        let length = Int(readBigEndian32(bytes, offset))
        guard length <= 0x7FFF_FFFF else {
            throw ImageCodecError.corrupt(offset: offset, reason: "chunk length \(length) exceeds 2^31 - 1")
        }
        typeCode = readBigEndian32(bytes, offset + 4)
        let typeBytes = bytes[(offset + 4)..<(offset + 8)]
        guard typeBytes.allSatisfy({ ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) }) else {
            throw ImageCodecError.corrupt(offset: offset + 4, reason: "chunk type bytes \(Array(typeBytes)) are not ASCII letters")
        }
        type = String(decoding: typeBytes, as: UTF8.self)
        self.offset = offset
        dataOffset = offset + 8
        self.length = length
        guard length <= bytes.count - dataOffset - 4 else {   // dataOffset <= count here: no overflow
            throw ImageCodecError.truncated(offset: bytes.count, expected: "\(type) chunk of \(length) bytes and its CRC at byte \(offset)")
        }
        let stored = readBigEndian32(bytes, dataOffset + length)
        let computed = crc32(bytes.baseAddress! + offset + 4, count: length + 4)
        guard stored == computed else {
            throw ImageCodecError.checksumMismatch(offset: dataOffset + length, kind: "CRC-32 of the \(type) chunk",
                                                   stored: stored, computed: computed)
        }
    }
}

@inline(__always)
func readBigEndian32(_ bytes: UnsafeBufferPointer<UInt8>, _ offset: Int) -> UInt32 {
    UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
}

func parseIHDR(_ bytes: UnsafeBufferPointer<UInt8>, _ chunk: PNGChunk) throws -> PNGHeader {
    guard chunk.length == 13 else {
        throw ImageCodecError.corrupt(offset: chunk.offset, reason: "IHDR holds \(chunk.length) bytes, not 13")
    }
    let d = chunk.dataOffset
    let width = Int(readBigEndian32(bytes, d)), height = Int(readBigEndian32(bytes, d + 4))
    guard width > 0, height > 0, width <= 0x7FFF_FFFF, height <= 0x7FFF_FFFF else {
        throw ImageCodecError.corrupt(offset: d, reason: "image size \(width)x\(height) is outside 1...2^31-1")
    }
    let bitDepth = Int(bytes[d + 8])
    guard let colorType = PNGColorType(rawValue: bytes[d + 9]) else {
        throw ImageCodecError.corrupt(offset: d + 9, reason: "colour type \(bytes[d + 9]) is not 0, 2, 3, 4 or 6")
    }
    // PNG spec table 11.1: allowed bit depths per colour type.
    let allowed: [Int] = switch colorType {
    case .gray: [1, 2, 4, 8, 16]
    case .palette: [1, 2, 4, 8]
    default: [8, 16]
    }
    guard allowed.contains(bitDepth) else {
        throw ImageCodecError.corrupt(offset: d + 8, reason: "bit depth \(bitDepth) is not allowed for colour type \(colorType.rawValue)")
    }
    guard bytes[d + 10] == 0 else { throw ImageCodecError.corrupt(offset: d + 10, reason: "compression method \(bytes[d + 10]) is not 0") }
    guard bytes[d + 11] == 0 else { throw ImageCodecError.corrupt(offset: d + 11, reason: "filter method \(bytes[d + 11]) is not 0") }
    guard bytes[d + 12] <= 1 else {
        throw ImageCodecError.corrupt(offset: d + 12, reason: "interlace method \(bytes[d + 12]) is not 0 or 1")
    }
    return PNGHeader(width: width, height: height, bitDepth: bitDepth, colorType: colorType, interlaced: bytes[d + 12] == 1)
}

// MARK: - Decoding to unfiltered rows

/// Adam7 passes (PNG spec §8.2): first column, first row, column step, row step.
let adam7Passes: [(x0: Int, y0: Int, dx: Int, dy: Int)] = [
    (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2),
]

/// One pass (or the whole image when not interlaced) inside the inflated data.
struct PNGPass {
    var x0, y0, dx, dy: Int
    var width, height: Int
    var rowBytes: Int
    /// Offset of the pass's first filter byte in the inflated data.
    var start: Int
}

/// A PNG after inflate and unfiltering: rows at the file's bit depth, filter bytes kept.
struct RawPNG {
    var header: PNGHeader
    /// 256 RGB entries; indices past PLTE's end are black, as Pillow gives them.
    var palette: [UInt8]
    var passes: [PNGPass]
    var data: [UInt8]
    /// The first eXIf chunk's EXIF, if any (damaged blocks give what could be read).
    var exif: EXIFMetadata?

    /// Calls `body(row, pixelCount, x0, dx, y)` for every row of every pass, where the row's
    /// pixel i lands at column x0 + i·dx of image row y.
    func forEachRow(_ body: (UnsafePointer<UInt8>, Int, Int, Int, Int) -> Void) {
        data.withUnsafeBufferPointer { buffer in
            for pass in passes where pass.width > 0 && pass.height > 0 {
                for j in 0..<pass.height {
                    body(buffer.baseAddress! + pass.start + j * (pass.rowBytes + 1) + 1, pass.width, pass.x0, pass.dx,
                         pass.y0 + j * pass.dy)
                }
            }
        }
    }
}

extension PNGDecoder {
    /// Parses chunks, inflates IDAT and unfilters: everything short of colour conversion.
    static func decodeRaw(_ data: Data, limits: DecodingLimits) throws -> RawPNG {
        try data.withUnsafeBytes { buffer in
            try decodeRaw(buffer.bindMemory(to: UInt8.self), limits: limits)
        }
    }

    static func decodeRaw(_ bytes: UnsafeBufferPointer<UInt8>, limits: DecodingLimits) throws -> RawPNG {
        guard bytes.count >= 8 else {
            if bytes.elementsEqual(signature.prefix(bytes.count)) {
                throw ImageCodecError.truncated(offset: bytes.count, expected: "8-byte PNG signature")
            }
            throw ImageCodecError.unknownFormat
        }
        guard bytes.prefix(8).elementsEqual(signature) else { throw ImageCodecError.unknownFormat }

        var header: PNGHeader?
        var palette = [UInt8](repeating: 0, count: 256 * 3)
        var paletteCount = 0
        var idatChunks: [PNGChunk] = []
        var idatEnded = false
        var exif: EXIFMetadata?
        var offset = 8
        while true {
            let chunk = try PNGChunk(bytes, at: offset)
            defer { offset = chunk.end }
            if header == nil {
                guard chunk.type == "IHDR" else {
                    throw ImageCodecError.corrupt(offset: offset, reason: "first chunk is \(chunk.type), not IHDR")
                }
                let h = try parseIHDR(bytes, chunk)
                try limits.check(width: h.width, height: h.height)
                header = h
                continue
            }
            let h = header!
            if !idatChunks.isEmpty && chunk.type != "IDAT" { idatEnded = true }
            switch chunk.type {
            case "IHDR":
                throw ImageCodecError.corrupt(offset: offset, reason: "second IHDR chunk")
            case "PLTE":
                guard idatChunks.isEmpty else { throw ImageCodecError.corrupt(offset: offset, reason: "PLTE after IDAT") }
                guard paletteCount == 0 else { throw ImageCodecError.corrupt(offset: offset, reason: "second PLTE chunk") }
                guard h.colorType != .gray && h.colorType != .grayAlpha else {
                    throw ImageCodecError.corrupt(offset: offset, reason: "PLTE in a gray image")
                }
                guard chunk.length % 3 == 0, chunk.length >= 3, chunk.length <= 768 else {
                    throw ImageCodecError.corrupt(offset: offset, reason: "PLTE of \(chunk.length) bytes is not 1...256 RGB entries")
                }
                paletteCount = chunk.length / 3
                for i in 0..<chunk.length { palette[i] = bytes[chunk.dataOffset + i] }
            case "IDAT":
                guard !idatEnded else { throw ImageCodecError.corrupt(offset: offset, reason: "IDAT chunks are not consecutive") }
                guard h.colorType != .palette || paletteCount > 0 else {
                    throw ImageCodecError.corrupt(offset: offset, reason: "IDAT before PLTE in a palette image")
                }
                idatChunks.append(chunk)
            case "IEND":
                guard !idatChunks.isEmpty else { throw ImageCodecError.corrupt(offset: offset, reason: "IEND before any IDAT") }
                let (passes, total) = try layOutPasses(h)
                let inflated = try inflateIDAT(bytes, idatChunks, expectedBytes: total)
                var raw = RawPNG(header: h, palette: palette, passes: passes, data: inflated, exif: exif)
                try unfilter(&raw, firstIDATOffset: idatChunks[0].dataOffset)
                return raw
            case "eXIf" where exif == nil:
                // A TIFF structure; some writers keep JPEG's "Exif\0\0" in front (Pillow strips it).
                var payload = UnsafeBufferPointer(rebasing: bytes[chunk.dataOffset..<(chunk.dataOffset + chunk.length)])
                if payload.starts(with: Array("Exif\0\0".utf8)) { payload = UnsafeBufferPointer(rebasing: payload[6...]) }
                exif = EXIFMetadata(tiff: payload)
            default:
                // Ancillary chunks (tRNS, gAMA, text, ...) do not change Pillow's RGB pixels.
                guard !chunk.isCritical else {
                    throw ImageCodecError.unsupported("critical chunk \(chunk.type) at byte \(offset)")
                }
            }
        }
    }

    /// Pass geometry and the inflated size, with overflow checks (a size from the file never traps).
    static func layOutPasses(_ h: PNGHeader) throws -> ([PNGPass], Int) {
        let layouts = h.interlaced ? adam7Passes : [(x0: 0, y0: 0, dx: 1, dy: 1)]
        var passes: [PNGPass] = []
        var total = 0
        let bitsPerPixel = h.colorType.channels * h.bitDepth
        for p in layouts {
            let width = h.width > p.x0 ? (h.width - p.x0 + p.dx - 1) / p.dx : 0
            let height = h.height > p.y0 ? (h.height - p.y0 + p.dy - 1) / p.dy : 0
            let (bits, o1) = width.multipliedReportingOverflow(by: bitsPerPixel)
            let rowBytes = (bits + 7) / 8
            var bytes = 0
            if width > 0 && height > 0 {
                let (b, o2) = (rowBytes + 1).multipliedReportingOverflow(by: height)
                guard !o1, !o2 else { throw ImageCodecError.tooLarge(width: h.width, height: h.height, limit: Int.max) }
                bytes = b
            }
            passes.append(PNGPass(x0: p.x0, y0: p.y0, dx: p.dx, dy: p.dy, width: width, height: height, rowBytes: rowBytes, start: total))
            let (t, o3) = total.addingReportingOverflow(bytes)
            guard !o3 else { throw ImageCodecError.tooLarge(width: h.width, height: h.height, limit: Int.max) }
            total = t
        }
        return (passes, total)
    }

    /// Inflates the IDAT payloads (joined when there are several) into exactly `expectedBytes`.
    static func inflateIDAT(_ bytes: UnsafeBufferPointer<UInt8>, _ chunks: [PNGChunk], expectedBytes: Int) throws -> [UInt8] {
        // Map a zlib-stream offset back to the file for error messages.
        func fileOffset(_ streamOffset: Int) -> Int {
            var remaining = streamOffset
            for c in chunks {
                if remaining < c.length { return c.dataOffset + remaining }
                remaining -= c.length
            }
            return chunks.last!.dataOffset + chunks.last!.length
        }
        var output = [UInt8](repeating: 0, count: expectedBytes)
        let written: Int
        do {
            written = try output.withUnsafeMutableBufferPointer { out in
                let destination = out.baseAddress ?? UnsafeMutablePointer(bitPattern: 1)!
                if chunks.count == 1 {
                    let c = chunks[0]
                    return try zlibDecompress(UnsafeBufferPointer(rebasing: bytes[c.dataOffset..<(c.dataOffset + c.length)]),
                                              into: destination, capacity: expectedBytes)
                }
                var joined: [UInt8] = []
                joined.reserveCapacity(chunks.reduce(0) { $0 + $1.length })
                for c in chunks { joined.append(contentsOf: bytes[c.dataOffset..<(c.dataOffset + c.length)]) }
                return try joined.withUnsafeBufferPointer { try zlibDecompress($0, into: destination, capacity: expectedBytes) }
            }
        } catch let error as InflateError {
            switch error {
            case .truncated(let o):
                throw ImageCodecError.truncated(offset: fileOffset(o), expected: "more zlib data in IDAT")
            case .corrupt(let reason, let o):
                throw ImageCodecError.corrupt(offset: fileOffset(o), reason: "zlib: \(reason)")
            case .tooMuchData(let o):
                throw ImageCodecError.corrupt(offset: fileOffset(o),
                                              reason: "IDAT holds more than the \(expectedBytes) bytes the header implies")
            }
        }
        guard written == expectedBytes else {
            throw ImageCodecError.truncated(offset: fileOffset(Int.max),
                                            expected: "\(expectedBytes) bytes of image data, zlib stream gave \(written)")
        }
        return output
    }

    /// Undoes the five filters (PNG spec §9) in place, pass by pass.
    static func unfilter(_ raw: inout RawPNG, firstIDATOffset: Int) throws {
        let bytesPerPixel = max(1, raw.header.colorType.channels * raw.header.bitDepth / 8)
        let passes = raw.passes
        try raw.data.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            let maxRow = passes.map(\.rowBytes).max() ?? 0
            let zeros = [UInt8](repeating: 0, count: maxRow)
            try zeros.withUnsafeBufferPointer { zeroRow in
                for pass in passes where pass.width > 0 && pass.height > 0 {
                    var prior = zeroRow.baseAddress!
                    for j in 0..<pass.height {
                        let filterAt = pass.start + j * (pass.rowBytes + 1)
                        let row = base + filterAt + 1
                        let filter = base[filterAt]
                        guard filter <= 4 else {
                            throw ImageCodecError.corrupt(offset: firstIDATOffset, reason: "filter type \(filter) on row \(j) "
                                                          + "(inflated byte \(filterAt)) is not 0...4")
                        }
                        unfilterRow(row, prior: prior, count: pass.rowBytes, bytesPerPixel: bytesPerPixel, filter: filter)
                        prior = UnsafePointer(row)
                    }
                }
            }
        }
    }
}

/// Reverses one row's filter. `prior` is the unfiltered previous row (zeros for the first).
func unfilterRow(_ row: UnsafeMutablePointer<UInt8>, prior: UnsafePointer<UInt8>, count: Int, bytesPerPixel bpp: Int, filter: UInt8) {
    switch filter {
    case 1:   // Sub
        var i = bpp
        while i < count { row[i] &+= row[i &- bpp]; i &+= 1 }
    case 2:   // Up
        for i in 0..<count { row[i] &+= prior[i] }
    case 3:   // Average
        for i in 0..<min(bpp, count) { row[i] &+= prior[i] >> 1 }
        var i = bpp
        while i < count {
            row[i] &+= UInt8(truncatingIfNeeded: (Int(row[i &- bpp]) &+ Int(prior[i])) >> 1)
            i &+= 1
        }
    case 4:   // Paeth (PNG spec §9.4), ties broken a, b, c
        for i in 0..<min(bpp, count) { row[i] &+= prior[i] }
        var i = bpp
        while i < count {
            let a = Int(row[i &- bpp]), b = Int(prior[i]), c = Int(prior[i &- bpp])
            let pa = abs(b &- c), pb = abs(a &- c), pc = abs(a &+ b &- c &- c)
            let predictor = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c)
            row[i] &+= UInt8(truncatingIfNeeded: predictor)
            i &+= 1
        }
    default:  // None
        break
    }
}

/// Converts one unfiltered row of `pixelCount` pixels to RGB, writing pixel i at output + i·step.
func convertRowToRGB(_ row: UnsafePointer<UInt8>, header: PNGHeader, palette: [UInt8], pixelCount: Int,
                     output: UnsafeMutablePointer<UInt8>, step: Int) {
    let depth = header.bitDepth
    switch header.colorType {
    case .gray:
        if depth == 8 {
            for i in 0..<pixelCount { let v = row[i]; output[i &* step] = v; output[i &* step &+ 1] = v; output[i &* step &+ 2] = v }
        } else if depth == 16 {
            for i in 0..<pixelCount { let v = row[2 &* i]; output[i &* step] = v; output[i &* step &+ 1] = v; output[i &* step &+ 2] = v }
        } else {
            // Pillow's 1-bit mode "1" is 0/255; "L;2" and "L;4" scale by 85 and 17.
            let mask = (1 << depth) - 1, perByte = 8 / depth, scale = 255 / mask
            for i in 0..<pixelCount {
                let shift = 8 - depth - (i % perByte) * depth
                let v = UInt8(((Int(row[i / perByte]) >> shift) & mask) * scale)
                output[i &* step] = v; output[i &* step &+ 1] = v; output[i &* step &+ 2] = v
            }
        }
    case .grayAlpha:
        let stride = depth == 16 ? 4 : 2
        for i in 0..<pixelCount { let v = row[stride &* i]; output[i &* step] = v; output[i &* step &+ 1] = v; output[i &* step &+ 2] = v }
    case .rgb:
        if depth == 8 && step == 3 {
            output.update(from: row, count: pixelCount * 3)
        } else {
            let stride = depth == 16 ? 6 : 3, sample = depth == 16 ? 2 : 1
            for i in 0..<pixelCount {
                output[i &* step] = row[stride &* i]
                output[i &* step &+ 1] = row[stride &* i &+ sample]
                output[i &* step &+ 2] = row[stride &* i &+ 2 &* sample]
            }
        }
    case .rgba:
        let stride = depth == 16 ? 8 : 4, sample = depth == 16 ? 2 : 1
        for i in 0..<pixelCount {
            output[i &* step] = row[stride &* i]
            output[i &* step &+ 1] = row[stride &* i &+ sample]
            output[i &* step &+ 2] = row[stride &* i &+ 2 &* sample]
        }
    case .palette:
        palette.withUnsafeBufferPointer { table in
            let mask = (1 << depth) - 1, perByte = 8 / depth
            for i in 0..<pixelCount {
                let index: Int
                if depth == 8 { index = Int(row[i]) } else {
                    let shift = 8 - depth - (i % perByte) * depth
                    index = (Int(row[i / perByte]) >> shift) & mask
                }
                output[i &* step] = table[index &* 3]
                output[i &* step &+ 1] = table[index &* 3 &+ 1]
                output[i &* step &+ 2] = table[index &* 3 &+ 2]
            }
        }
    }
}
