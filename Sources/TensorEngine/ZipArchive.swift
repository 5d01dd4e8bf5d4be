import Foundation

/// The entries of a zip archive as `torch.save` writes it: every entry stored (uncompressed), so
/// an entry is a byte range of the archive and reading one copies nothing. Reads the central
/// directory (PKWARE APPNOTE 6.3.x, section 4.3.16 on), zip64 included, since torch switches
/// to zip64 for storages and archives past 4 GiB. Compressed and encrypted entries are refused
/// by name; every offset and length is checked against the archive before it is used.
struct ZipArchive {
    struct Entry {
        let name: String
        /// The entry's bytes within the archive.
        let data: Range<Int>
    }

    /// In central-directory order.
    let entries: [Entry]
    private let indexByName: [String: Int]

    // APPNOTE 4.3.7, 4.3.12, 4.3.14, 4.3.15, 4.3.16: record signatures and fixed sizes.
    private static let localHeaderSignature: UInt32 = 0x0403_4B50
    private static let centralHeaderSignature: UInt32 = 0x0201_4B50
    private static let endSignature: UInt32 = 0x0605_4B50
    private static let zip64EndSignature: UInt32 = 0x0606_4B50
    private static let zip64LocatorSignature: UInt32 = 0x0706_4B50
    private static let localHeaderSize = 30, centralHeaderSize = 46, endSize = 22, zip64EndSize = 56, zip64LocatorSize = 20
    /// The end record's comment is at most 65535 bytes, so the record lies in the archive's last 22 + 65535 bytes.
    private static let maximumCommentSize = 0xFFFF

    /// Reads the central directory of `bytes` and checks that every entry's data lies in the archive.
    /// - Throws: `PyTorchCheckpointError.badZip` naming `file` and the byte offset, `.compressedEntry`
    ///   or `.encryptedEntry` naming the entry.
    init(_ bytes: UnsafeRawBufferPointer, file: String) throws {
        let reader = ZipReader(bytes: bytes, file: file)
        var directory = try Self.directoryLocation(reader, endOffset: Self.findEnd(reader))
        var entries: [Entry] = [], indexByName: [String: Int] = [:]
        entries.reserveCapacity(min(directory.count, bytes.count / Self.centralHeaderSize))
        for _ in 0..<directory.count {
            let entry = try Self.readCentralEntry(reader, at: &directory.offset, directoryEnd: directory.end)
            guard indexByName.updateValue(entries.count, forKey: entry.name) == nil else {
                throw PyTorchCheckpointError.badZip(file: file, offset: directory.offset, reason: "entry '\(entry.name)' appears twice")
            }
            entries.append(entry)
        }
        self.entries = entries
        self.indexByName = indexByName
    }

    /// The entry named `name`, or nil.
    subscript(name: String) -> Entry? { indexByName[name].map { entries[$0] } }

    /// The end-of-central-directory record's offset: the last signature whose comment length
    /// reaches exactly to the end of the archive (a signature inside the comment or data does not).
    private static func findEnd(_ reader: ZipReader) throws -> Int {
        let count = reader.bytes.count
        guard count >= endSize else {
            throw PyTorchCheckpointError.badZip(file: reader.file, offset: count,
                                                reason: "\(count) bytes, too short for a zip end record (truncated?)")
        }
        var offset = count - endSize
        let lowest = max(0, count - endSize - maximumCommentSize)
        while offset >= lowest {
            if try reader.uint32(at: offset) == endSignature, try offset + endSize + Int(reader.uint16(at: offset + 20)) == count {
                return offset
            }
            offset -= 1
        }
        throw PyTorchCheckpointError.badZip(file: reader.file, offset: count,
                                            reason: "no end of central directory record (truncated or not a zip archive)")
    }

    /// The central directory's entry count and byte range, from the end record or, where one
    /// of its fields is saturated (0xFFFF, 0xFFFFFFFF), from the zip64 end record.
    private static func directoryLocation(_ reader: ZipReader, endOffset: Int) throws
        -> (count: Int, offset: Int, end: Int) {
        var count = Int(try reader.uint16(at: endOffset + 10))
        var size = UInt64(try reader.uint32(at: endOffset + 12))
        var offset = UInt64(try reader.uint32(at: endOffset + 16))
        if count == 0xFFFF || size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF {
            let locator = endOffset - zip64LocatorSize
            guard locator >= 0, try reader.uint32(at: locator) == zip64LocatorSignature else {
                throw PyTorchCheckpointError.badZip(file: reader.file, offset: endOffset,
                                                    reason: "the end record asks for zip64 but no zip64 locator precedes it")
            }
            let record64 = try reader.offset(reader.uint64(at: locator + 8), what: "zip64 end record offset", at: locator + 8)
            guard try reader.uint32(at: record64) == zip64EndSignature else {
                throw PyTorchCheckpointError.badZip(file: reader.file, offset: record64,
                                                    reason: "no zip64 end record where the locator points")
            }
            _ = try reader.uint64(at: record64 + zip64EndSize - 8)          // the whole fixed record is present
            count = Int(clamping: try reader.uint64(at: record64 + 32))    // checked against the directory's size below
            size = try reader.uint64(at: record64 + 40)
            offset = try reader.uint64(at: record64 + 48)
        }
        let start = try reader.offset(offset, what: "central directory offset", at: endOffset + 16)
        let length = try reader.offset(size, what: "central directory size", at: endOffset + 12)
        guard length <= reader.bytes.count - start else {
            throw PyTorchCheckpointError.badZip(file: reader.file, offset: start,
                                                reason: "central directory of \(length) bytes runs past the end "
                                                    + "(\(reader.bytes.count) bytes)")
        }
        guard count <= length / centralHeaderSize else {
            throw PyTorchCheckpointError.badZip(file: reader.file, offset: start,
                                                reason: "\(count) entries cannot fit a central directory of \(length) bytes")
        }
        return (count, start, start + length)
    }

