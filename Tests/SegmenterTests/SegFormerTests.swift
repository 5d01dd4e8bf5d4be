import Foundation
import XCTest
import ImageCodec
import TensorEngine
@testable import Segmenter

func fixtureURL(_ name: String) -> URL {
    Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(name)
}

/// Hugging Face's SegformerForSemanticSegmentation, random-initialised
/// (scripts/model/make_segformer_fixtures.py): our logits within 1e-4 of its float32 ones (the
/// verify-segmenter bound), its post-processed maps equal to ours but where its own top-2 margin
/// is a near-tie, and its Pillow image processor's pixel values equal to our preprocessing.
final class SegFormerTests: XCTestCase {
    static let fixtures = ["segformer-four-stages", "segformer-three-stages"]

    func testLogitsMatchHuggingFace() throws {
        for name in Self.fixtures {
            let result = try verifySegmenter(contentsOf: fixtureURL(name + ".safetensors"))
            print("\(name): max abs error on logits \(result.maxAbsoluteError)")
            XCTAssertLessThanOrEqual(result.maxAbsoluteError, 1e-4, name)
        }
    }

    func testMapsMatchPostProcessingExceptNearTies() throws {
        for name in Self.fixtures {
            let file = try SafeTensors(weightsAt: fixtureURL(name + ".safetensors"))
            let config = try SegFormerConfig(json: Data(file.metadata["config"]!.utf8), file: name)
            let model = try SegFormer(config: config, weights: file.tensors, file: name)
            let logits = try model.logits(channelsLast(file["pixel_values"]!))
            let labels = file["labels"]!, margin = file["margin"]!
            let (b, height, width) = (labels.shape[0], labels.shape[1], labels.shape[2])
            let (h, w, k) = (logits.shape[1], logits.shape[2], logits.shape[3])
            var compared = 0, excused = 0
            for i in 0..<b {
                var ours = [UInt8](repeating: 0, count: height * width)
                bilinearArgmax(logits.data + i * h * w * k, height: h, width: w, classes: k, outputHeight: height,
                               outputWidth: width, into: &ours)
                for p in 0..<(height * width) {
                    let index = i * height * width + p
                    if margin[index] < 1e-4 { excused += 1; continue }
                    compared += 1
                    XCTAssertEqual(Float(ours[p]), labels[index], "\(name) image \(i) pixel \(p)")
                }
            }
            XCTAssertGreaterThan(compared, 100 * max(1, excused), "\(name): nearly every pixel is compared")
        }
    }

    func testAPhotosMapEqualsHuggingFacesWholePath() throws {
        // data/kauai.png through Hugging Face's Pillow processor (512x512), the model and
        // post_process_semantic_segmentation at the photo's size, against Segmenter.segment.
        let photo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("data/kauai.png")
        let segmenter = try Segmenter(contentsOf: fixtureURL("segformer-four-stages.safetensors"))
        let ours = try segmenter.segment([Image(contentsOf: photo)])[0]
        let reference = try SegmentationMap(pngData: Data(contentsOf: fixtureURL("kauai-map.png")))
        let ties = try SegmentationMap(pngData: Data(contentsOf: fixtureURL("kauai-ties.png")))
        XCTAssertEqual([ours.width, ours.height], [512, 504])
        XCTAssertEqual([reference.width, reference.height], [512, 504])
        var differing = 0
        for p in 0..<ours.classes.count where ties.classes[p] == 0 && ours.classes[p] != reference.classes[p] { differing += 1 }
        XCTAssertEqual(differing, 0)
        XCTAssertLessThan(ties.classes.filter { $0 != 0 }.count, 100)              // the excused pixels are few
        XCTAssertGreaterThan(Set(reference.classes).count, 5)                       // and the map is not one class
    }

