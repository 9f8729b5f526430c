import CKernelSupport
import Testing
@testable import TNTModel

/// `tnt_sgemm_avx512` against a plain double-precision loop, on shapes that cross every
/// blocking edge: rows not a multiple of the 12-row tile, widths below, at and past the
/// 32-column panel and the 256-column block, depths past the 384-deep block, transposed W,
/// alpha, bias, accumulation and leading dimensions wider than the matrices.
@Suite(.enabled(if: CPUFeatures.current.avx512f, "the AVX-512 tiles run only on CPUs with AVX-512F"))
struct AVX512TilesTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var m: Int, n: Int, k: Int
        var transposed = false, alpha: Float = 1, bias = false, accumulate = false, padding = 0
        var testDescription: String {
            "\(m)x\(n)x\(k)\(transposed ? " Wᵀ" : "") α=\(alpha)\(bias ? " +bias" : "")\(accumulate ? " +=" : "")\(padding > 0 ? " ld+\(padding)" : "")"
        }
    }

    static let cases: [Case] = [
        Case(m: 1, n: 1, k: 1),
        Case(m: 12, n: 32, k: 384),
        Case(m: 13, n: 17, k: 130, bias: true),
        Case(m: 25, n: 77, k: 400, accumulate: true),
        Case(m: 37, n: 300, k: 800, bias: true, accumulate: true, padding: 5),
        Case(m: 197, n: 197, k: 64, transposed: true, alpha: 0.125, padding: 320),
        Case(m: 11, n: 45, k: 23, transposed: true, alpha: 0.3, bias: true, accumulate: true, padding: 3),
        Case(m: 197, n: 64, k: 197, padding: 320),
    ]

    @Test(arguments: cases)
    func matchesAPlainLoop(_ c: Case) {
        var rng = SplitMix64(seed: UInt64(c.m * 1_000_003 + c.n * 1009 + c.k))
        let ldx = c.k + c.padding, ldw = (c.transposed ? c.k : c.n) + c.padding, ldy = c.n + c.padding
        let x = (0..<c.m * ldx).map { _ in Float.random(in: -1...1, using: &rng) }
        let w = (0..<(c.transposed ? c.n : c.k) * ldw).map { _ in Float.random(in: -1...1, using: &rng) }
        let bias = (0..<c.n).map { _ in Float.random(in: -1...1, using: &rng) }
        let y0 = (0..<c.m * ldy).map { _ in Float.random(in: -1...1, using: &rng) }
        var y = y0
        bias.withUnsafeBufferPointer { b in
            tnt_sgemm_avx512(Int32(c.m), Int32(c.n), Int32(c.k), c.alpha, x, Int32(ldx), w, Int32(ldw), c.transposed,
                             &y, Int32(ldy), c.bias ? b.baseAddress : nil, c.accumulate)
        }
        var worst = 0.0
        for i in 0..<c.m {
            for j in 0..<c.n {
                var sum = 0.0, magnitude = 0.0
                for p in 0..<c.k {
                    let term = Double(x[i * ldx + p]) * Double(c.transposed ? w[j * ldw + p] : w[p * ldw + j]) * Double(c.alpha)
                    sum += term
                    magnitude += abs(term)
                }
                if c.bias { sum += Double(bias[j]) }
                if c.accumulate { sum += Double(y0[i * ldy + j]) }
                worst = max(worst, abs(Double(y[i * ldy + j]) - sum) / (1e-6 * (magnitude + 1)))
            }
        }
        #expect(worst <= 1, "error at \(worst) of the bound")
        // The padding between rows is never written.
        for i in 0..<c.m { #expect(y[(i * ldy + c.n)..<(i * ldy + ldy)] == y0[(i * ldy + c.n)..<(i * ldy + ldy)]) }
    }
}
