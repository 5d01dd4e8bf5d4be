import Foundation

/// A baseline and progressive JPEG decoder whose pixels equal Pillow's (libjpeg-turbo 3.x with
/// its defaults: ISLOW integer IDCT, fancy upsampling, its YCbCr tables).
///
/// Supported: 8-bit Huffman-coded baseline, extended sequential and progressive frames with 1
/// (gray), 3 (YCbCr or RGB) or 4 (CMYK or Adobe YCCK) components, any sampling factors libjpeg
/// accepts (integral ratios), restart intervals, and DCT-domain scaling by 1/2, 1/4, 1/8.
/// Unsupported (a clear `.unsupported` error): arithmetic coding, 12-bit, lossless,
/// hierarchical, DNL-defined heights, 2-component images.
///
/// Truncation: libjpeg pads a scan that stops early with zero bits and Pillow then fails or, with
/// `LOAD_TRUNCATED_IMAGES`, shows grey. We pad only at a *marker* (a "premature end of data
/// segment", which libjpeg warns about and Pillow decodes); data that ends before EOI throws
/// `.truncated`, so every truncation of a valid file is an error.
public enum JPEGDecoder {
    /// How to decode.
    public struct Options: Sendable, Equatable {
        /// DCT-domain downscaling: 1, 2, 4 or 8 (libjpeg's `scale_denom`, what Pillow's
        /// `draft()` uses). The output is ceil(width / scale) x ceil(height / scale).
        public var scale: Int
        /// Decompression-bomb guard, checked against the full-size frame before allocating.
        public var limits: DecodingLimits

        /// Options decoding at 1/`scale` size (1, 2, 4 or 8) under `limits`.
        public init(scale: Int = 1, limits: DecodingLimits = .default) {
            self.scale = scale
            self.limits = limits
        }
    }

    /// Decodes a JPEG file to 8-bit RGB, as stored (EXIF orientation *not* applied; see
    /// `Image(decoding:)` for that).
    /// - Throws: `ImageCodecError` with the byte offset of the problem.
    public static func decode(_ data: Data, options: Options = Options()) throws -> Image {
        try decodeWithMetadata(data, options: options).image
    }

    /// Decodes a JPEG file and returns its EXIF metadata (from the first APP1 "Exif" segment).
    /// - Throws: `ImageCodecError` with the byte offset of the problem.
    public static func decodeWithMetadata(_ data: Data, options: Options = Options()) throws
        -> (image: Image, metadata: EXIFMetadata?) {
        guard [1, 2, 4, 8].contains(options.scale) else {
            throw ImageCodecError.unsupported("JPEG scale 1/\(options.scale) (use 1, 2, 4 or 8)")
        }
        return try data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard let base = bytes.baseAddress else { throw ImageCodecError.truncated(offset: 0, expected: "JPEG SOI marker") }
            var decoder = JPEGStreamDecoder(base: base, count: bytes.count, options: options)
            return try decoder.run()
        }
    }
}

/// The marker-level parser (T.81 annex B): walks the segments, keeps the tables, runs each scan.
struct JPEGStreamDecoder {
    let base: UnsafePointer<UInt8>
    let count: Int
    let options: JPEGDecoder.Options
    var position = 0

    var quantTables = [[Int32]?](repeating: nil, count: 4)
    var dcTables = [JPEGHuffmanTable?](repeating: nil, count: 4)
    var acTables = [JPEGHuffmanTable?](repeating: nil, count: 4)
    var restartInterval = 0
    var sawJFIF = false
    var adobeTransform: Int?
    var exif: EXIFMetadata?
    var frame: JPEGFrame?
    var renderer: JPEGRenderer?
    /// The first scan held every component of a sequential frame: it was rendered as decoded.
    var streamed = false
    var scansDecoded = 0

    init(base: UnsafePointer<UInt8>, count: Int, options: JPEGDecoder.Options) {
        self.base = base
        self.count = count
        self.options = options
    }

