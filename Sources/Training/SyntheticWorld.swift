import Foundation
import TensorEngine
import GeoCells
import ImageCodec

// A made-up planet laid over the real one, for `translocator synthesize`: every place gets a
// look (climate colours by latitude, terrain from smooth random fields over the sphere) that a
// model can learn, and every photo adds nuisance (lighting, tilt, noise, its own layout). It
// tests the training machinery end to end; it says nothing about geolocating real photos.

/// ADE20K's 150 classes (0-based, SceneParsing `objectInfo150` order) that synthetic maps use.
enum ADE20KClass {
    static let building: UInt8 = 1
    static let sky: UInt8 = 2
    static let tree: UInt8 = 4
    static let road: UInt8 = 6
    static let grass: UInt8 = 9
    static let earth: UInt8 = 13
    static let mountain: UInt8 = 16
    static let water: UInt8 = 21
    static let field: UInt8 = 29
    static let rock: UInt8 = 34
    static let sand: UInt8 = 46
}

/// A smooth random function on the unit sphere: a sum of plane waves sin(f·(d·p) + φ) with
/// random directions d, frequencies f (radians per unit length on the sphere) and phases,
/// amplitudes 1/f, squashed to (-1, 1). Frequencies 1.5–24 give features from continents down
/// to ~1500 km.
struct SphereField: Sendable {
    private var directions: [SIMD3<Double>] = []
    private var frequencies: [Double] = []
    private var phases: [Double] = []
    private var amplitudes: [Double] = []
    private var normalization = 1.0

    init(random: inout CounterRandom, waves: Int = 24, maxFrequency: Double = 24) {
        var power = 0.0
        for _ in 0..<waves {
            let z = random.uniform(-1, 1), angle = random.uniform(0, 2 * .pi)
            let r = (1 - z * z).squareRoot()
            directions.append(SIMD3(r * cos(angle), r * sin(angle), z))
            let frequency = 1.5 * pow(maxFrequency / 1.5, random.nextUnit())     // log-uniform
            frequencies.append(frequency)
            phases.append(random.uniform(0, 2 * .pi))
            amplitudes.append(1 / frequency.squareRoot())
            power += 0.5 / frequency
        }
        normalization = 1 / power.squareRoot()
    }

    /// The field at unit vector `p`, in (-1, 1).
    func value(at p: SIMD3<Double>) -> Double {
        var sum = 0.0
        for k in directions.indices {
            sum += amplitudes[k] * sin(frequencies[k] * (directions[k] * p).sum() + phases[k])
        }
        return tanh(sum * normalization)
    }
}

/// What a place looks like: the fields of the synthetic planet at one coordinate.
struct PlaceLook: Sendable {
    var absoluteLatitude: Double
    var elevation: Double          // (-1, 1): mountains above ~0
    var moisture: Double           // (-1, 1): water and lush ground when high
    var urban: Double              // (-1, 1): buildings and roads above ~0.2
    var tintRed: Double, tintGreen: Double   // (-1, 1): a regional colour cast of the ground
    var textureAngle: Double       // radians: the ground's stripe direction
    var textureCycles: Double      // stripes across the image
}

/// The synthetic planet of one seed.
struct SyntheticWorld: Sendable {
    let seed: UInt64
    private let elevation, moisture, urban, tintRed, tintGreen, textureAngle, textureCycles: SphereField

    init(seed: UInt64) {
        self.seed = seed
        var random = CounterRandom(seed: seed, stream: RandomStream.synthesis.rawValue, epoch: -1, index: 0)
        elevation = SphereField(random: &random)
        moisture = SphereField(random: &random)
        urban = SphereField(random: &random, maxFrequency: 30)
        tintRed = SphereField(random: &random, maxFrequency: 30)
        tintGreen = SphereField(random: &random, maxFrequency: 30)
        textureAngle = SphereField(random: &random, maxFrequency: 30)
        textureCycles = SphereField(random: &random, maxFrequency: 30)
    }

    func look(at coordinate: GeoCoordinate) -> PlaceLook {
        let latitude = coordinate.latitude * .pi / 180, longitude = coordinate.longitude * .pi / 180
        let p = SIMD3(cos(latitude) * cos(longitude), cos(latitude) * sin(longitude), sin(latitude))
        return PlaceLook(absoluteLatitude: abs(coordinate.latitude), elevation: elevation.value(at: p),
                         moisture: moisture.value(at: p), urban: urban.value(at: p),
                         tintRed: tintRed.value(at: p), tintGreen: tintGreen.value(at: p),
                         textureAngle: .pi * textureAngle.value(at: p), textureCycles: 5 + 4 * textureCycles.value(at: p))
    }
}

