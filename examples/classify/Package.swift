// swift-tools-version:6.1
// A program of its own that classifies images with TNTServe's in-process library:
//   swift run -c release classify ../../models/digits ../digit3.png
import PackageDescription

let package = Package(
    name: "classify",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "TNTServe", path: "../..")],
    targets: [
        .executableTarget(name: "classify", dependencies: [.product(name: "TNTInference", package: "TNTServe")]),
    ]
)
