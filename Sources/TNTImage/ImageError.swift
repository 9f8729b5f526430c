/// Why an image could not be turned into a model input. Each case reads as a message a
/// caller can act on (`description`).
public enum ImageError: Error, Equatable, CustomStringConvertible {
    case empty
    case encodedTooLarge(bytes: Int, limit: Int)
    case tooManyPixels(width: Int, height: Int, limit: Int)
    case sideTooLong(width: Int, height: Int, limit: Int)
    case tooFewBytesForPixels(width: Int, height: Int, bytes: Int, limit: Int)
    case unknownFormat(firstBytes: [UInt8])
    case corrupt(format: String, reason: String)
    case unsupported(format: String, reason: String)
    case smallerThanCrop(width: Int, height: Int, crop: Int)
    case invalidPixels(reason: String)

    public var description: String {
        switch self {
        case .empty: "the image is empty (0 bytes)"
        case .encodedTooLarge(let bytes, let limit): "the encoded image is \(bytes) bytes, above the limit of \(limit)"
        case .tooManyPixels(let w, let h, let limit): "the image is \(w)x\(h) = \(w * h) pixels, above the limit of \(limit) (--max-image-pixels)"
        case .sideTooLong(let w, let h, let limit): "the image is \(w)x\(h); a side above \(limit) pixels is not decoded"
        case .tooFewBytesForPixels(let w, let h, let bytes, let limit):
            "the image declares \(w)x\(h) = \(w * h) pixels in only \(bytes) bytes, more than \(limit) pixels per byte: refused as a decompression bomb (--max-image-pixels-per-byte)"
        case .unknownFormat(let bytes):
            "not a PNG or JPEG image (starts with \(bytes.map { String($0, radix: 16) }.joined(separator: " ")))"
        case .corrupt(let format, let reason): "corrupt \(format): \(reason)"
        case .unsupported(let format, let reason): "unsupported \(format): \(reason)"
        case .smallerThanCrop(let w, let h, let crop): "the resized image \(w)x\(h) is smaller than the \(crop)x\(crop) crop"
        case .invalidPixels(let reason): "invalid raw pixels: \(reason)"
        }
    }
}