    mutating func run() throws -> (image: Image, metadata: EXIFMetadata?) {
        guard count >= 2 else { throw ImageCodecError.truncated(offset: count, expected: "JPEG SOI marker") }
        guard base[0] == 0xFF && base[1] == 0xD8 else {
            throw ImageCodecError.corrupt(offset: 0, reason: "not a JPEG file (no SOI marker)")
        }
        position = 2
        while true {
            let (marker, markerOffset) = try nextMarker()
            switch marker {
            case 0xD8:
                throw ImageCodecError.corrupt(offset: markerOffset, reason: "second SOI marker")
            case 0xD9:
                guard let frame, let renderer, scansDecoded > 0 else {
                    throw ImageCodecError.corrupt(offset: markerOffset, reason: "EOI before any scan")
                }
                if !streamed { renderer.idctAll(frame) }
                return (renderer.convert(colorSpace(frame)), exif)
            case 0xD0...0xD7, 0x01:
                continue                                           // stray RSTn / TEM: no length
            default:
                let segment = try readSegment(markerOffset: markerOffset)
                try handle(marker: marker, segment: segment, markerOffset: markerOffset)
            }
        }
    }

    /// The next marker code and its offset, skipping fill bytes and (as libjpeg does, with a
    /// warning) any garbage between segments.
    mutating func nextMarker() throws -> (UInt8, Int) {
        while true {
            while position < count && base[position] != 0xFF { position += 1 }
            while position < count && base[position] == 0xFF { position += 1 }
            guard position < count else { throw ImageCodecError.truncated(offset: count, expected: "a JPEG marker (EOI missing)") }
            let code = base[position]
            position += 1
            if code != 0 { return (code, position - 2) }
        }
    }

    /// The payload of a length-prefixed segment; leaves `position` after it.
    mutating func readSegment(markerOffset: Int) throws -> Range<Int> {
        guard position + 2 <= count else { throw ImageCodecError.truncated(offset: count, expected: "segment length") }
        let length = Int(base[position]) << 8 | Int(base[position + 1])
        guard length >= 2 else { throw ImageCodecError.corrupt(offset: position, reason: "segment length \(length) < 2") }
        guard position + length <= count else {
            throw ImageCodecError.truncated(offset: count, expected: "\(length)-byte segment at byte \(markerOffset)")
        }
        let range = (position + 2)..<(position + length)
        position += length
        return range
    }

    func byte(_ i: Int) -> Int { Int(base[i]) }

    mutating func handle(marker: UInt8, segment: Range<Int>, markerOffset: Int) throws {
        switch marker {
        case 0xC0, 0xC1, 0xC2:
            try readFrame(segment, progressive: marker == 0xC2, markerOffset: markerOffset)
        case 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF:
            let kind = [0xC3: "lossless", 0xC5: "hierarchical", 0xC6: "hierarchical", 0xC7: "hierarchical lossless"][Int(marker)]
                ?? "arithmetic-coded"
            throw ImageCodecError.unsupported("\(kind) JPEG (SOF\(marker & 0x0F) at byte \(markerOffset))")
        case 0xC4:
            try readHuffmanTables(segment)
        case 0xCC:
            break                                                 // DAC: only for arithmetic coding
        case 0xDB:
            try readQuantTables(segment)
        case 0xDD:
            guard segment.count >= 2 else { throw ImageCodecError.corrupt(offset: segment.lowerBound, reason: "DRI segment too short") }
            restartInterval = byte(segment.lowerBound) << 8 | byte(segment.lowerBound + 1)
        case 0xDA:
            try readScan(segment, markerOffset: markerOffset)
        case 0xDC:
            throw ImageCodecError.unsupported("DNL marker (height defined after the first scan) at byte \(markerOffset)")
        case 0xE0:
            // libjpeg's examine_app0: a JFIF header needs 14 bytes.
            if segment.count >= 14 && Array(UnsafeBufferPointer(start: base + segment.lowerBound, count: 5)) == Array("JFIF\0".utf8) {
                sawJFIF = true
            }
        case 0xE1:
            if exif == nil && segment.count >= 6 {
                let payload = UnsafeBufferPointer(start: base + segment.lowerBound, count: segment.count)
                if Array(payload.prefix(6)) == Array("Exif\0\0".utf8) {
                    exif = EXIFMetadata(tiff: UnsafeBufferPointer(rebasing: payload[6...]))
                }
            }
        case 0xEE:
            // libjpeg's examine_app14: "Adobe" and 12 bytes; the transform flag is byte 11.
            if segment.count >= 12 && Array(UnsafeBufferPointer(start: base + segment.lowerBound, count: 5)) == Array("Adobe".utf8) {
                adobeTransform = byte(segment.lowerBound + 11)
            }
        default:
            break                                                 // APPn, COM, JPGn: skipped
        }
    }

