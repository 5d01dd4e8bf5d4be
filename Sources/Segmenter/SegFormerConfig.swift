import Foundation
import TensorEngine

/// A SegFormer's architecture, read from the fields of Hugging Face's `SegformerConfig` (the
/// `config.json` beside a downloaded model, or `__metadata__["config"]` of our files). B0-B5
/// differ only in these numbers: B0 is hidden sizes [32, 64, 160, 256], depths [2, 2, 2, 2],
/// decoder 256; B2 is [64, 128, 320, 512], [3, 4, 6, 3], decoder 768.
public struct SegFormerConfig: Equatable, Sendable {
    /// Input channels (`num_channels`, 3 for RGB).
    public var inputChannels: Int
    /// Per stage (`num_encoder_blocks` of them): token width, blocks, attention heads, the
    /// spatial-reduction ratio of keys and values, the overlapping patch embedding's kernel and
    /// stride, and the Mix-FFN's hidden width as a multiple of the token width.
    public var hiddenSizes: [Int], depths: [Int], heads: [Int], reductionRatios: [Int]
    public var patchSizes: [Int], strides: [Int], mlpRatios: [Double]
    /// The Mix-FFN's activation (`hidden_act`; SegFormer's is GELU).
    public var activation: Activation
    /// Width of the all-MLP decode head (`decoder_hidden_size`).
    public var decoderHiddenSize: Int
    /// Class names by index (`id2label`; "LABEL_i" where the config names none).
    public var labels: [String]

    /// Stages in the encoder.
    public var stageCount: Int { hiddenSizes.count }

    /// The Mix-FFN's hidden width in stage `s`: `int(hidden_size * mlp_ratio)`, as Hugging Face's
    /// `SegformerLayer` computes it.
    func mlpHiddenSize(stage s: Int) -> Int { Int(Double(hiddenSizes[s]) * mlpRatios[s]) }

    /// The largest value a size field may hold: far above B5 (hidden 512, depth 40, decoder 768,
    /// 150 labels, and a 7-pixel patch) and far below what would exhaust memory.
    static let limits = (width: 8192, depth: 256, ratio: 64, patch: 64, labels: 65536)

