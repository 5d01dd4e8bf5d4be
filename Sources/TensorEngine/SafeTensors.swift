import Foundation

/// A malformed or unreadable safetensors file. Each case names the file and the place.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    /// Shorter than the 8-byte header length.
    case truncated(file: String, byteCount: Int)
    /// The header length points past the end of the file.
    case headerPastEnd(file: String, headerLength: UInt64, fileLength: Int)
    /// The header length is over safetensors' own limit (`SafeTensorsHeader.maximumBytes`).
    case headerTooLarge(file: String, headerLength: UInt64, limit: Int)
    /// The header is not a JSON object (offset within the header).
    case headerNotJSON(file: String, offset: Int, reason: String)
    /// A tensor entry or the metadata lacks a field or has one of the wrong type.
    case badEntry(file: String, tensor: String, reason: String)
    case unknownDType(file: String, tensor: String, dtype: String)
    /// A dtype safetensors knows but this engine does not convert (integers, bool, F8).
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// shape × dtype size differs from the byte length the offsets give.
    case sizeMismatch(file: String, tensor: String, shape: [Int], dtype: String, byteLength: Int)
    case offsetsOutOfRange(file: String, tensor: String, begin: Int, end: Int, dataLength: Int)
    case overlapping(file: String, tensor: String, other: String)
    case duplicateName(file: String, tensor: String)
    case cannotWrite(file: String, reason: String)

    /// A one-line message naming the file, the tensor (where there is one) and the problem.
    public var description: String {
        switch self {
        case let .unreadable(file, reason): "\(file): cannot read: \(reason)"
        case let .truncated(file, count): "\(file): \(count) bytes, too short for a safetensors header length (8 bytes)"
        case let .headerPastEnd(file, length, fileLength):
            "\(file): header length \(length) runs past the end of the file (\(fileLength) bytes)"
        case let .headerNotJSON(file, offset, reason): "\(file): header is not a JSON object: \(reason) at header byte \(offset)"
        case let .badEntry(file, tensor, reason): "\(file): tensor '\(tensor)': \(reason)"
        case let .unknownDType(file, tensor, dtype): "\(file): tensor '\(tensor)': unknown dtype '\(dtype)'"
        case let .unsupportedDType(file, tensor, dtype):
            "\(file): tensor '\(tensor)': dtype \(dtype) is not supported (F32, F16, BF16, F64 are)"
        case let .sizeMismatch(file, tensor, shape, dtype, length):
            "\(file): tensor '\(tensor)': shape \(shape) of \(dtype) needs a different size than its \(length) bytes"
        case let .offsetsOutOfRange(file, tensor, begin, end, dataLength):
            "\(file): tensor '\(tensor)': data_offsets [\(begin), \(end)] outside the data section of \(dataLength) bytes"
        case let .overlapping(file, tensor, other): "\(file): tensors '\(other)' and '\(tensor)' overlap"
        case let .duplicateName(file, tensor): "\(file): tensor name '\(tensor)' appears twice"
        case let .headerTooLarge(file, length, limit): "\(file): header length \(length) is over safetensors' limit of \(limit) bytes"
        case let .cannotWrite(file, reason): "\(file): cannot write: \(reason)"
        }
    }
}

/// A safetensors file (https://github.com/huggingface/safetensors): named tensors and string
/// metadata. Reads F32, F16, BF16 and F64 (converted to Float32); writes F32.
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON
/// `{"NAME": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
/// "__metadata__": {"key": "value"}}`, then the data section the offsets index.
public struct SafeTensors {
    /// Tensor names in header order (files we write keep insertion order).
    public private(set) var names: [String] = []
    /// The tensors by name, converted to Float32.
    public private(set) var tensors: [String: Tensor] = [:]
    /// Each tensor's dtype in the file it came from ("F32" for added ones).
    public private(set) var dtypes: [String: String] = [:]
    /// `__metadata__`: string keys to string values.
    public var metadata: [String: String] = [:]
    /// Integer and bool tensors left out by a reader that skips them (`init(weightsAt:)`), in file order.
    package internal(set) var skipped: [String] = []

