import Foundation
import Testing
@testable import TNTImage

/// Every PngSuite image against OpenCV's imdecode(IMREAD_COLOR), and through the whole
/// PaddleClas pipeline.
@Suite struct PngSuiteTests {
    static let expected = expectations(fixtures + "/pngsuite.json")
    static let files = expected.keys.sorted()

    @Test func suiteIsComplete() throws {
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: pngSuiteDirectory).filter { $0.hasSuffix(".png") }
        #expect(Set(onDisk) == Set(Self.files), "PngSuite at \(pngSuiteDirectory)")
        #expect(Self.files.filter { $0.hasPrefix("x") }.count == 14)
        #expect(Self.files.count - 14 == 161)
    }

    @Test(arguments: files)
    func decodesAsOpenCVOrRejects(file: String) throws {
        let entry = Self.expected[file]!
        let data = try bytes(pngSuiteDirectory + "/" + file)
        guard entry.decodes! else {
            #expect(file.hasPrefix("x"), "only the x*.png files are corrupt")
            do {
                _ = try ImageDecoder.decode(data)
                Issue.record("\(file) decoded; OpenCV rejects it")
            } catch let error as ImageError {
                guard case .corrupt(_, let reason) = error else { Issue.record("\(file): \(error)"); return }
                #expect(!reason.isEmpty)
                print("\(file): \(error)")
            }
            return
        }
        let image = try ImageDecoder.decode(data)
        #expect(image.width == entry.width && image.height == entry.height)
        #expect(sha256(image.pixels) == entry.sha256, "\(file): RGB pixels differ from OpenCV's")

        let crop = try Preprocessor.cropped(image, config: PreprocessConfig())
        #expect(sha256(crop.pixels) == entry.crop_sha256, "\(file): crop differs from PaddleClas's")
        let tensor = Preprocessor.normalize(crop, config: PreprocessConfig())
        #expect(sha256(tensor) == entry.tensor_sha256, "\(file): tensor differs from PaddleClas's")
    }
}