    /// Reads a Hugging Face SegformerConfig JSON object.
    /// - Parameter file: names the source in errors.
    /// - Throws: `SegmenterError.badConfig` naming the field and what is wrong: a missing or
    ///   mistyped field, lists whose lengths differ from `num_encoder_blocks`, a hidden size that
    ///   does not split into its heads, sizes out of range, an activation we do not have, or a
    ///   `reshape_last_stage` of false.
    public init(json data: Data, file: String) throws {
        func fail(_ reason: String) -> SegmenterError { .badConfig(file: file, reason: reason) }
        let root: HeaderJSON
        do { root = try HeaderJSON.parse(Array(data)) } catch let error as HeaderJSON.ParseError {
            throw fail("not valid JSON at byte \(error.offset): \(error.reason)")
        }
        guard case let .object(members) = root else { throw fail("not a JSON object") }
        func field(_ key: String) -> HeaderJSON? { members.last { $0.0 == key }?.1 }
        func integerValue(_ value: HeaderJSON, _ key: String) throws -> Int {
            guard case let .number(number) = value, let exact = Int(exactly: number) else {
                throw fail("'\(key)' holds \(value), not an integer")
            }
            return exact
        }
        func integer(_ key: String, default fallback: Int? = nil) throws -> Int {
            guard let value = field(key) else {
                if let fallback { return fallback }
                throw fail("no '\(key)'")
            }
            return try integerValue(value, key)
        }
        func integers(_ key: String) throws -> [Int] {
            guard case let .array(values)? = field(key) else { throw fail("no list '\(key)'") }
            return try values.map { try integerValue($0, key) }
        }
        inputChannels = try integer("num_channels", default: 3)
        hiddenSizes = try integers("hidden_sizes")
        depths = try integers("depths")
        heads = try integers("num_attention_heads")
        reductionRatios = try integers("sr_ratios")
        patchSizes = try integers("patch_sizes")
        strides = try integers("strides")
        guard case let .array(ratios)? = field("mlp_ratios") else { throw fail("no list 'mlp_ratios'") }
        mlpRatios = try ratios.map { value in
            guard case let .number(ratio) = value else { throw fail("'mlp_ratios' holds \(value), not a number") }
            return ratio
        }
        decoderHiddenSize = try integer("decoder_hidden_size")
        let stages = try integer("num_encoder_blocks", default: hiddenSizes.count)

        for (key, list) in [("hidden_sizes", hiddenSizes.count), ("depths", depths.count), ("num_attention_heads", heads.count),
                            ("sr_ratios", reductionRatios.count), ("patch_sizes", patchSizes.count),
                            ("strides", strides.count), ("mlp_ratios", mlpRatios.count)] where list != stages {
            throw fail("'\(key)' has \(list) entries for \(stages) encoder blocks (num_encoder_blocks)")
        }
        guard (1...16).contains(stages) else { throw fail("num_encoder_blocks \(stages) is not in 1...16") }
        let limits = Self.limits
        func check(_ key: String, _ values: [Int], _ range: ClosedRange<Int>) throws {
            if let bad = values.first(where: { !range.contains($0) }) { throw fail("'\(key)' holds \(bad), not in \(range)") }
        }
        try check("num_channels", [inputChannels], 1...limits.width)
        try check("hidden_sizes", hiddenSizes, 1...limits.width)
        try check("depths", depths, 0...limits.depth)
        try check("num_attention_heads", heads, 1...limits.width)
        try check("sr_ratios", reductionRatios, 1...limits.ratio)
        try check("patch_sizes", patchSizes, 1...limits.patch)
        try check("strides", strides, 1...limits.patch)
        try check("decoder_hidden_size", [decoderHiddenSize], 1...limits.width)
        for s in 0..<stages where hiddenSizes[s] % heads[s] != 0 {
            throw fail("stage \(s): hidden size \(hiddenSizes[s]) does not split into \(heads[s]) heads")
        }
        for (s, ratio) in mlpRatios.enumerated() {
            guard ratio.isFinite, ratio > 0, Double(hiddenSizes[s]) * ratio <= Double(4 * limits.width) else {
                throw fail("'mlp_ratios' holds \(ratio) for stage \(s)")
            }
            guard Int(Double(hiddenSizes[s]) * ratio) >= 1 else { throw fail("stage \(s): an empty Mix-FFN (mlp ratio \(ratio))") }
        }
        var activation = "gelu"
        if let value = field("hidden_act") {
            guard case let .string(name) = value else { throw fail("'hidden_act' holds \(value), not a name") }
            activation = name
        }
        guard let known = Activation(rawValue: activation) else {
            throw fail("hidden_act '\(activation)' is not one of " + Activation.allCases.map(\.rawValue).joined(separator: ", "))
        }
        self.activation = known
        if case .bool(false)? = field("reshape_last_stage") {
            throw fail("reshape_last_stage false (a classification backbone's layout) is not a semantic segmenter's")
        }

        // Hugging Face writes id2label with string keys "0".."K-1"; num_labels is derived from it.
        if case let .object(names)? = field("id2label") {
            var labels = [String?](repeating: nil, count: names.count)
            for (key, value) in names {
                guard let index = Int(key), labels.indices.contains(index), labels[index] == nil,
                      case let .string(name) = value else {
                    throw fail("'id2label' is not a map from 0..<\(names.count) to names (key '\(key)')")
                }
                labels[index] = name
            }
            self.labels = labels.map { $0 ?? "" }
        } else {
            let count = try integer("num_labels", default: 2)            // PretrainedConfig's default
            self.labels = (0..<max(0, count)).map { "LABEL_\($0)" }
        }
        try check("labels", [labels.count], 1...limits.labels)
    }
}

/// The Mix-FFN activations Hugging Face's `ACT2FN` names that a SegFormer config may ask for.
public enum Activation: String, CaseIterable, Sendable {
    /// x·Φ(x), erf form (`nn.GELU()`): SegFormer's.
    case gelu
    /// The tanh approximation (`gelu_new`, `gelu_pytorch_tanh`: the same function).
    case geluNew = "gelu_new", geluTanh = "gelu_pytorch_tanh"
    /// max(x, 0).
    case relu
    /// x·σ(x).
    case silu, swish
    /// x·σ(1.702·x) (OpenAI CLIP's).
    case quickGELU = "quick_gelu"

    /// x ← f(x) over `count` floats.
    func apply(_ x: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .gelu: geluForward(x, x, count: count)
        case .relu: reluForward(x, x, count: count)
        case .geluNew, .geluTanh:
            let c = Float((2 / Double.pi).squareRoot())
            for i in 0..<count { let v = x[i]; x[i] = 0.5 * v * (1 + tanh(c * (v + 0.044715 * v * v * v))) }
        case .silu, .swish: for i in 0..<count { x[i] /= 1 + exp(-x[i]) }
        case .quickGELU: for i in 0..<count { x[i] /= 1 + exp(-1.702 * x[i]) }
        }
    }
}
