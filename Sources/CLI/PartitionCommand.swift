import Foundation
import GeoCells

/// `translocator partition`: GeoEstimation's adaptive S2 cells at three resolutions.
struct PartitionCommand: Command {
    static let name = "partition"
    static let summary = "Builds the coarse, middle and fine S2 geo-cells from training coordinates."
    static let discussion = """
        Builds the coarse, middle and fine S2 partitions from a manifest's coordinates with \
        GeoEstimation's algorithm (start at level 2, delete cells holding <= min images, split only \
        over-full cells one level at a time, delete small cells again) and writes DIR/coarse.csv, \
        middle.csv and fine.csv: class_label,hex_id,imgs_per_class,latitude_mean,longitude_mean, \
        labels in ascending cell-id order. The files are written in full beside their targets and \
        then renamed: a failed run leaves no partial file. A row with a missing, non-numeric or \
        out-of-range coordinate is an error naming its line unless --skip-invalid is given.
        """
    static let options: [OptionSpec] = [
        .option("manifest", value: "csv", required: true,
                "Training manifest with lat and lon columns (degrees; also LAT,LON, any order)."),
        .option("out", value: "dir", required: true, "Folder for coarse.csv, middle.csv, fine.csv (created if missing)."),
        .option("min", value: "n", default: "50", "Cells holding this many images or fewer are deleted."),
        .option("max", value: "n,n,n", default: "5000,2000,1000", "Most images in a cell, coarse,middle,fine; strictly decreasing."),
        .flag("skip-invalid", "Drop rows with invalid coordinates (reports how many) instead of failing."),
    ]
    static let examples = [
        "translocator partition --manifest mp16/train.csv --out partitions",
        "translocator partition --manifest data/mp16-sample-20k.csv --out p --min 10 --max 1000,400,200",
    ]
    static let fileNames = ["coarse.csv", "middle.csv", "fine.csv"]

    static func run(_ arguments: ParsedArguments) throws {
        let manifestPath = try arguments.requiredString("manifest")
        let outPath = try arguments.requiredString("out")
        let minImages = try arguments.int("min", in: 0...Int(Int32.max))
        let maxImages = try arguments.intList("max")
        guard maxImages.count == 3 else {
            throw UsageError("--max is '\(arguments.string("max") ?? "")', expected three values coarse,middle,fine such as 5000,2000,1000")
        }
        do {
            try Partition.checkParameters(minImages: minImages, maxImages: maxImages)
        } catch let error as PartitionError {
            throw UsageError("\(error)")
        }
        let started = Date()
        let file = try CoordinateFile(contentsOf: URL(fileURLWithPath: manifestPath), name: manifestPath,
                                      skipInvalid: arguments.flag("skip-invalid"))
        if file.skippedRows > 0 {
            printError("warning: skipped \(file.skippedRows) row(s) with invalid coordinates "
                       + "(first: \(file.firstSkipped.map { "\($0)" } ?? ""))")
        }
        let outURL = URL(fileURLWithPath: outPath, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
        } catch {
            throw CommandFailure("\(outPath): cannot create the output folder (\(whyNotCreatable(outURL)))")
        }
        let partitions = try Partition.build(file.coordinates, minImages: minImages, maxImages: maxImages)
        for (partition, name) in zip(partitions, fileNames) where partition.count == 0 {
            printError("warning: \(name) has no cells: no level-2 cell holds more than --min \(minImages) images")
        }
        let targets = fileNames.map { outURL.appendingPathComponent($0) }
        try Partition.write(Array(zip(partitions, targets)))
        for (partition, (name, limit)) in zip(partitions, zip(fileNames, maxImages)) {
            let images = partition.cells.reduce(0) { $0 + $1.imageCount }
            let levels = partition.cells.map(\.cell.level)
            print("\((outPath as NSString).appendingPathComponent(name)): \(partition.count) cells (max \(limit)), "
                  + "\(images) of \(file.coordinates.count) images, levels \(levels.min() ?? 0)-\(levels.max() ?? 0)")
        }
        printError(String(format: "partitioned %d coordinates in %.2f s", file.coordinates.count, Date().timeIntervalSince(started)))
    }

    /// Foundation's error for a failed mkdir -p is opaque on Linux; name the usual culprit.
    private static func whyNotCreatable(_ url: URL) -> String {
        var ancestor = url.deletingLastPathComponent()
        while ancestor.path != "/" && !FileManager.default.fileExists(atPath: ancestor.path) {
            ancestor = ancestor.deletingLastPathComponent()
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && !isDirectory.boolValue {
            return "it is a file"
        }
        if FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isDirectory) && !isDirectory.boolValue {
            return "\(ancestor.path) is a file"
        }
        return "\(ancestor.path) is not writable"
    }
}