    func testPreprocessingMatchesThePillowImageProcessor() throws {
        let file = try SafeTensors(contentsOf: fixtureURL("preprocess.safetensors"))
        let pixels = file["pixels"]!
        let image = Image(width: pixels.shape[1], height: pixels.shape[0], pixels: pixels.scalars.map { UInt8($0) })
        var preprocessing = SegFormerPreprocessing.huggingFaceDefault
        preprocessing.size = (48, 64)
        let ours = channelsFirst(preprocessing.pixels(of: [image]))
        let reference = file["pixel_values"]!
        XCTAssertEqual(ours.shape, reference.shape)
        var maxError: Float = 0
        for i in 0..<ours.count { maxError = max(maxError, abs(ours[i] - reference[i])) }
        XCTAssertLessThanOrEqual(maxError, 1e-6)
    }

    func testAHubFolderWithPyTorchWeightsLoadsTheSameModel() throws {
        let folder = try Segmenter(contentsOf: fixtureURL("segformer-hub-folder"))
        XCTAssertEqual(folder.identity.name, "segformer-hub-folder")
        XCTAssertEqual(folder.identity.sha256, try sha256Hex(contentsOf: fixtureURL("segformer-hub-folder/pytorch_model.bin")))
        XCTAssertEqual(folder.preprocessing.size?.height, 64)
        XCTAssertEqual(folder.preprocessing.size?.width, 48)
        XCTAssertEqual(folder.preprocessing.mean, SegFormerPreprocessing.huggingFaceDefault.mean)
        let file = try Segmenter(contentsOf: fixtureURL("segformer-four-stages.safetensors"))
        XCTAssertEqual(file.preprocessing, .huggingFaceDefault)                       // no preprocessing given
        XCTAssertEqual(file.model.config, folder.model.config)
        let pixels = channelsLast(try XCTUnwrap(try SafeTensors(contentsOf: fixtureURL("preprocess.safetensors"))["pixel_values"]))
        XCTAssertEqual(try folder.model.logits(pixels).scalars, try file.model.logits(pixels).scalars)
    }

    func testConfigsThatContradictThemselvesAreRefusedByField() throws {
        let good = try String(decoding: JSONSerialization.data(withJSONObject: Self.configObject()), as: UTF8.self)
        XCTAssertNoThrow(try SegFormerConfig(json: Data(good.utf8), file: "c.json"))
        let cases: [(change: (inout [String: Any]) -> Void, message: String)] = [
            ({ $0["depths"] = [1, 1, 1] }, "'depths' has 3 entries for 4 encoder blocks"),
            ({ $0["num_attention_heads"] = [3, 2, 2, 4] }, "stage 0: hidden size 8 does not split into 3 heads"),
            ({ $0["hidden_act"] = "mish" }, "hidden_act 'mish' is not one of gelu, gelu_new"),
            ({ $0["hidden_sizes"] = [8, 16, 24, 1_000_000] }, "'hidden_sizes' holds 1000000"),
            ({ $0["sr_ratios"] = [8, 4, 2, 0] }, "'sr_ratios' holds 0"),
            ({ $0["decoder_hidden_size"] = 2.5 }, "'decoder_hidden_size' holds"),
            ({ $0.removeValue(forKey: "strides") }, "no list 'strides'"),
            ({ $0["id2label"] = ["0": "wall", "2": "sky"] }, "'id2label' is not a map from 0..<2"),
            ({ $0["reshape_last_stage"] = false }, "reshape_last_stage false"),
        ]
        for (change, message) in cases {
            var object = Self.configObject()
            change(&object)
            let data = try JSONSerialization.data(withJSONObject: object)
            XCTAssertThrowsError(try SegFormerConfig(json: data, file: "c.json"), message) { error in
                XCTAssertTrue("\(error)".contains("c.json"), "\(error)")
                XCTAssertTrue("\(error)".contains(message), "expected '\(message)' in: \(error)")
            }
        }
        XCTAssertThrowsError(try SegFormerConfig(json: Data("{\"depths\": [1,".utf8), file: "c.json")) { error in
            XCTAssertTrue("\(error)".contains("not valid JSON"), "\(error)")
        }
    }

