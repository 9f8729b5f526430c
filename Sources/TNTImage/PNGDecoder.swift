import CPNGDecode
import Glibc

enum PNGDecoder {
    static func decode(_ bytes: UnsafeRawBufferPointer, limits: DecodeLimits) throws -> RGBImage {
        // IHDR comes first: its size is checked here, before libpng allocates anything.
        if let (width, height) = declaredSize(bytes), width > 0 && height > 0 {
            try ImageDecoder.checkSize(width: width, height: height, encodedBytes: bytes.count, limits: limits)
        }
        try checkChunks(bytes)
        var pixels: UnsafeMutablePointer<UInt8>?
        var width: UInt32 = 0, height: UInt32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let code = tnt_png_decode(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count,
                                  UInt64(limits.maxPixels), UInt32(clamping: limits.maxSide),
                                  &pixels, &width, &height, &message, message.count)
        defer { free(pixels) }
        let reason = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        switch Int(code) {
        case TNT_PNG_OK:
            let count = Int(width) * Int(height) * 3
            return RGBImage(width: Int(width), height: Int(height),
                            pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
        case TNT_PNG_NO_MEMORY:
            throw ImageError.unsupported(format: "PNG", reason: reason.isEmpty ? "out of memory" : reason)
        default:
            throw ImageError.corrupt(format: "PNG", reason: reason.isEmpty ? "undecodable" : reason)
        }
    }

    /// The width and height of the IHDR chunk, which comes first; nil without one.
    static func declaredSize(_ bytes: UnsafeRawBufferPointer) -> (width: Int, height: Int)? {
        guard bytes.count >= 24, bytes[12..<16].elementsEqual(Array("IHDR".utf8)) else { return nil }
        return (bigEndian32(bytes, at: 16), bigEndian32(bytes, at: 20))
    }

    private static func bigEndian32(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int {
        (0..<4).reduce(0) { $0 << 8 | Int(bytes[offset + $1]) }
    }

    /// Every chunk up to IEND lies within the bytes: a length that points past the end is
    /// refused before libpng reads (and allocates for) it.
    static func checkChunks(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 8
        while offset + 8 <= bytes.count {
            let length = bigEndian32(bytes, at: offset)
            let type = String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self)
            guard length <= Int(Int32.max) else {
                throw ImageError.corrupt(format: "PNG", reason: "chunk \(type.debugDescription) declares \(length) bytes, above PNG's 2^31-1")
            }
            let end = offset + 12 + length
            guard end <= bytes.count else {
                throw ImageError.corrupt(format: "PNG", reason: "chunk \(type.debugDescription) declares \(length) bytes but the data ends \(end - bytes.count) bytes early (truncated)")
            }
            if type == "IEND" { return }
            offset = end
        }
        throw ImageError.corrupt(format: "PNG", reason: "data ends before the IEND chunk (truncated)")
    }
}
