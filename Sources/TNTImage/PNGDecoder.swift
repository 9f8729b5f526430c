import CPNGDecode
import Glibc

enum PNGDecoder {
    static func decode(_ bytes: UnsafeRawBufferPointer, limits: DecodeLimits) throws -> RGBImage {
        // IHDR comes first: its size is checked here, before libpng allocates anything.
        if bytes.count >= 24, bytes[12..<16].elementsEqual(Array("IHDR".utf8)) {
            let be32 = { (at: Int) in (0..<4).reduce(0) { $0 << 8 | Int(bytes[at + $1]) } }
            let width = be32(16), height = be32(20)
            if width > 0 && height > 0 { try ImageDecoder.checkSize(width: width, height: height, limits: limits) }
        }
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
}
