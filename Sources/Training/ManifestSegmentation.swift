import Foundation
import ImageCodec
import Segmenter
import TensorEngine

/// Segments a data set: one ADE20K index map per manifest row, written under a folder, and the
/// manifest written again beside them with its `seg` column filled. What `translocator segment
/// --manifest` runs, and what `translocator train --segmenter` runs first (its cache).
///
/// Resumable: maps are written atomically (a temporary file renamed into place), so a map at its
/// final name is complete, and a rerun skips it. The folder records the segmenter that made its
/// maps (`segmenter.json`): a rerun with another segmenter is refused rather than mixing maps of
/// two networks in one data set.
public struct ManifestSegmentation {
    /// What a run did.
    public struct Summary: Sendable {
        /// The manifest written (`OUT/manifest.csv`): rows whose map exists, `seg` filled.
        public var manifest: Manifest
        /// Maps made now, maps found from an earlier run, rows that kept the map they had.
        public var made = 0, reused = 0, kept = 0
        /// Rows left out, each `file:line: problem` (a photo that is missing or does not decode).
        public var failed: [String] = []
    }

    /// The folder maps go to, under `out`.
    public static let mapsFolder = "maps"

    /// The manifest the run writes into `out`.
    public static let manifestName = "manifest.csv"

    /// Segments the rows of `manifest` into `out`.
    /// - Parameters:
    ///   - keepExisting: rows that already have a `seg` keep it (train's cache); otherwise every
    ///     row gets a map from `segmenter`.
    ///   - batch: photos per forward pass.
    ///   - progress: called after each batch with (rows done, rows in all).
    /// - Throws: `ManifestSegmentationError` (another segmenter's folder, a folder or manifest
    ///   that cannot be written), `SegmenterError` for a photo too small for the network.
    public static func run(_ manifest: Manifest, segmenter: Segmenter, out: URL, keepExisting: Bool = false, batch: Int = 4,
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> Summary {
        let maps = out.appendingPathComponent(mapsFolder)
        do { try FileManager.default.createDirectory(at: maps, withIntermediateDirectories: true) } catch {
            throw ManifestSegmentationError.cannotWrite(path: maps.path, reason: error.localizedDescription)
        }
        try claim(out, for: segmenter.identity)
        var entries: [(row: Int, entry: ManifestEntry)] = []           // in the order maps are done
        var summary = Summary(manifest: manifest)
        var pending: [(row: Int, entry: ManifestEntry, image: Image, map: URL, relative: String)] = []
        func flush() throws {
            if pending.isEmpty { return }
            let segmented = try segmenter.segment(pending.map(\.image))
            for (item, map) in zip(pending, segmented) {
                let data = PNGEncoder.encode(pixels: map.classes, width: map.width, height: map.height, colorType: .gray)
                do { try data.write(to: item.map, options: .atomic) } catch {
                    throw ManifestSegmentationError.cannotWrite(path: item.map.path, reason: error.localizedDescription)
                }
                var entry = item.entry
                entry.segmentationPath = item.relative
                entries.append((item.row, entry))
                summary.made += 1
            }
            pending.removeAll()
        }
        for (index, row) in manifest.entries.enumerated() {
            var entry = row
            entry.imagePath = Manifest.path(of: manifest.imageURL(of: row), relativeTo: out)
            if keepExisting, let existing = manifest.segmentationURL(of: row) {
                entry.segmentationPath = Manifest.path(of: existing, relativeTo: out)
                entries.append((index, entry))
                summary.kept += 1
            } else {
                let relative = mapsFolder + "/" + mapName(for: row.imagePath)
                let map = out.appendingPathComponent(relative)
                try FileManager.default.createDirectory(at: map.deletingLastPathComponent(), withIntermediateDirectories: true)
                if FileManager.default.fileExists(atPath: map.path) {
                    entry.segmentationPath = relative
                    entries.append((index, entry))
                    summary.reused += 1
                } else {
                    do {
                        pending.append((index, entry, try Image(contentsOf: manifest.imageURL(of: row)), map, relative))
                    } catch {
                        summary.failed.append("\(manifest.file):\(row.line): \(error)")
                    }
                    if pending.count >= batch { try flush() }
                }
            }
            if pending.isEmpty || index + 1 == manifest.entries.count { progress(index + 1, manifest.entries.count) }
        }
        try flush()
        progress(manifest.entries.count, manifest.entries.count)
        // Rows in the manifest's order: rows waiting for a batch were done after later ones.
        entries.sort { $0.row < $1.row }
        let written = Manifest(entries: entries.map(\.entry), directory: out, file: out.appendingPathComponent(manifestName).path)
        do { try Data(written.csvText.utf8).write(to: out.appendingPathComponent(manifestName), options: .atomic) } catch {
            throw ManifestSegmentationError.cannotWrite(path: written.file, reason: error.localizedDescription)
        }
        summary.manifest = written
        return summary
    }

    /// Records `identity` in `out/segmenter.json`, or checks that it is the one recorded.
    static func claim(_ out: URL, for identity: SegmenterIdentity) throws {
        let record = out.appendingPathComponent("segmenter.json")
        if let data = try? Data(contentsOf: record) {
            guard let recorded = try? JSONDecoder().decode(SegmenterIdentity.self, from: data) else {
                throw ManifestSegmentationError.otherSegmenter(folder: out.path, recorded: "an unreadable segmenter.json",
                                                               given: identity.name)
            }
            guard recorded.sha256 == identity.sha256 else {
                throw ManifestSegmentationError.otherSegmenter(folder: out.path,
                                                               recorded: "\(recorded.name) (sha256 \(recorded.sha256.prefix(12)))",
                                                               given: "\(identity.name) (sha256 \(identity.sha256.prefix(12)))")
            }
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do { try encoder.encode(identity).write(to: record, options: .atomic) } catch {
            throw ManifestSegmentationError.cannotWrite(path: record.path, reason: error.localizedDescription)
        }
    }

    /// Where a row's map goes under `maps/`: its image path with `.png` for its extension, so
    /// that sub-folders of photos keep their layout and photos named alike in two folders do
    /// not collide. A path that climbs out of the manifest's folder (`..`) or is absolute is
    /// flattened, with a digest of the whole path in front to keep it unique.
    static func mapName(for imagePath: String) -> String {
        let parts = imagePath.split(separator: "/").map(String.init)
        let stem = (parts.last.map { ($0 as NSString).deletingPathExtension } ?? "image") + ".png"
        if imagePath.hasPrefix("/") || parts.contains("..") || parts.contains(".") {
            return String(sha256Hex(Data(imagePath.utf8)).prefix(12)) + "-" + stem
        }
        return (parts.dropLast() + [stem]).joined(separator: "/")
    }
}

/// A data set that cannot be segmented.
public enum ManifestSegmentationError: Error, CustomStringConvertible, Equatable {
    case otherSegmenter(folder: String, recorded: String, given: String)
    case cannotWrite(path: String, reason: String)

    /// The message, naming the folder or file.
    public var description: String {
        switch self {
        case let .otherSegmenter(folder, recorded, given):
            "\(folder) holds maps made by \(recorded), not by \(given): give another --out, or remove the folder to start over"
        case let .cannotWrite(path, reason): "\(path): cannot write: \(reason)"
        }
    }
}
