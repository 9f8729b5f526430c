import CKernelSupport
import COpenBLAS

// One function per operation, llama2.c style: pointers in, pointers out, shapes in comments.
// Rows are contiguous; nothing here allocates.

/// out (rows, outDim) = inp (rows, inDim) · weight (inDim, outDim) + bias, or, with
/// `accumulate`, out += the same (a residual connection). Paddle's Linear layout is [in, out].
func linear(
    _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ weight: Param, _ bias: Param?,
    rows: Int, inDim: Int, outDim: Int, accumulate: Bool = false
) {
    BLASKernels.ensureSelected()
    if LargeProducts.current.runsAVX512 && LargeProducts.covers(inDim: inDim, outDim: outDim) {
        LargeProducts.avx512(out, inp, weight, bias, rows: rows, inDim: inDim, outDim: outDim, accumulate: accumulate)
        return
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(outDim), Int32(inDim),
                1, inp, Int32(inDim), weight, Int32(outDim), accumulate ? 1 : 0, out, Int32(outDim))
    if let bias { addBias(out, bias, rows: rows, dim: outDim) }
}

/// x (rows, dim) += bias (dim) on every row.
func addBias(_ x: UnsafeMutablePointer<Float>, _ bias: Param, rows: Int, dim: Int) {
    for r in 0..<rows {
        let row = x + r * dim
        var i = 0
        while i + 16 <= dim {
            store16(load16(row + i) + load16(bias + i), row + i)
            i += 16
        }
        if i + 8 <= dim {
            store8(load8(row + i) + load8(bias + i), row + i)
            i += 8
        }
        while i < dim {
            row[i] += bias[i]
            i += 1
        }
    }
}

/// out (rows, dim) = LayerNorm(inp) with epsilon 1e-5 and biased variance, as Paddle.
/// With `accumulate`, out += LayerNorm(inp). `out` may be `inp` when not accumulating.
func layerNorm(
    _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ norm: NormWeights,
    rows: Int, dim: Int, accumulate: Bool = false
) {
    if LargeProducts.current.runsAVX512 {
        tnt_layer_norm_avx512(out, inp, norm.weight, norm.bias, Int32(rows), Int32(dim), accumulate)
    } else {
        portableLayerNorm(out, inp, norm, rows: rows, dim: dim, accumulate: accumulate)
    }
}

/// 16 lanes at a time, then 8 (the inner rows are 24 or 40 wide), then one by one.
func portableLayerNorm(
    _ out: UnsafeMutablePointer<Float>, _ inp: UnsafePointer<Float>, _ norm: NormWeights,
    rows: Int, dim: Int, accumulate: Bool = false
) {
    let w = norm.weight, b = norm.bias
    let end16 = dim & ~15, end8 = dim & ~7
    for r in 0..<rows {
        let x = inp + r * dim, y = out + r * dim
        var sum = F16(), i = 0
        while i < end16 { sum += load16(x + i); i += 16 }
        var sum8 = sum.lowHalf + sum.highHalf
        if i < end8 { sum8 += load8(x + i); i += 8 }
        var total = horizontalSum(sum8)
        while i < dim { total += x[i]; i += 1 }
        let mean = total / Float(dim)

        var squares = F16()
        let m = F16(repeating: mean)
        i = 0
        while i < end16 { let d = load16(x + i) - m; squares = squares.addingProduct(d, d); i += 16 }
        var squares8 = squares.lowHalf + squares.highHalf
        if i < end8 { let d = load8(x + i) - m.lowHalf; squares8 = squares8.addingProduct(d, d); i += 8 }
        var variance = horizontalSum(squares8)
        while i < dim { let d = x[i] - mean; variance += d * d; i += 1 }
        let invStd = 1 / (variance / Float(dim) + 1e-5).squareRoot()

        let s = F16(repeating: invStd)
        i = 0
        while i < end16 {
            let normalized = (load16(x + i) - m) * s * load16(w + i) + load16(b + i)
            store16(accumulate ? load16(y + i) + normalized : normalized, y + i)
            i += 16
        }
        if i < end8 {
            let normalized = (load8(x + i) - m.lowHalf) * s.lowHalf * load8(w + i) + load8(b + i)
            store8(accumulate ? load8(y + i) + normalized : normalized, y + i)
            i += 8
        }
        while i < dim {
            let normalized = (x[i] - mean) * invStd * w[i] + b[i]
            y[i] = accumulate ? y[i] + normalized : normalized
            i += 1
        }
    }
}

