import Foundation

/// What we read from a photo's EXIF block (JPEG APP1 "Exif", PNG eXIf chunk): its orientation and
/// where it was taken. Parsing is forgiving: a damaged or partial EXIF block gives what could be read, and
/// never makes the image itself fail to decode.
public struct EXIFMetadata: Sendable, Equatable {
    /// TIFF tag 0x0112, 1...8 (1 = as stored). `nil` when absent or out of range.
    public var orientation: Int?
    /// GPS latitude and longitude in degrees (south and west negative), from the GPS IFD's
    /// tags 1-4. `nil` when absent, incomplete or out of range.
    public var gpsCoordinate: (latitude: Double, longitude: Double)?

    /// Metadata with the given orientation (TIFF 1...8) and GPS position (degrees); both default to absent.
    public init(orientation: Int? = nil, gpsCoordinate: (latitude: Double, longitude: Double)? = nil) {
        self.orientation = orientation
        self.gpsCoordinate = gpsCoordinate
    }

    /// Equal when orientation, latitude and longitude are all equal (tuples are not `Equatable`).
    public static func == (a: EXIFMetadata, b: EXIFMetadata) -> Bool {
        a.orientation == b.orientation && a.gpsCoordinate?.latitude == b.gpsCoordinate?.latitude
            && a.gpsCoordinate?.longitude == b.gpsCoordinate?.longitude
    }

    /// The EXIF of a JPEG file, read from its markers only (the image data is not decoded).
    /// `nil` for a file with no APP1 Exif segment or one that is not a JPEG.
    public init?(jpegData data: Data) {
        let found: EXIFMetadata? = data.withUnsafeBytes { raw -> EXIFMetadata? in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else { return nil }
            var p = 2
            while p + 4 <= bytes.count {
                guard bytes[p] == 0xFF else { return nil }
                let marker = bytes[p + 1]
                if marker == 0xFF { p += 1; continue }
                if marker == 0xDA || marker == 0xD9 { return nil }             // image data: no EXIF before it
                let length = Int(bytes[p + 2]) << 8 | Int(bytes[p + 3])
                guard length >= 2, p + 2 + length <= bytes.count else { return nil }
                if marker == 0xE1 && length >= 8 {
                    let payload = UnsafeBufferPointer(rebasing: bytes[(p + 4)..<(p + 2 + length)])
                    if Array(payload.prefix(6)) == Array("Exif\0\0".utf8) {
                        return EXIFMetadata(tiff: UnsafeBufferPointer(rebasing: payload[6...]))
                    }
                }
                p += 2 + length
            }
            return nil
        }
        guard let found else { return nil }
        self = found
    }

    /// The EXIF of a PNG file's first eXIf chunk, read from chunk headers and that chunk only (the
    /// image data is not inflated). The spec puts eXIf before IDAT; like `PNGDecoder` and Pillow,
    /// we take it anywhere before IEND. `nil` for a file with no eXIf chunk, one whose chunks run
    /// past the end of the data before it, one whose eXIf fails its CRC, or one that is not a PNG.
    public init?(pngData data: Data) {
        let found: EXIFMetadata? = data.withUnsafeBytes { raw -> EXIFMetadata? in
            let bytes = raw.bindMemory(to: UInt8.self)
            guard bytes.count >= 8, let base = bytes.baseAddress, bytes.prefix(8).elementsEqual(PNGDecoder.signature) else {
                return nil
            }
            let eXIf: UInt32 = 0x6558_4966, iend: UInt32 = 0x4945_4E44   // chunk types as big-endian ASCII
            var p = 8
            while p + 8 <= bytes.count {
                let length = Int(readBigEndian32(bytes, p)), type = readBigEndian32(bytes, p + 4)
                // PNG spec §5.3: length, type, data, CRC (of type and data); length at most 2^31 - 1.
                guard length <= 0x7FFF_FFFF, length + 12 <= bytes.count - p else { return nil }
                if type == iend { return nil }
                if type == eXIf {
                    guard readBigEndian32(bytes, p + 8 + length) == crc32(base + p + 4, count: length + 4) else { return nil }
                    return EXIFMetadata(pngEXIfPayload: UnsafeBufferPointer(rebasing: bytes[(p + 8)..<(p + 8 + length)]))
                }
                p += length + 12
            }
            return nil
        }
        guard let found else { return nil }
        self = found
    }

    /// Parses an eXIf chunk's payload: a TIFF structure (PNG spec 3rd edition, chunk eXIf); some
    /// writers keep JPEG's "Exif\0\0" in front, which Pillow strips, and so do we.
    init(pngEXIfPayload payload: UnsafeBufferPointer<UInt8>) {
        let prefix = Array("Exif\0\0".utf8)
        self.init(tiff: payload.starts(with: prefix) ? UnsafeBufferPointer(rebasing: payload[prefix.count...]) : payload)
    }

    /// Parses a TIFF structure (the APP1 payload after "Exif\0\0"), either byte order.
    init(tiff: UnsafeBufferPointer<UInt8>) {
        let reader = TIFFReader(bytes: tiff)
        guard let reader, let ifd0 = reader.uint32(at: 4) else { return }
        let entries = reader.entries(ifdOffset: Int(ifd0))
        if let entry = entries[0x0112], let value = reader.integers(entry).first, (1...8).contains(value) {
            orientation = value
        }
        if let pointer = entries[0x8825], let gpsOffset = reader.integers(pointer).first {
            let gps = reader.entries(ifdOffset: gpsOffset)
            if let latitude = gps[2].flatMap({ reader.degrees($0) }),
               let longitude = gps[4].flatMap({ reader.degrees($0) }) {
                let latitudeRef = gps[1].flatMap { reader.reference($0) } ?? "N"
                let longitudeRef = gps[3].flatMap { reader.reference($0) } ?? "E"
                let lat = latitudeRef == "S" ? -abs(latitude) : latitude
                let lon = longitudeRef == "W" ? -abs(longitude) : longitude
                if (-90...90).contains(lat) && (-180...180).contains(lon) {
                    gpsCoordinate = (lat, lon)
                }
            }
        }
    }
}

