import Foundation

/// Resampling filters of Pillow's `Image.resize`.
public enum Interpolation: String, Codable, Sendable, CaseIterable {
    case bicubic, bilinear

    var support: Double {
        switch self {
        case .bicubic: 2
        case .bilinear: 1
        }
    }

    func weight(_ t: Double) -> Double {
        let x = abs(t)
        switch self {
        case .bilinear:
            return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }
}

/// Pillow's 8-bit resampling (libImaging/Resample.c), reproduced to the bit: separable passes,
/// horizontal first; the filter widened by the downscale factor (antialiasing); coefficients
/// normalised in double, then fixed point with 22 fractional bits; each pass rounds and clamps
/// to uint8 before the next.
public enum Resampler {
    static let precisionBits = 22

    /// Fixed-point taps of the output coordinates `outputs.lowerBound...`: input start index
    /// and weights. Only the outputs a crop needs are computed, so an extreme aspect ratio
    /// (40000×1 resized to a short side of 248) costs no more than a square image.
    struct Taps {
        let size: Int              // taps per output sample (ksize)
        let first: Int             // the output coordinate of entry 0
        let start: [Int32]         // first input index, per output sample
        let count: [Int32]         // used taps, per output sample
        let weights: [Int32]       // size weights per output sample

        /// The input indices that the outputs `outputs` read.
        func inputRange(of outputs: Range<Int>) -> Range<Int> {
            let lower = outputs.map { Int(start[$0 - first]) }.min()!
            let end = outputs.map { Int(start[$0 - first] + count[$0 - first]) }.max()!
            return lower..<max(lower, end)
        }
    }

    static func taps(input: Int, output: Int, filter: Interpolation, outputs: Range<Int>) -> Taps {
        let scale = Double(input) / Double(output)
        let filterScale = max(scale, 1)
        let support = filter.support * filterScale
        let size = Int(support.rounded(.up)) * 2 + 1
        let n = outputs.count
        var start = [Int32](repeating: 0, count: n), count = [Int32](repeating: 0, count: n)
        var weights = [Int32](repeating: 0, count: n * size)
        var k = [Double](repeating: 0, count: size)
        for xx in outputs {
            let i = xx - outputs.lowerBound
            let center = (Double(xx) + 0.5) * scale
            let ss = 1 / filterScale
            let xmin = max(Int(center - support + 0.5), 0)        // Int() truncates, as C's (int)
            let xmax = min(Int(center + support + 0.5), input) - xmin
            var total = 0.0
            for x in 0..<xmax {
                let w = filter.weight((Double(x + xmin) - center + 0.5) * ss)
                k[x] = w
                total += w
            }
            for x in 0..<xmax {
                let normalized = total != 0 ? k[x] / total : k[x]
                let fixed = normalized * Double(1 << precisionBits)
                weights[i * size + x] = Int32(normalized < 0 ? -0.5 + fixed : 0.5 + fixed)
            }
            start[i] = Int32(xmin)
            count[i] = Int32(max(xmax, 0))
        }
        return Taps(size: size, first: outputs.lowerBound, start: start, count: count, weights: weights)
    }

    @inline(__always)
    static func clip8(_ value: Int32) -> UInt8 {
        let shifted = value >> Int32(precisionBits)
        return shifted < 0 ? 0 : shifted > 255 ? 255 : UInt8(shifted)
    }

    /// `clip8` of every lane.
    @inline(__always)
    static func clip8(_ value: SIMD4<Int32>) -> SIMD4<UInt8> {
        var shifted = value &>> Int32(precisionBits)
        shifted.replace(with: 0, where: shifted .< 0)
        shifted.replace(with: 255, where: shifted .> 255)
        return SIMD4<UInt8>(truncatingIfNeeded: shifted)
    }

    /// The image resized to width × height, as `PIL.Image.resize((width, height), filter)`.
    public static func resize(_ image: RGBImage, width: Int, height: Int, filter: Interpolation) -> RGBImage {
        resize(image, width: width, height: height, filter: filter, region: (0, 0, width, height))
    }

    /// The `region` (x, y, width, height) of that resized image, computing only its pixels:
    /// each output pixel depends on its own coordinates alone, so the result equals cropping
    /// Pillow's full output.
    public static func resize(
        _ image: RGBImage, width: Int, height: Int, filter: Interpolation, region: (x: Int, y: Int, width: Int, height: Int)
    ) -> RGBImage {
        precondition(width > 0 && height > 0 && region.x >= 0 && region.y >= 0 && region.width > 0 && region.height > 0
                     && region.x + region.width <= width && region.y + region.height <= height)
        let rows = region.y..<(region.y + region.height), columns = region.x..<(region.x + region.width)
        let horizontalTaps = width != image.width ? taps(input: image.width, output: width, filter: filter, outputs: columns) : nil
        let verticalTaps = height != image.height ? taps(input: image.height, output: height, filter: filter, outputs: rows) : nil
        // Input rows the vertical pass reads, and input columns the horizontal pass reads.
        let inputRows = verticalTaps.map { $0.inputRange(of: rows) } ?? rows
        let inputColumns = horizontalTaps.map { $0.inputRange(of: columns) } ?? columns

        // Pillow 13 (python-pillow/Pillow#9549) runs the vertical pass first when the height
        // shrinks, and by more than twice as many pixels as the width: h' < h and
        // (h - h') > 2 (w - w') (found by experiment: 355 of 355 random shapes agree).
        // The pass order changes the rounding between passes, so it is reproduced here.
        let verticalFirst = horizontalTaps != nil && verticalTaps != nil
            && height < image.height && image.height - height > 2 * (image.width - width)
        if verticalFirst, let horizontalTaps, let verticalTaps {
            let strip = copy(image, rows: 0..<image.height, columns: inputColumns)
            let middle = vertical(strip, firstRow: 0, rows: rows, taps: verticalTaps)
            return horizontal(middle, rows: 0..<middle.height, columns: columns, taps: horizontalTaps,
                              firstColumn: inputColumns.lowerBound)
        }
        let middle = horizontalTaps.map { horizontal(image, rows: inputRows, columns: columns, taps: $0) }
            ?? copy(image, rows: inputRows, columns: columns)
        guard let verticalTaps else { return middle }
        return vertical(middle, firstRow: inputRows.lowerBound, rows: rows, taps: verticalTaps)
    }

