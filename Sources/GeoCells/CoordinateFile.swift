import Foundation

/// Latitudes and longitudes in degrees, as two parallel arrays (the partitioner streams them).
public struct Coordinates: Sendable, Equatable {
    /// Latitudes in degrees, one per point.
    public var latitudes: [Double]
    /// Longitudes in degrees, one per point (same order as `latitudes`).
    public var longitudes: [Double]

    /// Points from two parallel arrays of degrees, which must be the same length.
    public init(latitudes: [Double] = [], longitudes: [Double] = []) {
        precondition(latitudes.count == longitudes.count, "\(latitudes.count) latitudes, \(longitudes.count) longitudes")
        self.latitudes = latitudes
        self.longitudes = longitudes
    }

    /// Number of points.
    public var count: Int { latitudes.count }

    /// Adds one point (degrees).
    public mutating func append(latitude: Double, longitude: Double) {
        latitudes.append(latitude)
        longitudes.append(longitude)
    }
}

/// Where the latitude and longitude are in a CSV file's records, and the checks on them: a
/// header naming both (`lat,lon`, `LAT,LON`, `latitude`, `lng`, ..., any case, any position
/// among other columns such as `image`).
package struct CoordinateColumns: Sendable {
    /// Column names accepted for latitude and longitude, compared case-insensitively.
    static let latitudeNames: Set<String> = ["lat", "latitude"]
    static let longitudeNames: Set<String> = ["lon", "lng", "longitude"]

    let file: String
    let latitude: Int
    let longitude: Int

    /// - Throws: `CSVError.missingColumn` naming the missing column and the file.
    package init(header: CSVRecord, file: String) throws {
        var latitude = -1, longitude = -1
        for (index, name) in header.strings.enumerated() {
            let key = name.trimmingCharacters(in: .whitespaces).lowercased()
            if latitude < 0 && Self.latitudeNames.contains(key) { latitude = index }
            if longitude < 0 && Self.longitudeNames.contains(key) { longitude = index }
        }
        if latitude < 0 { throw CSVError.missingColumn("lat", file: file) }
        if longitude < 0 { throw CSVError.missingColumn("lon", file: file) }
        self.file = file
        self.latitude = latitude
        self.longitude = longitude
    }

    /// The record's coordinate: latitude in [-90, 90], longitude in [-180, 180], both finite.
    /// - Throws: `CSVError.badValue` naming file, line, column and value (empty if missing).
    package func coordinate(_ record: CSVRecord) throws -> GeoCoordinate {
        GeoCoordinate(latitude: try degrees(record, latitude, "lat", limit: 90),
                      longitude: try degrees(record, longitude, "lon", limit: 180))
    }

    private func degrees(_ record: CSVRecord, _ column: Int, _ name: String, limit: Double) throws -> Double {
        let expected = "degrees in [\(Int(-limit)), \(Int(limit))]"
        guard column < record.count else {
            throw CSVError.badValue(file: file, line: record.line, column: name, value: "", expected: expected)
        }
        guard let value = record.double(at: column), value.isFinite, abs(value) <= limit else {
            throw CSVError.badValue(file: file, line: record.line, column: name, value: record[column], expected: expected)
        }
        return value
    }
}

/// The coordinates of a CSV file with a header (see `CoordinateColumns`), checked row by row.
public struct CoordinateFile {
    /// The rows' coordinates in file order (degrees), without the skipped rows.
    public let coordinates: Coordinates
    /// Rows dropped because their coordinates were missing or invalid (only with `skipInvalid`).
    public let skippedRows: Int
    /// The first dropped row's error, for a warning.
    public let firstSkipped: CSVError?

    /// Reads and checks every row.
    /// - Parameter skipInvalid: drop bad rows (counted in `skippedRows`) instead of throwing.
    /// - Throws: `CSVError` naming the file, line, column and value; `.empty` if no rows remain.
    init(reading reader: CSVReader, skipInvalid: Bool = false) throws {
        var columns: CoordinateColumns?
        var coordinates = Coordinates()
        var skipped = 0
        var firstSkipped: CSVError?
        try reader.forEachRecord { record in
            guard let columns else {
                columns = try CoordinateColumns(header: record, file: reader.file)
                return
            }
            do {
                let coordinate = try columns.coordinate(record)
                coordinates.append(latitude: coordinate.latitude, longitude: coordinate.longitude)
            } catch let error as CSVError where skipInvalid {
                skipped += 1
                if firstSkipped == nil { firstSkipped = error }
            }
        }
        guard coordinates.count > 0 else { throw CSVError.empty(file: reader.file) }
        self.coordinates = coordinates
        self.skippedRows = skipped
        self.firstSkipped = firstSkipped
    }

    /// Reads `url`; errors name it as `name` (default: its path).
    /// - Throws: `CSVError` naming the file, line, column and value; `.empty` if no rows remain.
    public init(contentsOf url: URL, name: String? = nil, skipInvalid: Bool = false) throws {
        try self.init(reading: CSVReader(contentsOf: url, name: name), skipInvalid: skipInvalid)
    }
}
