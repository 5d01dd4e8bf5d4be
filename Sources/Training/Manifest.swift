import Foundation
import GeoCells
import ImageCodec
import TransLocator

/// One image of a manifest: where it is, where it was taken, and its optional labels.
public struct ManifestEntry: Sendable, Equatable {
    /// The image path as written in the manifest (relative to the manifest's folder, or absolute).
    public var imagePath: String
    /// Degrees, latitude in [-90, 90], longitude in [-180, 180].
    public var latitude: Double
    /// Degrees, longitude in [-180, 180].
    public var longitude: Double
    /// The segmentation map's path as written (`seg` column), or nil.
    public var segmentationPath: String?
    /// The Places365 scene index 0..<365 (`scene`, or MP-16's `S365_Label`), or nil.
    public var scene: Int?
    /// 1-based line of the row, for errors found later (a missing file, an undecodable image).
    public var line: Int

    /// An entry from its fields: paths as written in a manifest, coordinates in degrees, `line` the
    /// 1-based row (0 for one not read from a file).
    public init(imagePath: String, latitude: Double, longitude: Double, segmentationPath: String? = nil,
                scene: Int? = nil, line: Int = 0) {
        self.imagePath = imagePath
        self.latitude = latitude
        self.longitude = longitude
        self.segmentationPath = segmentationPath
        self.scene = scene
        self.line = line
    }

    /// Where the image was taken (degrees).
    public var coordinate: GeoCoordinate { GeoCoordinate(latitude: latitude, longitude: longitude) }
}

/// A manifest row whose file is missing or unreadable (found after parsing, so apart from `CSVError`).
public enum ManifestError: Error, CustomStringConvertible, Equatable {
    case missingFile(file: String, line: Int, column: String, path: String)
    case unreadableImage(file: String, line: Int, path: String, reason: String)
    case unreadableMap(file: String, line: Int, path: String, reason: String)

    /// A one-line message: `file:line: problem`, naming the path.
    public var description: String {
        switch self {
        case let .missingFile(file, line, column, path): "\(file):\(line): \(column) '\(path)' does not exist"
        case let .unreadableImage(file, line, path, reason): "\(file):\(line): image '\(path)' cannot be read (\(reason))"
        case let .unreadableMap(file, line, path, reason): "\(file):\(line): segmentation map '\(path)' cannot be read (\(reason))"
        }
    }
}

/// A data set listing: a CSV with a header, one image a row (docs/ARCHITECTURE.md "File formats").
///
/// Two layouts are read:
/// - ours: `image,lat,lon[,seg][,scene]`, any column order, extra columns ignored;
/// - MP-16's meta CSVs (`IMG_ID,LAT,LON,...`, as TransLocator and GeoEstimation publish them),
///   where `IMG_ID` is the path under the image folder and `S365_Label`, if present, the scene.
/// Column names are compared case-insensitively; `latitude`/`longitude` are accepted too.
/// Paths are kept as written and resolved against `directory` (the manifest's folder by default).
public struct Manifest: Sendable {
    /// The name used in errors.
    public let file: String
    /// The folder relative paths are resolved against.
    public let directory: URL
    /// The rows, in file order.
    public var entries: [ManifestEntry]
    /// Rows dropped for a bad value (only when read with `skipInvalid`).
    public let skippedRows: Int
    /// The first dropped row's error, for a warning.
    public let firstSkipped: CSVError?

    static let imageNames: Set<String> = ["image", "img_id", "path"]
    static let segmentationNames: Set<String> = ["seg", "segmentation"]
    static let sceneNames: Set<String> = ["scene", "s365_label"]
    /// Places365 has 365 categories (Zhou et al., TPAMI 2017).
    static let places365Count = 365

    /// A manifest of `entries` held in memory; relative paths resolve against `directory`, and
    /// errors call it `file`.
    public init(entries: [ManifestEntry], directory: URL, file: String = "manifest") {
        self.entries = entries
        self.directory = directory
        self.file = file
        skippedRows = 0
        firstSkipped = nil
    }

