import Foundation
import Testing
@testable import TNTImage

/// Real photographs (scikit-learn's samples) through decode, resize, crop and normalize,
/// against PaddleClas's own deploy/python/preprocess.py.
@Suite struct PipelineTests {
    static let expected = expectations(fixtures + "/pipeline.json")

    @Test(arguments: expected.keys.sorted())
    func matchesPaddleClas(name: String) throws {
        let image = try ImageDecoder.decode(try bytes(fixtures + "/pipeline/" + name))
        let config = PreprocessConfig()
        let crop = try Preprocessor.cropped(image, config: config)
        let paddleCrop = try ImageDecoder.decode(try bytes(fixtures + "/pipeline/" + name.replacingOccurrences(of: ".jpg", with: ".crop.png")))
        let tensor = Preprocessor.normalize(crop, config: config)
        let paddleTensor = Preprocessor.normalize(paddleCrop, config: config)
        let worst = zip(tensor, paddleTensor).map { abs($0 - $1) }.max()!
        print("\(name): \(image.width)x\(image.height), max |Δ| after normalisation \(worst) (bound \(1 / 127.5))")
        #expect(worst <= 1 / 127.5 + 1e-6)
        #expect(crop.pixels == paddleCrop.pixels, "\(name): crop not bit-exact with PaddleClas")
        // Our normalisation of PaddleClas's crop is bit for bit PaddleClas's tensor.
        let entry = Self.expected[name]!
        #expect(sha256(paddleTensor) == entry.tensor_sha256)
        #expect(sha256(tensor) == entry.tensor_sha256)
    }

    @Test func resizeShortRoundsHalfToEven() {
        var config = PreprocessConfig()
        config.resizeShort = 3
        // 3 / 2 · 5 = 7.5 → 8 (even); 3 / 2 · 3 = 4.5 → 4 (even), as Python's round.
        #expect(config.resizedSize(width: 5, height: 2) == (8, 3))
        #expect(config.resizedSize(width: 3, height: 2) == (4, 3))
        #expect(PreprocessConfig().resizedSize(width: 640, height: 427) == (372, 248))
    }

    @Test func configDecodesWithDefaults() throws {
        let config = try JSONDecoder().decode(PreprocessConfig.self, from: Data(#"{"resize_short": 256, "interpolation": "bilinear"}"#.utf8))
        #expect(config.resizeShort == 256 && config.interpolation == .bilinear && config.cropSize == 224 && config.mean == [0.5, 0.5, 0.5])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(PreprocessConfig.self, from: Data(#"{"std": [0, 1, 1]}"#.utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(PreprocessConfig.self, from: Data(#"{"interpolation": "lanczos"}"#.utf8)) }
    }
}