/// GELU in the exact form 0.5·x·(1 + erf(x/√2)) of Paddle's default.
@inline(__always)
func gelu16(_ v: F16) -> F16 {
    let half = v * 0.5
    return half.addingProduct(half, erf16(v * 0.707_106_781_186_547_6))
}

/// x (rows, dim) = GELU(x + bias): an MLP's first Linear finished in one pass over memory.
func addBiasGELU(_ x: UnsafeMutablePointer<Float>, _ bias: Param, rows: Int, dim: Int) {
    if LargeProducts.current.runsAVX512 {
        tnt_add_bias_gelu_avx512(x, bias, Int32(rows), Int32(dim))
    } else {
        portableAddBiasGELU(x, bias, rows: rows, dim: dim)
    }
}

func portableAddBiasGELU(_ x: UnsafeMutablePointer<Float>, _ bias: Param, rows: Int, dim: Int) {
    for r in 0..<rows {
        let row = x + r * dim
        var i = 0
        while i + 16 <= dim {
            store16(gelu16(load16(row + i) + load16(bias + i)), row + i)
            i += 16
        }
        if i < dim {
            let tail = dim - i
            storePartial16(gelu16(loadPartial16(row + i, tail) + loadPartial16(bias + i, tail)), row + i, tail)
        }
    }
}

/// Softmax without its last division: each row of x (rows, cols) becomes exp(row − max(row)),
/// in place, and reciprocalSums[r] = 1 / Σ of it, so that softmax(row) = x[r] · reciprocalSums[r].
/// The attention applies the factor to its output rows (head_dim wide) instead of the scores
/// (tokens wide): a third of the multiplications and one pass less over the scores.
func exponentiateRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, reciprocalSums: UnsafeMutablePointer<Float>) {
    if LargeProducts.current.runsAVX512 {
        tnt_exponentiate_rows_avx512(x, Int32(rows), Int32(cols), reciprocalSums)
    } else {
        portableExponentiateRows(x, rows: rows, cols: cols, reciprocalSums: reciprocalSums)
    }
}

func portableExponentiateRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, reciprocalSums: UnsafeMutablePointer<Float>) {
    let vectorEnd = cols & ~15, tail = cols - vectorEnd
    for r in 0..<rows {
        let row = x + r * cols
        var maxima = F16(repeating: -.infinity), i = 0
        while i < vectorEnd { maxima = max16(maxima, load16(row + i)); i += 16 }
        var rowMax = horizontalMax(maxima)
        while i < cols { rowMax = max(rowMax, row[i]); i += 1 }

        let m = F16(repeating: rowMax)
        var sums = F16()
        i = 0
        while i < vectorEnd {
            let e = exp16(load16(row + i) - m)
            store16(e, row + i)
            sums += e
            i += 16
        }
        var total = horizontalSum(sums)
        if tail > 0 {
            let e = exp16(loadPartial16(row + i, tail, fill: -.infinity) - m)
            storePartial16(e, row + i, tail)
            while i < cols { total += row[i]; i += 1 }
        }
        reciprocalSums[r] = 1 / total
    }
}

/// x (rows, dim, row stride `stride`): row r multiplied by factors[r].
func scaleRows(_ x: UnsafeMutablePointer<Float>, rows: Int, dim: Int, stride: Int, by factors: UnsafePointer<Float>) {
    for r in 0..<rows {
        let row = x + r * stride, f = factors[r]
        var i = 0
        while i + 16 <= dim { store16(load16(row + i) * f, row + i); i += 16 }
        while i < dim { row[i] *= f; i += 1 }
    }
}
