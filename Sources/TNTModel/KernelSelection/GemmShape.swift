/// One `cblas_sgemm` the forward pass makes: C (m, n) = A (m, k) · B, B stored (k, n), or
/// (n, k) when `transposeB`. Leading dimensions as the forward pass passes them.
public struct GemmShape: Hashable, Sendable, CustomStringConvertible {
    public var m: Int, n: Int, k: Int
    public var transposeB = false
    public var lda: Int, ldb: Int

    public init(m: Int, n: Int, k: Int, transposeB: Bool = false, lda: Int? = nil, ldb: Int? = nil) {
        self.m = m
        self.n = n
        self.k = k
        self.transposeB = transposeB
        self.lda = lda ?? k
        self.ldb = ldb ?? (transposeB ? k : n)
    }

    public var description: String { "\(m)x\(n)x\(k)\(transposeB ? " Bᵀ" : "")" }

    /// Every distinct product one image's forward pass makes with this configuration.
    public static func forward(_ c: TNTConfig) -> [GemmShape] {
        let pixelRows = c.numPatches * c.numPixel, D = c.inDim, E = c.embedDim, N = c.numTokens
        let outerHead = E / c.numHeads
        let shapes: [GemmShape] = [
            GemmShape(m: pixelRows, n: D, k: c.inChans * 49, transposeB: true),        // stem conv
            GemmShape(m: c.numPatches, n: E, k: c.numPixel * D),                      // pixel → patch
            GemmShape(m: pixelRows, n: 2 * D, k: D), GemmShape(m: pixelRows, n: D, k: D),
            GemmShape(m: pixelRows, n: c.innerMlpHidden, k: D), GemmShape(m: pixelRows, n: D, k: c.innerMlpHidden),
            GemmShape(m: N, n: 2 * E, k: E), GemmShape(m: N, n: E, k: E),
            GemmShape(m: N, n: c.mlpHidden, k: E), GemmShape(m: N, n: E, k: c.mlpHidden),
            GemmShape(m: N, n: N, k: outerHead, transposeB: true, lda: 2 * E, ldb: 2 * E), // q·kᵀ
            GemmShape(m: N, n: outerHead, k: N, ldb: E),                               // scores·v
            GemmShape(m: 1, n: c.classNum, k: E),                                      // head
        ]
        var seen = Set<GemmShape>()
        return shapes.filter { seen.insert($0).inserted }
    }
}
