import CKernelSupport
import COpenBLAS

/// What computes the forward pass's large products: the linear layers whose depth and width
/// are both at least 128 (the outer transformer's, pixel → patch and the classifier head) and
/// the outer attention's two, about nine tenths of the pass's arithmetic. The small inner
/// products always go to OpenBLAS, whose small-matrix kernels run them near the CPU's peak.
///
/// The same choice turns on TNTServe's other AVX-512 kernels, the inner attention, GELU, the
/// outer softmax and LayerNorm (CKernelSupport's `*_avx512.c`): one switch, one CPU
/// requirement, and the portable Swift versions wherever the tiles do not run.
public enum LargeProducts: String, Sendable {
    /// `tnt_sgemm_avx512` (CKernelSupport): 12 × 32 register tiles over packed weights.
    case avx512Tiles = "tnt-avx512"
    /// `cblas_sgemm` on the selected OpenBLAS family.
    case openBLAS = "openblas"

    /// Whether TNTServe's AVX-512 kernels run: the tiles and the elementwise ones with them.
    var runsAVX512: Bool { self == .avx512Tiles }

    /// The environment variable that makes OpenBLAS compute the large products too.
    public static let environmentKey = "TNT_LARGE_PRODUCTS"

    /// Set once per process by `BLASKernels`, before any engine computes.
    nonisolated(unsafe) public internal(set) static var current = LargeProducts.openBLAS

    /// Whether a linear layer of this depth and width is a large one.
    public static func covers(inDim: Int, outDim: Int) -> Bool { inDim >= 128 && outDim >= 128 }

    /// c (m, n) = alpha · a (m, k) · b, b stored (k, n) or, with `transposeB`, (n, k): on the
    /// tiles when they run, else on OpenBLAS.
    static func product(
        m: Int, n: Int, k: Int, alpha: Float, _ a: UnsafePointer<Float>, lda: Int,
        _ b: UnsafePointer<Float>, ldb: Int, transposeB: Bool, _ c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        BLASKernels.ensureSelected()
        if current.runsAVX512 {
            tnt_sgemm_avx512(Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), transposeB, c, Int32(ldc), nil, false)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k),
                        alpha, a, Int32(lda), b, Int32(ldb), 0, c, Int32(ldc))
        }
    }

    /// y (rows, outDim) = x (rows, inDim) · w (inDim, outDim) + bias, or y += the same.
    static func avx512(
        _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
        rows: Int, inDim: Int, outDim: Int, accumulate: Bool
    ) {
        tnt_sgemm_avx512(Int32(rows), Int32(outDim), Int32(inDim), 1, x, Int32(inDim), w, Int32(outDim), false,
                         y, Int32(outDim), bias, accumulate)
    }
}