    /// One central directory header at `offset` (advanced past it), its zip64 sizes resolved and its
    /// data located through its local header.
    private static func readCentralEntry(_ reader: ZipReader, at offset: inout Int, directoryEnd: Int) throws -> Entry {
        let file = reader.file, start = offset
        guard directoryEnd - start >= centralHeaderSize, try reader.uint32(at: start) == centralHeaderSignature else {
            throw PyTorchCheckpointError.badZip(file: file, offset: start, reason: "no central directory header")
        }
        let flags = try reader.uint16(at: start + 8), method = try reader.uint16(at: start + 10)
        var compressedSize = UInt64(try reader.uint32(at: start + 20)), size = UInt64(try reader.uint32(at: start + 24))
        let nameLength = Int(try reader.uint16(at: start + 28)), extraLength = Int(try reader.uint16(at: start + 30))
        let commentLength = Int(try reader.uint16(at: start + 32))
        var localOffset = UInt64(try reader.uint32(at: start + 42))
        let variableLength = nameLength + extraLength + commentLength
        guard variableLength <= directoryEnd - start - centralHeaderSize else {
            throw PyTorchCheckpointError.badZip(file: file, offset: start, reason: "central directory header runs past the directory")
        }
        let nameStart = start + centralHeaderSize
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: reader.bytes[nameStart..<nameStart + nameLength]), as: UTF8.self)
        offset = nameStart + variableLength
        // APPNOTE 4.4.4: bit 0 encrypted, bit 6 strong encryption, bit 13 encrypted directory.
        guard flags & 0x2041 == 0 else { throw PyTorchCheckpointError.encryptedEntry(file: file, entry: name) }
        guard method == 0 else { throw PyTorchCheckpointError.compressedEntry(file: file, entry: name, method: Int(method)) }
        // APPNOTE 4.5.3: the zip64 extra field holds, in this order, only the fields saturated above.
        var extra = nameStart + nameLength
        let extraEnd = extra + extraLength
        while extraEnd - extra >= 4 {
            let id = try reader.uint16(at: extra), length = Int(try reader.uint16(at: extra + 2))
            guard length <= extraEnd - extra - 4 else {
                throw PyTorchCheckpointError.badZip(file: file, offset: extra, reason: "extra field of '\(name)' runs past its header")
            }
            if id == 0x0001 {
                var field = extra + 4
                func next() throws -> UInt64 {
                    guard field + 8 <= extra + 4 + length else {
                        throw PyTorchCheckpointError.badZip(file: file, offset: field,
                                                            reason: "zip64 extra field of '\(name)' is too short")
                    }
                    defer { field += 8 }
                    return try reader.uint64(at: field)
                }
                if size == 0xFFFF_FFFF { size = try next() }
                if compressedSize == 0xFFFF_FFFF { compressedSize = try next() }
                if localOffset == 0xFFFF_FFFF { localOffset = try next() }
            }
            extra += 4 + length
        }
        guard compressedSize == size else {
            throw PyTorchCheckpointError.badZip(file: file, offset: start,
                                                reason: "stored entry '\(name)' has compressed size \(compressedSize) but size \(size)")
        }
        let local = try reader.offset(localOffset, what: "local header offset of '\(name)'", at: start + 42)
        guard try reader.uint32(at: local) == localHeaderSignature else {
            throw PyTorchCheckpointError.badZip(file: file, offset: local, reason: "no local header for '\(name)'")
        }
        let localVariable = Int(try reader.uint16(at: local + 26)) + Int(try reader.uint16(at: local + 28))
        let dataStart = local + localHeaderSize + localVariable
        let byteCount = try reader.offset(size, what: "size of '\(name)'", at: start + 24)
        guard dataStart <= reader.bytes.count, byteCount <= reader.bytes.count - dataStart else {
            throw PyTorchCheckpointError.badZip(file: file, offset: dataStart,
                                                reason: "'\(name)' (\(byteCount) bytes) runs past the end of the archive (truncated?)")
        }
        return Entry(name: name, data: dataStart..<dataStart + byteCount)
    }
}

/// Little-endian reads from an archive, each checked against its length.
private struct ZipReader {
    let bytes: UnsafeRawBufferPointer
    let file: String

    func uint16(at offset: Int) throws -> UInt16 { UInt16(littleEndian: try load(at: offset)) }
    func uint32(at offset: Int) throws -> UInt32 { UInt32(littleEndian: try load(at: offset)) }
    func uint64(at offset: Int) throws -> UInt64 { UInt64(littleEndian: try load(at: offset)) }

    private func load<T: FixedWidthInteger>(at offset: Int) throws -> T {
        guard offset >= 0, offset <= bytes.count - MemoryLayout<T>.size else {
            throw PyTorchCheckpointError.badZip(file: file, offset: offset,
                                                reason: "a \(MemoryLayout<T>.size)-byte field runs past the end (truncated?)")
        }
        return bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
    }

    /// `value` as an offset or length within the archive (found at `fieldOffset`), or an error.
    func offset(_ value: UInt64, what: String, at fieldOffset: Int) throws -> Int {
        guard value <= UInt64(bytes.count) else {
            throw PyTorchCheckpointError.badZip(file: file, offset: fieldOffset,
                                                reason: "\(what) \(value) is past the end of the archive (\(bytes.count) bytes)")
        }
        return Int(value)
    }
}