/// One synthetic photo, its ADE20K class map (same size, aligned) and its scene category (an
/// index into `SyntheticScene.hierarchyCSV`).
struct SyntheticSample: Sendable {
    var photo: Image
    var classMap: [UInt8]
    var scene: Int
}

/// The scene categories of synthetic photos, by what dominates them, with their places in the
/// Places365 hierarchy (3 and 16 groups, in the official file's column order).
package enum SyntheticScene {
    /// (Places365 name, level-1 group, level-2 group).
    package static let categories: [(name: String, group3: Int, group16: Int)] = [
        ("/c/coast", 1, 6),             // outdoor natural; water, ice, snow
        ("/m/mountain", 1, 7),          // outdoor natural; mountains, hills, desert, sky
        ("/d/desert/sand", 1, 7),
        ("/f/forest/broadleaf", 1, 8),  // outdoor natural; forest, field, jungle
        ("/f/field/wild", 1, 8),
        ("/d/downtown", 2, 15),         // outdoor man-made; commercial buildings, shops, markets, cities, and towns
        ("/s/snowfield", 1, 6),
    ]
    static let coast = 0, mountain = 1, desert = 2, forest = 3, field = 4, downtown = 5, snowfield = 6

    /// The hierarchy of these categories in Places365's `scene_hierarchy_places365.csv` format.
    static var hierarchyCSV: String {
        let groups3 = ["indoor", "outdoor natural", "outdoor man-made"]
        let groups16 = ["shopping and dining", "workplace", "home or hotel", "transportation (indoor)", "sports and leisure",
                        "cultural (indoor)", "water, ice, snow", "mountains, hills, desert, sky", "forest, field, jungle",
                        "man-made elements", "transportation (outdoor)", "cultural or historical building/place",
                        "sports fields, parks, leisure spaces", "industrial and construction",
                        "houses, cabins, gardens, and farms", "commercial buildings, shops, markets, cities, and towns"]
        var text = "synthetic scene hierarchy (translocator synthesize),level 1 (3 groups),,,level 2 (16 groups)"
            + String(repeating: ",", count: 15) + "\n"
        text += "category," + (groups3 + groups16).map(csvField).joined(separator: ",") + "\n"
        for category in categories {
            let flags3 = (0..<3).map { $0 == category.group3 ? "1" : "0" }
            let flags16 = (0..<16).map { $0 == category.group16 ? "1" : "0" }
            text += "'\(category.name)'," + (flags3 + flags16).joined(separator: ",") + "\n"
        }
        return text
    }
}

extension SyntheticWorld {
    /// Renders the photo of image `index` taken at `coordinate`: `size` x `size` pixels.
    /// Deterministic in (seed, index, coordinate, size).
    func render(at coordinate: GeoCoordinate, index: Int, size: Int) -> SyntheticSample {
        precondition(size >= 8, "synthetic images of \(size) pixels")
        let look = look(at: coordinate)
        var random = CounterRandom(seed: seed, stream: RandomStream.synthesis.rawValue, epoch: 0, index: index)
        let layout = Layout(look: look, random: &random)
        var pixels = [UInt8](repeating: 0, count: size * size * 3)
        var classMap = [UInt8](repeating: 0, count: size * size)
        var counts = [Int](repeating: 0, count: 150)
        let tiltCos = cos(layout.tiltRadians), tiltSin = sin(layout.tiltRadians)
        for row in 0..<size {
            for column in 0..<size {
                let u = (Double(column) + 0.5) / Double(size) - 0.5, v = (Double(row) + 0.5) / Double(size) - 0.5
                let x = u * tiltCos + v * tiltSin + 0.5, y = -u * tiltSin + v * tiltCos + 0.5
                let (label, base) = layout.surface(x: x, y: y)
                let shade = layout.shade(x: x, y: y, label: label)
                var noise = SIMD3<Double>(random.uniform(-1, 1), random.uniform(-1, 1), random.uniform(-1, 1))
                noise *= layout.noiseAmplitude
                let color = (base * shade * layout.lighting + noise).clamped(lowerBound: .zero, upperBound: SIMD3(repeating: 255))
                let offset = (row * size + column) * 3
                pixels[offset] = UInt8(color.x.rounded())
                pixels[offset + 1] = UInt8(color.y.rounded())
                pixels[offset + 2] = UInt8(color.z.rounded())
                classMap[row * size + column] = label
                counts[Int(label)] += 1
            }
        }
        return SyntheticSample(photo: Image(width: size, height: size, pixels: pixels), classMap: classMap,
                               scene: Self.scene(counts: counts, look: look))
    }