    mutating func readFrame(_ segment: Range<Int>, progressive: Bool, markerOffset: Int) throws {
        guard frame == nil else { throw ImageCodecError.unsupported("more than one frame (second SOF at byte \(markerOffset))") }
        let s = segment.lowerBound
        guard segment.count >= 6 else { throw ImageCodecError.corrupt(offset: s, reason: "SOF segment too short") }
        let precision = byte(s)
        guard precision == 8 else { throw ImageCodecError.unsupported("\(precision)-bit JPEG samples (only 8-bit)") }
        let height = byte(s + 1) << 8 | byte(s + 2)
        let width = byte(s + 3) << 8 | byte(s + 4)
        let componentCount = byte(s + 5)
        guard height > 0 else { throw ImageCodecError.unsupported("JPEG height 0 (defined by a DNL marker)") }
        guard width > 0 else { throw ImageCodecError.corrupt(offset: s + 3, reason: "image width 0") }
        guard [1, 3, 4].contains(componentCount) else {
            throw ImageCodecError.unsupported("JPEG with \(componentCount) components (1, 3 or 4)")
        }
        guard segment.count >= 6 + 3 * componentCount else {
            throw ImageCodecError.corrupt(offset: s, reason: "SOF segment too short for \(componentCount) components")
        }
        var components: [JPEGComponent] = []
        for i in 0..<componentCount {
            let p = s + 6 + 3 * i
            let h = byte(p + 1) >> 4, v = byte(p + 1) & 15, tq = byte(p + 2)
            guard (1...4).contains(h) && (1...4).contains(v) else {
                throw ImageCodecError.corrupt(offset: p + 1, reason: "sampling factors \(h)x\(v) (1...4 allowed)")
            }
            guard tq < 4 else { throw ImageCodecError.corrupt(offset: p + 2, reason: "quantization table \(tq) (0...3 allowed)") }
            components.append(JPEGComponent(id: byte(p), horizontalSampling: h, verticalSampling: v, quantTableIndex: tq))
        }
        frame = try JPEGFrame(progressive: progressive, width: width, height: height, components: components,
                              limits: options.limits, offset: s)
    }

    mutating func readQuantTables(_ segment: Range<Int>) throws {
        var p = segment.lowerBound
        while p < segment.upperBound {
            let precision = byte(p) >> 4, index = byte(p) & 15
            guard index < 4 && precision <= 1 else {
                throw ImageCodecError.corrupt(offset: p, reason: "DQT table \(index) with precision \(precision)")
            }
            let size = precision == 0 ? 64 : 128
            guard p + 1 + size <= segment.upperBound else {
                throw ImageCodecError.corrupt(offset: p, reason: "DQT table runs past its segment")
            }
            var table = [Int32](repeating: 0, count: 64)
            for k in 0..<64 {
                let value = precision == 0 ? byte(p + 1 + k) : byte(p + 1 + 2 * k) << 8 | byte(p + 2 + 2 * k)
                table[jpegNaturalOrder[k]] = Int32(value)
            }
            quantTables[index] = table
            p += 1 + size
        }
    }

