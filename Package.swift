// swift-tools-version:6.1
import PackageDescription

// The forward-pass kernels are written with Swift SIMD types; without a target CPU the
// compiler emits baseline SSE2 only. x86-64-v3 (AVX2 + FMA) is every server CPU since 2013.
// Debug builds optimise the kernels too, so tests run full-size models in seconds.
#if arch(x86_64)
let kernelFlags: [SwiftSetting] = [
    .unsafeFlags(["-Xcc", "-march=x86-64-v3"]),
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]
#else
let kernelFlags: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]
#endif

let package = Package(
    name: "TNTServe",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tnt", targets: ["tnt"]),
        .library(name: "TNTInference", targets: ["TNTModel", "TNTImage"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .target(name: "CAllocationCounter"),
        .target(name: "CPNGDecode", dependencies: ["CPNG"]),

        .target(name: "TNTModel", dependencies: ["COpenBLAS"], swiftSettings: kernelFlags),
        .target(name: "TNTImage", dependencies: ["CPNGDecode", "CTurboJPEG"], swiftSettings: kernelFlags),
        .executableTarget(
            name: "tnt",
            dependencies: [
                "TNTModel", "TNTImage", "COpenBLAS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(
            name: "TNTModelTests",
            dependencies: ["TNTModel", "CAllocationCounter"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "TNTImageTests",
            dependencies: ["TNTImage"],
            resources: [.copy("Fixtures")]
        ),
    ]
)