    /// The category whose content covers the most of the picture (sky left out).
    private static func scene(counts: [Int], look: PlaceLook) -> Int {
        let c = { (label: UInt8) in counts[Int(label)] }
        let candidates: [(Int, Int)] = [
            (SyntheticScene.coast, c(ADE20KClass.water)),
            (SyntheticScene.mountain, c(ADE20KClass.mountain) + c(ADE20KClass.rock)),
            (SyntheticScene.desert, c(ADE20KClass.sand)),
            (SyntheticScene.forest, c(ADE20KClass.tree)),
            (SyntheticScene.field, c(ADE20KClass.grass) + c(ADE20KClass.field)),
            (SyntheticScene.downtown, c(ADE20KClass.building) + c(ADE20KClass.road)),
            (SyntheticScene.snowfield, c(ADE20KClass.earth)),
        ]
        return candidates.max { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 > $1.0) }!.0
    }
}

/// One photo's composition: where the horizon, ridge, buildings, water and trees are, and the
/// colours of the place, drawn from the place's look and the photo's own random stream.
private struct Layout {
    let look: PlaceLook
    let tiltRadians: Double
    let horizon: Double
    let ridgeAmplitude: Double
    let ridgeWaves: [(frequency: Double, phase: Double)]
    let buildings: [(left: Double, right: Double, top: Double)]
    let roadCenter: Double, roadWidth: Double
    let groundWaves: [(x: Double, y: Double, phase: Double)]
    let waterThreshold: Double, treeThreshold: Double
    let groundLabel: UInt8
    let lighting: SIMD3<Double>
    let noiseAmplitude: Double
    let skyColor, groundColor, treeColor, waterColor, mountainColor: SIMD3<Double>
    let snowLine: Double

    init(look: PlaceLook, random: inout CounterRandom) {
        self.look = look
        tiltRadians = random.uniform(-10, 10) * .pi / 180                     // nuisance: camera roll
        horizon = random.uniform(0.35, 0.55)
        ridgeAmplitude = look.elevation > -0.1 ? 0.3 * (look.elevation + 0.1) * random.uniform(0.7, 1.3) : 0
        ridgeWaves = (0..<3).map { k in (Double(k + 1) * random.uniform(4, 8), random.uniform(0, 2 * .pi)) }
        var buildings: [(Double, Double, Double)] = []
        if look.urban > 0.3 {
            let count = Int(2 + 10 * look.urban * random.uniform(0.5, 1.5))
            for _ in 0..<count {
                let left = random.uniform(-0.1, 1), width = random.uniform(0.05, 0.16)
                buildings.append((left, left + width, horizon - random.uniform(0.05, 0.15 + 0.35 * look.urban)))
            }
        }
        self.buildings = buildings
        roadCenter = look.urban > 0.3 ? random.uniform(0.3, 0.7) : -10
        roadWidth = random.uniform(0.15, 0.3)
        groundWaves = (0..<3).map { _ in (random.uniform(-9, 9), random.uniform(-9, 9), random.uniform(0, 2 * .pi)) }
        waterThreshold = 1.6 * look.moisture - 1.4 + random.uniform(-0.2, 0.2)    // wet places: more water
        let latitude = look.absoluteLatitude
        // Climate bands: tropical < 15°, dry subtropics 15–35°, temperate 35–55°, boreal 55–68°, polar.
        let climate: (label: UInt8, ground: SIMD3<Double>, tree: SIMD3<Double>, vegetation: Double)
        if latitude < 15 {
            climate = look.moisture > -0.3 ? (ADE20KClass.grass, SIMD3(40, 140, 45), SIMD3(20, 100, 35), 0.7)
                                           : (ADE20KClass.field, SIMD3(170, 160, 80), SIMD3(20, 100, 35), 0.5)
        } else if latitude < 35 {
            climate = look.moisture < 0.2 ? (ADE20KClass.sand, SIMD3(215, 185, 125), SIMD3(95, 110, 55), 0.05)
                                          : (ADE20KClass.field, SIMD3(175, 165, 95), SIMD3(95, 110, 55), 0.3)
        } else if latitude < 55 {
            climate = look.moisture > -0.2 ? (ADE20KClass.grass, SIMD3(95, 155, 65), SIMD3(45, 115, 50), 0.45)
                                           : (ADE20KClass.field, SIMD3(185, 170, 100), SIMD3(45, 115, 50), 0.35)
        } else if latitude < 68 {
            climate = look.elevation > 0.3 ? (ADE20KClass.rock, SIMD3(125, 122, 118), SIMD3(25, 65, 45), 0.5)
                                           : (ADE20KClass.grass, SIMD3(70, 110, 70), SIMD3(25, 65, 45), 0.65)
        } else {
            climate = (ADE20KClass.earth, SIMD3(232, 238, 245), SIMD3(30, 60, 45), 0.02)   // snow: ADE20K has no snow class
        }
        let vegetation = climate.vegetation
        groundLabel = climate.label
        treeThreshold = 1 - 1.6 * vegetation + random.uniform(-0.15, 0.15)
        let tint = SIMD3(30 * look.tintRed, 30 * look.tintGreen, -15 * (look.tintRed + look.tintGreen))
        groundColor = climate.ground + tint
        treeColor = climate.tree + 0.5 * tint
        let polar = min(1, latitude / 75)
        let overcast = random.nextUnit() < 0.25 + 0.3 * max(0, look.moisture) ? random.uniform(0.5, 1) : 0
        let clearSky = SIMD3<Double>(60, 125, 215) * (1 - polar) + SIMD3<Double>(165, 195, 230) * polar
        skyColor = clearSky * (1 - overcast) + SIMD3<Double>(185, 188, 192) * overcast
        waterColor = latitude < 25 ? SIMD3(35, 150, 170) : SIMD3(35, 85, 140)
        mountainColor = latitude < 40 && look.moisture < 0 ? SIMD3(160, 115, 85) : SIMD3(110, 105, 110)
        snowLine = latitude > 45 ? 0.5 : latitude > 30 ? 0.2 : 0
        // Nuisance: exposure and colour temperature of the moment, sensor noise.
        let exposure = random.uniform(0.7, 1.25), warmth = random.uniform(-0.12, 0.12)
        lighting = SIMD3(exposure * (1 + warmth), exposure, exposure * (1 - warmth))
        noiseAmplitude = random.uniform(2, 10)
    }