/// A bounds-checked reader of TIFF IFDs (TIFF 6.0 section 2), used for EXIF.
struct TIFFReader {
    struct Entry { let type: Int; let count: Int; let valueOffset: Int }

    let bytes: UnsafeBufferPointer<UInt8>
    let bigEndian: Bool

    init?(bytes: UnsafeBufferPointer<UInt8>) {
        guard bytes.count >= 8 else { return nil }
        if bytes[0] == 0x49 && bytes[1] == 0x49 { bigEndian = false }          // "II"
        else if bytes[0] == 0x4D && bytes[1] == 0x4D { bigEndian = true }      // "MM"
        else { return nil }
        self.bytes = bytes
    }

    func uint16(at p: Int) -> Int? {
        guard p >= 0, p + 2 <= bytes.count else { return nil }
        return bigEndian ? Int(bytes[p]) << 8 | Int(bytes[p + 1]) : Int(bytes[p + 1]) << 8 | Int(bytes[p])
    }

    func uint32(at p: Int) -> UInt32? {
        guard p >= 0, p + 4 <= bytes.count else { return nil }
        let b = (UInt32(bytes[p]), UInt32(bytes[p + 1]), UInt32(bytes[p + 2]), UInt32(bytes[p + 3]))
        return bigEndian ? b.0 << 24 | b.1 << 16 | b.2 << 8 | b.3 : b.3 << 24 | b.2 << 16 | b.1 << 8 | b.0
    }

    /// The IFD at `ifdOffset` as tag -> entry (first occurrence wins).
    func entries(ifdOffset: Int) -> [Int: Entry] {
        guard let n = uint16(at: ifdOffset) else { return [:] }
        var result: [Int: Entry] = [:]
        for i in 0..<n {
            let p = ifdOffset + 2 + 12 * i
            guard let tag = uint16(at: p), let type = uint16(at: p + 2), let count = uint32(at: p + 4) else { break }
            let size = [1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8][type] ?? 0
            let total = Int(count) * size
            let valueOffset = total <= 4 ? p + 8 : Int(uint32(at: p + 8) ?? UInt32.max)
            guard size > 0, valueOffset >= 0, valueOffset + total <= bytes.count else { continue }
            if result[tag] == nil { result[tag] = Entry(type: type, count: Int(count), valueOffset: valueOffset) }
        }
        return result
    }

    /// BYTE, SHORT or LONG values (up to 16).
    func integers(_ entry: Entry) -> [Int] {
        (0..<min(entry.count, 16)).compactMap { i in
            switch entry.type {
            case 1, 7: return Int(bytes[entry.valueOffset + i])
            case 3, 8: return uint16(at: entry.valueOffset + 2 * i)
            case 4, 9: return uint32(at: entry.valueOffset + 4 * i).map(Int.init)
            default: return nil
            }
        }
    }

    /// RATIONAL / SRATIONAL values; `nil` for a zero denominator.
    func rationals(_ entry: Entry) -> [Double?] {
        guard entry.type == 5 || entry.type == 10 else { return [] }
        return (0..<min(entry.count, 8)).map { i in
            guard let n = uint32(at: entry.valueOffset + 8 * i), let d = uint32(at: entry.valueOffset + 8 * i + 4), d != 0 else {
                return nil
            }
            return entry.type == 5 ? Double(n) / Double(d) : Double(Int32(bitPattern: n)) / Double(Int32(bitPattern: d))
        }
    }

    func text(_ entry: Entry) -> String? {
        guard [1, 2, 7].contains(entry.type) else { return nil }
        let raw = UnsafeBufferPointer(rebasing: bytes[entry.valueOffset..<(entry.valueOffset + entry.count)])
        return String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self).trimmingCharacters(in: .whitespaces)
    }

    /// GPS latitude or longitude in degrees: degrees, minutes, seconds rationals (fewer are
    /// accepted: some writers give only degrees or degrees and decimal minutes), or an ASCII
    /// string of one to three numbers ("39.9", "39 54 26.1", "39,54.43").
    func degrees(_ entry: Entry) -> Double? {
        var parts: [Double] = []
        if entry.type == 5 || entry.type == 10 {
            let values = rationals(entry)
            guard let first = values.first, let degrees = first else { return nil }
            parts = [degrees] + values.dropFirst().prefix(2).map { $0 ?? 0 }
        } else if let string = text(entry) {
            parts = string.split(whereSeparator: { " ,;:/°'\"NSEWnsew".contains($0) }).compactMap { Double($0) }
            guard !parts.isEmpty else { return nil }
        } else {
            return nil
        }
        let sign: Double = parts[0] < 0 ? -1 : 1
        let value = abs(parts[0]) + (parts.count > 1 ? parts[1] / 60 : 0) + (parts.count > 2 ? parts[2] / 3600 : 0)
        return value.isFinite ? sign * value : nil
    }

    /// "N", "S", "E" or "W" from an ASCII (or BYTE) reference tag; tolerates lower case,
    /// padding and whole words ("North").
    func reference(_ entry: Entry) -> String? {
        guard let first = text(entry)?.uppercased().first, "NSEW".contains(first) else { return nil }
        return String(first)
    }
}
