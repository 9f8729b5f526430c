import CTurboJPEG

/// JPEG through the TurboJPEG API with libjpeg's defaults (accurate integer IDCT, fancy
/// upsampling), as OpenCV decodes; then the EXIF orientation applied, as `imdecode` does.
enum JPEGDecoder {
    static func decode(_ bytes: UnsafeRawBufferPointer, limits: DecodeLimits) throws -> RGBImage {
        guard let handle = tjInitDecompress() else { throw ImageError.unsupported(format: "JPEG", reason: "cannot create a decoder") }
        defer { tjDestroy(handle) }
        let source = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let size = UInt(bytes.count)
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        guard tjDecompressHeader3(handle, source, size, &width, &height, &subsampling, &colorspace) == 0 else {
            throw ImageError.corrupt(format: "JPEG", reason: message(handle))
        }
        try ImageDecoder.checkSize(width: Int(width), height: Int(height), limits: limits)
        if colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue) {
            throw ImageError.unsupported(format: "JPEG", reason: "CMYK/YCCK colour space")
        }
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * 3)
        let status = pixels.withUnsafeMutableBufferPointer {
            tjDecompress2(handle, source, size, $0.baseAddress, width, 0, height, Int32(TJPF_RGB.rawValue), 0)
        }
        // A warning (for example data ending early, filled with grey) still gives an image,
        // as libjpeg does for OpenCV; an error does not.
        if status != 0 && tjGetErrorCode(handle) != Int32(TJERR_WARNING.rawValue) {
            throw ImageError.corrupt(format: "JPEG", reason: message(handle))
        }
        let image = RGBImage(width: Int(width), height: Int(height), pixels: pixels)
        return ExifOrientation.read(jpeg: bytes).apply(to: image)
    }

    private static func message(_ handle: tjhandle) -> String {
        String(cString: tjGetErrorStr2(handle))
    }
}
