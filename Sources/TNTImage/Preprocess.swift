/// The inference preprocessing of a PaddleClas model: resize the short side, centre-crop,
/// scale, subtract the mean, divide by the standard deviation, CHW. The defaults are
/// PaddleClas's TNT_small.yaml `Infer.transforms`.
public struct PreprocessConfig: Codable, Equatable, Sendable {
    public var resizeShort = 248
    public var interpolation = Interpolation.bicubic
    public var cropSize = 224
    public var scale: Float = 1.0 / 255.0
    public var mean: [Float] = [0.5, 0.5, 0.5]
    public var std: [Float] = [0.5, 0.5, 0.5]

    enum CodingKeys: String, CodingKey {
        case resizeShort = "resize_short", interpolation, cropSize = "crop_size", scale, mean, std
    }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = PreprocessConfig()
        resizeShort = try c.decodeIfPresent(Int.self, forKey: .resizeShort) ?? defaults.resizeShort
        interpolation = try c.decodeIfPresent(Interpolation.self, forKey: .interpolation) ?? defaults.interpolation
        cropSize = try c.decodeIfPresent(Int.self, forKey: .cropSize) ?? defaults.cropSize
        scale = try c.decodeIfPresent(Float.self, forKey: .scale) ?? defaults.scale
        mean = try c.decodeIfPresent([Float].self, forKey: .mean) ?? defaults.mean
        std = try c.decodeIfPresent([Float].self, forKey: .std) ?? defaults.std
        try validate()
    }

    public func validate() throws {
        func fail(_ why: String) -> DecodingError {
            DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "preprocess: \(why)"))
        }
        guard resizeShort > 0, cropSize > 0 else { throw fail("resize_short and crop_size must be positive") }
        guard mean.count == 3, std.count == 3 else { throw fail("mean and std need 3 values, one per channel") }
        guard std.allSatisfy({ $0 != 0 && $0.isFinite }), mean.allSatisfy(\.isFinite), scale.isFinite else {
            throw fail("std must be nonzero and every value finite")
        }
    }

    /// Width and height after PaddleClas's ResizeImage(resize_short): Python's round, half to even.
    public func resizedSize(width: Int, height: Int) -> (width: Int, height: Int) {
        let percent = Double(resizeShort) / Double(min(width, height))
        return (Int((Double(width) * percent).rounded(.toNearestOrEven)),
                Int((Double(height) * percent).rounded(.toNearestOrEven)))
    }
}

public enum Preprocessor {
    /// The float32 CHW tensor (3 × crop × crop) PaddleClas's pipeline makes of `image`.
    public static func tensor(_ image: RGBImage, config: PreprocessConfig, limits: DecodeLimits = DecodeLimits()) throws -> [Float] {
        let crop = try cropped(image, config: config, limits: limits)
        return normalize(crop, config: config)
    }

    /// ResizeImage then CropImage: the uint8 crop.
    public static func cropped(_ image: RGBImage, config: PreprocessConfig, limits: DecodeLimits = DecodeLimits()) throws -> RGBImage {
        // Only the crop is computed, so the resized size itself costs nothing (Resampler).
        let (w, h) = config.resizedSize(width: image.width, height: image.height)
        let size = config.cropSize
        guard w >= size, h >= size else { throw ImageError.smallerThanCrop(width: w, height: h, crop: size) }
        let region = (x: (w - size) / 2, y: (h - size) / 2, width: size, height: size)
        return Resampler.resize(image, width: w, height: h, filter: config.interpolation, region: region)
    }

    /// NormalizeImage in float32, (v·scale − mean) / std, then CHW.
    public static func normalize(_ image: RGBImage, config: PreprocessConfig) -> [Float] {
        let plane = image.width * image.height
        var out = [Float](repeating: 0, count: 3 * plane)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<3 {
                    let mean = config.mean[c], std = config.std[c], scale = config.scale
                    let channel = dst.baseAddress! + c * plane
                    for i in 0..<plane { channel[i] = (Float(src[i * 3 + c]) * scale - mean) / std }
                }
            }
        }
        return out
    }
}
