import CKernelSupport
// PaddleClas's Attention: qk = x·Wqk split as (2, heads, head_dim), v = x·Wv split as
// (heads, head_dim); per head softmax(q·kᵀ·head_dim^-½)·v, heads concatenated.

/// Outer attention over the tokens of each image, one head at a time through two products (on
/// the AVX-512 tiles or OpenBLAS: `LargeProducts`), for the (image, head) pairs numbered
/// image·headCount + head in `heads`.
/// - out:    (images·tokens, dim)
/// - qk:     (images·tokens, 2·dim)
/// - v:      (images·tokens, dim)
/// - scores: (tokens, tokens + 1) scratch: the scores, then each row's softmax factor
func outerAttention(
    _ out: UnsafeMutablePointer<Float>, qk: UnsafePointer<Float>, v: UnsafePointer<Float>,
    scores: UnsafeMutablePointer<Float>, heads: Range<Int>, tokens: Int, dim: Int, headCount: Int
) {
    let headDim = dim / headCount
    let scale = 1 / Float(headDim).squareRoot()
    let reciprocalSums = scores + tokens * tokens
    for unit in heads {
        let image = unit / headCount, h = unit % headCount
        let qkImage = qk + image * tokens * 2 * dim
        let vImage = v + image * tokens * dim
        let outImage = out + image * tokens * dim
        let q = qkImage + h * headDim, k = qkImage + dim + h * headDim
        let vHead = vImage + h * headDim, outHead = outImage + h * headDim
        LargeProducts.product(m: tokens, n: tokens, k: headDim, alpha: scale, q, lda: 2 * dim, k, ldb: 2 * dim, transposeB: true,
                              scores, ldc: tokens)
        exponentiateRows(scores, rows: tokens, cols: tokens, reciprocalSums: reciprocalSums)
        LargeProducts.product(m: tokens, n: headDim, k: tokens, alpha: 1, scores, lda: tokens, vHead, ldb: dim, transposeB: false,
                              outHead, ldc: dim)
        scaleRows(outHead, rows: tokens, dim: headDim, stride: dim, by: reciprocalSums)
    }
}

/// Inner attention among the 16 pixel tokens of each patch: on its AVX-512 version
/// (`tnt_inner_attention_avx512`) where TNTServe's AVX-512 kernels run, else portably.
/// - out: (patches·16, dim)
/// - qk:  (patches·16, 2·dim)
/// - v:   (patches·16, dim)
func innerAttention(
    _ out: UnsafeMutablePointer<Float>, qk: UnsafePointer<Float>, v: UnsafePointer<Float>,
    scratch: UnsafeMutablePointer<Float>, patches: Int, dim: Int, heads: Int
) {
    if LargeProducts.current.runsAVX512 && dim <= Int(TNT_INNER_ATTENTION_MAX_DIM) {
        tnt_inner_attention_avx512(out, qk, v, Int32(patches), Int32(dim), Int32(heads))
    } else {
        portableInnerAttention(out, qk: qk, v: v, scratch: scratch, patches: patches, dim: dim, heads: heads)
    }
}

/// Inner attention vectorised across the 16 queries: every SIMD lane is one query token, so
/// the softmax needs no horizontal sums.
func portableInnerAttention(
    _ out: UnsafeMutablePointer<Float>, qk: UnsafePointer<Float>, v: UnsafePointer<Float>,
    scratch: UnsafeMutablePointer<Float>, patches: Int, dim: Int, heads: Int
) {
    let headDim = dim / heads
    let scale = 1 / Float(headDim).squareRoot()
    // scratch: qT (headDim rows of 16: feature d of every query), e (16 score vectors), o (16).
    let qT = scratch, e = scratch + headDim * 16, o = e + 16 * 16
    for patch in 0..<patches {
        let qkPatch = qk + patch * 16 * 2 * dim
        let vPatch = v + patch * 16 * dim
        let outPatch = out + patch * 16 * dim
        for h in 0..<heads {
            let q = qkPatch + h * headDim, k = qkPatch + dim + h * headDim, vh = vPatch + h * headDim
            for i in 0..<16 {
                for d in 0..<headDim { qT[d * 16 + i] = q[i * 2 * dim + d] * scale }
            }
            // Scores of every query against key j, then the softmax across j, lane by lane.
            var maxima = F16(repeating: -.infinity)
            for j in 0..<16 {
                let key = k + j * 2 * dim
                var s = F16()
                for d in 0..<headDim { s = s.addingProduct(load16(qT + d * 16), key[d]) }
                store16(s, e + j * 16)
                maxima = max16(maxima, s)
            }
            var sum = F16()
            for j in 0..<16 {
                let x = exp16(load16(e + j * 16) - maxima)
                store16(x, e + j * 16)
                sum += x
            }
            let inverse = 1 / sum
            for d in 0..<headDim {
                var acc = F16()
                for j in 0..<16 { acc = acc.addingProduct(load16(e + j * 16), vh[j * dim + d]) }
                store16(acc * inverse, o)
                for i in 0..<16 { outPatch[i * dim + h * headDim + d] = o[i] }
            }
        }
    }
}
