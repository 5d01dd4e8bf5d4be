import Foundation
import TensorEngine

// MARK: - The timm name table

/// timm's `VisionTransformer` parameter names, the one table the importer maps by
/// (checkpoint keys stay timm's: one table maps them). Our ViT names its parameters exactly so, under a
/// branch prefix (`rgb.`, `seg.`).
enum TimmNames {
    /// The names of a ViT of `depth` blocks, in timm's `state_dict()` order.
    static func parameters(depth: Int) -> [String] {
        var names = ["cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"]
        for k in 0..<depth {
            for part in ["norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight",
                         "attn.proj.bias", "norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias",
                         "mlp.fc2.weight", "mlp.fc2.bias"] {
                names.append("blocks.\(k).\(part)")
            }
        }
        return names + ["norm.weight", "norm.bias"]
    }

    /// Keys that belong to the encoder's namespace: if the file has one we do not know (layer
    /// scale `blocks.0.ls1.gamma`, `fc_norm`, register tokens, a patch-embed norm), the model
    /// would compute something else, so it is an error, not something to skip.
    static func isEncoderKey(_ key: String) -> Bool {
        ["cls_token", "pos_embed", "reg_token", "patch_embed.", "blocks.", "norm.", "norm_pre.", "fc_norm.", "attn_pool."]
            .contains { key == $0 || key.hasPrefix($0) }
    }
}

// MARK: - Import

extension VisionTransformer {
    /// Loads timm-named weights (under `sourcePrefix` in the file, e.g. "" for a timm state
    /// dict) into this branch: all checked first, then copied. A position embedding for another
    /// grid is resampled bicubically (timm's `checkpoint_filter_fn`). Keys outside the encoder
    /// (a classifier `head`, activations, gradients) are ignored.
    /// - Throws: `WeightFileError.mismatchedKeys` listing every missing, unexpected and
    ///   misshaped key at once.
    func load(from file: WeightFile, sourcePrefix: String = "") throws {
        let expected = parameters
        var missing: [String] = [], misshaped: [String] = []
        var sources: [(Parameter, String)] = []
        for parameter in expected {
            let key = sourcePrefix + String(parameter.name.dropFirst(prefix.count))
            guard let entry = file.entries[key] else { missing.append(key); continue }
            var fits = entry.shape == parameter.value.shape
            if !fits && parameter === tokens.positionEmbedding, entry.shape.count == 3, entry.shape[0] == 1,
               entry.shape[2] == parameter.value.shape[2] {
                let tokens = entry.shape[1] - 1, side = Int(Double(tokens).squareRoot().rounded())
                fits = tokens > 0 && side * side == tokens                  // resampled below
            }
            if fits { sources.append((parameter, key)) } else {
                misshaped.append("\(key) \(entry.shape) (expected \(parameter.value.shape))")
            }
        }
        let known = Set(expected.map { sourcePrefix + String($0.name.dropFirst(prefix.count)) })
        let unexpected = file.names.filter { name in
            name.hasPrefix(sourcePrefix) && !known.contains(name) && TimmNames.isEncoderKey(String(name.dropFirst(sourcePrefix.count)))
        }
        guard missing.isEmpty, unexpected.isEmpty, misshaped.isEmpty else {
            throw WeightFileError.mismatchedKeys(file: file.path, missing: missing, unexpected: unexpected, misshaped: misshaped)
        }
        for (parameter, key) in sources {
            var value = try file.tensor(key)
            if value.shape != parameter.value.shape {
                value = resamplePositionEmbedding(value, toGrid: config.gridSize)
            }
            parameter.value.assign(value)
        }
    }
}

