import Foundation

/// Latitudes and longitudes in degrees, as two parallel arrays (the partitioner streams them).
public struct Coordinates: Sendable, Equatable {
    public var latitudes: [Double]
    public var longitudes: [Double]

    public init(latitudes: [Double] = [], longitudes: [Double] = []) {
        precondition(latitudes.count == longitudes.count, "\(latitudes.count) latitudes, \(longitudes.count) longitudes")
        self.latitudes = latitudes
        self.longitudes = longitudes
    }

    public var count: Int { latitudes.count }

    public mutating func append(latitude: Double, longitude: Double) {
        latitudes.append(latitude)
        longitudes.append(longitude)
    }
}

/// The coordinates of a CSV file with a header naming a latitude and a longitude column
/// (`lat,lon`, `LAT,LON`, any case, any position among other columns such as `image`).
public struct CoordinateFile {
    /// Column names accepted for latitude and longitude, compared case-insensitively.
    public static let latitudeNames: Set<String> = ["lat", "latitude"]
    public static let longitudeNames: Set<String> = ["lon", "lng", "longitude"]

    public let coordinates: Coordinates
    /// Rows dropped because their coordinates were missing or invalid (only with `skipInvalid`).
    public let skippedRows: Int
    /// The first dropped row's error, for a warning.
    public let firstSkipped: CSVError?

    /// Reads and checks every row: latitude in [-90, 90], longitude in [-180, 180], both finite.
    /// - Parameter skipInvalid: drop bad rows (counted in `skippedRows`) instead of throwing.
    /// - Throws: `CSVError` naming the file, line, column and value; `.empty` if no rows remain.
    public init(reading reader: CSVReader, skipInvalid: Bool = false) throws {
        var latitudeColumn = -1, longitudeColumn = -1
        var coordinates = Coordinates()
        var skipped = 0
        var firstSkipped: CSVError?
        var headerSeen = false
        let file = reader.file
        try reader.forEachRecord { record in
            guard headerSeen else {
                headerSeen = true
                for (index, name) in record.strings.enumerated() {
                    let key = name.trimmingCharacters(in: .whitespaces).lowercased()
                    if latitudeColumn < 0 && Self.latitudeNames.contains(key) { latitudeColumn = index }
                    if longitudeColumn < 0 && Self.longitudeNames.contains(key) { longitudeColumn = index }
                }
                if latitudeColumn < 0 { throw CSVError.missingColumn("lat", file: file) }
                if longitudeColumn < 0 { throw CSVError.missingColumn("lon", file: file) }
                return
            }
            do {
                let latitude = try Self.degrees(record, latitudeColumn, "lat", limit: 90, file: file)
                let longitude = try Self.degrees(record, longitudeColumn, "lon", limit: 180, file: file)
                coordinates.append(latitude: latitude, longitude: longitude)
            } catch let error as CSVError where skipInvalid {
                skipped += 1
                if firstSkipped == nil { firstSkipped = error }
            }
        }
        guard headerSeen else { throw CSVError.empty(file: file) }
        guard coordinates.count > 0 else { throw CSVError.empty(file: file) }
        self.coordinates = coordinates
        self.skippedRows = skipped
        self.firstSkipped = firstSkipped
    }

    /// Reads `url`; errors name it as `name` (default: its path).
    public init(contentsOf url: URL, name: String? = nil, skipInvalid: Bool = false) throws {
        try self.init(reading: CSVReader(contentsOf: url, name: name), skipInvalid: skipInvalid)
    }

    private static func degrees(_ record: CSVRecord, _ column: Int, _ name: String, limit: Double,
                                file: String) throws -> Double {
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
