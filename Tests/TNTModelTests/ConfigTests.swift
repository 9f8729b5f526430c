import Foundation
import Testing
@testable import TNTModel

@Suite struct ConfigTests {
    @Test func presetsMatchPaddleClas() throws {
        try TNTConfig.tntSmall.validate()
        try TNTConfig.tntBase.validate()
        let small = TNTWeights.parameterShapes(.tntSmall).values.reduce(0) { $0 + $1.reduce(1, *) }
        let base = TNTWeights.parameterShapes(.tntBase).values.reduce(0) { $0 + $1.reduce(1, *) }
        #expect(abs(Double(small) / 1e6 - 23.7) < 0.1, "TNT_small has \(small) parameters")
        #expect(abs(Double(base) / 1e6 - 65.3) < 0.2, "TNT_base has \(base) parameters")
        // PaddleClas's model card: 4.8 and 13.4 GFLOPs (multiply-adds) per 224×224 image.
        #expect(abs(Double(TNTConfig.tntSmall.multiplyAdds) / 1e9 - 5.2) < 0.1)
        #expect(TNTConfig.tntSmall.numTokens == 197 && TNTConfig.tntSmall.numPixel == 16)
    }

    @Test func resolvesPresetsAndFiles() throws {
        #expect(try TNTConfig.resolve("tnt_small") == .tntSmall)
        #expect(try TNTConfig.resolve("TNT_base") == .tntBase)
        let tiny = try TNTConfig.resolve(fixturesDirectory + "/tiny-sharp/config.json")
        #expect(tiny.embedDim == 128 && tiny.inDim == 8 && tiny.imgSize == 64 && tiny.classNum == 10)
        #expect(throws: TNTConfigError.unknownArchitecture("tnt_huge")) { try TNTConfig.resolve("tnt_huge") }
    }

    @Test func rejectsWhatPaddleClasCannotBuild() {
        let cases: [(String, String)] = [
            (#"{"embed_dim": 128, "in_dim": 12, "depth": 2, "num_heads": 2}"#, "in_dim × 16 must equal embed_dim"),
            (#"{"embed_dim": 128, "in_dim": 8, "depth": 2, "num_heads": 3}"#, "not divisible by num_heads"),
            (#"{"embed_dim": 128, "in_dim": 8, "depth": 2, "num_heads": 2, "patch_size": 8}"#, "patch_size must be 16"),
            (#"{"embed_dim": 128, "in_dim": 8, "depth": 2, "num_heads": 2, "img_size": 100}"#, "not a multiple"),
            (#"{"embed_dim": 128, "in_dim": 8, "depth": 0, "num_heads": 2}"#, "depth must be positive"),
            (#"{"embed_dim": 128, "in_dim": 8, "depth": 2, "num_heads": 2, "first_stride": 2}"#, "first_stride must be 4"),
        ]
        for (json, message) in cases {
            #expect {
                try TNTConfig.decode(json: Data(json.utf8))
            } throws: { error in
                "\(error)".contains(message)
            }
        }
        #expect(throws: TNTConfigError.self) { try TNTConfig.decode(json: Data(#"{"embed_dim": 128}"#.utf8)) }
    }
}
