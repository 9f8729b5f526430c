/// Limits checked from the image header, before anything large is allocated: the encoded
/// size, the decoded pixel count, the side length, and the pixels per encoded byte
/// (decompression bombs: a few kilobytes that declare tens of millions of pixels).
public struct DecodeLimits: Equatable, Sendable {
    public var maxEncodedBytes: Int
    /// Decoding costs 3 bytes per pixel (RGB), plus the encoded bytes.
    public var maxPixels: Int
    /// Neither side may exceed this, whatever the pixel count: libjpeg's own limit is 65500.
    public var maxSide: Int
    /// Above `freePixels`, an image must bring at least one encoded byte per this many pixels.
    public var maxPixelsPerByte: Int
    /// Pixels any image may have whatever its encoded size (a flat 1-megapixel PNG is small).
    public var freePixels: Int

    public init(maxEncodedBytes: Int = 32 << 20, maxPixels: Int = 16_777_216, maxSide: Int = 65_500,
                maxPixelsPerByte: Int = 1024, freePixels: Int = 1 << 20) {
        self.maxEncodedBytes = maxEncodedBytes
        self.maxPixels = maxPixels
        self.maxSide = maxSide
        self.maxPixelsPerByte = maxPixelsPerByte
        self.freePixels = freePixels
    }
}

public enum ImageFormat: String, Sendable {
    case png = "PNG"
    case jpeg = "JPEG"

    /// The format named by the first bytes; never by a file name.
    public static func sniff(_ bytes: UnsafeRawBufferPointer) -> ImageFormat? {
        if bytes.count >= 8, bytes.prefix(8).elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF { return .jpeg }
        return nil
    }

    /// Most of the PNG signature is there but not all of it.
    static func looksLikeDamagedPNG(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        return bytes.count >= 8 && zip(bytes.prefix(8), signature).filter { $0 == $1 }.count >= 5
    }
}

/// Decodes PNG (libpng) and JPEG (libjpeg-turbo) to 8-bit RGB with OpenCV's
/// `imdecode(IMREAD_COLOR)` semantics, which PaddleClas's DecodeImage uses.
public enum ImageDecoder {
    public static func decode(_ bytes: [UInt8], limits: DecodeLimits = DecodeLimits()) throws -> RGBImage {
        try bytes.withUnsafeBytes { try decode($0, limits: limits) }
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer, limits: DecodeLimits = DecodeLimits()) throws -> RGBImage {
        guard !bytes.isEmpty else { throw ImageError.empty }
        guard bytes.count <= limits.maxEncodedBytes else {
            throw ImageError.encodedTooLarge(bytes: bytes.count, limit: limits.maxEncodedBytes)
        }
        switch ImageFormat.sniff(bytes) {
        case .png: return try PNGDecoder.decode(bytes, limits: limits)
        case .jpeg: return try JPEGDecoder.decode(bytes, limits: limits)
        case nil:
            if ImageFormat.looksLikeDamagedPNG(bytes) {
                throw ImageError.corrupt(format: "PNG", reason: "damaged signature \(bytes.prefix(8).map { String($0, radix: 16) }.joined(separator: " ")) (expected 89 50 4e 47 d a 1a a)")
            }
            throw ImageError.unknownFormat(firstBytes: Array(bytes.prefix(8)))
        }
    }

    /// The width and height the image's header declares, read without decoding; nil when
    /// there is no readable header.
    public static func declaredSize(_ bytes: [UInt8]) -> (width: Int, height: Int)? {
        bytes.withUnsafeBytes { raw in
            switch ImageFormat.sniff(raw) {
            case .png: PNGDecoder.declaredSize(raw)
            case .jpeg: JPEGDecoder.declaredSize(raw)
            case nil: nil
            }
        }
    }

    /// width × height as declared; 0 when unreadable.
    public static func declaredPixels(_ bytes: [UInt8]) -> Int {
        declaredSize(bytes).map { pixels(width: $0.width, height: $0.height) } ?? 0
    }

    /// width × height, saturating: a header or a message may declare 2^32 × 2^32.
    public static func pixels(width: Int, height: Int) -> Int {
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        return overflow ? .max : pixels
    }

    /// The header's size against the limits; `encodedBytes` nil for raw pixels.
    public static func checkSize(width: Int, height: Int, encodedBytes: Int?, limits: DecodeLimits) throws {
        guard width > 0 && height > 0 else { throw ImageError.corrupt(format: "image", reason: "zero-sized (\(width)x\(height))") }
        guard width <= limits.maxSide && height <= limits.maxSide else {
            throw ImageError.sideTooLong(width: width, height: height, limit: limits.maxSide)
        }
        guard width * height <= limits.maxPixels else {
            throw ImageError.tooManyPixels(width: width, height: height, limit: limits.maxPixels)
        }
        let (allowed, overflow) = (encodedBytes ?? 0).multipliedReportingOverflow(by: limits.maxPixelsPerByte)
        if let encodedBytes, width * height > limits.freePixels, !overflow, width * height > allowed {
            throw ImageError.tooFewBytesForPixels(width: width, height: height, bytes: encodedBytes, limit: limits.maxPixelsPerByte)
        }
    }
}
