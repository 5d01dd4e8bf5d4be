import Foundation

/// The `"model"` object of a config file (configs/*.json): the architecture of a ViT-MT or
/// TransLocator model, in the names the PyTorch twin (scripts/model/twin.py) and timm use.
/// Head output sizes are not here: they come from the partition (`HeadSizes`).
public struct ModelConfig: Codable, Equatable, Sendable {
    /// `"translocator"` or `"vit-mt"`; informational (the flags below decide the graph).
    public var architecture: String
    /// Input side in pixels (square images).
    public var imageSize: Int
    /// Patch side in pixels.
    public var patchSize: Int
    /// Token width C.
    public var embedDimension: Int
    /// Transformer blocks per branch.
    public var depth: Int
    /// Attention heads H (C must divide by H).
    public var headCount: Int
    /// MLP hidden width = Int(C · mlpRatio) (timm).
    public var mlpRatio: Double
    /// A second ViT branch over the ADE20K-rendered segmentation map (paper section 3.2).
    public var segmentationBranch: Bool
    /// MFF after every block (eq. 4): cls ← g(f(cls_rgb) + f(cls_seg)) written back as both
    /// branches' CLS token, f and g C → C linears; needs the segmentation branch.
    ///
    /// Initialization (the paper gives none; the twin does the same): f = I, g = I/2, zero
    /// biases, so fusion starts as the mean of the two CLS tokens. Both branches start from the
    /// same pretrained ViT and the fused token replaces each CLS after every block: a random f, g
    /// (timm's trunc_normal(0.02) would make it nearly 0) would erase the pretrained CLS before
    /// training begins, while the mean keeps it (for identical branches fusion is exactly a
    /// no-op) and leaves training to learn how far to depart from it.
    public var multimodalFeatureFusion: Bool
    /// Attentive fusion of the final CLS tokens (eqs. 5-7); needs the segmentation branch.
    public var modalityAttention: Bool
    /// Hidden widths of the modality scorer ([8] in the paper: [C, 8, 1]).
    public var modalityAttentionHidden: [Int]
    /// Hidden widths of each head (GELU between layers).
    public var headHidden: HeadHidden
    /// Scene classes: 3, 16 or 365; 0 for no scene head.
    public var sceneClasses: Int

    /// Hidden layer widths of each head's MLP ([] for a single linear layer); config `head_hidden`.
    public struct HeadHidden: Codable, Equatable, Sendable {
        /// Hidden widths of the coarse head.
        public var coarse: [Int]
        /// Hidden widths of the middle head.
        public var middle: [Int]
        /// Hidden widths of the fine head.
        public var fine: [Int]
        /// Hidden widths of the scene head.
        public var scene: [Int]

        /// Hidden widths per head; each defaults to none (one linear layer).
        public init(coarse: [Int] = [], middle: [Int] = [], fine: [Int] = [], scene: [Int] = []) {
            self.coarse = coarse; self.middle = middle; self.fine = fine; self.scene = scene
        }
    }

    enum CodingKeys: String, CodingKey {
        case architecture
        case imageSize = "img_size"
        case patchSize = "patch_size"
        case embedDimension = "embed_dim"
        case depth
        case headCount = "num_heads"
        case mlpRatio = "mlp_ratio"
        case segmentationBranch = "segmentation_branch"
        case multimodalFeatureFusion = "multimodal_feature_fusion"
        case modalityAttention = "modality_attention"
        case modalityAttentionHidden = "modality_attention_hidden"
        case headHidden = "head_hidden"
        case sceneClasses = "scene_classes"
    }

