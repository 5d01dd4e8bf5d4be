import Foundation
import TensorEngine
import ImageCodec

/// A checkpoint that cannot be trusted or written.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case truncated(file: String, expectedBytes: Int, actualBytes: Int)
    case checksumMismatch(file: String, stored: String, computed: String)
    case missingChecksum(file: String)
    case malformed(file: String, reason: String)
    case unreadable(file: String, reason: String)
    case cannotWrite(file: String, reason: String)
    case noneUsable(file: String, problems: [String])

    /// A one-line message naming the file and why it cannot be used or written.
    public var description: String {
        switch self {
        case let .truncated(file, expected, actual): "\(file): truncated checkpoint (\(actual) bytes, header describes \(expected))"
        case let .checksumMismatch(file, stored, computed): "\(file): checkpoint is corrupt (checksum \(computed), stored \(stored))"
        case let .missingChecksum(file): "\(file): not a sealed checkpoint (no checksum in its metadata)"
        case let .malformed(file, reason): "\(file): malformed checkpoint (\(reason))"
        case let .unreadable(file, reason): "\(file): cannot read (\(reason))"
        case let .cannotWrite(file, reason): "\(file): cannot write checkpoint (\(reason))"
        case let .noneUsable(file, problems): "\(file): no usable checkpoint: " + problems.joined(separator: "; ")
        }
    }
}

/// The checkpoint container: a safetensors file (docs/ARCHITECTURE.md "File formats": model file plus optimizer state,
/// step, RNG state) sealed with a CRC-32 in its `__metadata__`, written atomically, with the
/// previous good checkpoint kept beside it.
///
/// Sealing: the header's JSON is parsed, `__metadata__["checksum"]` removed, re-serialised
/// canonically (sorted keys); the checksum is CRC-32 over those canonical header bytes followed
/// by the data section, so a flipped bit in a tensor, a shape, an offset or a metadata value is
/// caught, and any safetensors reader still reads the file. Truncation is caught by comparing the
/// file length with the largest data offset the header describes.
///
/// Writing `last.safetensors` goes: the new bytes to `last.safetensors.tmp`, fsync, verify the
/// file as read back, rename a verified `last.safetensors` to `last.previous.safetensors`, rename
/// the temporary file into place. Killed at any moment, at least one of the two names holds a
/// checkpoint that verifies, and `loadLatestGood` finds it.
public enum CheckpointContainer {
    static let checksumKey = "checksum"

