import Foundation

/// A CSV file that could not be read: unreadable, malformed, or holding a bad value.
/// Every case names the file; row problems also the 1-based line and the offending text.
public enum CSVError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case empty(file: String)
    case unterminatedQuote(file: String, line: Int)
    case missingColumn(String, file: String)
    case missingField(file: String, line: Int, column: String)
    case badValue(file: String, line: Int, column: String, value: String, expected: String)

    /// A one-line message: `file:line: problem`, quoting the offending value.
    public var description: String {
        switch self {
        case let .unreadable(file, reason): "\(file): cannot read (\(reason))"
        case let .empty(file): "\(file): no data rows"
        case let .unterminatedQuote(file, line): "\(file):\(line): quoted field never closed"
        case let .missingColumn(name, file): "\(file): missing required column '\(name)'"
        case let .missingField(file, line, column): "\(file):\(line): \(column) is missing"
        case let .badValue(file, line, column, value, expected):
            "\(file):\(line): \(column) is '\(value)', expected \(expected)"
        }
    }
}

/// One record of a CSV file, valid only inside the `CSVReader.forEachRecord` call that gives it.
package struct CSVRecord {
    /// 1-based line on which the record starts.
    package let line: Int
    /// Byte range of the whole record in the file, without its line end.
    fileprivate let range: Range<Int>
    fileprivate let bytes: UnsafeBufferPointer<UInt8>
    fileprivate let fields: UnsafeBufferPointer<CSVReader.FieldRange>

    package var count: Int { fields.count }

    /// Field `index` unquoted (`""` inside quotes is one `"`).
    package subscript(index: Int) -> String {
        let field = fields[index]
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[field.start..<field.end]), as: UTF8.self)
        return field.hasEscapedQuotes ? text.replacingOccurrences(of: "\"\"", with: "\"") : text
    }

    /// Field `index` as a number (surrounding spaces allowed), or nil if it is not one.
    /// NaN and infinities parse (as "nan", "inf"); range checks are the caller's.
    package func double(at index: Int) -> Double? {
        let field = fields[index]
        var start = field.start, end = field.end
        while start < end && bytes[start] == UInt8(ascii: " ") { start += 1 }
        while end > start && bytes[end - 1] == UInt8(ascii: " ") { end -= 1 }
        let length = end - start
        guard length > 0 && length < 64 else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 1) { buffer -> Double? in
            for k in 0..<length { buffer[k] = CChar(bitPattern: bytes[start + k]) }
            buffer[length] = 0
            var parsedEnd: UnsafeMutablePointer<CChar>? = nil
            let value = strtod(buffer.baseAddress!, &parsedEnd)
            guard let parsedEnd, parsedEnd == buffer.baseAddress! + length else { return nil }
            // strtod also reads hexadecimal floats; a manifest means decimal degrees.
            if buffer.contains(where: { $0 == CChar(UInt8(ascii: "x")) || $0 == CChar(UInt8(ascii: "X")) }) { return nil }
            return value
        }
    }

    /// The record as it stands in the file (quotes kept), without its line end.
    package var text: String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// All fields, unquoted.
    package var strings: [String] { (0..<count).map { self[$0] } }
}

/// Reads a comma-separated file record by record (RFC 4180: quoted fields may hold commas,
/// newlines and `""`; CRLF or LF line ends; a UTF-8 byte-order mark is skipped; blank lines are
/// ignored). Streaming, so a 4.7M-row manifest costs its bytes and one record of field ranges.
package struct CSVReader {
    /// The name used in errors (the path as the user gave it).
    package let file: String
    let bytes: [UInt8]

    struct FieldRange {
        var start: Int
        var end: Int
        var hasEscapedQuotes: Bool
    }

    package init(contentsOf url: URL, name: String? = nil) throws {
        let file = name ?? url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw CSVError.unreadable(file: file, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw CSVError.unreadable(file: file, reason: "a folder, not a file") }
        do {
            self.init(bytes: Array(try Data(contentsOf: url)), file: file)
        } catch {
            throw CSVError.unreadable(file: file, reason: (error as NSError).localizedDescription)
        }
    }

    init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    init(text: String, file: String) {
        self.init(bytes: Array(text.utf8), file: file)
    }

    /// Calls `body` with each record in order, the header included.
    /// - Throws: `CSVError.unterminatedQuote`, or whatever `body` throws.
    package func forEachRecord(_ body: (CSVRecord) throws -> Void) throws {
        try bytes.withUnsafeBufferPointer { buffer in
            let quote = UInt8(ascii: "\""), comma = UInt8(ascii: ","), newline = UInt8(ascii: "\n"),
                carriageReturn = UInt8(ascii: "\r")
            var fields: [FieldRange] = []
            fields.reserveCapacity(16)
            var position = buffer.count >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF ? 3 : 0
            var line = 1
            while position < buffer.count {
                let recordLine = line
                let recordStart = position
                var recordEnd = position
                fields.removeAll(keepingCapacity: true)
                var atRecordEnd = false
                while !atRecordEnd {
                    var field = FieldRange(start: position, end: position, hasEscapedQuotes: false)
                    if position < buffer.count && buffer[position] == quote {
                        position += 1
                        field.start = position
                        while true {
                            guard position < buffer.count else {
                                throw CSVError.unterminatedQuote(file: file, line: recordLine)
                            }
                            let byte = buffer[position]
                            if byte == quote {
                                if position + 1 < buffer.count && buffer[position + 1] == quote {
                                    field.hasEscapedQuotes = true
                                    position += 2
                                    continue
                                }
                                break
                            }
                            if byte == newline { line += 1 }
                            position += 1
                        }
                        field.end = position
                        position += 1                            // the closing quote
                        // Anything between the closing quote and the separator is ignored.
                        while position < buffer.count && buffer[position] != comma && buffer[position] != newline {
                            position += 1
                        }
                    } else {
                        while position < buffer.count && buffer[position] != comma && buffer[position] != newline {
                            position += 1
                        }
                        field.end = position
                        if field.end > field.start && buffer[field.end - 1] == carriageReturn
                            && (position == buffer.count || buffer[position] == newline) {
                            field.end -= 1
                        }
                    }
                    fields.append(field)
                    recordEnd = position
                    if position < buffer.count && buffer[position] == comma {
                        position += 1
                    } else {
                        atRecordEnd = true
                        if position < buffer.count { position += 1; line += 1 }   // the newline
                    }
                }
                if recordEnd > recordStart && buffer[recordEnd - 1] == carriageReturn { recordEnd -= 1 }
                if recordEnd == recordStart { continue }                               // blank line
                try fields.withUnsafeBufferPointer { fieldBuffer in
                    try body(CSVRecord(line: recordLine, range: recordStart..<recordEnd, bytes: buffer, fields: fieldBuffer))
                }
            }
        }
    }
}