/// The sizes of a timm ViT checkpoint: from the tensors' shapes, plus `__metadata__.config`
/// (timm's constructor names) for what shapes cannot tell (`num_heads`, and `img_size` when the
/// position embedding is for another grid).
/// - Throws: `WeightFileError` naming the file and the tensor or key.
func timmConfig(of file: WeightFile) throws -> ViTConfig {
    var metadata: [String: Any] = [:]
    if let text = file.metadata["config"] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw WeightFileError.missingMetadata(file: file.path, key: "config", reason: "not a JSON object")
        }
        metadata = object
    }
    func shape(_ name: String, rank: Int) throws -> [Int] {
        guard let entry = file.entries[name] else { throw WeightFileError.missingTensor(file: file.path, tensor: name) }
        guard entry.shape.count == rank else {
            throw WeightFileError.mismatchedKeys(file: file.path, missing: [], unexpected: [],
                                                 misshaped: ["\(name) \(entry.shape) (expected rank \(rank))"])
        }
        return entry.shape
    }
    func integer(_ key: String) -> Int? { (metadata[key] as? NSNumber)?.intValue }
    let patch = try shape("patch_embed.proj.weight", rank: 4)
    let embed = patch[0], patchSize = patch[2]
    let position = try shape("pos_embed", rank: 3)
    let grid = Int(Double(position[1] - 1).squareRoot().rounded())
    var depth = 0
    while file.entries["blocks.\(depth).norm1.weight"] != nil { depth += 1 }
    let fc1 = try shape("blocks.0.mlp.fc1.weight", rank: 2)
    let heads = integer("num_heads") ?? (embed % 64 == 0 ? embed / 64 : 0)    // timm's ViTs: head size 64
    guard heads > 0, embed % heads == 0 else {
        throw WeightFileError.missingMetadata(file: file.path, key: "config",
                                              reason: "needs num_heads (a divisor of embed_dim \(embed)): shapes cannot tell it")
    }
    let imageSize = integer("img_size") ?? grid * patchSize
    guard imageSize > 0, imageSize % patchSize == 0 else {
        throw WeightFileError.missingMetadata(file: file.path, key: "config",
                                              reason: "img_size \(imageSize) is not a multiple of the patch size \(patchSize)")
    }
    return ViTConfig(imageSize: imageSize, patchSize: patchSize, embedDimension: embed, depth: depth,
                     headCount: heads, mlpRatio: Double(fc1[0]) / Double(embed))
}

// MARK: - Public entry points

/// The result of `verifyImport(contentsOf:)`.
package struct ImportVerification: Sendable {
    /// Sizes of the ViT rebuilt from the file.
    package let config: ViTConfig
    /// Batch of the fixture's input.
    package let batch: Int
    /// max |ours − timm| over the fixture's `pre_logits`.
    package let maxAbsoluteError: Float
}

/// Rebuilds a ViT from a fixture's timm-named weights, runs its `input` ([B, 3, H, W],
/// normalized) and compares with its `pre_logits` (the CLS token after the final norm).
/// - Throws: `WeightFileError` for an unreadable file, mismatched keys or a missing tensor.
package func verifyImport(contentsOf url: URL) throws -> ImportVerification {
    let file = try WeightFile(contentsOf: url)
    let config = try timmConfig(of: file)
    let vit = VisionTransformer(config: config, prefix: "")
    try vit.load(from: file)
    let input = try file.tensor("input")
    let s = config.imageSize
    guard input.shape.count == 4, input.shape[1] == 3, input.shape[2] == s, input.shape[3] == s else {
        throw WeightFileError.mismatchedKeys(file: file.path, missing: [], unexpected: [],
                                             misshaped: ["input \(input.shape) (expected [B, 3, \(s), \(s)])"])
    }
    let reference = try file.tensor("pre_logits")
    let ours = vit.preLogits(input)
    guard reference.count == ours.count else {
        throw WeightFileError.mismatchedKeys(file: file.path, missing: [], unexpected: [],
                                             misshaped: ["pre_logits \(reference.shape) (expected \(ours.shape))"])
    }
    var worst: Float = 0
    for i in 0..<ours.count { worst = max(worst, abs(ours[i] - reference[i])) }
    if worst.isNaN || ours.scalars.contains(where: { !$0.isFinite }) { worst = .infinity }
    return ImportVerification(config: config, batch: input.shape[0], maxAbsoluteError: worst)
}

extension TransLocatorModel {
    /// Loads a timm ViT checkpoint (safetensors, timm names, F32/F16/BF16) into the RGB branch
    /// and, if there is one, the segmentation branch (paper: both start from the same ViT).
    /// Heads, fusion and scorer keep their values. A position embedding for another grid is
    /// resampled bicubically.
    /// - Parameter sourcePrefix: where the ViT sits in the file ("" for a timm state dict).
    /// - Throws: `WeightFileError` listing every missing, unexpected and misshaped key.
    public func importBackbone(contentsOf url: URL, sourcePrefix: String = "") throws {
        let file = try WeightFile(contentsOf: url)
        try rgb.load(from: file, sourcePrefix: sourcePrefix)
        try seg?.load(from: file, sourcePrefix: sourcePrefix)
        weightsDidChange()
    }
}
