import Foundation
import TensorEngine

// TODO: TensorEngine (issue 7) owns safetensors I/O; this minimal reader and writer serve the
// model until the engine's lands on main, then they go.

/// A safetensors file read whole: an 8-byte little-endian header length, a JSON header
/// (`name: {dtype, shape, data_offsets}` plus an optional `__metadata__` of strings), then the
/// tensor bytes. F32, F16, BF16 and F64 tensors read as Float32.
struct WeightFile {
    struct Entry {
        let dtype: String
        let shape: [Int]
        let range: Range<Int>   // byte range in the data section
    }

    let path: String
    let entries: [String: Entry]
    /// Tensor names in file order of their data.
    let names: [String]
    let metadata: [String: String]
    private let data: Data
    private let dataStart: Int

    /// - Throws: `WeightFileError` naming the file and what is wrong, never traps.
    init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw WeightFileError.unreadable(file: url.path, reason: error.localizedDescription)
        }
        try self.init(data: data, path: url.path)
    }

    init(data: Data, path: String) throws {
        self.path = path
        self.data = data
        guard data.count >= 8 else { throw WeightFileError.malformed(file: path, offset: 0, reason: "shorter than the 8-byte header length") }
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(data[data.startIndex + i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(data.count - 8) else {
            throw WeightFileError.malformed(file: path, offset: 0, reason: "header length \(headerLength) runs past the file's \(data.count) bytes")
        }
        dataStart = 8 + Int(headerLength)
        let header = data[(data.startIndex + 8)..<(data.startIndex + dataStart)]
        guard let object = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw WeightFileError.malformed(file: path, offset: 8, reason: "the header is not a JSON object")
        }
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        let available = data.count - dataStart
        for (name, value) in object {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else {
                    throw WeightFileError.malformed(file: path, offset: 8, reason: "__metadata__ is not an object")
                }
                for (key, item) in map {
                    guard let text = item as? String else {
                        throw WeightFileError.malformed(file: path, offset: 8, reason: "__metadata__.\(key) is not a string")
                    }
                    metadata[key] = text
                }
                continue
            }
            guard let fields = value as? [String: Any], let dtype = fields["dtype"] as? String,
                  let shape = fields["shape"] as? [Int], let offsets = fields["data_offsets"] as? [Int], offsets.count == 2 else {
                throw WeightFileError.malformed(file: path, offset: 8, reason: "tensor '\(name)' lacks dtype, shape or data_offsets")
            }
            guard let size = Self.elementSize(dtype) else { throw WeightFileError.unsupportedType(file: path, tensor: name, dtype: dtype) }
            var count = 1
            for dimension in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard dimension >= 0, !overflow else {
                    throw WeightFileError.malformed(file: path, offset: 8, reason: "tensor '\(name)' has shape \(shape)")
                }
                count = product
            }
            guard offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= available,
                  offsets[1] - offsets[0] == count.multipliedReportingOverflow(by: size).partialValue else {
                throw WeightFileError.malformed(file: path, offset: dataStart + max(0, offsets[0]),
                                                reason: "tensor '\(name)' \(dtype)\(shape) has data_offsets \(offsets) (data section \(available) bytes)")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
        }
        self.entries = entries
        self.metadata = metadata
        names = entries.keys.sorted { entries[$0]!.range.lowerBound < entries[$1]!.range.lowerBound }
    }

    static func elementSize(_ dtype: String) -> Int? {
        switch dtype {
        case "F32": 4
        case "F16", "BF16": 2
        case "F64": 8
        default: nil
        }
    }

    /// The tensor `name` as Float32.
    /// - Throws: `WeightFileError.missingTensor` when absent.
    func tensor(_ name: String) throws -> Tensor {
        guard let entry = entries[name] else { throw WeightFileError.missingTensor(file: path, tensor: name) }
        let result = Tensor(zeros: entry.shape)
        let out = result.data, count = result.count
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let base = raw.baseAddress! + dataStart + entry.range.lowerBound
            switch entry.dtype {
            case "F32":
                for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            case "F16":
                for i in 0..<count {
                    let bits = UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    out[i] = Float(halfBits: bits)
                }
            case "BF16":
                for i in 0..<count {
                    let bits = UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                    out[i] = Float(bitPattern: UInt32(bits) << 16)
                }
            default:  // F64 (elementSize admits nothing else)
                for i in 0..<count {
                    out[i] = Float(Double(bitPattern: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                }
            }
        }
        return result
    }

    /// Writes F32 tensors in the given order, with `metadata` as `__metadata__`.
    static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String], to url: URL) throws {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        for (name, tensor) in tensors {
            header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + 4 * tensor.count]] as [String: Any]
            offset += 4 * tensor.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (8 + json.count) % 8 != 0 { json.append(0x20) }        // pad with spaces: data 8-byte aligned
        var file = Data(capacity: 8 + json.count + offset)
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { file.append(contentsOf: $0) }
        file.append(json)
        for (_, tensor) in tensors {
            file.append(UnsafeBufferPointer(start: tensor.data, count: tensor.count))   // little-endian hosts
        }
        do { try file.write(to: url, options: .atomic) } catch {
            throw WeightFileError.unwritable(file: url.path, reason: error.localizedDescription)
        }
    }
}

extension Float {
    /// IEEE 754 binary16 bits to Float32 (subnormals, infinities, NaN included).
    init(halfBits bits: UInt16) {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = Int(bits >> 10) & 0x1F
        let mantissa = UInt32(bits & 0x3FF)
        if exponent == 0 {
            let magnitude = Float(mantissa) * 0x1p-24                  // subnormal: m·2^-24
            self = sign != 0 ? -magnitude : magnitude
        } else if exponent == 31 {
            self = Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        } else {
            self = Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
        }
    }
}

/// A safetensors file that cannot be read, or does not hold what the model needs.
public enum WeightFileError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case unwritable(file: String, reason: String)
    case malformed(file: String, offset: Int, reason: String)
    case unsupportedType(file: String, tensor: String, dtype: String)
    case missingTensor(file: String, tensor: String)
    /// Keys the model needs but the file lacks, keys the file has that the model does not know,
    /// and keys whose shapes differ: all at once.
    case mismatchedKeys(file: String, missing: [String], unexpected: [String], misshaped: [String])
    case missingMetadata(file: String, key: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason): "\(file): cannot read: \(reason)"
        case let .unwritable(file, reason): "\(file): cannot write: \(reason)"
        case let .malformed(file, offset, reason): "\(file): byte \(offset): not a safetensors file: \(reason)"
        case let .unsupportedType(file, tensor, dtype): "\(file): tensor '\(tensor)' is \(dtype), expected F32, F16, BF16 or F64"
        case let .missingTensor(file, tensor): "\(file): no tensor '\(tensor)'"
        case let .mismatchedKeys(file, missing, unexpected, misshaped):
            "\(file): the weights do not fit the model:"
                + (missing.isEmpty ? "" : "\n  missing (\(missing.count)): " + missing.joined(separator: ", "))
                + (unexpected.isEmpty ? "" : "\n  unexpected (\(unexpected.count)): " + unexpected.joined(separator: ", "))
                + (misshaped.isEmpty ? "" : "\n  misshaped (\(misshaped.count)): " + misshaped.joined(separator: ", "))
        case let .missingMetadata(file, key, reason): "\(file): __metadata__.\(key): \(reason)"
        }
    }
}
