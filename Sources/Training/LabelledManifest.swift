import Foundation
import GeoCells
import TransLocator

/// A manifest with every image's training labels: its geo-cell at each resolution and, when the
/// model has a scene head, its scene class. Images outside the partitions are left out and
/// counted (`outsideCount`), as GeoEstimation does.
public struct LabelledManifest: Sendable {
    /// The manifest, every row included (labelled or not).
    public let manifest: Manifest
    /// Indices into `manifest.entries` of the labelled images, ascending.
    public let entryIndices: [Int]
    /// Per labelled image: coarse, middle, fine class.
    public let coarse: [Int32], middle: [Int32], fine: [Int32]
    /// Per labelled image: the scene class for a head of `sceneClasses` outputs; empty when the
    /// model has no scene head.
    public let scene: [Int32]
    /// Images left out because no cell of some partition contains them.
    public let outsideCount: Int

    /// Labels every image of `manifest` that all three partitions cover.
    /// - Parameters:
    ///   - hierarchy: maps the manifest's Places365 indices to 3 or 16 groups; not needed when
    ///     `sceneClasses` is 0 (no scene head) or 365 (the raw index).
    ///   - sceneClasses: the model's scene head size (`ModelConfig.sceneClasses`).
    /// - Throws: `LabelError` naming file:line for an image without a usable scene label.
    public init(manifest: Manifest, partitions: GeoPartitions, hierarchy: SceneHierarchy?, sceneClasses: Int) throws {
        let labels = GeoLabels(coordinates: manifest.coordinates, partitions: [partitions.coarse, partitions.middle, partitions.fine])
        var scene: [Int32] = []
        if sceneClasses > 0 {
            if hierarchy == nil && sceneClasses != Manifest.places365Count {
                throw LabelError.needsHierarchy(sceneClasses: sceneClasses)
            }
            scene.reserveCapacity(labels.count)
            for index in labels.keptIndices {
                let entry = manifest.entries[index]
                guard let category = entry.scene else {
                    throw LabelError.missingScene(file: manifest.file, line: entry.line, sceneClasses: sceneClasses)
                }
                guard let label = Self.sceneLabel(category: category, hierarchy: hierarchy, sceneClasses: sceneClasses) else {
                    throw LabelError.sceneOutsideHierarchy(file: manifest.file, line: entry.line, scene: category,
                                                           categories: hierarchy?.categoryCount ?? sceneClasses)
                }
                scene.append(Int32(label))
            }
        }
        self.manifest = manifest
        entryIndices = labels.keptIndices
        coarse = labels.classes[0]
        middle = labels.classes[1]
        fine = labels.classes[2]
        self.scene = scene
        outsideCount = labels.outsideCount
    }

    /// Number of labelled images.
    public var count: Int { entryIndices.count }

    /// The labelled images as CSV, one row each in manifest order, for a trainer that is not
    /// this one (the PyTorch twin): `image,lat,lon[,seg][,scene],coarse,middle,fine[,scene_class]`,
    /// paths relative to `folder` (where the CSV goes), `scene` the manifest's Places365 index,
    /// `scene_class` the scene head's label. Coordinates round-trip exactly.
    package func csvText(relativeTo folder: URL) -> String {
        let entries = entryIndices.map { manifest.entries[$0] }
        let hasSegmentation = entries.contains { $0.segmentationPath != nil }
        let hasScene = entries.contains { $0.scene != nil }
        var text = "image,lat,lon" + (hasSegmentation ? ",seg" : "") + (hasScene ? ",scene" : "") + ",coarse,middle,fine"
            + (scene.isEmpty ? "" : ",scene_class") + "\n"
        for (k, entry) in entries.enumerated() {
            text += csvField(Manifest.path(of: manifest.imageURL(of: entry), relativeTo: folder))
                + ",\(entry.latitude),\(entry.longitude)"
            if hasSegmentation {
                text += "," + (manifest.segmentationURL(of: entry).map { csvField(Manifest.path(of: $0, relativeTo: folder)) } ?? "")
            }
            if hasScene { text += "," + (entry.scene.map(String.init) ?? "") }
            text += ",\(coarse[k]),\(middle[k]),\(fine[k])" + (scene.isEmpty ? "" : ",\(scene[k])") + "\n"
        }
        return text
    }

    /// The scene head's class of Places365 category `category`: through the hierarchy for 3 or
    /// 16 groups, the index itself for a 365-way head; nil if it has none.
    static func sceneLabel(category: Int, hierarchy: SceneHierarchy?, sceneClasses: Int) -> Int? {
        hierarchy.map { $0.label(ofCategory: category, classes: sceneClasses) } ?? (category < sceneClasses ? category : nil)
    }

    /// The labels of labelled images `indices`, per head, as the training step takes them.
    func labels(of indices: [Int]) -> [HeadName: [Int]] {
        var result: [HeadName: [Int]] = [
            .coarse: indices.map { Int(coarse[$0]) },
            .middle: indices.map { Int(middle[$0]) },
            .fine: indices.map { Int(fine[$0]) },
        ]
        if !scene.isEmpty { result[.scene] = indices.map { Int(scene[$0]) } }
        return result
    }
}

/// Labels that cannot be made.
public enum LabelError: Error, CustomStringConvertible, Equatable {
    case missingScene(file: String, line: Int, sceneClasses: Int)
    case sceneOutsideHierarchy(file: String, line: Int, scene: Int, categories: Int)
    case needsHierarchy(sceneClasses: Int)

    /// A one-line message naming file:line (where there is one) and what to do.
    public var description: String {
        switch self {
        case let .missingScene(file, line, classes):
            "\(file):\(line): scene is missing, but the model has a scene head (\(classes) classes): give every image a "
                + "Places365 index or use a config with scene_classes 0"
        case let .sceneOutsideHierarchy(file, line, scene, categories):
            "\(file):\(line): scene is \(scene), outside the hierarchy's \(categories) categories"
        case let .needsHierarchy(classes):
            "a scene head of \(classes) classes needs a scene hierarchy file (Places365's scene_hierarchy_places365.csv format)"
        }
    }
}