    /// An empty file: no tensors, no metadata.
    public init() {}

    /// Reads a file (memory-mapped; tensors are copied out, so the map is released after).
    /// - Throws: `SafeTensorsError` for anything malformed; never traps on file contents.
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) }
        catch { throw SafeTensorsError.unreadable(file: url.path, reason: error.localizedDescription) }
        try self.init(data: data, file: url.path)
    }

    /// Parses the bytes of a safetensors file; `file` names it in errors.
    /// - Throws: `SafeTensorsError` for anything malformed.
    public init(data: Data, file: String) throws {
        try self.init(data: data, file: file, skippingNonFloat: false)
    }

    /// Parses the bytes of a safetensors file; `skippingNonFloat` leaves integer and bool tensors
    /// out (named in `skipped`) instead of refusing them: a checkpoint's BatchNorm
    /// `num_batches_tracked` (I64) is no weight.
    /// - Throws: `SafeTensorsError` for anything malformed.
    package init(data: Data, file: String, skippingNonFloat: Bool) throws {
        self = try data.withUnsafeBytes { try SafeTensors.parse($0, file: file, skippingNonFloat: skippingNonFloat) }
    }

    /// The tensor named `name`, or nil.
    public subscript(name: String) -> Tensor? { tensors[name] }

    /// Adds or replaces a tensor (written as F32, in insertion order).
    public mutating func set(_ name: String, _ tensor: Tensor) {
        if tensors[name] == nil { names.append(name) }
        tensors[name] = tensor
        dtypes[name] = "F32"
    }

    /// Adds a tensor read from a file whose dtype was `dtype`; the caller has checked `name` is new.
    mutating func append(_ name: String, _ tensor: Tensor, dtype: String) {
        names.append(name)
        tensors[name] = tensor
        dtypes[name] = dtype
    }

    // MARK: Reading

    static let dtypeSizes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4,
        "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "C64": 8,
    ]

    /// The dtypes `skippingNonFloat` leaves out.
    static let nonFloatDTypes: Set<String> = ["I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL"]

    private static func parse(_ bytes: UnsafeRawBufferPointer, file: String, skippingNonFloat: Bool) throws -> SafeTensors {
        let header = try SafeTensorsHeader(bytes, file: file)
        let dataStart = header.dataStart, dataLength = bytes.count - dataStart
        var result = SafeTensors()
        result.metadata = header.metadata
        var spans: [(begin: Int, end: Int, name: String)] = []
        var entries: [(name: String, dtype: String, shape: [Int], begin: Int)] = []
        for (name, value) in header.members where name != "__metadata__" {
            guard case let .object(fields) = value else { continue }      // the header checked every entry is an object
            func field(_ key: String) -> HeaderJSON? { SafeTensorsHeader.field(key, of: fields) }
            guard case let .string(dtype)? = field("dtype") else {
                throw SafeTensorsError.badEntry(file: file, tensor: name, reason: "missing or non-string 'dtype'")
            }
            guard case let .array(shapeValues)? = field("shape"),
                  let shape = SafeTensorsHeader.nonNegativeIntegers(shapeValues) else {
                throw SafeTensorsError.badEntry(file: file, tensor: name, reason: "missing or malformed 'shape'")
            }
            guard case let .array(offsetValues)? = field("data_offsets"),
                  let offsets = SafeTensorsHeader.nonNegativeIntegers(offsetValues) else { continue }   // checked by the header
            guard let size = dtypeSizes[dtype] else {
                throw SafeTensorsError.unknownDType(file: file, tensor: name, dtype: dtype)
            }
            let skipped = skippingNonFloat && nonFloatDTypes.contains(dtype)
            guard ["F32", "F16", "BF16", "F64"].contains(dtype) || skipped else {
                throw SafeTensorsError.unsupportedDType(file: file, tensor: name, dtype: dtype)
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end, end <= dataLength else {
                throw SafeTensorsError.offsetsOutOfRange(file: file, tensor: name, begin: begin, end: end, dataLength: dataLength)
            }
            var count = 1
            var overflow = false
            for dimension in shape + [size] {
                let (product, didOverflow) = count.multipliedReportingOverflow(by: dimension)
                count = product
                overflow = overflow || didOverflow
            }
            guard !overflow, count == end - begin else {
                throw SafeTensorsError.sizeMismatch(file: file, tensor: name, shape: shape, dtype: dtype, byteLength: end - begin)
            }
            spans.append((begin, end, name))
            if skipped { result.skipped.append(name) } else { entries.append((name, dtype, shape, begin)) }
        }
        spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        for (previous, next) in zip(spans, spans.dropFirst()) where next.begin < previous.end {
            throw SafeTensorsError.overlapping(file: file, tensor: next.name, other: previous.name)
        }
        for entry in entries {
            let tensor = Tensor(zeros: entry.shape)
            convert(bytes, from: dataStart + entry.begin, dtype: entry.dtype, count: tensor.count, into: tensor.data)
            result.append(entry.name, tensor, dtype: entry.dtype)
        }
        return result
    }

    /// Little-endian F32 / F16 / BF16 / F64 → Float32: `count` elements `stride` elements apart
    /// (1 for safetensors; a PyTorch view's innermost stride), the first at byte `start`.
    static func convert(_ bytes: UnsafeRawBufferPointer, from start: Int, dtype: String, count: Int, stride: Int = 1,
                        into out: UnsafeMutablePointer<Float>) {
        switch dtype {
        case "F32":
            for i in 0..<count {
                let bits = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: start + 4 * stride * i, as: UInt32.self))
                out[i] = Float(bitPattern: bits)
            }
        case "F64":
            for i in 0..<count {
                out[i] = Float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: start + 8 * stride * i,
                                                                                           as: UInt64.self))))
            }
        case "BF16":                                          // the high half of a Float32
            for i in 0..<count {
                let half = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: start + 2 * stride * i, as: UInt16.self))
                out[i] = Float(bitPattern: UInt32(half) << 16)
            }
        default:                                              // F16
            for i in 0..<count {
                let half = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: start + 2 * stride * i, as: UInt16.self))
                out[i] = floatFromHalf(half)
            }
        }
    }

    // MARK: Writing

    /// The file's bytes: F32 tensors in `names` order, header padded with spaces to 8 bytes
    /// (as Python's safetensors does, so the data section stays aligned).
    public func serialized() -> Data {
        var header = "{"
        var parts: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }
                .map { JSONLiteral.string($0.key) + ":" + JSONLiteral.string($0.value) }
            parts.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        for name in names {
            let tensor = tensors[name]!
            let byteCount = tensor.count * 4
            parts.append(JSONLiteral.string(name) + ":{\"dtype\":\"F32\",\"shape\":["
                         + tensor.shape.map(String.init).joined(separator: ",")
                         + "],\"data_offsets\":[\(offset),\(offset + byteCount)]}")
            offset += byteCount
        }
        header += parts.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var data = Data(capacity: 8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: headerBytes)
        for name in names {
            let tensor = tensors[name]!
            var littleEndian = [UInt32](repeating: 0, count: tensor.count)
            for i in 0..<tensor.count { littleEndian[i] = tensor.data[i].bitPattern.littleEndian }
            littleEndian.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        return data
    }

    /// Writes the file atomically (temporary file, then rename).
    /// - Throws: `SafeTensorsError.cannotWrite` naming the file.
    public func write(to url: URL) throws {
        do { try serialized().write(to: url, options: .atomic) }
        catch { throw SafeTensorsError.cannotWrite(file: url.path, reason: error.localizedDescription) }
    }
}

/// IEEE 754 binary16 → binary32 (exact; subnormals, infinities and NaN included).
func floatFromHalf(_ bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = Int((bits >> 10) & 0x1F)
    let mantissa = UInt32(bits & 0x3FF)
    if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    if exponent == 0 {
        let magnitude = Float(mantissa) * 0x1p-24                       // subnormal: m·2⁻²⁴
        return sign == 0 ? magnitude : -magnitude
    }
    return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
}
