import Foundation
import GeoCells

/// `translocator cell`: the S2 cell of a point, or of every row of a CSV file.
struct CellCommand: Command {
    static let name = "cell"
    static let summary = "Prints the S2 cell (id, token, level, center) of a coordinate or of each CSV row."
    static let operandsUsage = "[<lat> <lon>]"
    static let discussion = """
        With LAT LON (degrees): prints the S2 cell at --level containing the point: its 64-bit id, \
        token, level and center (latitude,longitude in degrees, as S2's ToLatLng gives it). With \
        --csv: writes the file to stdout with token,center_lat,center_lon appended to the header and \
        to each row, the file's lat and lon columns giving the point. Centers print in the shortest \
        form that reads back to the same double. Cell ids are bit-exact with Google's S2.
        """
    static let options: [OptionSpec] = [
        .option("level", value: "n", default: "30", "S2 level, 0 (a cube face) to 30 (a leaf, about 1 cm)."),
        .option("csv", value: "file", "CSV file with a header and lat,lon columns (any order, other columns kept)."),
    ]
    static let examples = [
        "translocator cell 40.7128 -74.006 --level 9",
        "translocator cell --csv points.csv --level 12 > points-cells.csv",
    ]

    static func run(_ arguments: ParsedArguments) throws {
        let level = try arguments.int("level", in: 0...30)
        if let path = arguments.string("csv") {
            guard arguments.operands.isEmpty else {
                throw UsageError("give either --csv <file> or <lat> <lon>, not both")
            }
            FileHandle.standardOutput.write(Data(try annotated(csvAt: path, level: level).utf8))
            return
        }
        guard arguments.operands.count == 2 else {
            throw UsageError("expected <lat> <lon> in degrees (or --csv <file>), got \(arguments.operands.count) operand(s)")
        }
        let latitude = try degrees(arguments.operands[0], name: "latitude", limit: 90)
        let longitude = try degrees(arguments.operands[1], name: "longitude", limit: 180)
        let cell = S2CellID(latitude: latitude, longitude: longitude).parent(level: level)
        let center = cell.center
        print("id: \(cell.id)")
        print("token: \(cell.token)")
        print("level: \(cell.level)")
        print("center: \(center.latitude),\(center.longitude)")
    }

    private static func degrees(_ text: String, name: String, limit: Double) throws -> Double {
        guard let value = Double(text), value.isFinite, abs(value) <= limit else {
            throw UsageError("\(name) is '\(text)', expected degrees in [\(Int(-limit)), \(Int(limit))]")
        }
        return value
    }

    /// The file's text with token,center_lat,center_lon appended to each record. Built whole
    /// before anything is printed, so a bad row leaves stdout empty.
    static func annotated(csvAt path: String, level: Int) throws -> String {
        let reader = try CSVReader(contentsOf: URL(fileURLWithPath: path), name: path)
        var columns: CoordinateColumns?
        var output = ""
        try reader.forEachRecord { record in
            guard let columns else {
                columns = try CoordinateColumns(header: record, file: path)
                output += record.text + ",token,center_lat,center_lon\n"
                return
            }
            let point = try columns.coordinate(record)
            let cell = S2CellID(latitude: point.latitude, longitude: point.longitude).parent(level: level)
            let center = cell.center
            output += "\(record.text),\(cell.token),\(center.latitude),\(center.longitude)\n"
        }
        guard columns != nil else { throw CSVError.empty(file: path) }
        return output
    }
}