    /// Reads `url`; relative paths resolve against `imageDirectory`, by default `url`'s folder.
    /// - Parameter skipInvalid: drop rows with a bad value (counted) instead of throwing.
    /// - Throws: `CSVError` naming the file, the line, the column and the value.
    public init(contentsOf url: URL, name: String? = nil, imageDirectory: URL? = nil, skipInvalid: Bool = false) throws {
        try self.init(reading: CSVReader(contentsOf: url, name: name),
                      directory: imageDirectory ?? url.deletingLastPathComponent(), skipInvalid: skipInvalid)
    }

    /// Parses every row: an image path (not empty), latitude in [-90, 90] and longitude in
    /// [-180, 180] (finite), a scene index in 0..<365 if given; an empty `seg` or `scene` field
    /// means none for that row.
    /// - Throws: `CSVError` (`.missingColumn`, `.badValue` with file:line, `.empty`).
    init(reading reader: CSVReader, directory: URL, skipInvalid: Bool = false) throws {
        let file = reader.file
        var columns: Columns?
        var entries: [ManifestEntry] = []
        var skipped = 0
        var firstSkipped: CSVError?
        try reader.forEachRecord { record in
            guard let columns else {
                columns = try Columns(header: record, file: file)
                return
            }
            do {
                entries.append(try columns.entry(record, file: file))
            } catch let error as CSVError where skipInvalid {
                skipped += 1
                if firstSkipped == nil { firstSkipped = error }
            }
        }
        guard columns != nil, !entries.isEmpty else { throw CSVError.empty(file: file) }
        self.file = file
        self.directory = directory
        self.entries = entries
        self.skippedRows = skipped
        self.firstSkipped = firstSkipped
    }

    /// Number of entries.
    public var count: Int { entries.count }

    /// Every entry's coordinates, for `Partition.build` and the labeller.
    public var coordinates: Coordinates {
        Coordinates(latitudes: entries.map(\.latitude), longitudes: entries.map(\.longitude))
    }