    /// A config from its fields (pixels for sizes); the defaults are the paper's TransLocator:
    /// both branches, MFF, modality attention with hidden [8], 16 scene classes. Checked when a
    /// model is built from it (`TransLocatorModel(config:headSizes:seed:)`).
    public init(architecture: String = "translocator", imageSize: Int, patchSize: Int, embedDimension: Int,
                depth: Int, headCount: Int, mlpRatio: Double = 4, segmentationBranch: Bool = true,
                multimodalFeatureFusion: Bool = true, modalityAttention: Bool = true,
                modalityAttentionHidden: [Int] = [8], headHidden: HeadHidden = HeadHidden(), sceneClasses: Int = 16) {
        self.architecture = architecture; self.imageSize = imageSize; self.patchSize = patchSize
        self.embedDimension = embedDimension; self.depth = depth; self.headCount = headCount
        self.mlpRatio = mlpRatio; self.segmentationBranch = segmentationBranch
        self.multimodalFeatureFusion = multimodalFeatureFusion; self.modalityAttention = modalityAttention
        self.modalityAttentionHidden = modalityAttentionHidden; self.headHidden = headHidden
        self.sceneClasses = sceneClasses
    }

    /// The ViT of one branch.
    public var vit: ViTConfig {
        ViTConfig(imageSize: imageSize, patchSize: patchSize, embedDimension: embedDimension, depth: depth,
                  headCount: headCount, mlpRatio: mlpRatio)
    }

    /// MFF runs only with two branches (as the twin: `has_seg and multimodal_feature_fusion`).
    var fusesEveryBlock: Bool { segmentationBranch && multimodalFeatureFusion }
    /// Modality attention runs only with two branches.
    var weighsModalities: Bool { segmentationBranch && modalityAttention }
    /// Width of f_mm: C, or 2C with the segmentation branch.
    public var featureDimension: Int { embedDimension * (segmentationBranch ? 2 : 1) }

    /// Checks every size; `file` names the source in the error.
    /// - Throws: `ModelConfigError.invalid` naming the field and value.
    func validate(file: String) throws {
        func fail(_ field: String, _ value: Any, _ expected: String) -> ModelConfigError {
            .invalid(file: file, field: "model.\(field)", value: "\(value)", expected: expected)
        }
        for (field, value) in [("img_size", imageSize), ("patch_size", patchSize), ("embed_dim", embedDimension),
                               ("depth", depth), ("num_heads", headCount)] where value < 1 {
            throw fail(field, value, "a positive integer")
        }
        guard imageSize % patchSize == 0 else { throw fail("img_size", imageSize, "a multiple of patch_size \(patchSize)") }
        guard embedDimension % headCount == 0 else { throw fail("num_heads", headCount, "a divisor of embed_dim \(embedDimension)") }
        guard mlpRatio.isFinite, mlpRatio > 0, Int(Double(embedDimension) * mlpRatio) >= 1 else {
            throw fail("mlp_ratio", mlpRatio, "a positive number")
        }
        guard sceneClasses >= 0 else { throw fail("scene_classes", sceneClasses, "0 (no scene head) or a class count") }
        for (field, sizes) in [("modality_attention_hidden", modalityAttentionHidden), ("head_hidden.coarse", headHidden.coarse),
                               ("head_hidden.middle", headHidden.middle), ("head_hidden.fine", headHidden.fine),
                               ("head_hidden.scene", headHidden.scene)] where sizes.contains(where: { $0 < 1 }) {
            throw fail(field, sizes, "positive layer widths")
        }
    }

