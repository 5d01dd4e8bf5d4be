// swift-tools-version:6.0
import PackageDescription

// The engine's kernels are written on SIMD8<Float> with addProduct; the compiler emits
// vfmadd231ps ymm only when told the CPU has AVX2 + FMA (DESIGN.md, "Scale"). Without it
// every FMA becomes a scalar libm call. The manifest is compiled for the building host, so
// this tests the host's architecture: other CPUs build the portable SIMD path.
// TRANSLOCATOR_PORTABLE=1 builds an x86-64 binary without AVX2 (for older x86 CPUs).
var engineFlags: [SwiftSetting] = []
#if arch(x86_64)
if Context.environment["TRANSLOCATOR_PORTABLE"] == nil {
    engineFlags.append(.unsafeFlags(["-target-cpu", "haswell"]))
}
#endif

let package = Package(
    name: "translocator",
    products: [
        .executable(name: "translocator", targets: ["CLI"]),
        .library(name: "TransLocatorKit",
                 targets: ["Parallel", "TensorEngine", "ImageCodec", "GeoCells", "Segmenter", "TransLocator", "Training"]),
    ],
    targets: [
        // Layers, imports pointing down (docs/ARCHITECTURE.md "Layers"). Parallel, the floor, splits
        // loops over Dispatch workers for the three modules above it.
        .target(name: "Parallel"),
        .target(name: "TensorEngine", dependencies: ["Parallel"], swiftSettings: engineFlags),
        .target(name: "ImageCodec", dependencies: ["Parallel"], swiftSettings: engineFlags),
        // GeoCells takes no FMA flag: S2 math must match Google's S2 bit for bit, and
        // -target-cpu would let the optimizer contract a*b+c into one rounding.
        .target(name: "GeoCells", dependencies: ["Parallel"]),
        // Models that are not TransLocator: SegFormer, which makes the maps TransLocator reads.
        .target(name: "Segmenter", dependencies: ["Parallel", "TensorEngine", "ImageCodec"], swiftSettings: engineFlags),
        .target(name: "TransLocator", dependencies: ["TensorEngine", "ImageCodec", "GeoCells", "Segmenter"], swiftSettings: engineFlags),
        .target(name: "Training", dependencies: ["Parallel", "TensorEngine", "ImageCodec", "GeoCells", "Segmenter", "TransLocator"],
                swiftSettings: engineFlags),
        .executableTarget(name: "CLI", dependencies: ["Training", "Segmenter"], swiftSettings: engineFlags),

        .testTarget(name: "TensorEngineTests", dependencies: ["TensorEngine"], resources: [.copy("Fixtures")], swiftSettings: engineFlags),
        .testTarget(name: "ImageCodecTests", dependencies: ["ImageCodec", "TensorEngine"], resources: [.copy("Fixtures")], swiftSettings: engineFlags),
        .testTarget(name: "GeoCellsTests", dependencies: ["GeoCells", "TensorEngine"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SegmenterTests", dependencies: ["Segmenter"], resources: [.copy("Fixtures")], swiftSettings: engineFlags),
        .testTarget(name: "TransLocatorTests", dependencies: ["TransLocator"], resources: [.copy("Fixtures")], swiftSettings: engineFlags),
        .testTarget(name: "TrainingTests", dependencies: ["Training"], swiftSettings: engineFlags),
        .testTarget(name: "CLITests", dependencies: ["CLI"], swiftSettings: engineFlags),
    ]
)
