import Foundation

// Partition files: `class_label,hex_id,imgs_per_class,latitude_mean,longitude_mean`, one row a
// class, hex_id the S2 token. GeoEstimation's published `cells_50_*.csv` put two metadata lines
// (`num_images: ...`, `min_concept_probability: ...`) before the header and name the count
// column `imgs_per_cell`; both forms are read.

extension Partition {
    static let csvHeader = "class_label,hex_id,imgs_per_class,latitude_mean,longitude_mean"

    /// The file's text, rows in class-label order. Means print with Swift's shortest
    /// round-tripping form, so reading the file back gives the same doubles.
    var csvText: String {
        var text = Self.csvHeader + "\n"
        text.reserveCapacity(cells.count * 48)
        for cell in cells {
            text += "\(cell.classLabel),\(cell.cell.token),\(cell.imageCount),\(cell.latitudeMean),\(cell.longitudeMean)\n"
        }
        return text
    }

    /// Reads a partition file (ours or GeoEstimation's); errors name it as `name`.
    /// - Throws: `CSVError` (unreadable, missing column, bad value with its line),
    ///   `PartitionError` (labels not 0..<N, overlapping cells).
    public init(contentsOf url: URL, name: String? = nil) throws {
        try self.init(reading: CSVReader(contentsOf: url, name: name))
    }

    init(reading reader: CSVReader) throws {
        let file = reader.file
        var columns: [String: Int] = [:]
        var cells: [PartitionCell] = []
        try reader.forEachRecord { record in
            guard !columns.isEmpty else {
                // Metadata lines come before the header; the header starts with class_label.
                guard record.count > 1, record[0].trimmingCharacters(in: .whitespaces) == "class_label" else { return }
                for (index, name) in record.strings.enumerated() {
                    columns[name.trimmingCharacters(in: .whitespaces)] = index
                }
                if columns["imgs_per_class"] == nil { columns["imgs_per_class"] = columns["imgs_per_cell"] }
                for name in ["hex_id", "imgs_per_class", "latitude_mean", "longitude_mean"] where columns[name] == nil {
                    throw CSVError.missingColumn(name, file: file)
                }
                return
            }
            func field(_ name: String) -> String {
                let index = columns[name]!
                return index < record.count ? record[index].trimmingCharacters(in: .whitespaces) : ""
            }
            func integer(_ name: String) throws -> Int {
                guard let value = Int(field(name)), value >= 0 else {
                    throw CSVError.badValue(file: file, line: record.line, column: name, value: field(name),
                                            expected: "a non-negative integer")
                }
                return value
            }
            func degrees(_ name: String, limit: Double) throws -> Double {
                guard let value = Double(field(name)), value.isFinite, abs(value) <= limit else {
                    throw CSVError.badValue(file: file, line: record.line, column: name, value: field(name),
                                            expected: "degrees in [\(Int(-limit)), \(Int(limit))]")
                }
                return value
            }
            let cell: S2CellID
            do { cell = try S2CellID(token: field("hex_id")) } catch {
                throw CSVError.badValue(file: file, line: record.line, column: "hex_id", value: field("hex_id"),
                                        expected: "an S2 cell token")
            }
            cells.append(PartitionCell(classLabel: try integer("class_label"), cell: cell,
                                       imageCount: try integer("imgs_per_class"),
                                       latitudeMean: try degrees("latitude_mean", limit: 90),
                                       longitudeMean: try degrees("longitude_mean", limit: 180)))
        }
        guard !columns.isEmpty else { throw CSVError.missingColumn("class_label", file: file) }
        guard !cells.isEmpty else { throw CSVError.empty(file: file) }
        try self.init(cells: cells)
    }

    /// Writes `csvText` to `url` atomically (a temporary file beside it, then a rename).
    /// - Throws: `PartitionError.cannotWrite` naming the file.
    public func write(to url: URL) throws {
        try Self.write([(self, url)])
    }

    /// Writes several partition files all or nothing as far as the file system allows: every
    /// file is first written in full to a temporary beside its target; only then are they renamed.
    /// - Throws: the underlying file error; temporaries are removed and no target is touched.
    package static func write(_ files: [(Partition, URL)]) throws {
        var temporaries: [URL] = []
        var renamed = 0
        defer { for temporary in temporaries[renamed...] { try? FileManager.default.removeItem(at: temporary) } }
        for (partition, url) in files {
            let temporary = url.deletingLastPathComponent()
                .appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
            do {
                try Data(partition.csvText.utf8).write(to: temporary)
            } catch {
                throw PartitionError.cannotWrite(file: url.path, reason: (error as NSError).localizedDescription)
            }
            temporaries.append(temporary)
        }
        for (temporary, (_, url)) in zip(temporaries, files) {
            guard rename(temporary.path, url.path) == 0 else {
                throw PartitionError.cannotWrite(file: url.path, reason: String(cString: strerror(errno)))
            }
            renamed += 1
        }
    }
}
