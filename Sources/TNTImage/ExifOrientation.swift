/// The EXIF orientation tag (0x0112): how the stored pixels must be turned to stand upright.
enum ExifOrientation: Int {
    case up = 1, mirrored = 2, down = 3, flipped = 4, transposed = 5, right = 6, transverse = 7, left = 8

    /// The orientation in a JPEG's first APP1 "Exif" segment; `.up` when absent or unreadable.
    static func read(jpeg bytes: UnsafeRawBufferPointer) -> ExifOrientation {
        var offset = 2
        while offset + 4 <= bytes.count, bytes[offset] == 0xFF {
            let marker = bytes[offset + 1]
            if marker == 0xD8 || (0xD0...0xD7).contains(marker) || marker == 0x01 { offset += 2; continue }
            if marker == 0xDA || marker == 0xD9 { break }  // image data begins: no more metadata
            let length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            guard length >= 2, offset + 2 + length <= bytes.count else { break }
            let body = offset + 4
            if marker == 0xE1, length >= 8, bytes[body..<body + 6].elementsEqual(Array("Exif".utf8) + [0, 0]) {
                return tiffOrientation(UnsafeRawBufferPointer(rebasing: bytes[(body + 6)..<(offset + 2 + length)])) ?? .up
            }
            offset += 2 + length
        }
        return .up
    }

    /// Orientation from a TIFF header and its first IFD, bounds-checked at every read.
    static func tiffOrientation(_ tiff: UnsafeRawBufferPointer) -> ExifOrientation? {
        guard tiff.count >= 8 else { return nil }
        let little: Bool
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= tiff.count else { return nil }
            return little ? Int(tiff[at]) | Int(tiff[at + 1]) << 8 : Int(tiff[at]) << 8 | Int(tiff[at + 1])
        }
        func u32(_ at: Int) -> Int? {
            guard let a = u16(at), let b = u16(at + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard let ifd = u32(4), let count = u16(ifd) else { return nil }
        for i in 0..<count {
            let entry = ifd + 2 + i * 12
            guard let tag = u16(entry) else { return nil }
            if tag == 0x0112, let type = u16(entry + 2), type == 3, let value = u16(entry + 8) {
                return ExifOrientation(rawValue: value)
            }
        }
        return nil
    }

    func apply(to image: RGBImage) -> RGBImage {
        if self == .up { return image }
        let w = image.width, h = image.height
        let swaps = rawValue >= 5
        let outW = swaps ? h : w, outH = swaps ? w : h
        var out = [UInt8](repeating: 0, count: image.pixels.count)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<outH {
                    for x in 0..<outW {
                        let (sx, sy) = source(x: x, y: y, width: w, height: h)
                        let s = (sy * w + sx) * 3, d = (y * outW + x) * 3
                        dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBImage(width: outW, height: outH, pixels: out)
    }

    /// The stored pixel shown at (x, y) of the upright image.
    private func source(x: Int, y: Int, width w: Int, height h: Int) -> (Int, Int) {
        switch self {
        case .up: (x, y)
        case .mirrored: (w - 1 - x, y)
        case .down: (w - 1 - x, h - 1 - y)
        case .flipped: (x, h - 1 - y)
        case .transposed: (y, x)
        case .right: (y, h - 1 - x)
        case .transverse: (w - 1 - y, h - 1 - x)
        case .left: (w - 1 - y, x)
        }
    }
}
