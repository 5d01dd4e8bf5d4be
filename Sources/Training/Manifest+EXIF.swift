import Foundation
import ImageCodec

extension Manifest {
    /// The photos of a folder that carry where they were taken (`translocator manifest`).
    public struct EXIFScan: Sendable {
        /// Photos with an EXIF GPS position, in path order.
        public var manifest: Manifest
        /// JPEG files without a usable GPS position (absent, incomplete or out of range), as paths
        /// relative to the scanned folder.
        public var withoutGPS: [String]
    }

    /// Lists the JPEG files under `folder` (recursively, `.jpg`/`.jpeg` in any case, sorted by
    /// path) and reads their EXIF GPS tags; only the markers before the image data are read.
    /// - Parameter manifestDirectory: where the manifest will be written: photos under it get
    ///   paths relative to it (DESIGN.md), others absolute paths.
    /// - Throws: `ManifestError.missingFile` if `folder` cannot be listed.
    public static func scanningEXIF(in folder: URL, manifestDirectory: URL) throws -> EXIFScan {
        let root = folder.standardizedFileURL.resolvingSymlinksInPath()
        guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else {
            throw ManifestError.missingFile(file: folder.path, line: 0, column: "folder", path: folder.path)
        }
        var photos: [URL] = []
        for case let url as URL in enumerator where ["jpg", "jpeg"].contains(url.pathExtension.lowercased()) {
            photos.append(url.resolvingSymlinksInPath())
        }
        photos.sort { $0.path < $1.path }
        let base = manifestDirectory.standardizedFileURL.resolvingSymlinksInPath().path
        var entries: [ManifestEntry] = []
        var withoutGPS: [String] = []
        for photo in photos {
            let data = (try? Data(contentsOf: photo, options: .alwaysMapped)) ?? Data()
            guard let gps = EXIFMetadata(jpegData: data)?.gpsCoordinate else {
                withoutGPS.append(relativePath(photo.path, under: root.path) ?? photo.path)
                continue
            }
            let path = relativePath(photo.path, under: base) ?? photo.path
            entries.append(ManifestEntry(imagePath: path, latitude: gps.latitude, longitude: gps.longitude))
        }
        return EXIFScan(manifest: Manifest(entries: entries, directory: manifestDirectory, file: folder.path), withoutGPS: withoutGPS)
    }

    /// `path` relative to `directory` when inside it, else nil.
    static func relativePath(_ path: String, under directory: String) -> String? {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : nil
    }
}