    /// The class and base colour of the surface at (x, y) in [0, 1]² (y down).
    func surface(x: Double, y: Double) -> (UInt8, SIMD3<Double>) {
        for building in buildings where x >= building.left && x < building.right && y >= building.top && y < horizon {
            let shade = 0.75 + 0.25 * sin(37 * building.left)
            return (ADE20KClass.building, SIMD3(150, 142, 135) * shade)
        }
        if y < horizon {
            var ridge = horizon
            if ridgeAmplitude > 0 {
                var sum = 0.0
                for wave in ridgeWaves { sum += sin(wave.frequency * x + wave.phase) / wave.frequency }
                ridge = horizon - ridgeAmplitude * (0.6 + 0.4 * sum * 3)
            }
            guard y >= ridge else { return (ADE20KClass.sky, skyColor) }
            let depth = (y - ridge) / max(1e-6, horizon - ridge)
            if depth < snowLine * 0.5 { return (ADE20KClass.mountain, SIMD3(235, 238, 242)) }
            return (ADE20KClass.mountain, mountainColor)
        }
        let below = (y - horizon) / max(1e-6, 1 - horizon)                  // 0 at the horizon, 1 at the bottom
        if abs(x - roadCenter) < roadWidth * below { return (ADE20KClass.road, SIMD3(90, 90, 96)) }
        var noise = 0.0
        for wave in groundWaves { noise += sin(wave.x * x + wave.y * below / (below + 0.3) + wave.phase) }
        noise /= 2.1
        if noise < waterThreshold { return (ADE20KClass.water, waterColor) }
        var trees = 0.0
        for wave in groundWaves { trees += cos(1.7 * wave.y * x - 1.3 * wave.x * below + wave.phase) }
        if trees / 2.1 > treeThreshold { return (ADE20KClass.tree, treeColor) }
        return (groundLabel, groundColor)
    }

    /// Texture: stripes in the place's direction and density (ground, trees, mountains), a soft
    /// gradient in the sky.
    func shade(x: Double, y: Double, label: UInt8) -> Double {
        if label == ADE20KClass.sky { return 1.05 - 0.2 * y }
        let along = x * cos(look.textureAngle) + y * sin(look.textureAngle)
        return 1 + 0.14 * sin(2 * .pi * look.textureCycles * along)
    }
}