    /// Reads the `"model"` object of a config file (other top-level objects, such as
    /// `"training"`, are left to their owners) and validates it.
    /// - Throws: `ModelConfigError` naming the file and the field.
    public init(contentsOf url: URL) throws {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelConfigError.unreadable(file: url.path, reason: error.localizedDescription)
        }
        try self.init(configJSON: data, file: url.path)
    }

    /// Parses a whole config document (`{"model": {...}, ...}`) or a bare model object.
    /// - Throws: `ModelConfigError` naming `file` and the field.
    public init(configJSON data: Data, file: String) throws {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ModelConfigError.malformed(file: file, reason: "not JSON: \(error.localizedDescription)")
        }
        guard let top = object as? [String: Any] else {
            throw ModelConfigError.malformed(file: file, reason: "the top level is not a JSON object")
        }
        let model = (top["model"] as? [String: Any]) ?? top
        do {
            self = try JSONDecoder().decode(ModelConfig.self, from: JSONSerialization.data(withJSONObject: model))
        } catch let DecodingError.keyNotFound(key, context) {
            throw ModelConfigError.invalid(file: file, field: Self.path(context.codingPath + [key]), value: "missing", expected: "a value")
        } catch let DecodingError.typeMismatch(type, context) {
            throw ModelConfigError.invalid(file: file, field: Self.path(context.codingPath), value: "of another type", expected: "\(type)")
        } catch let DecodingError.valueNotFound(type, context) {
            throw ModelConfigError.invalid(file: file, field: Self.path(context.codingPath), value: "null", expected: "\(type)")
        } catch {
            throw ModelConfigError.malformed(file: file, reason: "\(error)")
        }
        try validate(file: file)
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        "model." + keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }

    /// The config as the JSON object files and model metadata carry (snake_case keys, sorted).
    var jsonString: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding a struct of Ints, Bools, Doubles and Strings cannot fail.
        return (try? encoder.encode(self)).flatMap { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

/// The class counts of the geo-cell heads: the partition's sizes.
public struct HeadSizes: Codable, Equatable, Sendable {
    /// Classes of the coarse partition.
    public var coarse: Int
    /// Classes of the middle partition.
    public var middle: Int
    /// Classes of the fine partition.
    public var fine: Int

    /// Head sizes from the three partitions' class counts.
    public init(coarse: Int, middle: Int, fine: Int) {
        self.coarse = coarse; self.middle = middle; self.fine = fine
    }
}

/// A config that cannot be read or makes no sense.
public enum ModelConfigError: Error, CustomStringConvertible, Equatable {
    case unreadable(file: String, reason: String)
    case malformed(file: String, reason: String)
    case invalid(file: String, field: String, value: String, expected: String)

    /// A one-line message naming the file, the field and the expected value.
    public var description: String {
        switch self {
        case let .unreadable(file, reason): "\(file): cannot read the config: \(reason)"
        case let .malformed(file, reason): "\(file): \(reason)"
        case let .invalid(file, field, value, expected): "\(file): \(field) is \(value), expected \(expected)"
        }
    }
}

/// One ViT branch: timm's `VisionTransformer` constructor arguments that matter here (pre-norm
/// blocks, a CLS token, learned position embedding, final norm, qkv bias, LayerNorm eps 1e-6).
public struct ViTConfig: Codable, Equatable, Sendable {
    /// Input side in pixels (square images); timm `img_size`.
    public var imageSize: Int
    /// Patch side in pixels; timm `patch_size`.
    public var patchSize: Int
    /// Token width C; timm `embed_dim`.
    public var embedDimension: Int
    /// Transformer blocks; timm `depth`.
    public var depth: Int
    /// Attention heads H; timm `num_heads`.
    public var headCount: Int
    /// MLP hidden width over C; timm `mlp_ratio`.
    public var mlpRatio: Double

    enum CodingKeys: String, CodingKey {
        case imageSize = "img_size", patchSize = "patch_size", embedDimension = "embed_dim", depth
        case headCount = "num_heads", mlpRatio = "mlp_ratio"
    }

    /// A ViT's sizes (pixels for `imageSize` and `patchSize`); `mlpRatio` defaults to timm's 4.
    public init(imageSize: Int, patchSize: Int, embedDimension: Int, depth: Int, headCount: Int, mlpRatio: Double = 4) {
        self.imageSize = imageSize; self.patchSize = patchSize; self.embedDimension = embedDimension
        self.depth = depth; self.headCount = headCount; self.mlpRatio = mlpRatio
    }

    /// Patches per side.
    public var gridSize: Int { imageSize / patchSize }
    /// Tokens N: CLS plus one per patch.
    public var tokenCount: Int { 1 + gridSize * gridSize }
    /// MLP hidden width (timm: `int(embed_dim * mlp_ratio)`).
    public var mlpDimension: Int { Int(Double(embedDimension) * mlpRatio) }
    /// Width D of one attention head: C / H.
    public var headDimension: Int { embedDimension / headCount }
}
