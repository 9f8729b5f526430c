import COpenBLAS

/// PaddleClas's PixelEmbed: the image is cut into patch×patch tiles (`unfold`), then each tile
/// alone goes through Conv2D(in_chans → in_dim, kernel 7, stride 4, padding 3), so the zero
/// padding is inside the tile. The 4×4 outputs of a tile become its 16 pixel tokens
/// (pixel-major), and `pixel_pos` is added.
/// Computes the rows of the patches in `patches` (numbered image-major across the batch).
/// - out:     (images·patches·16, in_dim)
/// - input:   (images, in_chans, img, img)
/// - columns: (images·patches·16, in_chans·49) im2col scratch
func pixelEmbed(
    _ out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>,
    weights w: TNTWeights, patches: Range<Int>
) {
    BLASKernels.ensureSelected()
    let c = w.config
    let side = c.imgSize / c.patchSize, patch = c.patchSize, stride = c.firstStride
    let outSide = c.pixelsPerSide, kernel = 7, pad = 3
    let columnCount = c.inChans * kernel * kernel
    let firstRow = patches.lowerBound * c.numPixel
    var row = columns + firstRow * columnCount
    for index in patches {
        let pixels = input + (index / c.numPatches) * c.inputSize
        let py = index % c.numPatches / side, px = index % side
        for oy in 0..<outSide {
            for ox in 0..<outSide {
                for ch in 0..<c.inChans {
                    let plane = pixels + ch * c.imgSize * c.imgSize
                    for ky in 0..<kernel {
                        let ly = oy * stride - pad + ky
                        let dst = row + (ch * kernel + ky) * kernel
                        guard ly >= 0 && ly < patch else {
                            for kx in 0..<kernel { dst[kx] = 0 }
                            continue
                        }
                        let src = plane + (py * patch + ly) * c.imgSize + px * patch
                        let left = ox * stride - pad
                        if left >= 0 && left + kernel <= patch {
                            dst.update(from: src + left, count: kernel)
                            continue
                        }
                        for kx in 0..<kernel {
                            let lx = left + kx
                            dst[kx] = lx >= 0 && lx < patch ? src[lx] : 0
                        }
                    }
                }
                row += columnCount
            }
        }
    }
    let rows = patches.count * c.numPixel
    let cols = columns + firstRow * columnCount, out = out + firstRow * c.inDim
    // Conv2D weight (in_dim, in_chans, 7, 7) is (in_dim, columnCount): multiply by its transpose.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(c.inDim), Int32(columnCount),
                1, cols, Int32(columnCount), w.stemConv, Int32(columnCount), 0, out, Int32(c.inDim))
    for r in 0..<rows {
        let token = out + r * c.inDim, pos = w.pixelPos + (r % c.numPixel) * c.inDim
        for i in 0..<c.inDim { token[i] += w.stemBias[i] + pos[i] }
    }
}