    func testWeightsThatDoNotFitAreOneErrorListingThemAll() throws {
        let url = fixtureURL("segformer-four-stages.safetensors")
        let file = try SafeTensors(weightsAt: url)
        let config = try SegFormerConfig(json: Data(file.metadata["config"]!.utf8), file: "c")
        var weights = file.tensors
        weights.removeValue(forKey: "decode_head.linear_fuse.weight")
        weights.removeValue(forKey: "segformer.encoder.block.1.1.mlp.dwconv.dwconv.bias")
        weights["segformer.encoder.block.0.0.attention.self.query.weight"] = Tensor(zeros: [8, 9])
        weights["segformer.encoder.block.9.0.layer_norm_1.weight"] = Tensor(zeros: [8])
        weights["pixel_mean"] = Tensor(zeros: [3])                      // outside the model's names: ignored
        XCTAssertThrowsError(try SegFormer(config: config, weights: weights, file: "w.safetensors")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("w.safetensors"), text)
            XCTAssertTrue(text.contains("missing (2): segformer.encoder.block.1.1.mlp.dwconv.dwconv.bias, "
                                        + "decode_head.linear_fuse.weight"), text)
            XCTAssertTrue(text.contains("unexpected (1): segformer.encoder.block.9.0.layer_norm_1.weight"), text)
            XCTAssertTrue(text.contains("misshaped (1): segformer.encoder.block.0.0.attention.self.query.weight [8, 9] "
                                        + "(expected [8, 8])"), text)
            XCTAssertFalse(text.contains("pixel_mean"), text)
        }
    }

    func testAConfigFarLargerThanItsWeightsIsAnErrorNotAnAllocation() throws {
        let file = try SafeTensors(weightsAt: fixtureURL("segformer-four-stages.safetensors"))
        var object = Self.configObject()
        object["hidden_sizes"] = [8, 16, 24, 8192]
        object["num_attention_heads"] = [1, 2, 3, 8]
        object["depths"] = [1, 2, 1, 256]                       // 256 blocks of 8192² products: terabytes of zeros
        let config = try SegFormerConfig(json: JSONSerialization.data(withJSONObject: object), file: "big.json")
        XCTAssertThrowsError(try SegFormer(config: config, weights: file.tensors, file: "w.safetensors")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("the rest not checked"), text)
            XCTAssertTrue(text.contains("segformer.encoder.patch_embeddings.3.proj.weight [32, 24, 3, 3] (expected [8192, 24, 3, 3])"), text)
        }
    }

    func testInputsTooSmallForTheStridesAreAnError() throws {
        let file = try SafeTensors(weightsAt: fixtureURL("segformer-four-stages.safetensors"))
        let config = try SegFormerConfig(json: Data(file.metadata["config"]!.utf8), file: "c")
        let model = try SegFormer(config: config, weights: file.tensors, file: "w")
        // 20x20 -> stage 0 is 5x5, smaller than its reduction ratio 8.
        XCTAssertThrowsError(try model.logits(Tensor(zeros: [1, 20, 20, 3]))) { error in
            XCTAssertTrue("\(error)".contains("stage 0 is 5x5, smaller than its reduction ratio 8"), "\(error)")
        }
        XCTAssertEqual(try model.logits(Tensor(zeros: [1, 29, 31, 3])).shape, [1, 8, 8, 150])
    }

    static func configObject() -> [String: Any] {
        ["hidden_sizes": [8, 16, 24, 32], "depths": [1, 2, 1, 1], "num_attention_heads": [1, 2, 3, 4], "sr_ratios": [8, 4, 2, 1],
         "patch_sizes": [7, 3, 3, 3], "strides": [4, 2, 2, 2], "mlp_ratios": [4, 4, 4, 4], "decoder_hidden_size": 16,
         "num_encoder_blocks": 4, "hidden_act": "gelu", "num_channels": 3, "id2label": ["0": "wall", "1": "building"]]
    }
}
