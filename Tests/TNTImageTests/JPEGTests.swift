import Foundation
import Testing
@testable import TNTImage

/// JPEGs written by Pillow (baseline, progressive, grayscale, 4:2:0, 4:2:2, 4:4:4, EXIF
/// orientation) against OpenCV's decoded pixels.
@Suite struct JPEGTests {
    static let names = try! FileManager.default.contentsOfDirectory(atPath: fixtures + "/jpeg")
        .filter { $0.hasSuffix(".jpg") }.sorted()

    @Test func coversTheRequiredKinds() {
        for kind in ["baseline420", "baseline444", "progressive420", "grayscale", "exif_orientation6"] {
            #expect(Self.names.contains(kind + ".jpg"))
        }
    }

    @Test(arguments: names)
    func matchesOpenCV(name: String) throws {
        let image = try ImageDecoder.decode(try bytes(fixtures + "/jpeg/" + name))
        let expected = try ImageDecoder.decode(try bytes(fixtures + "/jpeg/" + name.replacingOccurrences(of: ".jpg", with: ".expected.png")))
        #expect(image.width == expected.width && image.height == expected.height, "\(name): orientation or size")
        guard image.width == expected.width && image.height == expected.height else { return }
        let (worst, differing) = compare(image.pixels, expected.pixels)
        print("\(name): \(image.width)x\(image.height), max |Δ| \(worst), \(differing) of \(image.pixels.count) values differ")
        #expect(worst == 0, "\(name): differs from OpenCV by up to \(worst)")
    }

    @Test func orientationSwapsSides() throws {
        let upright = try ImageDecoder.decode(try bytes(fixtures + "/jpeg/baseline420.jpg"))
        let rotated = try ImageDecoder.decode(try bytes(fixtures + "/jpeg/exif_orientation6.jpg"))
        #expect(rotated.width == upright.height && rotated.height == upright.width)
    }
}
