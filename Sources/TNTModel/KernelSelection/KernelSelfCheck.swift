import CKernelSupport
import COpenBLAS
import Foundation

/// Runs `cblas_sgemm` on the forward pass's shapes, single-threaded as the engine calls it,
/// and compares every element with a plain loop in double precision. Large products are checked on row subsets that still cover the
/// kernels' edge tiles (1, 7 and 33 rows: remainders of every unroll OpenBLAS uses); the
/// columns and depth are always the model's own.
public struct KernelSelfCheck: Sendable {
    public var shapes: [GemmShape]
    /// A product of at most this many multiply-adds is also checked with all its rows.
    public var fullCheckLimit = 4_000_000
    /// Test hook (`TNT_KERNEL_CHECK_FAULT=FAMILY`, or `tnt-avx512` for the large products):
    /// pretend this family computes one wrong element, to exercise the fallback. Never set in
    /// production.
    public var faultyFamily: String?

    public init(shapes: [GemmShape], faultyFamily: String? = nil) {
        self.shapes = shapes
        self.faultyFamily = faultyFamily
    }

    /// The shapes of every given configuration.
    public init(configs: [TNTConfig], faultyFamily: String? = nil) {
        var seen = Set<GemmShape>()
        self.init(shapes: configs.flatMap(GemmShape.forward).filter { seen.insert($0).inserted }, faultyFamily: faultyFamily)
    }

    /// The first wrong product, or nil when every product is right, for the family loaded now.
    public func run(family: String) -> String? {
        let saved = BLASThreads.current
        BLASThreads.set(1)
        defer { BLASThreads.set(saved) }
        return run(shapes, name: family) { s, a, b, beta, c in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, s.transposeB ? CblasTrans : CblasNoTrans,
                        Int32(s.m), Int32(s.n), Int32(s.k), 1, a, Int32(s.lda), b, Int32(s.ldb), beta, c, Int32(s.n))
        }
    }

    /// Every product on `tnt_sgemm_avx512`, the same way. Call only on a CPU with AVX-512F.
    public func runAVX512Tiles() -> String? {
        run(shapes, name: LargeProducts.avx512Tiles.rawValue) { s, a, b, beta, c in
            tnt_sgemm_avx512(Int32(s.m), Int32(s.n), Int32(s.k), 1, a, Int32(s.lda), b, Int32(s.ldb), s.transposeB,
                             c, Int32(s.n), nil, beta != 0)
        }
    }

    /// `product` computes C = A·B + beta·C for a shape; the first wrong result, or nil.
    private func run(
        _ shapes: [GemmShape], name: String,
        product: (GemmShape, UnsafePointer<Float>, UnsafePointer<Float>, Float, UnsafeMutablePointer<Float>) -> Void
    ) -> String? {
        var rng = SplitMix64(seed: 0x5EED)
        var cases: [(GemmShape, beta: Float)] = []
        for shape in shapes {
            let fullMACs = shape.m * shape.n * shape.k
            var rowCounts = [1, 7, 33].filter { $0 < shape.m }
            if fullMACs <= fullCheckLimit || rowCounts.isEmpty { rowCounts.append(shape.m) }
            for m in rowCounts {
                var s = shape
                s.m = m
                cases.append((s, beta: 0))
            }
        }
        // Residual connections accumulate into C (beta = 1).
        if let first = shapes.first(where: { !$0.transposeB }) {
            var s = first
            s.m = min(first.m, 33)
            cases.append((s, beta: 1))
        }
        for (shape, beta) in cases {
            if let error = check(shape, beta: beta, name: name, product: product, rng: &rng) { return error }
        }
        return nil
    }

    private func check(
        _ s: GemmShape, beta: Float, name: String,
        product: (GemmShape, UnsafePointer<Float>, UnsafePointer<Float>, Float, UnsafeMutablePointer<Float>) -> Void,
        rng: inout SplitMix64
    ) -> String? {
        let aCount = (s.m - 1) * s.lda + s.k
        let bCount = s.transposeB ? (s.n - 1) * s.ldb + s.k : (s.k - 1) * s.ldb + s.n
        let a = (0..<aCount).map { _ in Float.random(in: -1...1, using: &rng) }
        let b = (0..<bCount).map { _ in Float.random(in: -1...1, using: &rng) }
        let c0 = (0..<s.m * s.n).map { _ in Float.random(in: -1...1, using: &rng) }
        var c = c0
        c.withUnsafeMutableBufferPointer { product(s, a, b, beta, $0.baseAddress!) }
        if let faulty = faultyFamily, faulty.lowercased() == name.lowercased() { c[c.count / 2] += 0.5 }

        var expected = [Double](repeating: 0, count: s.m * s.n)
        var magnitude = [Double](repeating: 0, count: s.m * s.n)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                expected.withUnsafeMutableBufferPointer { out in
                    magnitude.withUnsafeMutableBufferPointer { mag in
                        reference(s, a.baseAddress!, b.baseAddress!, out.baseAddress!, mag.baseAddress!)
                    }
                }
            }
        }
        for e in 0..<s.m * s.n {
            let want = expected[e] + Double(beta) * Double(c0[e])
            // A float dot product of k terms is off by at most about k·ε·Σ|a·b|; 1e-5·Σ|a·b| is
            // far above rounding and far below any wrong kernel.
            let tolerance = 1e-5 * (magnitude[e] + abs(Double(c0[e]))) + 1e-6
            if abs(Double(c[e]) - want) > tolerance || !c[e].isFinite {
                return "sgemm \(s)\(beta == 0 ? "" : " β=1") element \(e / s.n),\(e % s.n): \(c[e]) instead of \(Float(want))"
            }
        }
        return nil
    }

    /// out (m, n) = A·B and mag = |A|·|B| in double precision, the plain way.
    private func reference(
        _ s: GemmShape, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        _ out: UnsafeMutablePointer<Double>, _ mag: UnsafeMutablePointer<Double>
    ) {
        for i in 0..<s.m {
            let row = out + i * s.n, magRow = mag + i * s.n
            for p in 0..<s.k {
                let av = Double(a[i * s.lda + p])
                if s.transposeB {
                    for j in 0..<s.n { let x = av * Double(b[j * s.ldb + p]); row[j] += x; magRow[j] += abs(x) }
                } else {
                    let bRow = b + p * s.ldb
                    for j in 0..<s.n { let x = av * Double(bRow[j]); row[j] += x; magRow[j] += abs(x) }
                }
            }
        }
    }
}