    /// `bytes` (a safetensors file) with its checksum set.
    /// - Throws: `CheckpointError.malformed` if `bytes` is not a safetensors file.
    public static func sealed(_ bytes: Data, file: String = "checkpoint") throws -> Data {
        var parsed = try Parsed(bytes, file: file)
        let checksum = try parsed.computedChecksum()
        var metadata = parsed.header["__metadata__"] as? [String: Any] ?? [:]
        metadata[checksumKey] = checksum
        parsed.header["__metadata__"] = metadata
        var header = try canonicalJSON(parsed.header, file: file)
        while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }   // safetensors: 8-byte aligned data
        var out = Data(capacity: 8 + header.count + parsed.data.count)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        out.append(parsed.data)
        return out
    }

    /// Checks a sealed checkpoint's length and checksum, and returns its `__metadata__`.
    /// - Throws: `.truncated`, `.checksumMismatch`, `.missingChecksum` or `.malformed`.
    @discardableResult
    public static func verify(_ bytes: Data, file: String) throws -> [String: String] {
        let parsed = try Parsed(bytes, file: file)
        let metadata = parsed.header["__metadata__"] as? [String: Any] ?? [:]
        guard let stored = metadata[checksumKey] as? String else { throw CheckpointError.missingChecksum(file: file) }
        let computed = try parsed.computedChecksum()
        guard stored == computed else { throw CheckpointError.checksumMismatch(file: file, stored: stored, computed: computed) }
        return metadata.compactMapValues { $0 as? String }
    }

    /// Seals `bytes` and writes them to `url` atomically, keeping the previous good checkpoint at
    /// `previousURL(of: url)`.
    /// - Throws: `CheckpointError.cannotWrite`, or the verification error if the written file
    ///   does not read back intact (the old checkpoint is then left untouched).
    public static func write(_ bytes: Data, to url: URL) throws {
        let file = url.path
        let sealedBytes = try sealed(bytes, file: file)
        let temporary = url.appendingPathExtension("tmp")
        let fileManager = FileManager.default
        do {
            try? fileManager.removeItem(at: temporary)
            guard fileManager.createFile(atPath: temporary.path, contents: nil) else {
                throw CheckpointError.cannotWrite(file: temporary.path, reason: "cannot create")
            }
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            try handle.write(contentsOf: sealedBytes)
            try handle.synchronize()                                 // on disk before the rename
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError.cannotWrite(file: temporary.path, reason: error.localizedDescription)
        }
        let readBack: Data
        do { readBack = try Data(contentsOf: temporary) } catch {
            throw CheckpointError.cannotWrite(file: temporary.path, reason: "cannot read back: \(error.localizedDescription)")
        }
        try verify(readBack, file: temporary.path)
        let previous = previousURL(of: url)
        if let current = try? Data(contentsOf: url), (try? verify(current, file: file)) != nil {
            _ = rename(url.path, previous.path)                       // keep the last good one
        }
        guard rename(temporary.path, url.path) == 0 else {
            throw CheckpointError.cannotWrite(file: file, reason: String(cString: strerror(errno)))
        }
    }

    /// Where `write` keeps the checkpoint it replaced: `last.safetensors` → `last.previous.safetensors`.
    public static func previousURL(of url: URL) -> URL {
        let name = url.deletingPathExtension().lastPathComponent + ".previous"
        let directory = url.deletingLastPathComponent()
        return url.pathExtension.isEmpty ? directory.appendingPathComponent(name)
            : directory.appendingPathComponent(name).appendingPathExtension(url.pathExtension)
    }

    /// The newest checkpoint at `url` that verifies: `url` itself, else the previous one.
    /// - Returns: its bytes, where they came from, and the problems of any rejected file (for a
    ///   warning: a corrupt latest checkpoint is reported, never silently used).
    /// - Throws: `.noneUsable` listing every problem when neither verifies.
    public static func loadLatestGood(at url: URL) throws -> (bytes: Data, url: URL, rejected: [CheckpointError]) {
        var rejected: [CheckpointError] = []
        for candidate in [url, previousURL(of: url)] {
            guard FileManager.default.fileExists(atPath: candidate.path) else { continue }
            do {
                let bytes = try Data(contentsOf: candidate)
                try verify(bytes, file: candidate.path)
                return (bytes, candidate, rejected)
            } catch let error as CheckpointError {
                rejected.append(error)
            } catch {
                rejected.append(.unreadable(file: candidate.path, reason: error.localizedDescription))
            }
        }
        throw CheckpointError.noneUsable(file: url.path, problems: rejected.isEmpty ? ["no checkpoint there"] : rejected.map(\.description))
    }

    /// A safetensors file split into its header (parsed) and data section.
    private struct Parsed {
        var header: [String: Any]
        let data: Data
        let file: String

        init(_ bytes: Data, file: String) throws {
            self.file = file
            let split: SafeTensorsHeader
            do { split = try SafeTensorsHeader(bytes, file: file) } catch let error as SafeTensorsError {
                switch error {
                case .truncated: throw CheckpointError.truncated(file: file, expectedBytes: 8, actualBytes: bytes.count)
                case let .headerPastEnd(_, length, _):
                    throw CheckpointError.truncated(file: file, expectedBytes: 8 + Int(length), actualBytes: bytes.count)
                default: throw CheckpointError.malformed(file: file, reason: "\(error)")
                }
            }
            let dataEnd = split.dataStart + split.claimedDataLength
            guard bytes.count >= dataEnd else {
                throw CheckpointError.truncated(file: file, expectedBytes: dataEnd, actualBytes: bytes.count)
            }
            header = split.foundationObject
            let start = bytes.startIndex
            data = bytes.subdata(in: (start + split.dataStart)..<(start + dataEnd))
        }

        /// "crc32:xxxxxxxx" over the canonical header without the checksum, then the data.
        /// - Throws: `CheckpointError.malformed` if the header cannot be serialised.
        func computedChecksum() throws -> String {
            var unsealed = header
            if var metadata = unsealed["__metadata__"] as? [String: Any] {
                metadata[CheckpointContainer.checksumKey] = nil
                unsealed["__metadata__"] = metadata.isEmpty ? nil : metadata
            }
            let headerBytes = try canonicalJSON(unsealed, file: file)
            var crc = headerBytes.withUnsafeBufferPointer { crc32($0.baseAddress!, count: $0.count) }
            data.withUnsafeBytes { raw in
                if raw.count > 0 { crc = crc32(raw.bindMemory(to: UInt8.self).baseAddress!, count: raw.count, continuing: crc) }
            }
            return "crc32:" + String(format: "%08x", crc)
        }
    }

    /// The seal's canonical header: Foundation's sorted, compact serialisation. Kept (rather
    /// than a byte-sorted form of our own) because its key order is Foundation's numeric,
    /// locale-aware one, and every checkpoint sealed so far must keep verifying.
    private static func canonicalJSON(_ object: [String: Any], file: String) throws -> [UInt8] {
        do {
            return Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
        } catch {
            throw CheckpointError.malformed(file: file, reason: "header cannot be serialised: \(error.localizedDescription)")
        }
    }
}
