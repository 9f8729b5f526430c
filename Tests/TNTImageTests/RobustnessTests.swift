import Foundation
import Testing
@testable import TNTImage

/// Hostile and broken inputs: only typed errors or images, never a crash.
@Suite struct RobustnessTests {
    /// Thousands of truncations and bit flips of valid files.
    @Test(arguments: ["pipeline/china.jpg", "jpeg/progressive420.jpg", "jpeg/grayscale.jpg", "resize/31x29_to_93x87.png"])
    func truncationsAndBitFlips(file: String) throws {
        let original = try bytes(fixtures + "/" + file)
        var rng = SystemRandomNumberGenerator()
        var images = 0, errors = 0
        let lengths = Array(stride(from: 0, to: original.count, by: max(1, original.count / 700)))
        for length in lengths {
            switch Result(catching: { try ImageDecoder.decode(Array(original.prefix(length))) }) {
            case .success: images += 1
            case .failure(let error): #expect(error is ImageError); errors += 1
            }
        }
        for _ in 0..<1500 {
            var mutated = original
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let i = Int.random(in: 0..<mutated.count, using: &rng)
                mutated[i] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            }
            switch Result(catching: { try ImageDecoder.decode(mutated) }) {
            case .success(let image): #expect(image.pixels.count == image.width * image.height * 3); images += 1
            case .failure(let error): #expect(error is ImageError); errors += 1
            }
        }
        print("\(file): \(lengths.count) truncations and 1500 bit-flipped copies -> \(images) images, \(errors) typed errors")
        #expect(images + errors == lengths.count + 1500)
    }

    @Test func limitsAreCheckedBeforeDecoding() throws {
        let png = try bytes(fixtures + "/resize/31x29_to_93x87.png")
        #expect(throws: ImageError.encodedTooLarge(bytes: png.count, limit: 100)) {
            try ImageDecoder.decode(png, limits: DecodeLimits(maxEncodedBytes: 100))
        }
        #expect(throws: ImageError.tooManyPixels(width: 31, height: 29, limit: 800)) {
            try ImageDecoder.decode(png, limits: DecodeLimits(maxPixels: 800))
        }
        let jpeg = try bytes(fixtures + "/pipeline/china.jpg")
        #expect(throws: ImageError.tooManyPixels(width: 640, height: 427, limit: 1000)) {
            try ImageDecoder.decode(jpeg, limits: DecodeLimits(maxPixels: 1000))
        }
    }

    /// A PNG header claiming 20000 x 20000 pixels is refused from the header alone.
    @Test func decompressionBombIsRefused() throws {
        var png = try bytes(fixtures + "/resize/1x1_to_5x3.png")
        for (offset, value) in [(16, 20_000), (20, 20_000)] {
            for i in 0..<4 { png[offset + i] = UInt8(truncatingIfNeeded: value >> (24 - 8 * i)) }
        }
        #expect(throws: ImageError.tooManyPixels(width: 20_000, height: 20_000, limit: DecodeLimits().maxPixels)) {
            try ImageDecoder.decode(png)
        }
    }

    @Test func emptyUnknownAndTinyInputs() throws {
        #expect(throws: ImageError.empty) { try ImageDecoder.decode([]) }
        #expect(throws: ImageError.unknownFormat(firstBytes: Array("GIF89a".utf8))) { try ImageDecoder.decode(Array("GIF89a".utf8)) }
        #expect(throws: ImageError.self) { try ImageDecoder.decode([0xFF, 0xD8, 0xFF]) }
        #expect(throws: ImageError.self) { try ImageDecoder.decode([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) }
    }

    @Test func cropLargerThanResizedImage() throws {
        var config = PreprocessConfig()
        config.cropSize = 300
        let image = RGBImage(width: 10, height: 10, pixels: .init(repeating: 7, count: 300))
        #expect(throws: ImageError.smallerThanCrop(width: 248, height: 248, crop: 300)) { try Preprocessor.tensor(image, config: config) }
    }

    @Test func oneByOneImageGoesThroughThePipeline() throws {
        let image = RGBImage(width: 1, height: 1, pixels: [10, 128, 250])
        let tensor = try Preprocessor.tensor(image, config: PreprocessConfig())
        #expect(tensor.count == 3 * 224 * 224)
        #expect(tensor[0] == (10 * Float(1.0 / 255.0) - 0.5) / 0.5)
    }

    /// 1×40000 resizes to 248×9920000: only the 224×224 crop is computed, in the memory of a
    /// square image; a column of one colour stays that colour.
    @Test func extremeAspectRatioIsCroppedWithoutTheFullResize() throws {
        let image = RGBImage(width: 1, height: 40_000, pixels: .init(repeating: 51, count: 120_000))
        let tensor = try Preprocessor.tensor(image, config: PreprocessConfig())
        #expect(tensor.count == 3 * 224 * 224)
        #expect(tensor.allSatisfy { $0 == (51 * Float(1.0 / 255.0) - 0.5) / 0.5 })
    }

    @Test func sideAndBombLimitsSayWhatTheyAre() throws {
        #expect(throws: ImageError.sideTooLong(width: 70_000, height: 1, limit: 65_500)) {
            try ImageDecoder.checkSize(width: 70_000, height: 1, encodedBytes: 1 << 20, limits: DecodeLimits())
        }
        // 7000x7000 declared by 349 bytes: a bomb; the same pixels from 1 MB are a photograph.
        #expect(throws: ImageError.tooFewBytesForPixels(width: 4000, height: 4000, bytes: 349, limit: 1024)) {
            try ImageDecoder.checkSize(width: 4000, height: 4000, encodedBytes: 349, limits: DecodeLimits())
        }
        try ImageDecoder.checkSize(width: 4000, height: 4000, encodedBytes: 1 << 20, limits: DecodeLimits())
        try ImageDecoder.checkSize(width: 1024, height: 1024, encodedBytes: 100, limits: DecodeLimits())
    }

    /// A text chunk whose length points far past the data (2^31-1) is refused from the chunk
    /// walk, before libpng reads it.
    @Test func textChunkDeclaringGigabytesIsRefused() throws {
        let png = try bytes(fixtures + "/resize/1x1_to_5x3.png")
        var chunk: [UInt8] = [0x7F, 0xFF, 0xFF, 0xFF] + Array("tEXt".utf8) + Array("Comment\0x".utf8)
        chunk += [0, 0, 0, 0]
        let withText = Array(png[0..<33]) + chunk + Array(png[33...])
        #expect(throws: ImageError.self) { try ImageDecoder.decode(withText) }
        do {
            _ = try ImageDecoder.decode(withText)
        } catch {
            #expect("\(error)".contains("2147483647 bytes"))
        }
    }
}
