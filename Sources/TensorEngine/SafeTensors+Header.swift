import Foundation

/// The header of a safetensors file, split from its data section and checked once for every
/// reader: the tensor reader (`SafeTensors`) and the checkpoint seal (Training/Checkpoint.swift)
/// both start here, so both see the same limits and the same JSON.
package struct SafeTensorsHeader {
    /// The largest header accepted: safetensors' own limit (its Rust reader refuses longer
    /// headers), so a longer length is damage, never a header to allocate for.
    static let maximumBytes = 100_000_000

    /// The top-level members in file order (tensors and `__metadata__`).
    let members: [(String, HeaderJSON)]
    /// Where the data section starts: 8 + the header length.
    package let dataStart: Int
    /// The data section's length the tensors claim: their largest end offset.
    package let claimedDataLength: Int
    /// `__metadata__`: string keys to string values.
    let metadata: [String: String]

    /// Splits and checks `bytes`: the length word, the JSON (an object, no name twice), the
    /// metadata (strings), each tensor's `data_offsets` (two integers, begin <= end). Does not
    /// require the data section to be present (`claimedDataLength` says how long it must be).
    /// - Throws: `SafeTensorsError` naming `file` and the place.
    init(_ bytes: UnsafeRawBufferPointer, file: String) throws {
        guard bytes.count >= 8 else { throw SafeTensorsError.truncated(file: file, byteCount: bytes.count) }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(Self.maximumBytes) else {
            throw SafeTensorsError.headerTooLarge(file: file, headerLength: headerLength, limit: Self.maximumBytes)
        }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw SafeTensorsError.headerPastEnd(file: file, headerLength: headerLength, fileLength: bytes.count)
        }
        dataStart = 8 + Int(headerLength)
        let json: HeaderJSON
        do { json = try HeaderJSON.parse(Array(bytes[8..<dataStart])) } catch let error as HeaderJSON.ParseError {
            throw SafeTensorsError.headerNotJSON(file: file, offset: error.offset, reason: error.reason)
        }
        guard case let .object(members) = json else {
            throw SafeTensorsError.headerNotJSON(file: file, offset: 0, reason: "the top level is not an object")
        }
        var seen = Set<String>(), metadata: [String: String] = [:], claimed = 0
        for (name, value) in members {
            guard seen.insert(name).inserted else { throw SafeTensorsError.duplicateName(file: file, tensor: name) }
            if name == "__metadata__" {
                guard case let .object(pairs) = value else {
                    throw SafeTensorsError.badEntry(file: file, tensor: name, reason: "metadata is not an object")
                }
                for (key, item) in pairs {
                    guard case let .string(text) = item else {
                        throw SafeTensorsError.badEntry(file: file, tensor: name, reason: "metadata value of '\(key)' is not a string")
                    }
                    metadata[key] = text
                }
                continue
            }
            guard case let .object(fields) = value else {
                throw SafeTensorsError.badEntry(file: file, tensor: name, reason: "entry is not an object")
            }
            guard case let .array(offsetValues)? = Self.field("data_offsets", of: fields), offsetValues.count == 2,
                  let offsets = Self.nonNegativeIntegers(offsetValues), offsets[0] <= offsets[1] else {
                throw SafeTensorsError.badEntry(file: file, tensor: name, reason: "missing or malformed 'data_offsets'")
            }
            claimed = max(claimed, offsets[1])
        }
        self.members = members
        self.metadata = metadata
        claimedDataLength = claimed
    }

    /// `init` on a `Data`.
    package init(_ data: Data, file: String) throws {
        self = try data.withUnsafeBytes { try SafeTensorsHeader($0, file: file) }
    }

    static func field(_ key: String, of fields: [(String, HeaderJSON)]) -> HeaderJSON? {
        fields.first(where: { $0.0 == key })?.1
    }

    /// Integers in [0, 2^52] (offsets and sizes a double holds exactly), or nil.
    static func nonNegativeIntegers(_ values: [HeaderJSON]) -> [Int]? {
        var result: [Int] = []
        for value in values {
            guard case let .number(number) = value, number >= 0, number <= 0x1p52, number.rounded() == number else { return nil }
            result.append(Int(number))
        }
        return result
    }

    /// The header as Foundation objects (integers as `Int`), for the checkpoint seal's
    /// canonical serialization.
    package var foundationObject: [String: Any] {
        func convert(_ value: HeaderJSON) -> Any {
            switch value {
            case let .object(pairs): Dictionary(pairs.map { ($0.0, convert($0.1)) }, uniquingKeysWith: { first, _ in first })
            case let .array(items): items.map(convert)
            case let .string(text): text
            case let .number(number): number.rounded() == number && abs(number) <= 0x1p52 ? Int(number) as Any : number as Any
            case let .bool(flag): flag
            case .null: NSNull()
            }
        }
        return Dictionary(members.map { ($0.0, convert($0.1)) }, uniquingKeysWith: { first, _ in first })
    }
}

/// The message for weights that do not fit a model, every mismatched name listed at once:
/// "FILE: the weights do not fit SUBJECT:" and a line each for missing, unexpected and
/// misshaped names (the importer's and the segmenter's errors share it).
package func mismatchedWeightsText(file: String, subject: String, missing: [String], unexpected: [String],
                                   misshaped: [String]) -> String {
    "\(file): the weights do not fit \(subject):"
        + (missing.isEmpty ? "" : "\n  missing (\(missing.count)): " + missing.joined(separator: ", "))
        + (unexpected.isEmpty ? "" : "\n  unexpected (\(unexpected.count)): " + unexpected.joined(separator: ", "))
        + (misshaped.isEmpty ? "" : "\n  misshaped (\(misshaped.count)): " + misshaped.joined(separator: ", "))
}
