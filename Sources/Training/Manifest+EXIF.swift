import Foundation
import ImageCodec

extension Manifest {
    /// The photos of a folder that carry where they were taken (`translocator manifest`).
    package struct EXIFScan: Sendable {
        /// Photos with an EXIF GPS position, in path order.
        package var manifest: Manifest
        /// JPEG and PNG files without a usable GPS position (absent, incomplete or out of range), as
        /// paths relative to the scanned folder.
        package var withoutGPS: [String]
        /// Files that could not be read at all, with the reason, as paths relative to the folder.
        package var unreadable: [(path: String, reason: String)] = []
    }

    /// Lists the photos under `folder` (recursively, `.jpg`/`.jpeg`/`.png` in any case, sorted by
    /// path) and reads their EXIF GPS tags: a JPEG's from the markers before its image data, a
    /// PNG's from its eXIf chunk. A file is read as what its signature says, whatever its name.
    /// - Parameter manifestDirectory: where the manifest will be written: photos under it get
    ///   paths relative to it (as manifests resolve them), others absolute paths.
    /// - Throws: `ManifestError.missingFile` if `folder` cannot be listed.
    package static func scanningEXIF(in folder: URL, manifestDirectory: URL) throws -> EXIFScan {
        let root = folder.standardizedFileURL.resolvingSymlinksInPath()
        guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else {
            throw ManifestError.missingFile(file: folder.path, line: 0, column: "folder", path: folder.path)
        }
        var photos: [URL] = []
        for case let url as URL in enumerator where ["jpg", "jpeg", "png"].contains(url.pathExtension.lowercased()) {
            photos.append(url.resolvingSymlinksInPath())
        }
        photos.sort { $0.path < $1.path }
        let base = manifestDirectory.standardizedFileURL.resolvingSymlinksInPath().path
        var entries: [ManifestEntry] = []
        var withoutGPS: [String] = []
        var unreadable: [(path: String, reason: String)] = []
        for photo in photos {
            let data: Data
            do { data = try Data(contentsOf: photo, options: .alwaysMapped) } catch {
                unreadable.append((relativePath(photo.path, under: root.path) ?? photo.path, error.localizedDescription))
                continue
            }
            guard let gps = gpsCoordinate(ofPhoto: data) else {
                withoutGPS.append(relativePath(photo.path, under: root.path) ?? photo.path)
                continue
            }
            let path = relativePath(photo.path, under: base) ?? photo.path
            entries.append(ManifestEntry(imagePath: path, latitude: gps.latitude, longitude: gps.longitude))
        }
        return EXIFScan(manifest: Manifest(entries: entries, directory: manifestDirectory, file: folder.path), withoutGPS: withoutGPS,
                        unreadable: unreadable)
    }

    /// The EXIF GPS position of a JPEG or PNG file, told apart by its signature (as
    /// `Image(decoding:)` does); nil for anything else.
    static func gpsCoordinate(ofPhoto data: Data) -> (latitude: Double, longitude: Double)? {
        switch ImageFormat(sniffing: data) {
        case .jpeg: EXIFMetadata(jpegData: data)?.gpsCoordinate
        case .png: EXIFMetadata(pngData: data)?.gpsCoordinate
        case nil: nil
        }
    }

    /// `path` relative to `directory` when inside it, else nil.
    static func relativePath(_ path: String, under directory: String) -> String? {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : nil
    }
}
