import Foundation
import Training

/// `translocator manifest`: a manifest from the EXIF GPS positions of a folder of photos.
struct ManifestCommand: Command {
    static let name = "manifest"
    static let summary = "Make a manifest (image,lat,lon) from the EXIF GPS of a folder of photos."
    static let operandsUsage = "<folder>"
    static let discussion = """
        Reads the EXIF GPS position of every JPEG and PNG under FOLDER (.jpg, .jpeg, .png in any \
        case, recursively, sorted by path; a PNG's EXIF is its eXIf chunk) and writes a manifest \
        with one row per photo that has one: image,lat,lon, paths relative to the manifest's \
        folder when the photo is inside it (absolute otherwise), coordinates in degrees. Photos \
        without a usable GPS position are skipped and counted on stderr.
        """
    static let options: [OptionSpec] = [
        .option("out", value: "csv", required: true, "Manifest to write."),
    ]
    static let examples = [
        "translocator manifest photos --out photos/manifest.csv",
        "translocator manifest ~/Pictures/2024 --out trip.csv",
    ]

    static func run(_ arguments: ParsedArguments) throws {
        guard arguments.operands.count == 1 else { throw UsageError("manifest wants one folder, got \(arguments.operands.count)") }
        let folder = URL(fileURLWithPath: arguments.operands[0])
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CommandFailure("\(arguments.operands[0]) is not a folder")
        }
        let out = URL(fileURLWithPath: try arguments.requiredString("out"))
        let scan = try Manifest.scanningEXIF(in: folder, manifestDirectory: out.deletingLastPathComponent())
        for (path, reason) in scan.unreadable { printError("warning: cannot read \(path) (\(reason))") }
        for path in scan.withoutGPS.prefix(5) { printError("no GPS position: \(path)") }
        if scan.withoutGPS.count > 5 { printError("... and \(scan.withoutGPS.count - 5) more without a GPS position") }
        guard scan.manifest.count > 0 else {
            let checked = "\(scan.withoutGPS.count) JPEG or PNG files checked"
            throw CommandFailure("no photo under \(folder.path) has an EXIF GPS position (\(checked))")
        }
        do { try Data(scan.manifest.csvText.utf8).write(to: out, options: .atomic) } catch {
            throw CommandFailure("\(out.path): cannot write (\(error.localizedDescription))")
        }
        print("wrote \(out.path): \(scan.manifest.count) photos with GPS, \(scan.withoutGPS.count) skipped without")
    }
}