    static func copy(_ image: RGBImage, rows: Range<Int>, columns: Range<Int>) -> RGBImage {
        var out: [UInt8] = []
        out.reserveCapacity(rows.count * columns.count * 3)
        for y in rows {
            let start = (y * image.width + columns.lowerBound) * 3
            out += image.pixels[start..<start + columns.count * 3]
        }
        return RGBImage(width: columns.count, height: rows.count, pixels: out)
    }

    /// Output columns `columns` of the horizontal pass, for input rows `rows`; `image` holds
    /// input columns from `firstColumn` on.
    static func horizontal(_ image: RGBImage, rows: Range<Int>, columns: Range<Int>, taps: Taps, firstColumn: Int = 0) -> RGBImage {
        let width = columns.count
        var out = [UInt8](repeating: 0, count: width * rows.count * 3)
        let half = Int32(1) << Int32(precisionBits - 1)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                taps.weights.withUnsafeBufferPointer { weights in
                    // A pixel is read as 4 bytes (R, G, B and the next pixel's R, weighted
                    // and then dropped): one SIMD multiply-add per tap instead of three. A
                    // sum that reaches the image's very last pixel (no 4th byte) goes byte by byte.
                    let lastPixel = src.baseAddress! + src.count - 3
                    for (i, y) in rows.enumerated() {
                        let row = src.baseAddress! + y * image.width * 3
                        let outRow = dst.baseAddress! + i * width * 3
                        for (j, xx) in columns.enumerated() {
                            let t = xx - taps.first
                            let k = weights.baseAddress! + t * taps.size
                            let first = row + (Int(taps.start[t]) - firstColumn) * 3
                            let count = Int(taps.count[t])
                            var sum = SIMD4<Int32>(repeating: half)
                            if first + (count - 1) * 3 < lastPixel {
                                for x in 0..<count {
                                    let bytes = UnsafeRawPointer(first + x * 3).loadUnaligned(as: SIMD4<UInt8>.self)
                                    sum &+= SIMD4<Int32>(truncatingIfNeeded: bytes) &* SIMD4(repeating: k[x])
                                }
                            } else {
                                for x in 0..<count {
                                    let p = first + x * 3
                                    sum &+= SIMD4(Int32(p[0]), Int32(p[1]), Int32(p[2]), 0) &* k[x]
                                }
                            }
                            let bytes = clip8(sum)
                            let target = outRow + j * 3
                            if target + 3 < dst.baseAddress! + dst.count {
                                // The 4th byte is the next pixel's, written after this one.
                                UnsafeMutableRawPointer(target).storeBytes(of: bytes, as: SIMD4<UInt8>.self)
                            } else {
                                target[0] = bytes[0]; target[1] = bytes[1]; target[2] = bytes[2]
                            }
                        }
                    }
                }
            }
        }
        return RGBImage(width: width, height: rows.count, pixels: out)
    }

    /// Output rows `rows` of the vertical pass; `image` holds input rows from `firstRow` on.
    static func vertical(_ image: RGBImage, firstRow: Int, rows: Range<Int>, taps: Taps) -> RGBImage {
        let rowLength = image.width * 3
        var out = [UInt8](repeating: 0, count: rowLength * rows.count)
        let half = Int32(1) << Int32(precisionBits - 1)
        var sums = [Int32](repeating: 0, count: rowLength)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                sums.withUnsafeMutableBufferPointer { acc in
                    taps.weights.withUnsafeBufferPointer { weights in
                        for (i, yy) in rows.enumerated() {
                            let t = yy - taps.first
                            let k = weights.baseAddress! + t * taps.size
                            for c in 0..<rowLength { acc[c] = half }
                            // Row by row, so the inner loop runs over contiguous bytes and vectorises.
                            for y in 0..<Int(taps.count[t]) {
                                let w = k[y]
                                let row = src.baseAddress! + (Int(taps.start[t]) + y - firstRow) * rowLength
                                for c in 0..<rowLength { acc[c] &+= Int32(row[c]) &* w }
                            }
                            let outRow = dst.baseAddress! + i * rowLength
                            for c in 0..<rowLength { outRow[c] = clip8(acc[c]) }
                        }
                    }
                }
            }
        }
        return RGBImage(width: image.width, height: rows.count, pixels: out)
    }
}
