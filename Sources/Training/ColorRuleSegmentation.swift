import Foundation
import ImageCodec

/// A stand-in for a segmentation model: each pixel's ADE20K class from its colour alone (and
/// whether it lies in the upper half, to tell sky from water), for the demo's real photo.
///
/// TransLocator's second branch reads a semantic map (the paper uses HRNet trained on ADE20K),
/// and no segmentation network ships with translocator. These rules are a heuristic: they label
/// clouds and pale blue up high as sky, saturated blue as water, dim bluish gray as rock, green as tree (dark) or grass
/// (light), reddish brown as earth, gray as rock. They are not a segmentation model, and a
/// model's answer with such a map says little; real use passes HRNet's maps (`predict --seg`).
enum ColorRuleSegmentation {
    /// The rules' classes (ADE20K, 0-based, SceneParsing `objectInfo150` order); every one of
    /// them also occurs in the synthetic maps (`ADE20KClass`).
    static let classesUsed: [UInt8] = [ADE20KClass.sky, ADE20KClass.water, ADE20KClass.tree, ADE20KClass.grass,
                                              ADE20KClass.earth, ADE20KClass.rock]

    /// The map of `image`, the image's size.
    static func map(of image: Image) -> SegmentationMap {
        var classes = [UInt8](repeating: 0, count: image.width * image.height)
        for y in 0..<image.height {
            let upper = 2 * y + 1 < image.height          // the pixel centre lies above the middle
            for x in 0..<image.width {
                let i = y * image.width + x
                classes[i] = label(red: image.pixels[3 * i], green: image.pixels[3 * i + 1], blue: image.pixels[3 * i + 2],
                                   upperHalf: upper)
            }
        }
        return SegmentationMap(width: image.width, height: image.height, classes: classes)
    }

    /// One pixel's class. Thresholds are on 8-bit values, chosen by eye on the bundled Kauai photo
    /// (its ocean is bright saturated blue, its shaded cliffs dim bluish gray).
    static func label(red: UInt8, green: UInt8, blue: UInt8, upperHalf: Bool) -> UInt8 {
        let r = Int(red), g = Int(green), b = Int(blue)
        let brightest = max(r, g, b), darkest = min(r, g, b)
        let saturation = brightest == 0 ? 0 : Double(brightest - darkest) / Double(brightest)
        if saturation < 0.15 {
            // Unsaturated: bright is cloud (sky) up high, dark or low is bare rock.
            return brightest > 160 && upperHalf ? ADE20KClass.sky : ADE20KClass.rock
        }
        if b >= r && b >= g {
            // Blue: deep and saturated is water; dim and grayish is rock in shadow; pale and
            // bright is sky up high, water below.
            if saturation >= 0.4 { return ADE20KClass.water }
            if brightest < 140 { return ADE20KClass.rock }
            return upperHalf ? ADE20KClass.sky : ADE20KClass.water
        }
        if g >= r { return brightest < 110 ? ADE20KClass.tree : ADE20KClass.grass }
        return ADE20KClass.earth
    }
}