    mutating func readHuffmanTables(_ segment: Range<Int>) throws {
        var p = segment.lowerBound
        while p < segment.upperBound {
            let tableClass = byte(p) >> 4, index = byte(p) & 15
            guard tableClass <= 1 && index < 4 else {
                throw ImageCodecError.corrupt(offset: p, reason: "DHT class \(tableClass) table \(index)")
            }
            guard p + 17 <= segment.upperBound else {
                throw ImageCodecError.corrupt(offset: p, reason: "DHT counts run past their segment")
            }
            let counts = (0..<16).map { byte(p + 1 + $0) }
            let total = counts.reduce(0, +)
            guard total <= 256 && p + 17 + total <= segment.upperBound else {
                throw ImageCodecError.corrupt(offset: p, reason: "DHT with \(total) symbols runs past its segment")
            }
            let symbols = (0..<total).map { base[p + 17 + $0] }
            let table = try JPEGHuffmanTable(counts: counts, symbols: symbols, isDC: tableClass == 0, offset: p)
            if tableClass == 0 { dcTables[index] = table } else { acTables[index] = table }
            p += 17 + total
        }
    }

    /// libjpeg's guess of the color space (jdapimin.c `default_decompress_parms`).
    func colorSpace(_ frame: JPEGFrame) -> JPEGColorSpace {
        switch frame.components.count {
        case 1: return .grayscale
        case 3:
            if sawJFIF { return .yCbCr }
            if let adobeTransform { return adobeTransform == 0 ? .rgb : .yCbCr }
            let ids = frame.components.map(\.id)
            return ids == [82, 71, 66] ? .rgb : .yCbCr                 // 'R', 'G', 'B'
        default:
            if let adobeTransform { return adobeTransform == 0 ? .cmyk : .ycck }
            return .cmyk
        }
    }

    // MARK: Scans

    mutating func readScan(_ segment: Range<Int>, markerOffset: Int) throws {
        guard let frame else { throw ImageCodecError.corrupt(offset: markerOffset, reason: "SOS before SOF") }
        let s = segment.lowerBound
        guard segment.count >= 1 else { throw ImageCodecError.corrupt(offset: s, reason: "SOS segment too short") }
        let n = byte(s)
        guard n >= 1 && n <= 4 && segment.count >= 4 + 2 * n else {
            throw ImageCodecError.corrupt(offset: s, reason: "SOS with \(n) components in \(segment.count) bytes")
        }
        var scanComponents: [JPEGComponent] = []
        for i in 0..<n {
            let p = s + 1 + 2 * i
            guard let component = frame.components.first(where: { $0.id == byte(p) }) else {
                throw ImageCodecError.corrupt(offset: p, reason: "SOS names component \(byte(p)), not in the frame")
            }
            guard !scanComponents.contains(where: { $0 === component }) else {
                throw ImageCodecError.corrupt(offset: p, reason: "SOS names component \(byte(p)) twice")
            }
            component.dcTable = dcTables[byte(p + 1) >> 4 & 3]
            component.acTable = acTables[byte(p + 1) & 3]
            guard byte(p + 1) >> 4 < 4 && byte(p + 1) & 15 < 4 else {
                throw ImageCodecError.corrupt(offset: p + 1, reason: "Huffman table selector \(byte(p + 1))")
            }
            scanComponents.append(component)
        }
        let q = s + 1 + 2 * n
        let spectralStart = byte(q), spectralEnd = byte(q + 1)
        let high = byte(q + 2) >> 4, low = byte(q + 2) & 15
        let blocksInMCU = n == 1 ? 1 : scanComponents.reduce(0) { $0 + $1.horizontalSampling * $1.verticalSampling }
        guard blocksInMCU <= 10 else {                                            // libjpeg's D_MAX_BLOCKS_IN_MCU
            throw ImageCodecError.corrupt(offset: s, reason: "\(blocksInMCU) blocks in an MCU (at most 10)")
        }
        if scansDecoded == 0 {
            for component in frame.components {
                guard let table = quantTables[component.quantTableIndex] else {
                    throw ImageCodecError.corrupt(offset: markerOffset,
                                                  reason: "quantization table \(component.quantTableIndex) not defined")
                }
                component.quantization = table
            }
            renderer = try JPEGRenderer(frame: frame, scale: options.scale)
            streamed = !frame.progressive && n == frame.components.count
            frame.allocateCoefficients(streaming: streamed)
        } else if streamed {
            // libjpeg, in single-scan mode, never reads a later scan's data either.
            position = try skipEntropyData(from: position)
            return
        }
        let scan = JPEGScan(components: scanComponents, spectralStart: spectralStart, spectralEnd: spectralEnd,
                            successiveHigh: high, successiveLow: low, restartInterval: restartInterval)
        try scan.validate(progressive: frame.progressive, offset: q)
        if frame.progressive && spectralStart > 0, let renderer,
           let index = frame.components.firstIndex(where: { $0 === scanComponents[0] }), renderer.planes[index].blockSize == 1 {
            // A 1x1 IDCT (1/8 scale) reads only DC: this AC scan's data need not be decoded.
            position = try skipEntropyData(from: position)
            scansDecoded += 1
            return
        }
        var reader = JPEGBitReader(base: base, end: count, position: position)
        if frame.progressive {
            try decodeProgressiveScan(scan, frame: frame, reader: &reader)
        } else {
            try decodeBaselineScan(scan, frame: frame, reader: &reader)
        }
        position = reader.position
        scansDecoded += 1
    }

