import ArgumentParser
import Foundation
import TNTImage
import TNTModel

/// The preprocessing options shared by the commands that read images.
struct PreprocessOptions: ParsableArguments {
    @Option(help: "Resize the short side to this many pixels (PaddleClas ResizeImage resize_short).")
    var resizeShort = 248
    @Option(help: "bicubic or bilinear (Pillow's filters).") var interpolation = Interpolation.bicubic
    @Option(help: "Centre crop size.") var crop = 224
    @Option(help: "Per-channel mean after scaling by 1/255, three comma-separated values.") var mean = "0.5,0.5,0.5"
    @Option(help: "Per-channel standard deviation, three comma-separated values.") var std = "0.5,0.5,0.5"
    @Option(help: "Refuse encoded images larger than this many bytes.") var maxEncodedBytes = DecodeLimits().maxEncodedBytes
    @Option(help: "Refuse images with more pixels than this (checked from the header, before decoding).")
    var maxPixels = DecodeLimits().maxPixels

    var limits: DecodeLimits { DecodeLimits(maxEncodedBytes: maxEncodedBytes, maxPixels: maxPixels) }

    func config() throws -> PreprocessConfig {
        func triple(_ text: String, _ name: String) throws -> [Float] {
            let values = text.split(separator: ",").compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard values.count == 3 else { throw ValidationError("--\(name) takes three comma-separated numbers, got '\(text)'") }
            return values
        }
        var config = PreprocessConfig()
        config.resizeShort = resizeShort
        config.interpolation = interpolation
        config.cropSize = crop
        config.mean = try triple(mean, "mean")
        config.std = try triple(std, "std")
        do { try config.validate() } catch { throw ValidationError("\(error)") }
        return config
    }
}

extension Interpolation: ExpressibleByArgument {}

struct PreprocessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preprocess",
        abstract: "Write the float32 [1,3,crop,crop] tensor the model would receive for an image (PNG or JPEG)."
    )

    @Argument(help: "A PNG or JPEG file; the format is read from its bytes.") var image: String
    @Option(help: "Where to write the .npy tensor.") var output: String
    @OptionGroup var options: PreprocessOptions

    func run() throws {
        let config = try options.config()
        let decoded = try ImageDecoder.decode(try readImage(image), limits: options.limits)
        let tensor = try Preprocessor.tensor(decoded, config: config, limits: options.limits)
        try NPYArray(shape: [1, 3, config.cropSize, config.cropSize], values: tensor).write(to: output)
    }
}

struct BenchPreprocessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preprocess",
        abstract: "Median time of decode + resize + crop + normalize for each image, on one thread."
    )

    @Argument(help: "PNG or JPEG files.") var images: [String]
    @Option(help: "Seconds of measurement per image.") var seconds = 3.0
    @OptionGroup var options: PreprocessOptions

    func run() throws {
        let config = try options.config()
        print("| image | size | median ms | decode ms | resize+crop+normalize ms |")
        print("|---|---:|---:|---:|---:|")
        for path in images {
            let bytes = try readImage(path)
            var decoded = try ImageDecoder.decode(bytes)
            let total = try medianSeconds(budget: seconds) { _ = try Preprocessor.tensor(try ImageDecoder.decode(bytes), config: config) }
            let decode = try medianSeconds(budget: seconds / 2) { decoded = try ImageDecoder.decode(bytes) }
            let rest = try medianSeconds(budget: seconds / 2) { _ = try Preprocessor.tensor(decoded, config: config) }
            print(String(format: "| %@ | %dx%d | %.2f | %.2f | %.2f |", URL(fileURLWithPath: path).lastPathComponent,
                         decoded.width, decoded.height, total * 1000, decode * 1000, rest * 1000))
        }
    }
}
