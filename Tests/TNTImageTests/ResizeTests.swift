import Foundation
import Testing
@testable import TNTImage

/// Pillow's Image.resize, bicubic and bilinear, on generated images of many shapes.
@Suite struct ResizeTests {
    static let cases = try! FileManager.default.contentsOfDirectory(atPath: fixtures + "/resize")
        .filter { $0.hasSuffix(".png") && $0.split(separator: ".").count == 2 }
        .map { String($0.dropLast(4)) }.sorted()

    @Test func enoughCases() { #expect(Self.cases.count >= 20) }

    @Test(arguments: cases, Interpolation.allCases)
    func matchesPillow(name: String, filter: Interpolation) throws {
        let input = try ImageDecoder.decode(try bytes(fixtures + "/resize/\(name).png"))
        let expected = try ImageDecoder.decode(try bytes(fixtures + "/resize/\(name).\(filter.rawValue).png"))
        let resized = Resampler.resize(input, width: expected.width, height: expected.height, filter: filter)
        let (worst, differing) = compare(resized.pixels, expected.pixels)
        #expect(worst == 0, "\(name) \(filter): \(differing) values differ, by up to \(worst)")
    }

    @Test func regionEqualsCropOfFullResize() throws {
        let input = try ImageDecoder.decode(try bytes(fixtures + "/resize/101x67_to_73x48.png"))
        for filter in Interpolation.allCases {
            let full = Resampler.resize(input, width: 300, height: 199, filter: filter)
            let region = Resampler.resize(input, width: 300, height: 199, filter: filter, region: (37, 11, 224, 150))
            var expected: [UInt8] = []
            for y in 11..<161 { expected += full.pixels[(y * 300 + 37) * 3..<(y * 300 + 261) * 3] }
            #expect(region.pixels == expected)
        }
    }
}