    /// After a restart interval: skip what is left of the segment and consume the RSTn marker.
    /// A different marker is left in place (the remaining MCUs decode as zeros, as libjpeg's
    /// resync does for a non-RST marker).
    func restart(_ reader: inout JPEGBitReader) throws {
        var p = reader.position
        while true {
            while p < count && base[p] != 0xFF { p += 1 }
            var q = p
            while q < count && base[q] == 0xFF { q += 1 }
            guard q < count else { throw ImageCodecError.truncated(offset: count, expected: "a restart marker") }
            if base[q] == 0 { p = q + 1; continue }                              // stuffed byte in leftovers
            reader.resetToMarker()
            if (0xD0...0xD7).contains(base[q]) {
                reader.position = q + 1
            } else {
                reader.position = p
                reader.stopped = true
            }
            for component in frame?.components ?? [] { component.dcPredictor = 0 }
            return
        }
    }

    /// The offset of the first marker after entropy-coded data that starts at `start` (RSTn
    /// markers and stuffed bytes are part of the data).
    func skipEntropyData(from start: Int) throws -> Int {
        var p = start
        while p + 1 < count {
            if base[p] == 0xFF && base[p + 1] != 0 && base[p + 1] != 0xFF && !(0xD0...0xD7).contains(base[p + 1]) { return p }
            p += 1
        }
        throw ImageCodecError.truncated(offset: count, expected: "entropy-coded data (EOI missing)")
    }

    func checkNotTruncated(_ reader: JPEGBitReader) throws {
        if reader.reachedEnd { throw ImageCodecError.truncated(offset: count, expected: "entropy-coded data (EOI missing)") }
    }