    /// A path from the manifest resolved: absolute paths as they are, others under `directory`.
    func url(forPath path: String) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : directory.appendingPathComponent(path)
    }

    /// The entry's image file, resolved against `directory` when relative.
    public func imageURL(of entry: ManifestEntry) -> URL { url(forPath: entry.imagePath) }

    /// The entry's segmentation map file, resolved against `directory` when relative; nil if it has none.
    public func segmentationURL(of entry: ManifestEntry) -> URL? { entry.segmentationPath.map(url(forPath:)) }

    /// The row's photo and, when `pipeline`'s model reads maps, its map, decoded and checked
    /// for that pipeline (maps as class indices or palette colours, as `predict --seg` reads
    /// them; a map must be the photo's size).
    /// - Throws: `ManifestError` naming file:line: a missing file, one that does not decode, or a
    ///   map the pipeline cannot use.
    public func photoInput(of entry: ManifestEntry, for pipeline: InputPipeline) throws -> PhotoInput {
        let url = imageURL(of: entry)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ManifestError.missingFile(file: file, line: entry.line, column: "image", path: entry.imagePath)
        }
        let image: Image
        do { image = try Image(contentsOf: url) } catch {
            throw ManifestError.unreadableImage(file: file, line: entry.line, path: entry.imagePath, reason: "\(error)")
        }
        guard pipeline.usesSegmentation else { return PhotoInput(image: image, name: entry.imagePath) }
        guard let path = entry.segmentationPath, let mapURL = segmentationURL(of: entry),
              FileManager.default.fileExists(atPath: mapURL.path) else {
            throw ManifestError.missingFile(file: file, line: entry.line, column: "seg", path: entry.segmentationPath ?? "")
        }
        do {
            let input = PhotoInput(image: image, segmentation: try SegmentationMap(contentsOf: mapURL), name: entry.imagePath,
                                   segmentationName: path)
            try pipeline.validate(input)
            return input
        } catch {
            throw ManifestError.unreadableMap(file: file, line: entry.line, path: path, reason: "\(error)")
        }
    }

    /// The manifest without the rows whose image (or segmentation map) is missing on disk.
    /// `eval` calls it with `skipMissing: false` (an error names file:line) unless `--skip-invalid`.
    /// - Returns: the kept manifest and the dropped rows' errors, in row order.
    /// - Throws: the first `ManifestError.missingFile` when `skipMissing` is false.
    package func checkingFiles(skipMissing: Bool) throws -> (manifest: Manifest, missing: [ManifestError]) {
        var kept: [ManifestEntry] = []
        var missing: [ManifestError] = []
        kept.reserveCapacity(entries.count)
        let fileManager = FileManager.default
        for entry in entries {
            var error: ManifestError?
            if !fileManager.fileExists(atPath: imageURL(of: entry).path) {
                error = .missingFile(file: file, line: entry.line, column: "image", path: entry.imagePath)
            } else if let seg = entry.segmentationPath, !fileManager.fileExists(atPath: url(forPath: seg).path) {
                error = .missingFile(file: file, line: entry.line, column: "seg", path: seg)
            }
            if let error {
                if !skipMissing { throw error }
                missing.append(error)
            } else {
                kept.append(entry)
            }
        }
        var manifest = self
        manifest.entries = kept
        return (manifest, missing)
    }

    /// `file`'s path relative to the folder `base` (with `..` where it lies outside): how a
    /// manifest written into another folder keeps pointing at the same photos and maps.
    static func path(of file: URL, relativeTo base: URL) -> String {
        let target = file.standardizedFileURL.pathComponents, origin = base.standardizedFileURL.pathComponents
        var common = 0
        while common < min(target.count, origin.count), target[common] == origin[common] { common += 1 }
        let ups = Array(repeating: "..", count: origin.count - common)
        return (ups + target[common...]).joined(separator: "/")
    }

    /// The manifest in our layout (`image,lat,lon[,seg][,scene]`), coordinates printed to
    /// round-trip exactly; paths as stored.
    package var csvText: String {
        let hasSegmentation = entries.contains { $0.segmentationPath != nil }
        let hasScene = entries.contains { $0.scene != nil }
        var text = "image,lat,lon" + (hasSegmentation ? ",seg" : "") + (hasScene ? ",scene" : "") + "\n"
        for entry in entries {
            text += csvField(entry.imagePath) + ",\(entry.latitude),\(entry.longitude)"
            if hasSegmentation { text += "," + csvField(entry.segmentationPath ?? "") }
            if hasScene { text += "," + (entry.scene.map(String.init) ?? "") }
            text += "\n"
        }
        return text
    }

    /// Which column holds what, found from the header; coordinates through GeoCells'
    /// `CoordinateColumns`, so manifests and `partition` accept the same names and ranges.
    private struct Columns {
        let coordinates: CoordinateColumns
        var image = -1, segmentation = -1, scene = -1

        init(header: CSVRecord, file: String) throws {
            for (index, name) in header.strings.enumerated() {
                let key = name.trimmingCharacters(in: .whitespaces).lowercased()
                if image < 0 && Manifest.imageNames.contains(key) { image = index }
                if segmentation < 0 && Manifest.segmentationNames.contains(key) { segmentation = index }
                if scene < 0 && Manifest.sceneNames.contains(key) { scene = index }
            }
            if image < 0 { throw CSVError.missingColumn("image", file: file) }
            coordinates = try CoordinateColumns(header: header, file: file)
        }

        func entry(_ record: CSVRecord, file: String) throws -> ManifestEntry {
            guard image < record.count, !record[image].trimmingCharacters(in: .whitespaces).isEmpty else {
                throw CSVError.missingField(file: file, line: record.line, column: "image")
            }
            let coordinate = try coordinates.coordinate(record)
            var entry = ManifestEntry(imagePath: record[image], latitude: coordinate.latitude, longitude: coordinate.longitude,
                                      line: record.line)
            if segmentation >= 0 && segmentation < record.count {
                let path = record[segmentation]
                if !path.trimmingCharacters(in: .whitespaces).isEmpty { entry.segmentationPath = path }
            }
            if scene >= 0 && scene < record.count && !record[scene].trimmingCharacters(in: .whitespaces).isEmpty {
                guard let value = record.double(at: scene), value == value.rounded(),
                      value >= 0, value < Double(Manifest.places365Count) else {
                    throw CSVError.badValue(file: file, line: record.line, column: "scene", value: record[scene],
                                            expected: "a Places365 index in 0...\(Manifest.places365Count - 1)")
                }
                entry.scene = Int(value)
            }
            return entry
        }
    }
}

/// A CSV field, quoted (RFC 4180) when it holds a comma, a quote or a line break.
func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
