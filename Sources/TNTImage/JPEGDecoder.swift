import CTurboJPEG

/// JPEG through the TurboJPEG API with libjpeg's defaults (accurate integer IDCT, fancy
/// upsampling), as OpenCV decodes; then the EXIF orientation applied, as `imdecode` does.
enum JPEGDecoder {
    static func decode(_ bytes: UnsafeRawBufferPointer, limits: DecodeLimits) throws -> RGBImage {
        guard let handle = tjInitDecompress() else { throw ImageError.unsupported(format: "JPEG", reason: "cannot create a decoder") }
        defer { tjDestroy(handle) }
        let source = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let size = UInt(bytes.count)
        guard let (width, height, colorspace) = header(handle, bytes) else {
            throw ImageError.corrupt(format: "JPEG", reason: message(handle))
        }
        try ImageDecoder.checkSize(width: Int(width), height: Int(height), encodedBytes: bytes.count, limits: limits)
        let fourChannel = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
        let channels = fourChannel ? 4 : 3
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * channels)
        let format = fourChannel ? TJPF_CMYK : TJPF_RGB
        let status = pixels.withUnsafeMutableBufferPointer {
            tjDecompress2(handle, source, size, $0.baseAddress, width, 0, height, Int32(format.rawValue), 0)
        }
        // A warning (for example data ending early, filled with grey) still gives an image,
        // as libjpeg does for OpenCV; an error does not.
        if status != 0 && tjGetErrorCode(handle) != Int32(TJERR_WARNING.rawValue) {
            throw ImageError.corrupt(format: "JPEG", reason: message(handle))
        }
        if fourChannel { pixels = rgb(fromInvertedCMYK: pixels) }
        let image = RGBImage(width: Int(width), height: Int(height), pixels: pixels)
        return ExifOrientation.read(jpeg: bytes).apply(to: image)
    }

    /// OpenCV's CMYK → BGR for JPEG (libjpeg gives YCCK as CMYK too; Adobe's CMYK is stored
    /// inverted): each channel k − ((255 − c)·k >> 8).
    static func rgb(fromInvertedCMYK cmyk: [UInt8]) -> [UInt8] {
        let count = cmyk.count / 4
        var rgb = [UInt8](repeating: 0, count: count * 3)
        for i in 0..<count {
            let k = Int(cmyk[i * 4 + 3])
            for c in 0..<3 { rgb[i * 3 + c] = UInt8(k - (((255 - Int(cmyk[i * 4 + c])) * k) >> 8)) }
        }
        return rgb
    }

    static func declaredSize(_ bytes: UnsafeRawBufferPointer) -> (width: Int, height: Int)? {
        guard let handle = tjInitDecompress() else { return nil }
        defer { tjDestroy(handle) }
        return header(handle, bytes).map { (Int($0.width), Int($0.height)) }
    }

    /// The frame header's size and colour space; nil when libjpeg cannot read it.
    private static func header(_ handle: tjhandle, _ bytes: UnsafeRawBufferPointer) -> (width: Int32, height: Int32, colorspace: Int32)? {
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        guard tjDecompressHeader3(handle, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt(bytes.count),
                                  &width, &height, &subsampling, &colorspace) == 0 else { return nil }
        return (width, height, colorspace)
    }

    private static func message(_ handle: tjhandle) -> String {
        String(cString: tjGetErrorStr2(handle))
    }
}