    /// Sequential (baseline or extended) Huffman scan: every block's DC and AC at once. When
    /// streaming, each MCU row goes through the IDCT as soon as it is decoded.
    mutating func decodeBaselineScan(_ scan: JPEGScan, frame: JPEGFrame, reader: inout JPEGBitReader) throws {
        guard let renderer else { preconditionFailure("renderer is made at the first scan") }
        for component in scan.components where component.dcTable == nil || component.acTable == nil {
            throw ImageCodecError.corrupt(offset: reader.position, reason: "scan uses an undefined Huffman table \(component.id)")
        }
        let interleaved = scan.components.count > 1
        let rows = interleaved ? frame.mcusPerColumn : scan.components[0].heightInBlocks
        let columns = interleaved ? frame.mcusPerLine : scan.components[0].widthInBlocks
        let predictors = UnsafeMutablePointer<Int32>.allocate(capacity: 4)
        predictors.initialize(repeating: 0, count: 4)
        defer { predictors.deallocate() }
        let componentIndex = scan.components.map { c in frame.components.firstIndex { $0 === c }! }
        var plans: [JPEGBlockPlan] = []
        for (index, component) in scan.components.enumerated() {
            let h = interleaved ? component.horizontalSampling : 1, v = interleaved ? component.verticalSampling : 1
            for by in 0..<v {
                for bx in 0..<h {
                    plans.append(JPEGBlockPlan(base: component.coefficients! + (by * component.blocksPerLine + bx) * 64,
                                               columnStride: h * 64, dc: JPEGHuffmanPointers(component.dcTable!),
                                               ac: JPEGHuffmanPointers(component.acTable!), predictor: index,
                                               storesAC: renderer.planes[componentIndex[index]].blockSize > 1))
                }
            }
        }
        let rowBases = plans.map(\.base)
        var mcusLeftInInterval = scan.restartInterval
        try jpegNaturalOrder.withUnsafeBufferPointer { order in
            try plans.withUnsafeMutableBufferPointer { plan in
                for row in 0..<rows {
                    if !streamed {
                        // Point the plan at this row's blocks in the full grid.
                        var i = 0
                        for component in scan.components {
                            let h = interleaved ? component.horizontalSampling : 1, v = interleaved ? component.verticalSampling : 1
                            for _ in 0..<(h * v) {
                                plan[i].base = rowBases[i] + row * v * component.blocksPerLine * 64
                                i += 1
                            }
                        }
                    }
                    var column = 0
                    while column < columns {
                        var n = columns - column
                        if scan.restartInterval > 0 {
                            if mcusLeftInInterval == 0 {
                                try restart(&reader)
                                mcusLeftInInterval = scan.restartInterval
                                predictors.update(repeating: 0, count: 4)
                            }
                            n = min(n, mcusLeftInInterval)
                            mcusLeftInInterval -= n
                        }
                        guard jpegDecodeSequentialMCUs(mcuCount: n, firstColumn: column, plan: plan.baseAddress!,
                                                       blocksPerMCU: plan.count, predictors: predictors,
                                                       order: order.baseAddress!, reader: &reader) else {
                            throw ImageCodecError.corrupt(offset: reader.position, reason: "invalid Huffman code")
                        }
                        column += n
                    }
                    try checkNotTruncated(reader)
                    if streamed {
                        for (index, component) in scan.components.enumerated() {
                            let v = interleaved ? component.verticalSampling : 1
                            for by in 0..<v where row * v + by < component.heightInBlocks {
                                let blocks = component.coefficients! + by * component.blocksPerLine * 64
                                renderer.idctRow(component: componentIndex[index], blockRow: row * v + by,
                                                 blocks: blocks, count: component.widthInBlocks)
                            }
                            component.coefficients!.update(repeating: 0, count: v * component.blocksPerLine * 64)
                        }
                    }
                }
            }
        }
    }
}

/// One SOS header.
struct JPEGScan {
    let components: [JPEGComponent]
    let spectralStart: Int
    let spectralEnd: Int
    let successiveHigh: Int
    let successiveLow: Int
    let restartInterval: Int

    /// libjpeg's checks (jdinput.c, jdphuff.c `start_pass_phuff_decoder`).
    func validate(progressive: Bool, offset: Int) throws {
        if progressive {
            let isDC = spectralStart == 0
            let bad = (isDC && spectralEnd != 0) || (!isDC && (spectralEnd < spectralStart || spectralEnd > 63 || components.count != 1))
                || (successiveHigh != 0 && successiveLow != successiveHigh - 1) || successiveLow > 13
            if bad {
                throw ImageCodecError.corrupt(offset: offset,
                                              reason: "progressive scan Ss=\(spectralStart) Se=\(spectralEnd) Ah=\(successiveHigh) "
                                                      + "Al=\(successiveLow) with \(components.count) components")
            }
        }
        // Sequential scans: libjpeg ignores Ss/Se/Ah/Al (warning only).
    }
}
